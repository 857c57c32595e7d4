"use strict";
// Decoding by the browser, for the formats not decoded here (JPEG, WebP, GIF, AVIF, ICO):
// the first frame as RGBA bytes, with no colour management and no EXIF turn (the page
// hides EXIF from the decoder and turns the image itself, as catclf does: orientation.js).
//
// A 2D canvas keeps its pixels premultiplied by alpha, so getImageData gives back colours
// rounded where alpha is below 255 (where alpha is 0, no colour at all). That loses
// nothing that matters here: composited on white, a colour depends on the premultiplied
// value (v * a / 255 + 255 - a), and premultiplying, unpremultiplying, then compositing
// as Pillow does gives Pillow's result for every (v, a), as the page checks the first time
// it reads pixels back (canvasComposites). Where a browser rounds differently, the page
// reads the pixels through WebGL, which keeps them unpremultiplied.

const Decode = (() => {
  // imageOrientation cannot be relied on to keep a JPEG as stored (Chromium turns it
  // whatever it is asked); the EXIF block is hidden from the decoder instead.
  const OPTIONS = {
    colorSpaceConversion: "none",
    premultiplyAlpha: "none",
    imageOrientation: "from-image",
  };

  // The format, from the file's first bytes (catclf too goes by content, not by name).
  function sniff(b) {
    const at = (i, s) => [...s].every((ch, k) => b[i + k] === ch.charCodeAt(0));
    if (b.length >= 8 && at(1, "PNG\r\n\x1a\n") && b[0] === 0x89) return "png";
    if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
    if (b.length >= 12 && at(0, "RIFF") && at(8, "WEBP")) return "webp";
    if (b.length >= 6 && (at(0, "GIF87a") || at(0, "GIF89a"))) return "gif";
    if (b.length >= 2 && at(0, "BM")) return "bmp";
    if (b.length >= 12 && at(4, "ftyp")) return "isobmff"; // AVIF, HEIC
    if (b.length >= 4 && b[0] === 0 && b[1] === 0 && b[2] === 1 && b[3] === 0) return "ico";
    // Read by catclf, and by few browsers: the browser is asked, and says so if it cannot.
    if (b.length >= 4 && (at(0, "II*\0") || at(0, "MM\0*"))) return "tiff";
    if (b.length >= 2 && b[0] === 0x50 && "1234567fF".includes(String.fromCharCode(b[1]))) {
      return "pnm";
    }
    return "unknown";
  }

  // What the browser's decoder refuses: the page says so in words of its own.
  class Undecodable extends Error {}

  async function bitmap(blob) {
    try {
      return await createImageBitmap(blob, OPTIONS);
    } catch (e) {
      throw new Undecodable(e.message || e.name);
    }
  }

  function canvas(width, height) {
    if (typeof OffscreenCanvas !== "undefined") return new OffscreenCanvas(width, height);
    const c = document.createElement("canvas");
    c.width = width;
    c.height = height;
    return c;
  }

  // RGBA bytes of a bitmap through a 2D canvas (premultiplied inside; see above).
  function viaCanvas(bmp) {
    const c = canvas(bmp.width, bmp.height);
    const ctx = c.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(bmp, 0, 0);
    const d = ctx.getImageData(0, 0, bmp.width, bmp.height).data;
    return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  }

  // RGBA bytes of a bitmap through WebGL: uploaded unpremultiplied and unconverted, read
  // back from a framebuffer (the image's first row is the texture's row 0, which
  // readPixels gives first).
  function viaWebgl(bmp) {
    const c = canvas(1, 1);
    const gl = c.getContext("webgl", { premultipliedAlpha: false, antialias: false });
    if (!gl) throw new Error("no WebGL");
    const max = gl.getParameter(gl.MAX_TEXTURE_SIZE);
    if (bmp.width > max || bmp.height > max) throw new Error("image larger than a texture");
    const tex = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, tex);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, bmp);
    const fb = gl.createFramebuffer();
    gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex, 0);
    const out = new Uint8Array(bmp.width * bmp.height * 4);
    gl.readPixels(0, 0, bmp.width, bmp.height, gl.RGBA, gl.UNSIGNED_BYTE, out);
    gl.deleteFramebuffer(fb);
    gl.deleteTexture(tex);
    gl.getExtension("WEBGL_lose_context")?.loseContext();
    return out;
  }

  // Whether premultiplying in a 2D canvas and compositing gives Pillow's result for
  // every (value, alpha): a 256x256 image of every pair, drawn and read back.
  let canvasOk = null;
  async function canvasComposites() {
    if (canvasOk !== null) return canvasOk;
    const data = new Uint8ClampedArray(256 * 256 * 4);
    for (let a = 0; a < 256; a++) {
      for (let v = 0; v < 256; v++) {
        const i = (a * 256 + v) * 4;
        data[i] = v;
        data[i + 1] = 255 - v;
        data[i + 2] = (v * 7) & 255;
        data[i + 3] = a;
      }
    }
    const bmp = await createImageBitmap(new ImageData(data, 256, 256), OPTIONS);
    const got = viaCanvas(bmp);
    bmp.close();
    const t = Pixels.OVER_WHITE;
    canvasOk = true;
    for (let i = 0; i < got.length && canvasOk; i += 4) {
      const a = data[i + 3] << 8;
      for (let c = 0; c < 3; c++) if (t[a | got[i + c]] !== t[a | data[i + c]]) canvasOk = false;
    }
    return canvasOk;
  }

  // Adds the milliseconds since start to times[name] (times may be undefined).
  function timed(times, name, start) {
    if (times) times[name] = (times[name] || 0) + performance.now() - start;
    return performance.now();
  }

  // {width, height, data}: the first frame's RGBA bytes, as the file stores it, read
  // through a 2D canvas where it composites as Pillow does, else through WebGL. maxPixels:
  // see Pixels.checkSize. times, if given, gets the milliseconds spent decoding
  // ("bitmap") and reading back.
  async function rgba(blob, maxPixels, times = undefined) {
    let t = performance.now();
    const bmp = await bitmap(blob);
    t = timed(times, "bitmap", t);
    try {
      Pixels.checkSize(bmp.width, bmp.height, maxPixels);
      const data = (await canvasComposites()) ? viaCanvas(bmp) : viaWebgl(bmp);
      timed(times, "readback", t);
      return { width: bmp.width, height: bmp.height, data };
    } finally {
      bmp.close();
    }
  }

  // A JPEG decoded at 1/factor scale, as catclf's is (Pillow's draft): WebCodecs'
  // ImageDecoder, asked for the reduced size, has the browser's libjpeg scale its inverse
  // DCT, as Pillow's draft does. null where the browser has no ImageDecoder or does not
  // give that size; whether its pixels are catclf's is what jpegProbe checks.
  async function jpegScaled(bytes, width, height, factor, times = undefined) {
    if (typeof ImageDecoder === "undefined") return null;
    let t = performance.now();
    const w = Math.ceil(width / factor);
    const h = Math.ceil(height / factor);
    let decoder;
    let frame;
    try {
      decoder = new ImageDecoder({
        data: bytes, type: "image/jpeg", desiredWidth: w, desiredHeight: h,
        colorSpaceConversion: "none", preferAnimation: false,
      });
      frame = (await decoder.decode({ frameIndex: 0 })).image;
      t = timed(times, "scaled decode", t);
      if (frame.codedWidth !== w || frame.codedHeight !== h) return null;
      const bmp = await createImageBitmap(frame, OPTIONS);
      try {
        const data = viaCanvas(bmp);
        timed(times, "readback", t);
        return { width: w, height: h, data };
      } finally {
        bmp.close();
      }
    } catch (e) {
      return null;
    } finally {
      frame?.close();
      decoder?.close();
    }
  }

  // Whether this browser decodes JPEG as catclf's libjpeg does, in full and at each draft
  // scale: a small JPEG held in the page is decoded at 1, 1/2, 1/4 and 1/8 and its RGB
  // bytes hashed (FNV-1a, 32 bits) against expected, {1: hash, 2: ..., 4: ..., 8: ...},
  // worked out by catclf when it wrote the page. Returns {full, scaled}: booleans.
  async function jpegProbe(bytes, expected) {
    const size = Jpeg.size(bytes);
    const hash = (d) => {
      let h = 0x811c9dc5;
      for (let i = 0; i < d.length; i += 4) {
        for (let c = 0; c < 3; c++) h = Math.imul(h ^ d[i + c], 16777619) >>> 0;
      }
      return h;
    };
    let full = false;
    try {
      full = hash((await rgba(new Blob([bytes]), Infinity)).data) === expected[1];
    } catch (e) {
      full = false;
    }
    let scaled = true;
    for (const f of [2, 4, 8]) {
      const d = await jpegScaled(bytes, size.width, size.height, f);
      if (!d || hash(d.data) !== expected[f]) scaled = false;
    }
    return { full, scaled };
  }

  return { sniff, rgba, jpegScaled, jpegProbe, Undecodable };
})();
