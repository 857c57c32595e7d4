"use strict";
// The model: logistic regression on the 12288 pixels / 255, in C order, as catclf
// computes it (catclf.logistic.predict_proba): z = w . x + b in float64, p = sigmoid(z).

const Model = (() => {
  // w: Float64Array(12288); b: number; pixels: Uint8Array(12288) from Preprocess.
  // Returns {z, probability, contributions, toward, away}, as catclf explain splits z
  // (catclf.explanation, against a black image): contributions is the 64x64 map, row by
  // row, of each pixel's share of z (w_i x_i summed over its three colours), so that
  // z = b + the sum of the map; toward is the sum of the positive shares w_i x_i of the
  // 12288 values (what pushes z toward the positive class), away the sum of the negative
  // ones, so that z = b + toward + away (up to float rounding, a few units in the last
  // place).
  function explain(w, b, pixels) {
    if (pixels.length !== w.length) throw new Error("pixels and weights differ in length");
    const contributions = new Float64Array(pixels.length / 3);
    let dot = 0;
    let toward = 0;
    let away = 0;
    for (let j = 0, i = 0; j < contributions.length; j++, i += 3) {
      let c = 0;
      for (let k = i; k < i + 3; k++) {
        const share = w[k] * (pixels[k] / 255);
        c += share;
        if (share > 0) toward += share;
        else away += share;
      }
      contributions[j] = c;
      dot += c;
    }
    const z = dot + b;
    return { z, probability: sigmoid(z), contributions, toward, away };
  }

  // 1 / (1 + e^-z) without overflow: e^-|z| is at most 1.
  function sigmoid(z) {
    if (z >= 0) return 1 / (1 + Math.exp(-z));
    const e = Math.exp(z);
    return e / (1 + e);
  }

  // Weights stored in the page as base64 of little-endian float64.
  function weightsFromBase64(text) {
    const bytes = bytesFromBase64(text);
    const view = new DataView(bytes.buffer);
    const w = new Float64Array(bytes.length / 8);
    for (let i = 0; i < w.length; i++) w[i] = view.getFloat64(8 * i, true);
    return w;
  }

  function bytesFromBase64(text) {
    const bin = atob(text);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes;
  }

  return { explain, weightsFromBase64, bytesFromBase64 };
})();
