"use strict";
// The structure of a JPEG file, for what the page reads from it before decoding: the
// marker segments up to the first scan (EXIF and XMP are there) and the frame size.

const Jpeg = (() => {
  // Each marker segment before the first scan, as {marker, at, body}: at is the offset of
  // its 0xFF, body its payload (after the two length bytes).
  function* segments(bytes) {
    let p = 2; // after SOI
    while (p + 4 <= bytes.length && bytes[p] === 0xff) {
      const marker = bytes[p + 1];
      if (marker === 0xff) {
        p++; // a fill byte
        continue;
      }
      if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
        p += 2; // markers without a length
        continue;
      }
      if (marker === 0xda || marker === 0xd9) return; // start of scan, end of image
      const length = (bytes[p + 2] << 8) | bytes[p + 3];
      yield { marker, at: p, body: bytes.subarray(p + 4, p + 2 + length) };
      p += 2 + length;
    }
  }

  // {width, height} as stored, from the frame header (SOF0 to SOF15), or null.
  function size(bytes) {
    for (const { marker, body } of segments(bytes)) {
      const frame = marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker);
      if (frame && body.length >= 5) {
        return { height: (body[1] << 8) | body[2], width: (body[3] << 8) | body[4] };
      }
    }
    return null;
  }

  return { segments, size };
})();
