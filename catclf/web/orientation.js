"use strict";
// The EXIF orientation catclf applies (catclf.images._turn, with Pillow's getexif): read
// here from the file's bytes rather than left to the browser, which reads orientation from
// fewer places than Pillow does (not from XMP, nor from a PNG's "Raw profile type exif"
// text), and whose choice may change between browsers and versions.
//
// Where Pillow finds it, in its order:
//   1. the EXIF block: a JPEG's APP1 "Exif" segments (joined), a PNG's eXIf chunk or "exif"
//      text chunk (the last one wins), a WebP's EXIF chunk; for a PNG without one, the
//      hex dump of a "Raw profile type exif" text chunk (as ImageMagick writes it);
//   2. when the EXIF block has no orientation tag: the first tiff:Orientation in the XMP.
// A value from 2 to 8 turns the image; anything else, or an EXIF block too broken to
// read, leaves it as it is stored.

const Orientation = (() => {
  const TAG = 0x0112;
  const XMP_PATTERN = /tiff:Orientation(="|>)([0-9])/;
  const XMP_ID = "http://ns.adobe.com/xap/1.0/\0";

  // Bytes per value, and a reader of the value at an offset, for the TIFF types Pillow
  // reads. Text (2) and undefined bytes (7) are read too, and are no orientation.
  function reader(view, le) {
    return {
      1: [1, (o) => view.getUint8(o)],
      2: [1, () => NaN],
      7: [1, () => NaN],
      3: [2, (o) => view.getUint16(o, le)],
      4: [4, (o) => view.getUint32(o, le)],
      5: [8, (o) => view.getUint32(o, le) / view.getUint32(o + 4, le)],
      6: [1, (o) => view.getInt8(o)],
      8: [2, (o) => view.getInt16(o, le)],
      9: [4, (o) => view.getInt32(o, le)],
      10: [8, (o) => view.getInt32(o, le) / view.getInt32(o + 4, le)],
      11: [4, (o) => view.getFloat32(o, le)],
      12: [8, (o) => view.getFloat64(o, le)],
    };
  }

  // The orientation tag of IFD0 of an EXIF block, as Pillow's Exif.load reads it:
  // undefined when the tag is absent; null when the block cannot be read at all (Pillow
  // raises, and catclf then keeps the image as stored). The first entry for the tag
  // counts, and its first value; an IFD cut short keeps the entries read before the cut.
  function exifTag(bytes) {
    let start = 0;
    for (let i = 0; i < 2 && startsWith(bytes, start, "Exif\0\0"); i++) start += 6;
    const b = bytes.subarray(start);
    if (b.length === 0) return undefined;
    if (b.length < 8) return null;
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    let le;
    if (b[0] === 0x49 && b[1] === 0x49) le = true;
    else if (b[0] === 0x4d && b[1] === 0x4d) le = false;
    else return null;
    if (view.getUint16(2, le) !== 42) return null; // BigTIFF has no place in EXIF
    let p = view.getUint32(4, le);
    if (p + 2 > b.length) return undefined;
    const count = view.getUint16(p, le);
    p += 2;
    const types = reader(view, le);
    for (let i = 0; i < count && p + 12 <= b.length; i++, p += 12) {
      if (view.getUint16(p, le) !== TAG) continue;
      const type = types[view.getUint16(p + 2, le)];
      const n = view.getUint32(p + 4, le);
      if (!type || n === 0) continue;
      const [unit, read] = type;
      const size = n * unit;
      let at = p + 8;
      if (size > 4) at = view.getUint32(p + 8, le);
      if (at + size > b.length) continue;
      return read(at);
    }
    return undefined;
  }

  function startsWith(bytes, at, text) {
    if (bytes.length < at + text.length) return false;
    for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false;
    return true;
  }

  // Pillow's getexif and TURNS lookup: info is {exif, rawProfile, xmp}, any of them
  // missing; exif and xmp are bytes, rawProfile the text.
  function fromInfo(info) {
    let exif = info.exif;
    if (!exif && info.rawProfile !== undefined) {
      exif = fromRawProfile(info.rawProfile);
      if (exif === null) return 1; // Pillow raises on bad hex; catclf keeps the image as is
    }
    let value;
    if (exif) {
      value = exifTag(exif);
      if (value === null) return 1;
    }
    if (value === undefined && info.xmp) {
      const m = XMP_PATTERN.exec(latin1(info.xmp));
      if (m) value = Number(m[2]);
    }
    return Number.isInteger(value) && value >= 2 && value <= 8 ? value : 1;
  }

  // bytes.fromhex of the lines after the third, as Pillow reads the text: whitespace is
  // allowed between two bytes, not within one. null where fromhex would raise.
  function fromRawProfile(text) {
    const hex = text.split("\n").slice(3).join("");
    const out = [];
    for (let i = 0; i < hex.length; ) {
      if (/\s/.test(hex[i])) {
        i++;
        continue;
      }
      const pair = hex.substr(i, 2);
      if (!/^[0-9a-fA-F]{2}$/.test(pair)) return null;
      out.push(parseInt(pair, 16));
      i += 2;
    }
    return new Uint8Array(out);
  }

  function latin1(bytes) {
    let s = "";
    for (let i = 0; i < bytes.length; i += 8192) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
    }
    return s;
  }

  // A JPEG's EXIF and XMP, from its APP1 segments (Pillow joins several EXIF ones).
  function jpegInfo(bytes) {
    const info = {};
    for (const { marker, body } of Jpeg.segments(bytes)) {
      if (marker !== 0xe1) continue;
      if (startsWith(body, 0, "Exif\0\0")) {
        info.exif = info.exif ? concat(info.exif, body.subarray(6)) : body;
      } else if (startsWith(body, 0, XMP_ID)) {
        info.xmp = body.subarray(XMP_ID.length);
      }
    }
    return info;
  }

  // A WebP's chunks, as {fourcc, at, body}.
  function* webpChunks(bytes) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let p = 12; // after "RIFF", the size, "WEBP"
    while (p + 8 <= bytes.length) {
      const size = view.getUint32(p + 4, true);
      yield { fourcc: latin1(bytes.subarray(p, p + 4)), at: p,
        body: bytes.subarray(p + 8, p + 8 + size) };
      p += 8 + size + (size & 1);
    }
  }

  // A WebP's first EXIF and XMP chunks (only an extended, VP8X, file has them).
  function webpInfo(bytes) {
    const info = {};
    for (const { fourcc, body } of webpChunks(bytes)) {
      if (fourcc === "EXIF" && !info.exif) info.exif = body;
      if (fourcc === "XMP " && !info.xmp) info.xmp = body;
    }
    return info;
  }

  // The file's bytes with its EXIF blocks renamed so that no decoder finds them: a browser
  // turns a JPEG upright as its EXIF says whatever createImageBitmap is asked (Chromium
  // does), and the page must turn it as catclf does, once. A copy when anything changes.
  function hiddenFromBrowser(bytes, format) {
    let out = bytes;
    const rename = (at) => {
      if (out === bytes) out = bytes.slice();
      out[at] = 0x58; // "Exif" to "Xxif", "EXIF" to "XXIF"
    };
    if (format === "jpeg") {
      for (const { marker, at, body } of Jpeg.segments(bytes)) {
        if (marker === 0xe1 && startsWith(body, 0, "Exif")) rename(at + 4);
      }
    } else if (format === "webp") {
      for (const { fourcc, at } of webpChunks(bytes)) if (fourcc === "EXIF") rename(at);
    }
    return out;
  }

  function concat(a, b) {
    const out = new Uint8Array(a.length + b.length);
    out.set(a);
    out.set(b, a.length);
    return out;
  }

  return { fromInfo, jpegInfo, webpInfo, hiddenFromBrowser, latin1 };
})();
