"use strict";
// Resizing to the model's 64x64 with the arithmetic of Pillow's LANCZOS filter
// (Image.resize, src/libImaging/Resample.c), so that the page's pixels are catclf's to the
// byte: the same weights computed in float64 in the same order, the same conversion to
// 22-bit fixed point, the same rounding and clipping, and the same two passes, each
// rounded to 8 bits, in the order the given Pillow runs them (see VERTICAL_FIRST).
//
// An image is {width, height, bands, data, offset, xStep, yStep}: the value of band c of
// the pixel in column x and row y is data[offset + x * xStep + y * yStep + c]. The steps
// let a turned image (EXIF orientation) be read in place, without copying it: negative
// and swapped steps are a flip or a quarter turn. bands is 1 (gray), 3 (RGB) or 4 (RGB
// and a fourth byte that is not read); the result has the same bands.

const Resample = (() => {
  const SIZE = 64;
  const SUPPORT = 3.0; // Lanczos-3
  const PRECISION_BITS = 32 - 8 - 2;
  const HALF = 1 << (PRECISION_BITS - 1);
  const ONE = 1 << PRECISION_BITS;

  // Math.sin need not equal the sin of C's libm in the last bit (Chromium's does equal
  // glibc's); a weight that differs in its last bits still rounds to the same 22-bit
  // integer, which is all that reaches the pixels (measured for every input size up to
  // 20000 with both).
  function sinc(x) {
    if (x === 0.0) return 1.0;
    x = x * Math.PI;
    return Math.sin(x) / x;
  }

  function lanczos(x) {
    if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3);
    return 0.0;
  }

  // Pillow's precompute_coeffs for a box from 0 to inSize: for each output pixel, the
  // first input pixel it reads (bounds[2i]), how many it reads (bounds[2i + 1]), and their
  // weights, normalised to sum to 1 (k[i * ksize ...]).
  function weights(inSize, outSize) {
    const scale = inSize / outSize;
    const filterscale = scale < 1.0 ? 1.0 : scale;
    const support = SUPPORT * filterscale;
    const ksize = Math.ceil(support) * 2 + 1;
    const invFilterscale = 1.0 / filterscale;
    const bounds = new Int32Array(outSize * 2);
    const k = new Float64Array(outSize * ksize);
    for (let xx = 0; xx < outSize; xx++) {
      const center = (xx + 0.5) * scale;
      // C's (int) cast truncates toward zero; a negative xmin is clamped to 0 anyway.
      let xmin = Math.trunc(center - support + 0.5);
      if (xmin < 0) xmin = 0;
      let xmax = Math.trunc(center + support + 0.5);
      if (xmax > inSize) xmax = inSize;
      xmax -= xmin;
      const base = xx * ksize;
      let ww = 0.0;
      for (let x = 0; x < xmax; x++) {
        const w = lanczos((x + xmin - center + 0.5) * invFilterscale);
        k[base + x] = w;
        ww += w;
      }
      if (ww !== 0.0) for (let x = 0; x < xmax; x++) k[base + x] /= ww;
      bounds[xx * 2] = xmin;
      bounds[xx * 2 + 1] = xmax;
    }
    return { ksize, bounds, k };
  }

  // The weights in fixed point, as Pillow's normalize_coeffs_8bpc rounds them.
  function coefficients(inSize, outSize) {
    const { ksize, bounds, k } = weights(inSize, outSize);
    const kk = new Int32Array(k.length);
    for (let i = 0; i < k.length; i++) {
      kk[i] = k[i] < 0 ? Math.trunc(-0.5 + k[i] * ONE) : Math.trunc(0.5 + k[i] * ONE);
    }
    return { ksize, bounds, kk };
  }

  // Pillow's clip8: the top bits of the sum, clamped to a byte.
  function clip8(ss) {
    const v = ss >> PRECISION_BITS;
    return v < 0 ? 0 : v > 255 ? 255 : v;
  }

  function packed(width, height, bands) {
    return {
      width, height, bands, data: new Uint8Array(width * height * bands),
      offset: 0, xStep: bands, yStep: width * bands,
    };
  }

  // The horizontal pass over rows first .. first + rows - 1 of im. The bands are summed
  // in one loop, as Pillow does: the sums are integers below 2^31, exact in float64.
  function horizontal(im, outWidth, first, rows) {
    const { ksize, bounds, kk } = coefficients(im.width, outWidth);
    const { data, bands, xStep, yStep } = im;
    const out = packed(outWidth, rows, bands);
    const o = out.data;
    let p = 0;
    for (let y = 0; y < rows; y++) {
      const row = im.offset + (y + first) * yStep;
      for (let xx = 0; xx < outWidth; xx++, p += bands) {
        const xmax = bounds[xx * 2 + 1];
        const kbase = xx * ksize;
        let q = row + bounds[xx * 2] * xStep;
        if (bands === 1) {
          let ss = HALF;
          for (let x = 0; x < xmax; x++, q += xStep) ss += data[q] * kk[kbase + x];
          o[p] = clip8(ss);
        } else {
          let s0 = HALF;
          let s1 = HALF;
          let s2 = HALF;
          for (let x = 0; x < xmax; x++, q += xStep) {
            const k = kk[kbase + x];
            s0 += data[q] * k;
            s1 += data[q + 1] * k;
            s2 += data[q + 2] * k;
          }
          o[p] = clip8(s0);
          o[p + 1] = clip8(s1);
          o[p + 2] = clip8(s2);
        }
      }
    }
    return out;
  }

  // The vertical pass; bounds are shifted by first, the row of im that is row 0 of the
  // pass (Pillow's ybox_first, when the horizontal pass has kept only the rows it needs).
  function vertical(im, outHeight, coeffs, first) {
    const { ksize, bounds, kk } = coeffs;
    const { data, bands, xStep, yStep } = im;
    const out = packed(im.width, outHeight, bands);
    const o = out.data;
    let p = 0;
    for (let yy = 0; yy < outHeight; yy++) {
      const ymin = bounds[yy * 2] - first;
      const ymax = bounds[yy * 2 + 1];
      const kbase = yy * ksize;
      for (let xx = 0; xx < im.width; xx++, p += bands) {
        let q = im.offset + xx * xStep + ymin * yStep;
        if (bands === 1) {
          let ss = HALF;
          for (let y = 0; y < ymax; y++, q += yStep) ss += data[q] * kk[kbase + y];
          o[p] = clip8(ss);
        } else {
          let s0 = HALF;
          let s1 = HALF;
          let s2 = HALF;
          for (let y = 0; y < ymax; y++, q += yStep) {
            const k = kk[kbase + y];
            s0 += data[q] * k;
            s1 += data[q + 1] * k;
            s2 += data[q + 2] * k;
          }
          o[p] = clip8(s0);
          o[p + 1] = clip8(s1);
          o[p + 2] = clip8(s2);
        }
      }
    }
    return out;
  }

  // Pillow's ImagingResampleInner for a whole-image box: a pass runs only along an axis
  // whose size changes. Horizontal first, over only the rows the vertical pass reads; or
  // vertical first (when Pillow's rule below says so), then horizontal over the result.
  function resampleInner(im, outWidth, outHeight, verticalFirst) {
    const needH = outWidth !== im.width;
    const needV = outHeight !== im.height;
    if (!needH && !needV) return copy(im);
    const vcoeffs = coefficients(im.height, outHeight);
    if (verticalFirst) {
      if (needV) im = vertical(im, outHeight, vcoeffs, 0);
      return needH ? horizontal(im, outWidth, 0, im.height) : im;
    }
    let first = 0;
    if (needH) {
      const b = vcoeffs.bounds;
      first = b[0];
      const last = b[outHeight * 2 - 2] + b[outHeight * 2 - 1];
      im = horizontal(im, outWidth, first, last - first);
    }
    return needV ? vertical(im, outHeight, vcoeffs, first) : im;
  }

  function copy(im) {
    const out = packed(im.width, im.height, im.bands);
    let p = 0;
    for (let y = 0; y < im.height; y++) {
      for (let x = 0; x < im.width; x++) {
        const q = im.offset + x * im.xStep + y * im.yStep;
        for (let c = 0; c < im.bands; c++) out.data[p++] = im.data[q + c];
      }
    }
    return out;
  }

  // Which pass Pillow runs first differs between versions, and the order changes the
  // rounding. Pillow 13 runs the vertical pass first when the height shrinks by more than
  // twice what the width shrinks by (ImagingResampleInner's horizontal_first); Pillow 10 to
  // 12 run it first only for an image more than 100 times as high as wide, which
  // Image.resize resizes in two calls, vertically first.
  const VERTICAL_FIRST = {
    pillow13: (w, h) => h - SIZE > 0 && h - SIZE > (w - SIZE) * 2,
    pillow10: (w, h) => h > w * 100 && SIZE < h,
  };

  // Image.resize((64, 64), LANCZOS) as the given Pillow does it ("pillow13" for 13 and
  // later, "pillow10" for 10 to 12); an image of that size already is copied as it is.
  function to64(im, pillow = "pillow13") {
    if (im.width === SIZE && im.height === SIZE) return copy(im);
    return resampleInner(im, SIZE, SIZE, VERTICAL_FIRST[pillow](im.width, im.height));
  }

  return { to64 };
})();
