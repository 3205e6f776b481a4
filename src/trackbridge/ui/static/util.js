// Small shared helpers. Every user string goes into the page through textContent, never innerHTML.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `${response.status} for ${url}`);
  return body;
}

// Strict JSON writes NaN and infinities as strings: turn them back into numbers.
export function num(v) {
  if (v === "NaN") return NaN;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  return v;
}

const pad = (n) => String(n).padStart(2, "0");

export function fmtTime(ms) {
  if (ms === null || ms === undefined) return "";
  const d = new Date(Number(ms));
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${pad(Math.floor(s % 60))} s`;
  return `${Math.floor(m / 60)} h ${pad(m % 60)} min`;
}

export function fmtNumber(v) {
  v = num(v);
  if (v === null || v === undefined) return "";
  if (typeof v !== "number") return String(v);
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "+inf" : "-inf";
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  return Number(v.toPrecision(6)).toString();
}

// A value as the server's tables write it (Python's format(v, ".6g") for numbers), so a row
// built here looks like the one the page came with.
export function fmtValue(v) {
  v = num(v);
  if (typeof v !== "number") return v === null || v === undefined ? "" : String(v);
  if (!Number.isFinite(v)) return fmtNumber(v);
  if (v === 0) return Object.is(v, -0) ? "-0" : "0";
  const [mantissa, exponent] = v.toExponential(5).split("e");
  const e = Number(exponent);
  if (e < -4 || e >= 6) {
    return `${trimZeros(mantissa)}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  return trimZeros(v.toFixed(5 - e));
}

function trimZeros(text) {
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}

// Tasks run one after another (each after the previous one settled), in the order given.
export function serial() {
  let last = Promise.resolve();
  return (task) => {
    last = last.catch(() => {}).then(task);
    return last;
  };
}

export function setStatus(badge, status) {
  badge.textContent = status;
  badge.className = `status status-${status.toLowerCase()}`;
}

export function paintSwatches(root = document) {
  for (const node of root.querySelectorAll("[data-color]")) {
    node.style.setProperty("--run-color", node.dataset.color);
  }
}

export function localTimes(root = document) {
  for (const node of root.querySelectorAll("time[data-ms]")) {
    node.textContent = fmtTime(node.dataset.ms);
    node.title = new Date(Number(node.dataset.ms)).toISOString();
  }
}
