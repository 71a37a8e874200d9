// GEN_REC's "try it now" page: send the file to /api/predict, show the faces it found.
"use strict";

const form = document.getElementById("upload");
const statusLine = document.getElementById("status");
const errorLine = document.getElementById("error");
const result = document.getElementById("result");
const summary = document.getElementById("summary");
const frames = document.getElementById("frames");

function element(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

function percent(value) {
  return value === null || value === undefined ? "-" : `${Number(value).toFixed(1)}%`;
}

// The fake verdict in words, never a bare "0.0%": p(fake) only beside a verdict the model was validated for,
// and the reason always (pipeline/fake/verdict.py).
function fakeCell(face) {
  const cell = element("td", { class: `face-fake verdict-${face.fake_verdict}` });
  const shown = face.fake_probability !== null && face.fake_verdict !== "cannot_tell"
    ? ` (p ${percent(100 * face.fake_probability)})` : "";
  cell.appendChild(element("strong", { class: "fake-verdict" }, `${face.fake_verdict_text}${shown}`));
  cell.appendChild(element("span", { class: "fake-reason" }, face.fake_reason));
  return cell;
}

function facesTable(faces) {
  const table = element("table", { class: "faces" });
  table.appendChild(element("tr")).append(
    element("th", {}, "face"), element("th", {}, "gender"), element("th", {}, "confidence"),
    element("th", {}, "generated?"), element("th", {}, "spectrum"));
  faces.forEach((face, index) => {
    const row = table.appendChild(element("tr", { class: "face" }));
    row.append(
      element("td", {}, String(index + 1)),
      element("td", { class: "face-gender" }, face.gender),
      element("td", { class: "face-confidence" }, percent(face.confidence)),
      fakeCell(face));
    const picture = row.appendChild(element("td", { class: "face-spectrum" }));
    if (face.spectrum) picture.appendChild(spectrumPicture(face.spectrum));
  });
  return table;
}

const SVG = "http://www.w3.org/2000/svg";
const profiles = result.dataset.profiles ? JSON.parse(result.dataset.profiles) : null;

function svg(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

// The seed's picture: this face's 1D power spectrum over the mean +/- std of the real and generated
// faces the model was trained on, so a person can see why the score is what it is.
function spectrumPicture(spectrum) {
  const width = 240, height = 120, pad = 4;
  const curves = profiles ? Object.values(profiles).flatMap((p) => [
    p.mean.map((m, i) => m - p.std[i]), p.mean.map((m, i) => m + p.std[i])]) : [];
  const all = curves.flat().concat(spectrum);
  const low = Math.min(...all), high = Math.max(...all);
  const x = (i) => pad + (i * (width - 2 * pad)) / (spectrum.length - 1);
  const y = (v) => height - pad - ((v - low) * (height - 2 * pad)) / (high - low || 1);
  const line = (values) => values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  const picture = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "spectrum",
                               role: "img", "aria-label": "1D power spectrum of this face" });
  const colours = { real: "#2a6fdb", fake: "#d2452f" };
  for (const [name, p] of Object.entries(profiles || {})) {
    const upper = p.mean.map((m, i) => m + p.std[i]), lower = p.mean.map((m, i) => m - p.std[i]);
    const back = lower.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).reverse().join(" ");
    picture.appendChild(svg("polygon", { points: `${line(upper)} ${back}`,
                                         fill: colours[name] || "#888", "fill-opacity": "0.18", class: `band-${name}` }));
    picture.appendChild(svg("polyline", { points: line(p.mean), fill: "none", stroke: colours[name] || "#888",
                                          "stroke-width": "1", class: `mean-${name}` }));
  }
  picture.appendChild(svg("polyline", { points: line(spectrum), fill: "none", stroke: "#111", "stroke-width": "1.6",
                                        class: "this-face" }));
  return picture;
}

function showFrame(title, annotated, faces) {
  const box = frames.appendChild(element("div", { class: "frame" }));
  box.appendChild(element("h3", {}, title));
  box.appendChild(element("img", { src: annotated, alt: title }));
  box.appendChild(faces.length ? facesTable(faces) : element("p", { class: "no-face" }, "no face found"));
}

function show(data) {
  summary.replaceChildren();
  frames.replaceChildren();
  if (data.message) summary.appendChild(element("p", { class: "message" }, data.message));
  if (data.kind === "image") {
    showFrame(`Image, ${data.faces.length} face(s)`, data.annotated, data.faces);
  } else {
    const s = data.summary;
    const box = summary.appendChild(element("div", { class: "summary" }));
    box.appendChild(element("h2", {}, "Video"));
    box.appendChild(element("p", { class: "video-summary" },
      `gender: ${s.gender ?? "-"}, confidence ${percent(s.confidence)}, ` +
      `generated? ${s.fake_verdict_text}` +
      `${s.fake_verdict !== "cannot_tell" && s.fake_probability !== null ? ` (mean p ${percent(100 * s.fake_probability)})` : ""}, ` +
      `${s.frames_with_face} of ${s.frames} sampled frames with a face`));
    data.frames.forEach((frame) => showFrame(`Frame ${frame.index} (${frame.time_s} s)`, frame.annotated, frame.faces));
  }
  result.hidden = false;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  errorLine.hidden = true;
  result.hidden = true;
  statusLine.textContent = "Analysing...";
  try {
    const response = await fetch("/api/predict", { method: "POST", body: new FormData(form) });
    const data = await response.json().catch(() => ({ error: `the server answered ${response.status}` }));
    if (!response.ok) throw new Error(data.error || `the server answered ${response.status}`);
    show(data);
    statusLine.textContent = "Done.";
  } catch (failure) {
    statusLine.textContent = "";
    errorLine.textContent = failure.message;
    errorLine.hidden = false;
  }
});
