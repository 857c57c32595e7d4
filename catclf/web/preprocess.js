"use strict";
// From a file to the model's (64, 64, 3) pixels, in catclf's order (catclf.images):
// decode the first frame, convert to 8-bit RGB or gray compositing transparency on white,
// turn upright as EXIF says, resize to 64x64 with Pillow's Lanczos.
//
// PNG and BMP are decoded here (png.js, bmp.js); every other format by the browser
// (decode.js). A JPEG of 512 pixels or more a side catclf has libjpeg decode at 1/2, 1/4
// or 1/8 scale (Pillow's draft). Where the browser has WebCodecs' ImageDecoder, the page
// asks it for that reduced size, and the browser's libjpeg scales the same way (in
// Chromium, to the byte; the page checks it with Decode.jpegProbe). Elsewhere the page
// decodes in full and reduces by the same factor, each pixel the mean of the block it
// covers: within a few levels of catclf (docs/export.md gives the figures).

const Preprocess = (() => {
  // The formats by the names catclf gives them, for messages.
  const NAMES = {
    jpeg: "JPEG", webp: "WebP", gif: "GIF", isobmff: "AVIF or HEIC", ico: "ICO",
    tiff: "TIFF", pnm: "PPM/PGM/PBM",
  };
  // Formats catclf reads that browsers mostly do not.
  const RARE = ["isobmff", "tiff", "pnm"];

  // Pillow's JpegImageFile.draft for a requested size of side x side: the largest of 8,
  // 4, 2 that keeps each side at least side pixels, or 1.
  function draftScale(width, height, side) {
    const scale = Math.min(Math.floor(width / side), Math.floor(height / side));
    for (const s of [8, 4, 2]) if (scale >= s) return s;
    return 1;
  }

  // The pixels of file (a Blob) as catclf computes them, by contract (the preprocessing
  // catclf wrote into the page: resize_order, draft_side, max_pixels). Returns
  // {pixels: Uint8Array(12288), format, width, height, orientation, scale, jpeg, times}:
  // width and height as stored, scale the JPEG draft factor (1 for other formats), jpeg
  // how a JPEG was reduced ("scaled" by the decoder, "box" after a full decode, "none").
  // options: jpeg, "scaled" (where the browser can) or "box"; order, the pass order of
  // Pillow's resize ("pillow13" or "pillow10", resample.js), contract's by default.
  async function toPixels(file, contract, options = {}) {
    const order = options.order || contract.resize_order;
    const limit = contract.max_pixels;
    const times = {};
    let t = performance.now();
    const lap = (name) => {
      const now = performance.now();
      times[name] = (times[name] || 0) + now - t;
      t = now;
    };
    const bytes = new Uint8Array(await file.arrayBuffer());
    lap("read");
    const format = Decode.sniff(bytes);
    let im;
    let width;
    let height;
    let orientation = 1;
    let scale = 1;
    let jpeg = "none";
    if (format === "png") {
      const { image, info } = await Png.decode(bytes, limit);
      lap("decode");
      ({ width, height } = image);
      im = Pixels.to8Bits(image);
      orientation = Orientation.fromInfo(info);
      lap("convert");
    } else if (format === "bmp") {
      const image = Bmp.decode(bytes, limit);
      lap("decode");
      ({ width, height } = image);
      im = Pixels.to8Bits(image);
      lap("convert");
    } else if (format === "jpeg") {
      const hidden = Orientation.hiddenFromBrowser(bytes, format);
      const size = Jpeg.size(bytes);
      if (size) Pixels.checkSize(size.width, size.height, limit);
      let decoded = null;
      if (size) {
        scale = draftScale(size.width, size.height, contract.draft_side);
        if (scale > 1 && options.jpeg !== "box") {
          decoded = await Decode.jpegScaled(hidden, size.width, size.height, scale, times);
          if (decoded) jpeg = "scaled";
        }
      }
      if (!decoded) {
        decoded = await browserDecoded(hidden, format, limit, times);
        scale = draftScale(decoded.width, decoded.height, contract.draft_side);
      }
      width = size ? size.width : decoded.width;
      height = size ? size.height : decoded.height;
      lap("decode");
      im = Pixels.view(decoded.width, decoded.height, 4, decoded.data); // opaque
      if (jpeg !== "scaled" && scale > 1) {
        im = Pixels.boxReduce(im, scale);
        jpeg = "box";
      }
      orientation = Orientation.fromInfo(Orientation.jpegInfo(bytes));
      lap("convert");
    } else {
      if (format === "unknown") {
        throw new Error("not an image: this page reads JPEG, PNG, GIF, BMP and WebP files, "
          + "and what else this browser decodes");
      }
      const hidden = Orientation.hiddenFromBrowser(bytes, format);
      const decoded = await browserDecoded(hidden, format, limit, times);
      ({ width, height } = decoded);
      lap("decode");
      im = Pixels.view(decoded.width, decoded.height, 4, Pixels.compositeRgba(decoded.data));
      if (format === "webp") orientation = Orientation.fromInfo(Orientation.webpInfo(bytes));
      lap("convert");
    }
    const small = Resample.to64(Pixels.turn(im, orientation), order);
    const pixels = Pixels.toRgb64(small);
    lap("resize");
    return { pixels, format, width, height, orientation, scale, jpeg, times };
  }

  // The browser's decode of a format the page does not decode itself, with a message that
  // names the format when the browser cannot.
  async function browserDecoded(bytes, format, limit, times) {
    try {
      return await Decode.rgba(new Blob([bytes]), limit, times);
    } catch (e) {
      if (!(e instanceof Decode.Undecodable)) throw e;
      const name = NAMES[format] || format;
      const why = RARE.includes(format) ? "catclf predict reads it"
        : "it may be damaged or cut short";
      throw new Error(`this browser cannot decode this ${name} file (${e.message}): ${why}`);
    }
  }

  return { toPixels, draftScale };
})();
