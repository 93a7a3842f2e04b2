// morphkit review: the list of a bulk-label run's faces (worst fit first) and the landmark editor.
// Plain JS, no build step. It speaks the HTTP API of jobs/review/server.py, as scripts do.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token");
const PAGE = 60;            // thumbnails per page (each loads lazily)
const SVGNS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

const state = {
  scheme: null, faces: [], byId: new Map(), shown: [], page: 0,
  face: null, pts: null, saved: null, undo: [], redo: [], size: null, view: null, drag: null,
  images: [], adding: false,
};

function withToken(url) {
  return TOKEN ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN) : url;
}

async function api(url, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (TOKEN) headers["X-Review-Token"] = TOKEN;
  const response = await fetch(url, Object.assign({}, options, { headers }));
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail));
  return body;
}

function status(text, kind) {
  const el = $("status");
  el.textContent = text;
  el.className = kind || "";
}

function fitText(fit) { return fit === null ? "no fit score" : "fit " + fit.toFixed(2) + "%"; }

function faceName(face) { return face.image + (face.face ? " face " + face.face : ""); }

function scoreText(score) { return score === null || score === undefined ? "box drawn" : "score " + score.toFixed(2); }

function titleText(face) {
  if (face.photo) return face.image + " \u2014 no face: add one (a), then drag a box around it";
  return faceName(face) + " \u2014 " + fitText(face.fit) + ", " + scoreText(face.score)
    + (face.reviewed ? " \u2014 reviewed" : "") + (face.rejected ? " \u2014 NOT A FACE (rejected)" : "");
}

function contourPath(pts) {
  return state.scheme.contours.map((c) => {
    const d = c.points.map((i, k) => (k ? "L" : "M") + pts[i][0].toFixed(2) + " " + pts[i][1].toFixed(2)).join(" ");
    return d + (c.closed ? " Z" : "");
  }).join(" ");
}

function el(tag, attrs, parent) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

// ---- the list ---------------------------------------------------------------------------------

function applyFilters() {
  const unreviewed = $("unreviewed").checked;
  const fitmin = parseFloat($("fitmin").value);
  const text = $("search").value.trim().toLowerCase();
  const rejected = $("showrejected").checked;
  if ($("showphotos").checked) {       // photos without a face: open one to add the face the detector missed
    const faced = new Set(state.faces.filter((f) => !f.rejected).map((f) => f.image));
    state.shown = state.images.filter((im) => im.status !== "error" && !faced.has(im.image)
      && (!text || im.image.toLowerCase().includes(text)));
  } else {
    state.shown = state.faces.filter((f) => f.rejected === rejected && (!unreviewed || !f.reviewed)
      && (isNaN(fitmin) || (f.fit !== null && f.fit > fitmin))
      && (!text || f.image.toLowerCase().includes(text)));
  }
  state.page = Math.min(state.page, Math.max(0, Math.ceil(state.shown.length / PAGE) - 1));
  renderGrid();
}

function renderCounts() {
  const live = state.faces.filter((f) => !f.rejected);
  const done = live.filter((f) => f.reviewed).length;
  $("counts").textContent = live.length + " faces, " + done + " reviewed, "
    + (state.faces.length - live.length) + " rejected";
}

function photoCard(im) {
  const a = document.createElement("a");
  a.className = "card photo";
  a.href = "#photo=" + im.id;
  const box = document.createElement("div");
  box.className = "thumb";
  box.style.aspectRatio = "4 / 5";
  const img = document.createElement("img");
  img.loading = "lazy";
  img.alt = im.image;
  img.style.objectFit = "contain";
  img.src = withToken("api/images/" + im.id);
  box.appendChild(img);
  a.appendChild(box);
  const cap = document.createElement("div");
  cap.className = "caption";
  cap.textContent = im.image + " (" + im.status + ")";
  a.appendChild(cap);
  return a;
}

