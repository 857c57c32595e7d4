"use strict";
// From a decoded image to what catclf resizes: 8-bit gray or RGB, transparency composited
// on white, turned upright (catclf.images._to_8_bits and _turn), with Pillow's arithmetic.
//
// A decoded image is {width, height, mode, data, palette, transparency}, in Pillow's terms:
//   mode "1", "L", "P": one byte a pixel (0 or 255 for "1"; a palette index for "P");
//   mode "I;16": a Uint16Array, one value a pixel;
//   mode "LA", "RGB", "RGBA": 2, 3 or 4 bytes a pixel;
//   palette: for "P", 3 bytes an entry;
//   transparency: as Pillow's info["transparency"]: for "1", "L" and "I;16" the value that
//   is transparent, for "RGB" [r, g, b] (values may be above 255, as Pillow reads a
//   16-bit PNG's, and then match nothing), for "P" one transparent index or a Uint8Array
//   of alphas, one an entry; undefined when there is none.

const Pixels = (() => {
  // Pillow's ImagingAlphaComposite of a pixel (v, a) over opaque white, one band:
  // Image.alpha_composite(white, rgba) then convert("RGB"), in 7-bit fixed point.
  // Tabulated for every (a, v): the page composites millions of pixels.
  const OVER_WHITE = (() => {
    const t = new Uint8Array(256 * 256);
    for (let a = 0; a < 256; a++) {
      for (let v = 0; v < 256; v++) {
        if (a === 0) {
          t[a * 256 + v] = 255;
          continue;
        }
        const outa255 = a * 255 + 255 * (255 - a);
        const coef1 = Math.floor((a * 255 * 255 * 128) / outa255);
        const coef2 = 255 * 128 - coef1;
        const tmp = v * coef1 + 255 * coef2 + (0x80 << 7);
        t[a * 256 + v] = (((tmp >> 8) + tmp) >> 8) >> 7;
      }
    }
    return t;
  })();

  // catclf refuses an image of more than maxPixels pixels before decoding it (Pillow's
  // Image.MAX_IMAGE_PIXELS when the page was written), in the same words.
  function checkSize(width, height, maxPixels) {
    const n = width * height;
    if (n > maxPixels) {
      const count = (v) => v.toLocaleString("en-US");
      throw new Error(`image too large to decode safely (${width}x${height}: ${count(n)} `
        + `pixels, more than the ${count(maxPixels)} allowed)`);
    }
  }

  function view(width, height, bands, data) {
    return { width, height, bands, data, offset: 0, xStep: bands, yStep: width * bands };
  }

  // Composites RGBA pixels on white in place: the result is RGB in the first three bytes
  // of each four. Also right for RGBA that a 2D canvas has premultiplied and
  // unpremultiplied (see decode.js).
  function compositeRgba(data) {
    const t = OVER_WHITE;
    for (let i = 0, n = data.length; i < n; i += 4) {
      const a = data[i + 3];
      if (a === 255) continue;
      const row = a << 8;
      data[i] = t[row | data[i]];
      data[i + 1] = t[row | data[i + 1]];
      data[i + 2] = t[row | data[i + 2]];
    }
    return data;
  }

  // numpy's rint: halves to even.
  function rint(v) {
    const r = Math.round(v);
    return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }

  // catclf's _to_8_bits: a view of 1 band (gray), 3 (RGB) or 4 (RGB and an unread byte).
  function to8Bits(im) {
    const { width, height, mode, data } = im;
    const n = width * height;
    const trns = im.transparency;
    switch (mode) {
      case "I;16": {
        // _scale_to_8_bits: 16-bit gray scaled by 255/65535 in float64 and rounded; the
        // transparency of a 16-bit gray image is not used.
        const out = new Uint8Array(n);
        const factor = 255.0 / 65535.0;
        for (let i = 0; i < n; i++) out[i] = rint(data[i] * factor);
        return view(width, height, 1, out);
      }
      case "1":
      case "L": {
        // convert_transparent makes the pixels equal to the value transparent: white.
        if (trns !== undefined) {
          for (let i = 0; i < n; i++) if (data[i] === trns) data[i] = 255;
        }
        return view(width, height, 1, data);
      }
      case "LA": {
        const out = new Uint8Array(n);
        for (let i = 0; i < n; i++) out[i] = OVER_WHITE[(data[2 * i + 1] << 8) | data[2 * i]];
        return view(width, height, 1, out);
      }
      case "RGB": {
        if (trns !== undefined) {
          const [r, g, b] = trns;
          for (let i = 0; i < 3 * n; i += 3) {
            if (data[i] === r && data[i + 1] === g && data[i + 2] === b) {
              data[i] = data[i + 1] = data[i + 2] = 255;
            }
          }
        }
        return view(width, height, 3, data);
      }
      case "RGBA":
        return view(width, height, 4, compositeRgba(data));
      case "P":
        return fromPalette(im);
      default:
        throw new Error(`unsupported mode ${mode}`);
    }
  }

  // A palette image as RGB: each entry composited on white once, as Pillow does pixel by
  // pixel (P to RGBA with the palette's alphas, then over white).
  function fromPalette(im) {
    const { width, height, data, palette } = im;
    const trns = im.transparency;
    const rgb = new Uint8Array(256 * 3); // entries past the palette's end are black
    rgb.set(palette.subarray(0, Math.min(palette.length, 768)));
    if (trns !== undefined) {
      for (let e = 0; e < 256; e++) {
        let a = 255;
        if (typeof trns === "number") a = e === trns ? 0 : 255;
        else if (e < trns.length) a = trns[e];
        for (let c = 0; c < 3; c++) rgb[3 * e + c] = OVER_WHITE[(a << 8) | rgb[3 * e + c]];
      }
    }
    const n = width * height;
    const out = new Uint8Array(n * 3);
    for (let i = 0, p = 0; i < n; i++, p += 3) {
      const e = 3 * data[i];
      out[p] = rgb[e];
      out[p + 1] = rgb[e + 1];
      out[p + 2] = rgb[e + 2];
    }
    return view(width, height, 3, out);
  }

  // The image turned as EXIF orientation o (2..8) says, as ImageOps.exif_transpose and
  // catclf's _turn do it, as a view of the same bytes: (x, y) of the turned image reads
  // the stored pixel (px, py) given in each comment.
  function turn(im, o) {
    const { width: w, height: h, xStep: sx, yStep: sy } = im;
    const at = (px, py) => im.offset + px * sx + py * sy;
    const t = (width, height, offset, xStep, yStep) =>
      ({ ...im, width, height, offset, xStep, yStep });
    switch (o) {
      case 2: return t(w, h, at(w - 1, 0), -sx, sy); // FLIP_LEFT_RIGHT: (w-1-x, y)
      case 3: return t(w, h, at(w - 1, h - 1), -sx, -sy); // ROTATE_180: (w-1-x, h-1-y)
      case 4: return t(w, h, at(0, h - 1), sx, -sy); // FLIP_TOP_BOTTOM: (x, h-1-y)
      case 5: return t(h, w, at(0, 0), sy, sx); // TRANSPOSE: (y, x)
      case 6: return t(h, w, at(0, h - 1), -sy, sx); // ROTATE_270: (y, h-1-x)
      case 7: return t(h, w, at(w - 1, h - 1), -sy, -sx); // TRANSVERSE: (w-1-y, h-1-x)
      case 8: return t(h, w, at(w - 1, 0), sy, -sx); // ROTATE_90: (w-1-y, x)
      default: return im;
    }
  }

  // The reduction of a packed image by `factor` in each direction, each output pixel the
  // rounded mean of the (up to) factor x factor input pixels it covers, sizes rounded up:
  // what stands in for the JPEG decoder's reduced-scale decode (see Preprocess.draftScale).
  function boxReduce(im, factor) {
    const { width, height, bands, data } = im;
    const ow = Math.ceil(width / factor);
    const oh = Math.ceil(height / factor);
    const out = new Uint8Array(ow * oh * bands);
    const sums = new Float64Array(ow * 3);
    const gray = bands === 1;
    for (let oy = 0; oy < oh; oy++) {
      sums.fill(0);
      const y0 = oy * factor;
      const y1 = Math.min(y0 + factor, height);
      for (let y = y0; y < y1; y++) {
        let p = y * width * bands;
        for (let ox = 0; ox < ow; ox++) {
          const n = ox === ow - 1 ? width - ox * factor : factor;
          let s0 = 0;
          let s1 = 0;
          let s2 = 0;
          if (gray) {
            for (let i = 0; i < n; i++, p++) s0 += data[p];
          } else {
            for (let i = 0; i < n; i++, p += bands) {
              s0 += data[p];
              s1 += data[p + 1];
              s2 += data[p + 2];
            }
          }
          sums[3 * ox] += s0;
          sums[3 * ox + 1] += s1;
          sums[3 * ox + 2] += s2;
        }
      }
      const rows = y1 - y0;
      for (let ox = 0; ox < ow; ox++) {
        const count = rows * (ox === ow - 1 ? width - ox * factor : factor);
        const half = count >> 1;
        const o = (oy * ow + ox) * bands;
        for (let c = 0; c < (gray ? 1 : 3); c++) {
          out[o + c] = Math.floor((sums[3 * ox + c] + half) / count);
        }
      }
    }
    return view(ow, oh, bands, out);
  }

  // The (64, 64, 3) bytes in C order, gray made RGB.
  function toRgb64(im) {
    const n = im.width * im.height;
    const out = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
      const q = im.offset + (i % im.width) * im.xStep + Math.floor(i / im.width) * im.yStep;
      if (im.bands === 1) {
        out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = im.data[q];
      } else {
        out[3 * i] = im.data[q];
        out[3 * i + 1] = im.data[q + 1];
        out[3 * i + 2] = im.data[q + 2];
      }
    }
    return out;
  }

  return { to8Bits, compositeRgba, turn, boxReduce, toRgb64, view, checkSize, OVER_WHITE };
})();
