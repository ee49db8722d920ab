// newsseg annotate: one document at a time, keyboard first.
// Every paragraph is untrusted text: it reaches the page through textContent only.
"use strict";

const TOKEN = new URLSearchParams(window.location.search).get("token") || "";
const KNOWN_COLOURS = { headline: "#6a3d9a", body: "#1b7837", legal: "#5f5f5f", teaser: "#d95f02" };
const OTHER_COLOURS = ["#1f78b4", "#e7298a", "#a6761d", "#66a61e", "#7570b3", "#e6ab02"];
const POLL_MS = 1500;

let state = null; // the run, from /api/state
let doc = null; // the document shown, from /api/documents/<index>
let labels = []; // its labels as edited here
let history = []; // undo steps: lists of [line, label before]
let cursor = 0;
let anchor = null; // the other end of a selected run, or null
const drafts = new Map(); // unsaved edits of documents left for another: index -> {labels, history}

function $(id) {
  return document.getElementById(id);
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

async function api(method, path, body) {
  const options = { method, headers: { "X-Newsseg-Token": TOKEN } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

function say(text, isError) {
  const box = $("message");
  box.textContent = text;
  box.className = isError ? "shown error" : "shown";
  clearTimeout(say.timer);
  say.timer = setTimeout(() => { box.className = ""; }, isError ? 8000 : 3000);
}

function colour(label) {
  if (label in KNOWN_COLOURS) return KNOWN_COLOURS[label];
  const index = state ? state.labels.indexOf(label) : 0;
  return OTHER_COLOURS[Math.max(index, 0) % OTHER_COLOURS.length];
}

function modelName(id) {
  const model = state && state.models.find((m) => m.id === id);
  return model ? model.name : `model #${id}`;
}

// ------------------------------------------------------------------ drawing

function drawState() {
  const changed = state.changed_lines;
  $("progress").textContent =
    `saved ${state.saved} of ${state.total} · lines changed ${changed} · ` +
    `latest ${modelName(state.models[state.models.length - 1].id)}`;
  const training = state.training;
  const box = $("training");
  if (training.running) {
    box.className = "running";
    box.textContent = `training: ${training.stage} (${Math.round(training.seconds)} s)` +
      (training.pending ? "; another run queued" : "");
  } else if (training.error) {
    box.className = "failed";
    box.textContent = `training failed: ${training.error}`;
  } else {
    box.className = "";
    box.textContent = state.retrain_every
      ? `retrains after ${state.retrain_every} saved (${state.saved_since_model} so far)`
      : "retrains on demand";
  }
  const list = $("documents");
  list.replaceChildren();
  for (const entry of state.documents) {
    const item = element("li", entry.saved ? "saved" : "");
    if (doc && entry.index === doc.index) item.classList.add("current");
    item.dataset.index = String(entry.index);
    item.append(element("span", "name", entry.name));
    const meta = entry.saved
      ? `${entry.changed} changed`
      : `unsure ${entry.uncertainty.toFixed(2)} · #${entry.model}`;
    item.append(element("span", "meta", meta));
    item.title = entry.saved ? `${entry.name}: saved` : `${entry.name}: labels by ${modelName(entry.model)}`;
    item.addEventListener("click", () => openDocument(entry.index));
    list.append(item);
  }
  drawLegend();
}

function drawLegend() {
  const legend = $("legend");
  legend.replaceChildren();
  state.labels.forEach((label) => {
    const button = element("button", "");
    button.type = "button";
    button.style.setProperty("--label-color", colour(label));
    const key = state.keys[label];
    if (key) button.append(element("kbd", "", key), document.createTextNode(" "));
    button.append(document.createTextNode(label));
    button.addEventListener("click", () => setLabel(label));
    legend.append(button);
  });
}

function drawDocument() {
  $("document-name").textContent = `${doc.name}  (${doc.source})`;
  const edited = labels.filter((label, i) => label !== doc.paragraphs[i].proposed).length;
  let info = doc.saved
    ? `saved · proposed by ${doc.model.name}`
    : `not saved · labels proposed by ${doc.model.name}`;
  info += ` · ${edited} of ${labels.length} lines differ from the proposal`;
  if (doc.other_file) info += " · its output file holds other text: saving replaces it";
  $("document-info").textContent = info;
  const list = $("paragraphs");
  list.replaceChildren();
  doc.paragraphs.forEach((paragraph, line) => {
    const item = element("li", "paragraph");
    item.dataset.line = String(line);
    item.append(element("span", "label"), element("span", "confidence"), element("span", "text"));
    item.querySelector(".text").textContent = paragraph.text;
    item.addEventListener("mousedown", (event) => {
      event.preventDefault();
      moveTo(line, event.shiftKey);
    });
    list.append(item);
  });
  drawLines();
}

function selection() {
  if (anchor === null) return [cursor, cursor];
  return [Math.min(anchor, cursor), Math.max(anchor, cursor)];
}

function drawLines() {
  const [first, last] = selection();
  const items = $("paragraphs").children;
  for (let line = 0; line < items.length; line++) {
    const item = items[line];
    const paragraph = doc.paragraphs[line];
    const label = labels[line];
    item.style.setProperty("--label-color", colour(label));
    item.querySelector(".label").textContent = label;
    const confidence = item.querySelector(".confidence");
    confidence.textContent = paragraph.confidence.toFixed(2);
    confidence.title = `${modelName(doc.model.id)}: ${paragraph.proposed} with probability ` +
      paragraph.confidence.toFixed(3);
    item.classList.toggle("low", paragraph.low);
    item.classList.toggle("changed", label !== paragraph.proposed);
    item.classList.toggle("selected", line >= first && line <= last);
    item.classList.toggle("cursor", line === cursor);
  }
  const current = items[cursor];
  if (current) current.scrollIntoView({ block: "nearest" });
}

// ------------------------------------------------------------------ editing

function moveTo(line, extend) {
  if (!doc) return;
  const next = Math.max(0, Math.min(doc.paragraphs.length - 1, line));
  if (extend) {
    if (anchor === null) anchor = cursor;
  } else {
    anchor = null;
  }
  cursor = next;
  drawLines();
}

function setLabel(label) {
  if (!doc) return;
  const [first, last] = selection();
  const step = [];
  for (let line = first; line <= last; line++) {
    if (labels[line] !== label) {
      step.push([line, labels[line]]);
      labels[line] = label;
    }
  }
  if (step.length) history.push(step);
  anchor = null;
  drawDocument();
}

function undo() {
  const step = history.pop();
  if (!step) {
    say("nothing to undo");
    return;
  }
  for (const [line, label] of step) labels[line] = label;
  cursor = step[0][0];
  anchor = step.length > 1 ? step[step.length - 1][0] : null;
  drawDocument();
}

// ------------------------------------------------------------------ documents

function keepDraft() {
  if (doc && history.length) drafts.set(doc.index, { labels, history });
}

async function openDocument(index) {
  keepDraft();
  const loaded = await api("GET", `/api/documents/${index}`);
  doc = loaded;
  const draft = drafts.get(index);
  labels = draft ? draft.labels : doc.paragraphs.map((p) => p.label);
  history = draft ? draft.history : [];
  cursor = 0;
  anchor = null;
  drawDocument();
  drawState();
}

function neighbour(step) {
  const order = state.documents.map((entry) => entry.index);
  const here = order.indexOf(doc.index);
  return order[(here + step + order.length) % order.length];
}

async function saveAndNext() {
  if (!doc) return;
  const index = doc.index;
  state = await api("POST", `/api/documents/${index}`, { labels });
  drafts.delete(index);
  history = [];
  say(`saved ${doc.name}.tsv`);
  const next = state.documents.find((entry) => !entry.saved && entry.index !== index);
  if (next) {
    await openDocument(next.index);
  } else {
    await openDocument(index);
    say(`saved ${doc.name}.tsv; every document is saved`);
  }
}

async function retrain() {
  const result = await api("POST", "/api/train");
  state = result;
  say(result.started ? "training started" : "training runs; another run will follow it");
  drawState();
}

async function refresh() {
  const before = state ? state.models.length : 0;
  state = await api("GET", "/api/state");
  if (state.models.length > before && before > 0) {
    const latest = state.models[state.models.length - 1];
    say(`${latest.name} is ready: it now labels the unsaved documents`);
    if (doc && !doc.saved && history.length === 0) await openDocument(doc.index);
  }
  drawState();
}

function guarded(action) {
  return (...args) => action(...args).catch((error) => say(error.message, true));
}

const keyActions = {
  ArrowDown: (e) => moveTo(cursor + 1, e.shiftKey),
  j: (e) => moveTo(cursor + 1, e.shiftKey),
  J: (e) => moveTo(cursor + 1, true),
  ArrowUp: (e) => moveTo(cursor - 1, e.shiftKey),
  k: (e) => moveTo(cursor - 1, e.shiftKey),
  K: (e) => moveTo(cursor - 1, true),
  Home: (e) => moveTo(0, e.shiftKey),
  End: (e) => moveTo(doc ? doc.paragraphs.length - 1 : 0, e.shiftKey),
  Escape: () => moveTo(cursor, false),
  u: () => undo(),
  Enter: guarded(saveAndNext),
  ArrowRight: guarded(() => openDocument(neighbour(1))),
  ArrowLeft: guarded(() => openDocument(neighbour(-1))),
  r: guarded(retrain),
};

function onKey(event) {
  if (event.altKey || event.metaKey) return;
  if (event.ctrlKey) {
    if (event.key === "z") {
      event.preventDefault();
      undo();
    }
    return;
  }
  const label = state && Object.keys(state.keys).find((name) => state.keys[name] === event.key);
  if (label) {
    event.preventDefault();
    setLabel(label);
    return;
  }
  const action = keyActions[event.key];
  if (action) {
    event.preventDefault();
    action(event);
  }
}

async function start() {
  await refresh();
  document.addEventListener("keydown", onKey);
  $("save-button").addEventListener("click", guarded(saveAndNext));
  $("undo-button").addEventListener("click", () => undo());
  $("train-button").addEventListener("click", guarded(retrain));
  const first = state.documents.find((entry) => !entry.saved) || state.documents[0];
  await openDocument(first.index);
  document.body.dataset.ready = "true";
  setInterval(guarded(refresh), POLL_MS);
}

start().catch((error) => say(error.message, true));