function card(face) {
  const a = document.createElement("a");
  a.className = "card" + (face.reviewed ? " reviewed" : "") + (face.rejected ? " rejected" : "");
  a.href = "#face=" + face.id;
  a.dataset.id = face.id;
  const [l, t, r, b] = face.crop;
  const box = document.createElement("div");
  box.className = "thumb";
  box.style.aspectRatio = (r - l) + " / " + (b - t);
  const img = document.createElement("img");
  img.loading = "lazy";
  img.alt = face.image;
  img.src = withToken("api/faces/" + face.id + "/thumb");
  box.appendChild(img);
  const svg = el("svg", { viewBox: [l, t, r - l, b - t].join(" "), preserveAspectRatio: "none" });
  el("path", { d: contourPath(face.landmarks), class: "lines" }, svg);
  box.appendChild(svg);
  a.appendChild(box);
  const cap = document.createElement("div");
  cap.className = "caption";
  const fit = document.createElement("span");
  fit.className = "fit" + (face.fit !== null && face.fit > 5 ? " bad" : "");
  fit.textContent = fitText(face.fit);
  cap.append(fit, " " + face.image + (face.face ? " #" + face.face : ""));
  if (face.reviewed) {
    const tick = document.createElement("span");
    tick.className = "tick";
    tick.textContent = " \u2713";
    cap.appendChild(tick);
  }
  if (face.rejected) {
    const mark = document.createElement("span");
    mark.className = "rejectedmark";
    mark.textContent = " not a face ";
    const undo = document.createElement("button");
    undo.type = "button";
    undo.className = "restore";
    undo.textContent = "restore";
    undo.title = "it is a face: back into landmarks.csv and every job";
    undo.addEventListener("click", (evt) => { evt.preventDefault(); evt.stopPropagation(); setRejected(face, false); });
    cap.append(mark, undo);
  }
  a.appendChild(cap);
  return a;
}

function renderGrid() {
  const grid = $("grid");
  const make = $("showphotos").checked ? photoCard : card;
  grid.replaceChildren(...state.shown.slice(state.page * PAGE, (state.page + 1) * PAGE).map(make));
  const pages = Math.max(1, Math.ceil(state.shown.length / PAGE));
  $("pageno").textContent = (state.page + 1) + " / " + pages;
  $("shown").textContent = state.shown.length + " shown";
  $("prevpage").disabled = state.page === 0;
  $("nextpage").disabled = state.page >= pages - 1;
  renderCounts();
  document.body.dataset.cards = grid.children.length;
}

// ---- the editor -------------------------------------------------------------------------------

function dirty() { return state.pts && JSON.stringify(state.pts) !== JSON.stringify(state.saved); }

function leaveOk() { return !dirty() || confirm("Unsaved changes to this face: leave it anyway?"); }

function openFace(id) {
  const face = state.byId.get(id);
  if (!face) { status("no face " + id, "error"); return; }
  state.pts = face.landmarks.map((p) => p.slice());
  state.saved = face.landmarks.map((p) => p.slice());
  showPhoto(face, "api/faces/" + face.id + "/image", face.rejected
    ? "this face is rejected (not a face): restore it to put it back into landmarks.csv"
    : "drag a point; Shift+drag moves its group; drag the dashed box to move the whole face; wheel zooms");
}

// A photo without a face in landmarks.csv: shown whole, to add the face the detector missed.
function openPhoto(id) {
  const im = state.images.find((i) => i.id === id);
  if (!im) { status("no photo " + id, "error"); return; }
  state.pts = null;
  state.saved = null;
  showPhoto({ photo: true, id: null, image: im.image }, "api/images/" + im.id,
    "no face here yet: drag a box around the face the detector missed");
  setAdding(true);
}

function showPhoto(face, src, hint) {
  state.face = face;
  state.undo = []; state.redo = [];
  setAdding(false);
  $("list").hidden = true;
  $("editor").hidden = false;
  document.body.dataset.ready = "0";
  $("title").textContent = titleText(face);
  for (const id of ["save", "done", "undo", "redo", "mirror", "fit", "prev", "next"]) $(id).disabled = !!face.photo;
  $("reject").disabled = !!face.photo;
  $("reject").textContent = face.rejected ? "restore (it is a face)" : "not a face";
  $("points").replaceChildren();
  $("lines").replaceChildren();
  status("loading the photo\u2026");
  const img = new Image();
  img.onload = () => {
    if (state.face !== face) return;
    state.size = [img.naturalWidth, img.naturalHeight];
    const photo = $("photo");
    photo.setAttribute("href", img.src);
    photo.setAttribute("width", state.size[0]);
    photo.setAttribute("height", state.size[1]);
    if (state.pts) { buildPoints(); zoomToFace(); } else zoomToPhoto();
    draw();
    status(hint);
    document.body.dataset.ready = "1";
  };
  img.onerror = () => status("the photo of " + face.image + " cannot be shown", "error");
  img.src = withToken(src);
}

