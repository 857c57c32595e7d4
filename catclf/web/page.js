"use strict";
// The page: a photo chosen, dropped or pasted is scored as catclf scores it, and shown
// with its probability, its label and the map of what pushed the model which way.
//
// For tests and for scripts, window.catclfPage holds:
//   result   the last photo's result, or null: {probability, label, z, bias, toward, away,
//            limit, pixels (Uint8Array(12288), the 64x64x3 pixels in C order, as
//            catclf.images.load_image gives them), contributions (Float64Array(4096), the
//            map row by row), format, width, height, orientation, scale, jpeg,
//            milliseconds (from reading the file to the result shown), times (of each
//            step)}, or {error} when the photo could not be scored;
//   probe    what Decode.jpegProbe found: {full, scaled}, once it has run;
//   options  given to Preprocess.toPixels for the next photo (by default: none, and
//            jpeg "scaled" where the probe finds the browser's scaled decode is catclf's);
//   score    score(file): scores a File or Blob as if it were chosen.
// The element #app says what the page is doing in its data-state: "ready", "working",
// "done" or "error"; #probability holds the unrounded probability in data-value.

(() => {
  const model = JSON.parse(document.getElementById("catclf-model").textContent);
  const contract = model.preprocessing;
  const w = Model.weightsFromBase64(model.w);
  const b = model.b;
  const [negative, positive] = model.classes;
  const size = model.image_size;
  const $ = (id) => document.getElementById(id);
  const app = $("app");
  const input = $("photo");
  const drop = $("drop");
  const status = $("status");
  const problem = $("problem");
  const result = $("result");
  const page = { result: null, probe: null, options: {}, score };
  window.catclfPage = page;

  let probing = null;
  function probed() {
    if (probing === null) {
      const bytes = Model.bytesFromBase64(contract.jpeg_probe.jpeg);
      probing = Decode.jpegProbe(bytes, contract.jpeg_probe.hashes).then((found) => {
        page.probe = found;
        return found;
      });
    }
    return probing;
  }

  let latest = 0; // the photo being scored; an earlier one still working is not shown
  async function score(file) {
    const mine = ++latest;
    app.dataset.state = "working";
    status.textContent = `Scoring ${file.name || "the photo"}\u2026`;
    problem.hidden = true;
    const started = performance.now();
    try {
      if (file.size === 0) throw new Error("empty file, expected an image");
      const probe = await probed();
      const options = { jpeg: probe.scaled ? "scaled" : "box", ...page.options };
      const r = await Preprocess.toPixels(file, contract, options);
      const t = performance.now();
      const m = Model.explain(w, b, r.pixels);
      r.times.model = performance.now() - t;
      if (mine !== latest) return;
      // The map's colours run from -limit to +limit (1 where every share is 0).
      let limit = 0;
      for (const c of m.contributions) limit = Math.max(limit, Math.abs(c));
      if (limit === 0) limit = 1;
      page.result = {
        probability: m.probability, label: m.probability > 0.5 ? positive : negative,
        z: m.z, bias: b, toward: m.toward, away: m.away, limit,
        pixels: r.pixels, contributions: m.contributions, format: r.format,
        width: r.width, height: r.height, orientation: r.orientation, scale: r.scale,
        jpeg: r.jpeg, milliseconds: null, times: r.times,
      };
      show(file, page.result, probe);
      page.result.milliseconds = performance.now() - started;
      $("how-time").textContent = `${Math.round(page.result.milliseconds)} ms, from reading `
        + "the file to showing the result";
      // Said once in the status line, which assistive technology reads out.
      status.textContent = `${file.name || "The photo"}: ${page.result.label} (probability `
        + `of ${positive} ${percent(m.probability)})`;
      app.dataset.state = "done";
    } catch (e) {
      if (mine !== latest) return;
      page.result = { error: said(e) };
      result.hidden = true;
      status.textContent = "";
      problem.textContent = `${file.name || "This file"}: ${said(e)}.`;
      problem.hidden = false;
      app.dataset.state = "error";
    }
  }

  // An error in words: the page's own say what is wrong; what a decoder throws on damaged
  // data (a read past the end) says the file is corrupt.
  function said(e) {
    if (e instanceof RangeError || e instanceof TypeError) {
      return `corrupt or truncated image (${e.message})`;
    }
    if (e && e.name === "NotReadableError") return "the file could not be read";
    return String((e && e.message) || e);
  }

  function show(file, r, probe) {
    const p = $("probability");
    p.dataset.value = String(r.probability);
    p.textContent = percent(r.probability);
    $("label").textContent = r.label;
    $("label").dataset.positive = String(r.label === positive);
    $("bar-fill").style.width = `${(100 * r.probability).toFixed(2)}%`;
    Draw.seen($("seen"), r.pixels, size);
    Draw.map($("map"), r.pixels, r.contributions, r.limit, size);
    $("legend-low").textContent = `\u2212${r.limit.toPrecision(2)}`;
    $("legend-high").textContent = `+${r.limit.toPrecision(2)}`;
    $("map").setAttribute("aria-label", `Each pixel's contribution to the logit, over the `
      + `greyed photo: red toward ${positive}, blue toward ${negative}; the colours reach `
      + `full strength at \u00b1${r.limit.toPrecision(2)}, the largest contribution.`);
    $("bias").textContent = signed(r.bias);
    $("toward").textContent = signed(r.toward);
    $("away").textContent = signed(r.away);
    $("logit").textContent = signed(r.z);
    $("p-again").textContent = r.probability.toFixed(4);
    $("how-file").textContent = file.name || "pasted image";
    $("how-format").textContent = `${FORMATS[r.format] || r.format}, ${r.width} \u00d7 `
      + `${r.height} pixels`;
    $("how-orientation").textContent = TURNS[r.orientation];
    $("how-decoded").textContent = decodedBy(r, probe);
    result.hidden = false;
  }

  const FORMATS = {
    png: "PNG", jpeg: "JPEG", webp: "WebP", gif: "GIF", bmp: "BMP", isobmff: "AVIF",
    ico: "ICO", tiff: "TIFF", pnm: "PNM",
  };
  const TURNS = {
    1: "upright as stored",
    2: "mirrored left to right, as its EXIF orientation (2) says",
    3: "turned 180\u00b0, as its EXIF orientation (3) says",
    4: "mirrored top to bottom, as its EXIF orientation (4) says",
    5: "mirrored across its diagonal, as its EXIF orientation (5) says",
    6: "turned 90\u00b0 clockwise, as its EXIF orientation (6) says",
    7: "mirrored across its other diagonal, as its EXIF orientation (7) says",
    8: "turned 90\u00b0 counterclockwise, as its EXIF orientation (8) says",
  };

  // Who decoded the photo, and whether its pixels are catclf's to the byte.
  function decodedBy(r, probe) {
    if (r.format === "png" || r.format === "bmp") return "by this page, as catclf decodes it";
    if (r.format !== "jpeg") return "by this browser";
    if (r.jpeg === "scaled") {
      return `by this browser at 1/${r.scale} scale, as catclf decodes it (checked on a test `
        + "image when the page started)";
    }
    if (r.jpeg === "box") {
      return `by this browser in full, then reduced to 1/${r.scale} by averaging: catclf's `
        + "decoder reduces inside the JPEG decoder, so pixels may differ by a few levels";
    }
    return probe.full ? "by this browser, as catclf decodes it (checked on a test image)"
      : "by this browser, whose JPEG decoder differs from catclf's: pixels may differ by a "
        + "level or two";
  }

  // A probability as a percentage, with the digits it takes not to round to 0 or 100, kept
  // on one line with its sign.
  function percent(p) {
    for (let digits = 1; ; digits++) {
      const text = (100 * p).toFixed(digits);
      const shown = Number(text) / 100;
      const enough = digits === 6 || (shown !== 0 && shown !== 1) || shown === p;
      if (enough) return `${text}\u00a0%`;
    }
  }

  // A number with its sign, in the digits the page shows.
  function signed(v, digits = 4) {
    const text = Math.abs(v).toFixed(digits);
    if (Number(text) === 0) return text;
    return (v < 0 ? "\u2212" : "+") + text;
  }

  input.addEventListener("change", () => {
    if (input.files.length) score(input.files[0]);
  });
  // A photo may be dropped anywhere on the page (the browser would otherwise leave the
  // page to show it); the drop zone lights up meanwhile.
  window.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  window.addEventListener("dragleave", (event) => {
    if (!event.relatedTarget) drop.classList.remove("over");
  });
  window.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) score(file);
  });
  document.addEventListener("paste", (event) => {
    const file = event.clipboardData && event.clipboardData.files[0];
    if (file) score(file);
  });

  Draw.legend($("legend"));
  probed();
  app.dataset.state = "ready";
})();
