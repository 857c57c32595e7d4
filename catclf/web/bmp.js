"use strict";
// A BMP decoder giving the image Pillow gives catclf (PIL.BmpImagePlugin), in Pillow's
// terms (see pixels.js).
//
// Why not the browser's decoder: browsers scale 5- and 6-bit channels to 8 bits by
// repeating their high bits, where Pillow computes v * 255 / 31 (or 63) rounded down; and
// what a browser makes of the fourth byte of a 32-bit BI_RGB file (Pillow ignores it)
// differs between browsers. BMP is simple enough to decode here the way Pillow does.
//
// What Pillow reads, and so this reads: headers of 12 (OS/2), 40, 52, 56, 64, 108 and 124
// bytes; 1, 4, 8 bits with a palette; 16 bits (5-5-5, or 5-6-5 with bit fields); 24 bits;
// 32 bits with its fourth byte ignored, unless bit fields give an alpha mask; RLE8 and
// RLE4; rows bottom-up or top-down. Anything else is refused, as Pillow refuses it.

const Bmp = (() => {
  const COMPRESSION = { RAW: 0, RLE8: 1, RLE4: 2, BITFIELDS: 3 };
  // Pillow's MASK_MODES: bit fields (r, g, b, a) to the order of the bytes in memory.
  const MASKS_32 = {
    "ff0000,ff00,ff,0": "BGRX",
    "ff000000,ff0000,ff00,0": "XBGR",
    "ff000000,ff00,ff,0": "BGXR",
    "ff000000,ff0000,ff00,ff": "ABGR",
    "ff,ff00,ff0000,ff000000": "RGBA",
    "ff0000,ff00,ff,ff000000": "BGRA",
    "ff000000,ff00,ff,ff0000": "BGAR",
    "0,0,0,0": "BGRA",
  };
  const MASKS_24 = { "ff0000,ff00,ff": "BGR" };
  const MASKS_16 = { "f800,7e0,1f": "BGR;16", "7c00,3e0,1f": "BGR;15" };

  // The image in bytes; maxPixels: see Pixels.checkSize.
  function decode(bytes, maxPixels) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const need = (end) => {
      if (end > bytes.length) throw new Error("truncated BMP file");
    };
    need(18);
    let offset = view.getUint32(10, true);
    const headerSize = view.getUint32(14, true);
    need(14 + headerSize);
    const h = 18; // the header's fields, after its size
    let pos = 14 + headerSize; // Pillow reads masks and palette from here on
    let width;
    let height;
    let bits;
    let compression = COMPRESSION.RAW;
    let colors = 0;
    let topDown = false;
    let paletteEntry = 4;
    let masks = null;
    if (headerSize === 12) {
      width = view.getUint16(h, true);
      height = view.getUint16(h + 2, true);
      bits = view.getUint16(h + 6, true);
      paletteEntry = 3;
    } else if ([40, 52, 56, 64, 108, 124].includes(headerSize)) {
      // Pillow reads a negative height by its top byte only.
      topDown = bytes[h + 7] === 0xff;
      width = view.getUint32(h, true);
      height = view.getUint32(h + 4, true);
      if (topDown) height = 2 ** 32 - height;
      bits = view.getUint16(h + 10, true);
      compression = view.getUint32(h + 12, true);
      colors = view.getUint32(h + 28, true);
      if (compression === COMPRESSION.BITFIELDS) {
        if (headerSize >= 52) {
          masks = [0, 1, 2].map((i) => view.getUint32(h + 36 + 4 * i, true));
          masks.push(headerSize >= 56 ? view.getUint32(h + 48, true) : 0);
        } else {
          // A 40-byte header is followed by three masks (a fourth would be reserved).
          need(pos + 12);
          masks = [0, 1, 2].map((i) => view.getUint32(pos + 4 * i, true));
          masks.push(0);
          pos += 12;
        }
      }
    } else {
      throw new Error(`unsupported BMP header type (${headerSize})`);
    }
    if (width === 0 || height === 0) throw new Error("BMP image of size 0");
    Pixels.checkSize(width, height, maxPixels);
    if (!colors) colors = 2 ** bits;
    if (offset === 14 + headerSize && bits <= 8) offset += paletteEntry * colors;

    let raw = { 1: "P;1", 4: "P;4", 8: "P", 16: "BGR;15", 24: "BGR", 32: "BGRX" }[bits];
    if (!raw) throw new Error(`unsupported BMP pixel depth (${bits})`);
    let rle = false;
    if (compression === COMPRESSION.BITFIELDS) {
      const key = (n) => masks.slice(0, n).map((m) => m.toString(16)).join(",");
      raw = bits === 32 ? MASKS_32[key(4)] : bits === 24 ? MASKS_24[key(3)]
        : bits === 16 ? MASKS_16[key(3)] : undefined;
      if (!raw) throw new Error("unsupported BMP bit fields layout");
    } else if (compression === COMPRESSION.RLE8 || compression === COMPRESSION.RLE4) {
      rle = true;
    } else if (compression !== COMPRESSION.RAW) {
      throw new Error(`unsupported BMP compression (${compression})`);
    }

    let palette;
    if (raw.startsWith("P")) {
      if (!(colors > 0 && colors <= 65536)) {
        throw new Error(`unsupported BMP palette size (${colors})`);
      }
      need(pos + paletteEntry * colors);
      const n = Math.min(colors, 256);
      palette = new Uint8Array(n * 3);
      for (let i = 0; i < n; i++) {
        const e = pos + i * paletteEntry;
        palette[3 * i] = bytes[e + 2];
        palette[3 * i + 1] = bytes[e + 1];
        palette[3 * i + 2] = bytes[e];
      }
    }

    if (rle) {
      const indices = unRle(bytes, offset, width, height, compression === COMPRESSION.RLE4);
      const data = topDown ? indices : flipRows(indices, width, height);
      return { width, height, mode: "P", data, palette };
    }
    const stride = ((width * bits + 31) >> 3) & ~3;
    need(offset + stride * (height - 1) + Math.ceil((width * bits) / 8));
    const mode = raw.startsWith("P") ? "P" : raw.includes("A") ? "RGBA" : "RGB";
    const bands = { P: 1, RGB: 3, RGBA: 4 }[mode];
    const data = new Uint8Array(width * height * bands);
    for (let y = 0; y < height; y++) {
      const row = offset + y * stride;
      const outRow = (topDown ? y : height - 1 - y) * width * bands;
      unpackRow(bytes, row, width, raw, data, outRow);
    }
    const image = { width, height, mode, data };
    if (palette) image.palette = palette;
    return image;
  }

  // One row of pixels in Pillow's raw mode into out (P: an index a pixel; RGB; RGBA).
  function unpackRow(b, r, width, raw, out, o) {
    switch (raw) {
      case "P;1":
      case "P;4": {
        const bits = raw === "P;1" ? 1 : 4;
        const per = 8 / bits;
        const mask = (1 << bits) - 1;
        for (let x = 0; x < width; x++) {
          out[o + x] = (b[r + Math.floor(x / per)] >> (8 - bits * (1 + (x % per)))) & mask;
        }
        return;
      }
      case "P":
        out.set(b.subarray(r, r + width), o);
        return;
      case "BGR;15":
      case "BGR;16": {
        const g6 = raw === "BGR;16";
        for (let x = 0; x < width; x++, o += 3) {
          const v = b[r + 2 * x] | (b[r + 2 * x + 1] << 8);
          // Pillow's ImagingUnpackBGR15 / BGR16: v * 255 / max, rounded down.
          out[o + 2] = Math.floor(((v & 31) * 255) / 31);
          if (g6) {
            out[o + 1] = Math.floor((((v >> 5) & 63) * 255) / 63);
            out[o] = Math.floor((((v >> 11) & 31) * 255) / 31);
          } else {
            out[o + 1] = Math.floor((((v >> 5) & 31) * 255) / 31);
            out[o] = Math.floor((((v >> 10) & 31) * 255) / 31);
          }
        }
        return;
      }
      default: {
        // Byte orders of 3 or 4 bytes a pixel: where R, G, B (and A) are.
        const size = raw.length;
        const at = (ch) => raw.indexOf(ch);
        const ri = at("R");
        const gi = at("G");
        const bi = at("B");
        const ai = at("A");
        const bands = ai >= 0 ? 4 : 3;
        for (let x = 0; x < width; x++, o += bands) {
          const p = r + x * size;
          out[o] = b[p + ri];
          out[o + 1] = b[p + gi];
          out[o + 2] = b[p + bi];
          if (ai >= 0) out[o + 3] = b[p + ai];
        }
      }
    }
  }

  // Pillow's BmpRleDecoder: the indices, rows in file order (bottom-up unless top-down),
  // pixels skipped by a delta or an early end of line left at 0. It aligns absolute runs
  // to even positions in the file, as Pillow does.
  function unRle(b, offset, width, height, rle4) {
    const total = width * height;
    const data = new Uint8Array(total);
    let n = 0;
    let x = 0;
    let p = offset;
    while (n < total) {
      if (p + 2 > b.length) break;
      let count = b[p];
      const byte = b[p + 1];
      p += 2;
      if (count) {
        if (x + count > width) count = Math.max(0, width - x);
        count = Math.min(count, total - n);
        for (let i = 0; i < count; i++) {
          data[n++] = rle4 ? (i % 2 === 0 ? byte >> 4 : byte & 15) : byte;
        }
        x += count;
      } else if (byte === 0) {
        // end of line: pad to a whole row
        if (n % width) n += width - (n % width);
        x = 0;
      } else if (byte === 1) {
        break;
      } else if (byte === 2) {
        if (p + 2 > b.length) break;
        const right = b[p];
        const up = b[p + 1];
        p += 2;
        n += Math.min(total - n, right + up * width);
        x = n % width;
      } else {
        const dataCount = Math.min(total - n, byte);
        const byteCount = rle4 ? (dataCount + 1) >> 1 : dataCount;
        const got = Math.min(byteCount, b.length - p);
        if (rle4) {
          for (let i = 0; i < got; i++) {
            data[n++] = b[p + i] >> 4;
            if (i * 2 + 1 < dataCount) data[n++] = b[p + i] & 15;
          }
        } else {
          data.set(b.subarray(p, p + got), n);
          n += got;
        }
        p += got;
        if (got < byteCount || n === total) break;
        x += byte;
        if (p % 2 !== 0) p++;
      }
    }
    // Pillow hands what it decoded to its raw decoder, which wants every pixel.
    if (n < total) throw new Error("not enough image data");
    return data;
  }

  function flipRows(data, width, height) {
    const out = new Uint8Array(data.length);
    for (let y = 0; y < height; y++) {
      out.set(data.subarray(y * width, (y + 1) * width), (height - 1 - y) * width);
    }
    return out;
  }

  return { decode };
})();