function showList() {
  state.face = null; state.pts = null;
  setAdding(false);
  $("editor").hidden = true;
  $("list").hidden = false;
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  applyFilters();
}

function buildPoints() {
  const g = $("points");
  g.replaceChildren();
  state.pts.forEach((_, i) => {
    const c = el("circle", { "data-i": i }, g);
    const title = el("title", {}, c);
    title.textContent = i + ": " + state.scheme.names[i];
    c.addEventListener("pointerenter", () => status("point " + i + ": " + state.scheme.names[i] + "  ("
      + state.pts[i][0].toFixed(1) + ", " + state.pts[i][1].toFixed(1) + ")"));
  });
}

function bounds(pts) {
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

function draw() {
  const pts = state.pts;
  for (const id of ["facebox", "facegrip"]) $(id).setAttribute("visibility", pts ? "visible" : "hidden");
  if (!pts) return;
  $("lines").replaceChildren();
  el("path", { d: contourPath(pts) }, $("lines"));
  const k = state.view[2] / Math.max(1, $("canvas").clientWidth);   // user units per screen pixel
  const circles = $("points").children;
  for (let i = 0; i < pts.length; i++) {
    circles[i].setAttribute("cx", pts[i][0]);
    circles[i].setAttribute("cy", pts[i][1]);
    circles[i].setAttribute("r", 4 * k);
  }
  const [l, t, r, b] = bounds(pts);
  const pad = 6 * k;
  for (const id of ["facebox", "facegrip"]) {
    const rect = $(id);
    rect.setAttribute("x", l - pad); rect.setAttribute("y", t - pad);
    rect.setAttribute("width", r - l + 2 * pad); rect.setAttribute("height", b - t + 2 * pad);
  }
  $("undo").disabled = !state.undo.length;
  $("redo").disabled = !state.redo.length;
  $("save").textContent = dirty() ? "save *" : "save";
}

function setView(v) {
  state.view = v;
  $("canvas").setAttribute("viewBox", v.join(" "));
}

function zoomToFace() {
  const [l, t, r, b] = bounds(state.pts);
  const canvas = $("canvas");
  const aspect = canvas.clientWidth / Math.max(1, canvas.clientHeight);
  let w = (r - l) * 1.6, h = (b - t) * 1.6;
  if (w / h < aspect) w = h * aspect; else h = w / aspect;
  setView([(l + r) / 2 - w / 2, (t + b) / 2 - h / 2, w, h]);
}

function zoomToPhoto() {
  const canvas = $("canvas");
  const aspect = canvas.clientWidth / Math.max(1, canvas.clientHeight);
  let [w, h] = state.size;
  if (w / h < aspect) w = h * aspect; else h = w / aspect;
  setView([state.size[0] / 2 - w / 2, state.size[1] / 2 - h / 2, w, h]);
}

function toUser(evt) {
  const p = new DOMPoint(evt.clientX, evt.clientY).matrixTransform($("canvas").getScreenCTM().inverse());
  return [p.x, p.y];
}

function groupOf(i) {
  for (const pts of Object.values(state.scheme.groups)) if (pts.includes(i)) return pts;
  return [i];
}

// A point dragged or mirrored stays within the margin the server accepts (scheme.outside x the photo's
// larger side around it): points of a face cut off by the frame lie outside the photo and are valid.
// Points nobody moved are never changed: save() sends them as they are.
function limit(p) {
  const m = state.scheme.outside * Math.max(state.size[0], state.size[1]);
  return [Math.min(Math.max(p[0], -m), state.size[0] + m), Math.min(Math.max(p[1], -m), state.size[1] + m)];
}

function change(next) {          // every edit goes through here: undo keeps the points before it
  state.undo.push(state.pts);
  state.redo = [];
  state.pts = next;
  draw();
}

function startDrag(evt, indices) {
  evt.preventDefault();
  evt.stopPropagation();
  $("canvas").setPointerCapture(evt.pointerId);
  state.drag = { kind: "points", indices, from: toUser(evt), start: state.pts.map((p) => p.slice()), moved: false };
  for (const i of indices) $("points").children[i].classList.add(indices.length > 1 ? "group" : "active");
}

function onPointerDown(evt) {
  if (state.adding && state.size) {       // "add a face": drag a box around it
    evt.preventDefault();
    $("canvas").setPointerCapture(evt.pointerId);
    const p = toUser(evt);
    state.drag = { kind: "box", from: p, to: p };
    showNewBox(p, p);
    return;
  }
  if (!state.pts) return;
  const target = evt.target;
  if (target.tagName === "circle") {
    const i = Number(target.dataset.i);
    startDrag(evt, evt.shiftKey ? groupOf(i) : [i]);
  } else if (target.id === "facegrip" || target.id === "facebox") {
    startDrag(evt, state.pts.map((_, i) => i));
  } else {
    $("canvas").setPointerCapture(evt.pointerId);
    $("canvas").classList.add("panning");
    state.drag = { kind: "pan", from: [evt.clientX, evt.clientY], view: state.view.slice() };
  }
}

function onPointerMove(evt) {
  const d = state.drag;
  if (!d) return;
  if (d.kind === "box") {
    d.to = toUser(evt);
    showNewBox(d.from, d.to);
    return;
  }
  if (d.kind === "pan") {
    const k = d.view[2] / $("canvas").clientWidth;
    setView([d.view[0] - (evt.clientX - d.from[0]) * k, d.view[1] - (evt.clientY - d.from[1]) * k, d.view[2], d.view[3]]);
    return;
  }
  const p = toUser(evt);
  const dx = p[0] - d.from[0], dy = p[1] - d.from[1];
  const pts = d.start.map((q) => q.slice());
  for (const i of d.indices) pts[i] = limit([d.start[i][0] + dx, d.start[i][1] + dy]);
  d.moved = true;
  state.pts = pts;
  draw();
}

function onPointerUp() {
  const d = state.drag;
  state.drag = null;
  $("canvas").classList.remove("panning");
  if (d && d.kind === "box") { addFace(d.from, d.to); return; }
  if (!d || d.kind !== "points") return;
  for (const c of $("points").children) c.classList.remove("active", "group");
  if (d.moved) {
    state.undo.push(d.start);
    state.redo = [];
    draw();
    const i = d.indices[0];
    status((d.indices.length > 1 ? d.indices.length + " points moved" : "point " + i + " (" + state.scheme.names[i]
      + ") moved to (" + state.pts[i][0].toFixed(1) + ", " + state.pts[i][1].toFixed(1) + ")") + "; unsaved");
  }
}

function onWheel(evt) {
  if (!state.view) return;
  evt.preventDefault();
  const [x, y] = toUser(evt);
  const k = Math.exp(evt.deltaY * 0.0015);
  const v = state.view;
  setView([x - (x - v[0]) * k, y - (y - v[1]) * k, v[2] * k, v[3] * k]);
  draw();
}

function undo() {
  if (!state.undo.length) return;
  state.redo.push(state.pts);
  state.pts = state.undo.pop();
  draw();
}

function redo() {
  if (!state.redo.length) return;
  state.undo.push(state.pts);
  state.pts = state.redo.pop();
  draw();
}

// Replace a group (a brow, an eye) by the other side's points, mirrored about the face's axis: the
// mirror image of the whole shape (x -> -x, points renumbered by MIRROR) aligned by a similarity
// transform onto the points outside both sides' groups.
function mirrorGroup(name) {
  const group = state.scheme.groups[name];
  const mirror = state.scheme.mirror;
  const other = new Set(group.map((i) => mirror[i]));
  const ref = state.pts.map((_, i) => i).filter((i) => !group.includes(i) && !other.has(i));
  const m = state.pts.map((_, i) => [-state.pts[mirror[i]][0], state.pts[mirror[i]][1]]);
  const mean = (pts) => [0, 1].map((a) => ref.reduce((s, i) => s + pts[i][a], 0) / ref.length);
  const [mx, my] = mean(m), [px, py] = mean(state.pts);
  let num_re = 0, num_im = 0, den = 0;       // a = sum(conj(z) w) / sum |z|^2 over the reference points
  for (const i of ref) {
    const zx = m[i][0] - mx, zy = m[i][1] - my, wx = state.pts[i][0] - px, wy = state.pts[i][1] - py;
    num_re += zx * wx + zy * wy; num_im += zx * wy - zy * wx; den += zx * zx + zy * zy;
  }
  const a = [num_re / den, num_im / den];
  const next = state.pts.map((p) => p.slice());
  for (const i of group) {
    const zx = m[i][0] - mx, zy = m[i][1] - my;
    next[i] = limit([a[0] * zx - a[1] * zy + px, a[1] * zx + a[0] * zy + py]);
  }
  change(next);
  status(name + " replaced by the mirrored " + (name.startsWith("left") ? name.replace("left", "right")
    : name.replace("right", "left")) + "; unsaved");
}

async function save(thenNext) {
  const face = state.face;
  if (!face) return;
  const pts = state.pts.map((p) => p.slice());
  status("saving\u2026");
  try {
    const stored = await api("api/faces/" + face.id, {
      method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ landmarks: pts }),
    });
    Object.assign(face, stored);
    if (state.face === face) {
      state.saved = stored.landmarks.map((p) => p.slice());
      state.pts = stored.landmarks.map((p) => p.slice());
      $("title").textContent = titleText(face);
      draw();
    }
    status("saved: " + faceName(face) + " is reviewed", "ok");
    document.body.dataset.saves = Number(document.body.dataset.saves || 0) + 1;
    if (thenNext) step(1, true);
  } catch (err) {
    status("not saved: " + err.message, "error");
  }
}

