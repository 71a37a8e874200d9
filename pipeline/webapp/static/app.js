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

function facesTable(faces) {
  const table = element("table", { class: "faces" });
  table.appendChild(element("tr")).append(
    element("th", {}, "face"), element("th", {}, "gender"), element("th", {}, "confidence"),
    element("th", {}, "fake probability"));
  faces.forEach((face, index) => {
    const row = table.appendChild(element("tr", { class: "face" }));
    row.append(
      element("td", {}, String(index + 1)),
      element("td", { class: "face-gender" }, face.gender),
      element("td", { class: "face-confidence" }, percent(face.confidence)),
      element("td", { class: "face-fake" }, face.fake_probability === null ? "-" : percent(100 * face.fake_probability)));
  });
  return table;
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
      `fake probability ${s.fake_probability === null ? "-" : percent(100 * s.fake_probability)}, ` +
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
