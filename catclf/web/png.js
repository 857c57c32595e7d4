"use strict";
// A PNG decoder giving the image Pillow gives catclf, in Pillow's terms (see pixels.js).
//
// Why not the browser's decoder: it cuts 16-bit gray to 8 bits its own way where catclf
// scales it by 255/65535 with rounding; it makes a tRNS colour transparent where Pillow
// matches it against the 8-bit samples (so a 16-bit RGB colour, or a 2- or 4-bit gray one
// other than 0, matches nothing); it turns the image as an eXIf chunk says, whatever it is
// asked; and for an APNG it shows the first frame of the animation where Pillow takes the
// IDAT image. Decoding here gives catclf's pixels, the same in every browser.
//
// What Pillow does, and so this does: the first frame (the IDAT image of an APNG); 1-bit
// gray as 0/255, 2- and 4-bit gray scaled to 8 bits; 16-bit samples cut to their high
// byte, except 16-bit gray, kept whole; 16-bit gray + alpha as RGBA; palettes with tRNS;
// Adam7; no colour management (gAMA, cHRM, iCCP, sRGB are ignored). The CRC of each chunk
// before the image data is checked, as Pillow checks it.

const Png = (() => {
  const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  // Pillow's _MODES: "bit depth,colour type" to mode.
  const MODES = {
    "1,0": "1", "2,0": "L", "4,0": "L", "8,0": "L", "16,0": "I;16",
    "8,2": "RGB", "16,2": "RGB",
    "1,3": "P", "2,3": "P", "4,3": "P", "8,3": "P",
    "8,4": "LA", "16,4": "RGBA",
    "8,6": "RGBA", "16,6": "RGBA",
  };
  const CHANNELS = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
  const OUT_BANDS = { "1": 1, L: 1, P: 1, "I;16": 1, LA: 2, RGB: 3, RGBA: 4 };
  // Adam7 passes: first column, first row, column step, row step.
  const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4],
    [1, 0, 2, 2], [0, 1, 1, 2]];

  const CRC_TABLE = (() => {
    const t = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      t[n] = c;
    }
    return t;
  })();

  function crc32(bytes) {
    let c = -1;
    for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
    return (c ^ -1) >>> 0;
  }

  function isPng(bytes) {
    return bytes.length >= 8 && SIGNATURE.every((v, i) => bytes[i] === v);
  }

  // Inflates zlib data until `want` bytes have come out: data after that, or after the
  // end of the stream, is not read (Pillow's decoder stops there too). Fewer bytes than
  // wanted is a truncated image.
  async function inflate(data, want) {
    const out = new Uint8Array(want);
    let got = 0;
    const reader = new Blob([data]).stream().pipeThrough(new DecompressionStream("deflate"))
      .getReader();
    try {
      while (got < want) {
        const { done, value } = await reader.read();
        if (done) break;
        const n = Math.min(value.length, want - got);
        out.set(value.subarray(0, n), got);
        got += n;
      }
    } catch (e) {
      if (got < want) throw new Error("corrupt image data (" + e.message + ")");
    } finally {
      reader.cancel().catch(() => {});
    }
    if (got < want) throw new Error("image file is truncated");
    return out;
  }

  async function inflateAll(data) {
    try {
      const buf = await new Response(
        new Blob([data]).stream().pipeThrough(new DecompressionStream("deflate")),
      ).arrayBuffer();
      return new Uint8Array(buf);
    } catch (e) {
      return null; // Pillow drops a text chunk that does not inflate
    }
  }

  function latin1(bytes) {
    return Orientation.latin1(bytes);
  }

  // Reverses the row filters in place: rows of rowBytes after a filter-type byte each.
  function unfilter(buf, start, rows, rowBytes, bpp) {
    let prev = -1; // offset of the previous row's first byte; -1 for none
    for (let y = 0; y < rows; y++) {
      const f = buf[start];
      const r = start + 1;
      switch (f) {
        case 0:
          break;
        case 1:
          for (let i = bpp; i < rowBytes; i++) buf[r + i] = (buf[r + i] + buf[r + i - bpp]) & 255;
          break;
        case 2:
          if (prev >= 0) {
            for (let i = 0; i < rowBytes; i++) buf[r + i] = (buf[r + i] + buf[prev + i]) & 255;
          }
          break;
        case 3:
          for (let i = 0; i < rowBytes; i++) {
            const left = i >= bpp ? buf[r + i - bpp] : 0;
            const up = prev >= 0 ? buf[prev + i] : 0;
            buf[r + i] = (buf[r + i] + ((left + up) >> 1)) & 255;
          }
          break;
        case 4:
          for (let i = 0; i < rowBytes; i++) {
            const a = i >= bpp ? buf[r + i - bpp] : 0;
            const b = prev >= 0 ? buf[prev + i] : 0;
            const c = i >= bpp && prev >= 0 ? buf[prev + i - bpp] : 0;
            const p = a + b - c;
            const pa = Math.abs(p - a);
            const pb = Math.abs(p - b);
            const pc = Math.abs(p - c);
            const pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
            buf[r + i] = (buf[r + i] + pred) & 255;
          }
          break;
        default:
          throw new Error("unknown filter type " + f);
      }
      prev = r;
      start = r + rowBytes;
    }
  }

  // Writes the n pixels of one unfiltered row into out, from pixel index o, every step
  // pixels (step > 1 for an Adam7 pass), as Pillow's unpacker for the mode stores them.
  function unpackRow(buf, r, n, bits, ct, mode, out, o, step) {
    const bands = OUT_BANDS[mode];
    if (bits < 8) {
      const per = 8 / bits;
      const mask = (1 << bits) - 1;
      // Pillow's "1" is 0 or 255; its L;2 and L;4 scale to 8 bits; P keeps the index.
      const scale = mode === "1" ? 255 : mode === "L" ? 255 / mask : 1;
      for (let i = 0; i < n; i++, o += step) {
        const byte = buf[r + Math.floor(i / per)];
        const v = (byte >> (8 - bits * (1 + (i % per)))) & mask;
        out[o] = v * scale;
      }
      return;
    }
    const ch = CHANNELS[ct];
    if (bits === 8) {
      if (step === 1) {
        out.set(buf.subarray(r, r + n * ch), o * bands);
        return;
      }
      for (let i = 0; i < n; i++, o += step) {
        for (let c = 0; c < ch; c++) out[o * bands + c] = buf[r + i * ch + c];
      }
      return;
    }
    // 16 bits a sample.
    for (let i = 0; i < n; i++, o += step) {
      const s = r + i * ch * 2;
      if (mode === "I;16") {
        out[o] = (buf[s] << 8) | buf[s + 1];
      } else if (ct === 4) {
        // Pillow's LA;16B to RGBA: the gray high byte three times, then alpha's.
        out[o * 4] = out[o * 4 + 1] = out[o * 4 + 2] = buf[s];
        out[o * 4 + 3] = buf[s + 2];
      } else {
        for (let c = 0; c < ch; c++) out[o * bands + c] = buf[s + 2 * c];
      }
    }
  }

  // Pillow's chunk_tRNS: what info["transparency"] holds for the mode.
  function transparency(mode, s) {
    const i16 = (at) => {
      if (s.length < at + 2) throw new Error("truncated tRNS chunk");
      return (s[at] << 8) | s[at + 1];
    };
    if (mode === "P") return s.slice();
    if (mode === "1") return i16(0) ? 255 : 0;
    if (mode === "L" || mode === "I;16") return i16(0);
    if (mode === "RGB") return [i16(0), i16(2), i16(4)];
    return undefined;
  }

  // Returns {image, info}: the image as pixels.js describes it, and where its orientation
  // may be (see orientation.js). maxPixels: see Pixels.checkSize.
  async function decode(bytes, maxPixels) {
    if (!isPng(bytes)) throw new Error("not a PNG file");
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const info = {};
    let header = null;
    let palette = null;
    let trns;
    const idat = [];
    let idatDone = false;
    let p = 8;
    while (true) {
      // A file that ends after the image data (even without IEND) is read, as by Pillow.
      if (p + 8 > bytes.length) {
        if (idat.length) break;
        throw new Error("truncated PNG file");
      }
      const length = view.getUint32(p);
      const type = String.fromCharCode(bytes[p + 4], bytes[p + 5], bytes[p + 6], bytes[p + 7]);
      const end = p + 8 + length;
      // After the image data Pillow reads a chunk's body but not its checksum.
      const after = idat.length > 0 && type !== "IDAT";
      if ((after ? end : end + 4) > bytes.length) {
        throw new Error(`truncated PNG file (${type} chunk)`);
      }
      const s = bytes.subarray(p + 8, end);
      const checked = !idatDone && type !== "IDAT";
      if (checked && crc32(bytes.subarray(p + 4, end)) !== view.getUint32(end)) {
        throw new Error(`broken PNG file (bad checksum in ${type})`);
      }
      if (header === null && type !== "IHDR") throw new Error("PNG file without IHDR");
      if (type === "IDAT") {
        if (idatDone) break; // a second run of IDAT: not part of the first image
        idat.push(s);
      } else if (idat.length && !idatDone) {
        idatDone = true; // the image data ends at the first other chunk
      }
      if (type === "IEND") break;
      if (type === "fcTL" && idatDone) break; // the next frame of an APNG
      switch (type) {
        case "IHDR": {
          if (length < 13) throw new Error("truncated IHDR");
          const bits = s[8];
          const ct = s[9];
          const mode = MODES[bits + "," + ct];
          if (!mode) throw new Error(`unsupported PNG bit depth ${bits}, colour type ${ct}`);
          if (s[11]) throw new Error("unknown filter category");
          header = {
            width: view.getUint32(p + 8), height: view.getUint32(p + 12), bits, ct, mode,
            interlace: s[12] !== 0,
          };
          break;
        }
        case "PLTE":
          if (header.mode === "P" && !idat.length) palette = s.slice();
          break;
        case "tRNS":
          trns = transparency(header.mode, s);
          break;
        case "eXIf":
          info.exif = s.slice();
          break;
        case "tEXt":
        case "zTXt":
        case "iTXt":
          await text(type, s, info);
          break;
      }
      p = end + 4;
    }
    if (!idat.length) throw new Error("PNG file without image data");
    const { width, height, bits, ct, mode, interlace } = header;
    if (width === 0 || height === 0) throw new Error("PNG image of size 0");
    Pixels.checkSize(width, height, maxPixels);
    const ch = CHANNELS[ct];
    const bpp = Math.max(1, (bits * ch) >> 3);
    const rowBytes = (w) => Math.ceil((w * bits * ch) / 8);
    const passes = interlace
      ? ADAM7.map(([x0, y0, dx, dy]) => [x0, y0, dx, dy,
        Math.ceil((width - x0) / dx), Math.ceil((height - y0) / dy)])
        .filter((q) => q[4] > 0 && q[5] > 0)
      : [[0, 0, 1, 1, width, height]];
    let want = 0;
    for (const q of passes) want += q[5] * (1 + rowBytes(q[4]));
    const buf = await inflate(concat(idat), want);

    const n = width * height;
    const bands = OUT_BANDS[mode];
    const data = mode === "I;16" ? new Uint16Array(n) : new Uint8Array(n * bands);
    let at = 0;
    for (const [x0, y0, dx, dy, pw, ph] of passes) {
      const rb = rowBytes(pw);
      unfilter(buf, at, ph, rb, bpp);
      for (let j = 0; j < ph; j++) {
        const r = at + j * (rb + 1) + 1;
        unpackRow(buf, r, pw, bits, ct, mode, data, (y0 + j * dy) * width + x0, dx);
      }
      at += ph * (rb + 1);
    }
    const image = { width, height, mode, data };
    if (mode === "P") image.palette = palette || new Uint8Array(0);
    if (trns !== undefined) image.transparency = trns;
    return { image, info };
  }

  // What Pillow keeps of a text chunk that orientation can come from: a "Raw profile type
  // exif" hex dump, an "exif" text (raw EXIF bytes), XMP ("XML:com.adobe.xmp").
  async function text(type, s, info) {
    const nul = s.indexOf(0);
    const key = latin1(nul < 0 ? s : s.subarray(0, nul));
    let value = nul < 0 ? new Uint8Array(0) : s.subarray(nul + 1);
    if (type === "zTXt") {
      if (value.length && value[0] !== 0) throw new Error("unknown zTXt compression method");
      value = (await inflateAll(value.subarray(1))) || new Uint8Array(0);
    } else if (type === "iTXt") {
      if (nul < 0 || value.length < 2) return;
      const compressed = value[0];
      const method = value[1];
      let rest = value.subarray(2);
      const a = rest.indexOf(0);
      const b = a < 0 ? -1 : rest.indexOf(0, a + 1);
      if (b < 0) return;
      rest = rest.subarray(b + 1);
      if (compressed) {
        if (method !== 0) return;
        rest = await inflateAll(rest);
        if (rest === null) return;
      }
      value = rest;
    }
    if (!key) return;
    if (key === "Raw profile type exif") info.rawProfile = latin1(value);
    else if (key === "XML:com.adobe.xmp") info.xmp = value.slice();
    else if (key === "exif" && type === "tEXt") info.exif = value.slice();
  }

  function concat(parts) {
    if (parts.length === 1) return parts[0];
    let n = 0;
    for (const a of parts) n += a.length;
    const out = new Uint8Array(n);
    let o = 0;
    for (const a of parts) {
      out.set(a, o);
      o += a.length;
    }
    return out;
  }

  return { decode };
})();