function setAdding(on) {
  state.adding = on;
  $("canvas").classList.toggle("adding", on);
  $("addface").classList.toggle("active", on);
  $("newbox").setAttribute("visibility", "hidden");
  if (on) status("add a face: drag a box around the face the detector missed (Esc cancels)");
}

function showNewBox(a, b) {
  const box = $("newbox");
  box.setAttribute("x", Math.min(a[0], b[0])); box.setAttribute("y", Math.min(a[1], b[1]));
  box.setAttribute("width", Math.abs(b[0] - a[0])); box.setAttribute("height", Math.abs(b[1] - a[1]));
  box.setAttribute("visibility", "visible");
}

// The box drawn goes to the server (POST api/faces): the run's model proposes 68 points in it, and the
// new face opens in the editor to be corrected and saved.
async function addFace(a, b) {
  const image = state.face.image;
  const box = [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]), Math.max(a[1], b[1])]
    .map((v) => Math.round(v * 100) / 100);
  status("the model is placing 68 points in the box\u2026");
  try {
    const face = await api("api/faces", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ image, box }),
    });
    state.faces.push(face);
    state.byId.set(face.id, face);
    applyFilters();
    document.body.dataset.added = Number(document.body.dataset.added || 0) + 1;
    location.hash = "face=" + face.id;
    status("face added to " + image + ": the model's points; correct them and save");
  } catch (err) {
    setAdding(false);
    status("not added: " + err.message, "error");
  }
}

