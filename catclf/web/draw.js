"use strict";
// The pictures of a result: the 64x64 pixels as the model sees them, and the map of each
// pixel's contribution to z drawn over those pixels greyed, in diverging colours whose
// limits are symmetric about zero, with its legend.

const Draw = (() => {
  // ColorBrewer's RdBu, 11 classes, from the most negative (dark blue) through near white
  // at zero to the most positive (dark red).
  const STOPS = [
    [5, 48, 97], [33, 102, 172], [67, 147, 195], [146, 197, 222], [209, 229, 240],
    [247, 247, 247], [253, 219, 199], [244, 165, 130], [214, 96, 77], [178, 24, 43],
    [103, 0, 31],
  ];
  // How opaque the colour of the largest contribution is over the greyed image; smaller
  // ones in proportion, so that where the map is near zero the image shows through.
  const STRENGTH = 0.9;

  // The colour of t in [-1, 1], interpolated between the stops.
  function colour(t) {
    const x = ((Math.max(-1, Math.min(1, t)) + 1) / 2) * (STOPS.length - 1);
    const i = Math.min(STOPS.length - 2, Math.floor(x));
    const f = x - i;
    const a = STOPS[i];
    const b = STOPS[i + 1];
    return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
  }

  // A pixel's grey (Rec. 601 luma), lightened so that the colours stand out over it.
  function grey(r, g, b) {
    return 90 + 0.6 * (0.299 * r + 0.587 * g + 0.114 * b);
  }

  // The map's colour for contribution c over a grey of base, limit the largest |c|.
  function blend(base, c, limit, out, at) {
    const t = limit > 0 ? Math.max(-1, Math.min(1, c / limit)) : 0;
    const a = STRENGTH * Math.abs(t);
    const col = colour(t);
    for (let k = 0; k < 3; k++) out[at + k] = Math.round(base * (1 - a) + col[k] * a);
    out[at + 3] = 255;
  }

  function put(canvas, width, height, fill) {
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(width, height);
    fill(image.data);
    ctx.putImageData(image, 0, 0);
  }

  // pixels: Uint8Array(64 * 64 * 3), row by row.
  function seen(canvas, pixels, size) {
    put(canvas, size, size, (d) => {
      for (let i = 0, j = 0; i < pixels.length; i += 3, j += 4) {
        d[j] = pixels[i];
        d[j + 1] = pixels[i + 1];
        d[j + 2] = pixels[i + 2];
        d[j + 3] = 255;
      }
    });
  }

  // contributions: Float64Array(64 * 64), row by row; limit: the largest |contribution|.
  function map(canvas, pixels, contributions, limit, size) {
    put(canvas, size, size, (d) => {
      for (let p = 0; p < contributions.length; p++) {
        const i = 3 * p;
        blend(grey(pixels[i], pixels[i + 1], pixels[i + 2]), contributions[p], limit, d, 4 * p);
      }
    });
  }

  // The legend: the map's colours from -limit to +limit over a mid grey, in steps.
  function legend(canvas, steps = 256) {
    const base = grey(128, 128, 128);
    put(canvas, steps, 1, (d) => {
      for (let x = 0; x < steps; x++) blend(base, ((x + 0.5) / steps) * 2 - 1, 1, d, 4 * x);
    });
  }

  return { seen, map, legend };
})();
