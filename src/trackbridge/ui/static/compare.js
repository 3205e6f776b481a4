// The compare page: overlaid charts per shared metric, param-vs-metric scatter, parallel
// coordinates. Data comes from this page's JSON twin (/api/compare?...).
import { MetricChart } from "./chart.js";
import { bindControls } from "./chart_controls.js";
import { fmtNumber, getJSON, num } from "./util.js";

const page = await getJSON(`/api${window.location.pathname}${window.location.search}`);
const runs = page.runs;

const onlyDiff = document.getElementById("only-diff");
onlyDiff?.addEventListener("change", () => {
  for (const row of document.querySelectorAll("#compare-params tr.param:not(.differs)")) {
    row.hidden = onlyDiff.checked;
  }
});

const charts = [];
const settings = bindControls(document.getElementById("chart-controls"), charts);
for (const figure of document.querySelectorAll("#charts .chart")) {
  const key = figure.dataset.key;
  const lines = runs.filter((r) => key in r.metrics).map((r) => ({
    label: r.name, color: r.color, startTime: r.start_time,
    url: `/api/runs/${encodeURIComponent(r.id)}/metrics/${key.split("/").map(encodeURIComponent).join("/")}`,
  }));
  const chart = new MetricChart(figure, lines, settings);
  charts.push(chart);
  chart.load();
}

// A param's values as numbers when they all parse, else as categories (0, 1, ... in order).
function axis(values) {
  const present = values.filter((v) => v !== null && v !== undefined);
  const numeric = present.length > 0 && present.every((v) => v !== "" && Number.isFinite(Number(num(v))));
  if (numeric) {
    const nums = values.map((v) => (v === null || v === undefined ? null : Number(num(v))));
    const finite = nums.filter((v) => v !== null);
    return { pos: nums, min: Math.min(...finite), max: Math.max(...finite), labels: null };
  }
  const labels = Array.from(new Set(present.map(String))).sort();
  return { pos: values.map((v) => (v === null || v === undefined ? null : labels.indexOf(String(v)))),
    min: 0, max: Math.max(labels.length - 1, 1), labels };
}

function scale(a, v, lo, hi) {
  const span = a.max - a.min || 1;
  return lo + ((v - a.min) / span) * (hi - lo);
}

function setupCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.parentElement.clientWidth - 2;
  const height = 340;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  ctx.scale(ratio, ratio);
  ctx.font = "12px system-ui, sans-serif";
  ctx.clearRect(0, 0, width, height);
  return { ctx, width, height };
}

// Round tick values (1, 2 or 5 times a power of ten) inside [min, max]; categories as they are.
function tickValues(a) {
  if (a.labels) return a.labels.map((_, i) => i);
  if (a.max === a.min) return [a.min];
  const raw = (a.max - a.min) / 4;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(a.min / step) * step; v <= a.max + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return out;
}

function tickText(a, v) {
  return a.labels ? a.labels[v] : fmtNumber(v);
}

function ticks(ctx, a, at, vertical, lo, hi) {
  ctx.fillStyle = "#4a5568";
  for (const v of tickValues(a)) {
    const text = tickText(a, v);
    const p = scale(a, v, lo, hi);
    if (vertical) { ctx.textAlign = "right"; ctx.fillText(text, at - 6, p + 4); }
    else { ctx.textAlign = "center"; ctx.fillText(text, p, at + 16); }
  }
}

function drawScatter() {
  const form = document.getElementById("scatter-controls");
  const canvas = document.getElementById("scatter");
  if (!form || !canvas) return;
  const param = form.elements.param.value;
  const metric = form.elements.metric.value;
  const { ctx, width, height } = setupCanvas(canvas);
  const xs = axis(runs.map((r) => r.params[param]));
  const ys = axis(runs.map((r) => r.metrics[metric]));
  // the plot starts right of the widest y tick label, the axis title left of it
  const widestY = Math.max(...tickValues(ys).map((v) => ctx.measureText(tickText(ys, v)).width));
  const left = Math.max(56, Math.ceil(widestY) + 34), right = width - 20, top = 16, bottom = height - 44;
  ctx.strokeStyle = "#cbd2d9";
  ctx.strokeRect(left, top, right - left, bottom - top);
  ticks(ctx, xs, bottom, false, left + 10, right - 10);
  ticks(ctx, ys, left, true, bottom - 10, top + 10);
  ctx.textAlign = "center";
  ctx.fillText(`params.${param}`, (left + right) / 2, height - 6);
  ctx.save(); ctx.translate(left - widestY - 16, (top + bottom) / 2); ctx.rotate(-Math.PI / 2);
  ctx.fillText(`metrics.${metric}`, 0, 0); ctx.restore();
  runs.forEach((r, i) => {
    if (xs.pos[i] === null || ys.pos[i] === null || !Number.isFinite(ys.pos[i])) return;
    ctx.fillStyle = r.color;
    ctx.beginPath();
    ctx.arc(scale(xs, xs.pos[i], left + 10, right - 10), scale(ys, ys.pos[i], bottom - 10, top + 10),
      6, 0, 2 * Math.PI);
    ctx.fill();
  });
  canvas.dataset.drawn = String(Number(canvas.dataset.drawn || 0) + 1);
}

function drawParallel() {
  const form = document.getElementById("parallel-controls");
  const canvas = document.getElementById("parallel");
  if (!form || !canvas) return;
  const metric = form.elements.metric.value;
  const keys = page.params.map((p) => p.key).slice(0, 12);
  const columns = [...keys.map((k) => ({ label: k, a: axis(runs.map((r) => r.params[k])) })),
    { label: metric, a: axis(runs.map((r) => r.metrics[metric])) }];
  const { ctx, width, height } = setupCanvas(canvas);
  const top = 44, bottom = height - 24, left = 60, right = width - 60;
  const step = columns.length > 1 ? (right - left) / (columns.length - 1) : 0;
  runs.forEach((r, i) => {
    ctx.strokeStyle = r.color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    let started = false;
    columns.forEach((c, j) => {
      const v = c.a.pos[i];
      if (v === null || !Number.isFinite(v)) { started = false; return; }
      const x = left + j * step;
      const y = scale(c.a, v, bottom, top);
      if (started) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      started = true;
    });
    ctx.stroke();
  });
  columns.forEach((c, j) => {
    const x = left + j * step;
    ctx.strokeStyle = "#718096";
    ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, bottom); ctx.stroke();
    ctx.fillStyle = "#1a202c";
    ctx.textAlign = "center";
    ctx.fillText(c.label, x, top - 26);
    ctx.fillStyle = "#4a5568";
    ctx.fillText(c.a.labels ? c.a.labels.at(-1) : fmtNumber(c.a.max), x, top - 8);
    ctx.fillText(c.a.labels ? c.a.labels[0] : fmtNumber(c.a.min), x, bottom + 16);
  });
  canvas.dataset.drawn = String(Number(canvas.dataset.drawn || 0) + 1);
}

for (const id of ["scatter-controls", "parallel-controls"]) {
  document.getElementById(id)?.addEventListener("input", () => { drawScatter(); drawParallel(); });
}
drawScatter();
drawParallel();