async function setRejected(face, rejected) {
  try {
    const stored = await api("api/faces/" + face.id + (rejected ? "" : "/restore"), { method: rejected ? "DELETE" : "POST" });
    Object.assign(face, stored);
    document.body.dataset.rejects = Number(document.body.dataset.rejects || 0) + 1;
    if (state.face === face) {
      $("title").textContent = titleText(face);
      $("reject").textContent = face.rejected ? "restore (it is a face)" : "not a face";
    }
    status((rejected ? "rejected: " + faceName(face) + " is not a face, left out of landmarks.csv (restore undoes it)"
      : "restored: " + faceName(face) + " is back in landmarks.csv"), "ok");
    if (state.face === face && rejected) step(1, true);
    else if (!state.face) applyFilters();
  } catch (err) {
    status((rejected ? "not rejected: " : "not restored: ") + err.message, "error");
  }
}

function step(delta, force) {
  if (!state.face) return;
  if (!force && !leaveOk()) return;
  const list = state.shown.length && !$("showphotos").checked ? state.shown : state.faces;
  const i = list.findIndex((f) => f.id === state.face.id);
  const next = list[i + delta];
  if (!next) { status(delta > 0 ? "this is the last face" : "this is the first face"); return; }
  location.hash = "face=" + next.id;
}

function onKey(evt) {
  if (!state.face || evt.target.tagName === "INPUT") return;
  const ctrl = evt.ctrlKey || evt.metaKey;
  const key = evt.key.toLowerCase();
  if (ctrl && key === "z" && !evt.shiftKey) undo();
  else if (ctrl && (key === "y" || (key === "z" && evt.shiftKey))) redo();
  else if (ctrl && key === "s") save(false);
  else if (ctrl || evt.altKey) return;
  else if (state.face.photo) return;
  else if (key === "s") save(false);
  else if (key === "enter" || key === "r") save(true);
  else if (key === "arrowright" || key === "n") step(1);
  else if (key === "arrowleft" || key === "p") step(-1);
  else if (key === "f") { if (state.pts) zoomToFace(); draw(); }
  else if ((key === "x" || key === "delete") && !state.face.photo) setRejected(state.face, !state.face.rejected);
  else if (key === "a") setAdding(!state.adding);
  else if (key === "escape") { if (state.adding && !state.face.photo) setAdding(false); else if (leaveOk()) showList(); }
  else return;
  evt.preventDefault();
}

function route() {
  const m = /^#face=(.+)$/.exec(location.hash);
  const p = /^#photo=(.+)$/.exec(location.hash);
  if (m) openFace(decodeURIComponent(m[1]));
  else if (p) openPhoto(decodeURIComponent(p[1]));
  else if (state.face) showList();
}

async function main() {
  try {
    const [scheme, faces, run, images] = await Promise.all([api("api/scheme"), api("api/faces?rejected=1"),
      api("api/run"), api("api/images")]);
    state.scheme = scheme;
    state.faces = faces;
    state.images = images;
    state.byId = new Map(faces.map((f) => [f.id, f]));
    $("run").textContent = run.run + " (archive " + run.archive + ")";
  } catch (err) {
    document.body.textContent = "morphkit review: " + err.message;
    return;
  }
  const grip = el("rect", { id: "facegrip", fill: "none", stroke: "transparent", "stroke-width": 14,
    "vector-effect": "non-scaling-stroke", style: "pointer-events: stroke; cursor: move" });
  $("canvas").insertBefore(grip, $("facebox"));
  for (const id of ["unreviewed", "fitmin", "search", "showrejected", "showphotos"]) {
    $(id).addEventListener("input", () => { state.page = 0; applyFilters(); });
  }
  $("reject").onclick = () => { if (state.face && !state.face.photo) setRejected(state.face, !state.face.rejected); };
  $("addface").onclick = () => setAdding(!state.adding);
  $("prevpage").onclick = () => { state.page--; renderGrid(); };
  $("nextpage").onclick = () => { state.page++; renderGrid(); };
  $("back").onclick = () => { if (leaveOk()) showList(); };
  $("prev").onclick = () => step(-1);
  $("next").onclick = () => step(1);
  $("undo").onclick = undo;
  $("redo").onclick = redo;
  $("mirror").onclick = () => mirrorGroup($("mirrorgroup").value);
  $("fit").onclick = () => { zoomToFace(); draw(); };
  $("save").onclick = () => save(false);
  $("done").onclick = () => save(true);
  const canvas = $("canvas");
  canvas.addEventListener("pointerdown", onPointerDown);
  canvas.addEventListener("pointermove", onPointerMove);
  canvas.addEventListener("pointerup", onPointerUp);
  canvas.addEventListener("pointercancel", onPointerUp);
  canvas.addEventListener("wheel", onWheel, { passive: false });
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", route);
  window.addEventListener("beforeunload", (evt) => { if (dirty()) evt.preventDefault(); });
  applyFilters();
  route();
}

main();
