// One chart of one metric for one or more runs, drawn with uPlot (vendored, global `uPlot`).
// Zooming (drag) re-fetches that step range at full resolution; double-click goes back to
// the whole series. While a run is RUNNING its points are appended every 2 s.
import { align, appendSeries, fetchSeries, smooth, xValues } from "./series.js";
import { fmtNumber } from "./util.js";

const POLL_MS = 2000;
const HEIGHT = 240;
const X_LABELS = { step: "step", time: "wall time", relative: "time since start" };

// lines: [{ label, color, url, startTime }]; settings: { x, y, smoothing } (shared, live)
export class MetricChart {
  constructor(figure, lines, settings) {
    this.figure = figure;
    this.plotBox = figure.querySelector(".plot");
    this.note = figure.querySelector(".chart-note");
    this.lines = lines;
    this.settings = settings;
    this.data = lines.map(() => null);
    this.range = null; // {start, end} steps while zoomed
    this.plot = null;
    this.timer = null;
    this.fetches = 0; // how many series requests this chart made (tests read it)
  }

  maxPoints() {
    const width = Math.max(this.plotBox.clientWidth, 300);
    return Math.min(Math.max(Math.round(width * 4), 400), 8000);
  }

  async load(range = null) {
    this.range = range;
    const options = { maxPoints: this.maxPoints(), startStep: range?.start ?? null,
      endStep: range?.end ?? null };
    this.figure.classList.add("loading");
    try {
      this.data = await Promise.all(this.lines.map((line) => {
        this.fetches += 1;
        return fetchSeries(line.url, options);
      }));
      this.figure.dataset.fetches = String(this.fetches);
      this.figure.dataset.range = range ? `${range.start}-${range.end}` : "";
      this.draw();
      this.schedulePoll();
    } catch (error) {
      this.note.textContent = `could not load: ${error.message}`;
      this.figure.classList.add("failed");
    } finally {
      this.figure.classList.remove("loading");
    }
  }

  running() {
    return this.data.some((s) => s && s.run_status === "RUNNING");
  }

  schedulePoll() {
    clearTimeout(this.timer);
    if (this.running()) this.timer = setTimeout(() => this.poll(), POLL_MS);
    this.figure.dataset.live = this.running() ? "1" : "0";
  }

  // Append the points logged since the last answer (not while zoomed into a range).
  async poll() {
    if (this.range) { this.schedulePoll(); return; }
    try {
      const more = await Promise.all(this.data.map((s, i) => {
        if (!s || s.run_status !== "RUNNING") return null;
        const last = s.step.length ? s.step[s.step.length - 1] : -1;
        this.fetches += 1;
        return fetchSeries(this.lines[i].url, { maxPoints: this.maxPoints(), startStep: last + 1 });
      }));
      this.figure.dataset.fetches = String(this.fetches);
      let grew = false;
      more.forEach((m, i) => {
        if (!m) return;
        grew = grew || m.step.length > 0;
        appendSeries(this.data[i], m);
      });
      if (grew || !this.running()) this.draw();
      this.figure.dispatchEvent(new CustomEvent("series-status", { bubbles: true,
        detail: { status: this.data.map((s) => s && s.run_status) } }));
    } finally {
      this.schedulePoll();
    }
  }

  describe() {
    const parts = this.data.filter(Boolean).map((s) => {
      const shown = s.step.length.toLocaleString();
      const total = s.total.toLocaleString();
      let text = s.sampled ? `${shown} of ${total} points (every spike kept)` : `${total} points`;
      const odd = [[s.nan, "NaN"], [s.pos_inf, "+inf"], [s.neg_inf, "-inf"]].filter(([n]) => n);
      if (odd.length) text += " · " + odd.map(([n, what]) => `${n} ${what}`).join(", ");
      return text;
    });
    const note = this.lines.length === 1 ? parts[0] : `${this.lines.length} runs`;
    return (this.range ? `steps ${this.range.start}–${this.range.end} · ` : "") + note;
  }

  draw() {
    const { x: mode, y: yScale, smoothing } = this.settings;
    const present = this.data.map((s, i) => [s, this.lines[i]]).filter(([s]) => s);
    const xs = present.map(([s, line]) => xValues(s, mode, line.startTime));
    const raw = present.map(([s]) => s.value.map((v) => (yScale === "log" && v <= 0 ? null : v)));
    const columns = smoothing > 0 ? raw.flatMap((v) => [v, smooth(v, smoothing)]) : raw;
    const xsFor = smoothing > 0 ? xs.flatMap((x) => [x, x]) : xs;
    const data = align(xsFor, columns);
    const series = [{ label: X_LABELS[mode], value: (u, v) => formatX(v, mode) }];
    present.forEach(([s, line]) => {
      const name = this.lines.length === 1 ? this.figure.dataset.key : line.label;
      const points = { show: s.step.length <= 60, size: 6, fill: line.color };
      if (smoothing > 0) {
        series.push({ label: `${name} (raw)`, stroke: fade(line.color), width: 1, spanGaps: false,
          value: (u, v) => fmtNumber(v) });
        series.push({ label: name, stroke: line.color, width: 2, points, value: (u, v) => fmtNumber(v) });
      } else {
        series.push({ label: name, stroke: line.color, width: 1.5, points,
          value: (u, v) => fmtNumber(v) });
      }
    });
    this.note.textContent = this.describe();
    this.figure.dataset.total = String(present.reduce((n, [s]) => n + s.total, 0));
    const width = Math.max(this.plotBox.clientWidth, 300);
    const options = {
      width, height: HEIGHT, series, legend: { live: true },
      scales: { x: { time: mode === "time" }, y: { distr: yScale === "log" ? 3 : 1 } },
      axes: [
        { label: X_LABELS[mode], labelSize: 18, values: mode === "relative" ? relTicks : undefined,
          stroke: "#4a5568", grid: { stroke: "#edf0f4" } },
        { label: this.figure.dataset.key, labelSize: 18, size: 64, stroke: "#4a5568",
          grid: { stroke: "#edf0f4" }, values: (u, ticks) => ticks.map(fmtNumber) },
      ],
      cursor: { drag: { x: true, y: false, setScale: false } },
      hooks: { setSelect: [(u) => this.onSelect(u)], draw: [(u) => this.drawMarkers(u, present, xs)] },
    };
    if (this.plot) this.plot.destroy();
    this.plot = new uPlot(options, data, this.plotBox);
    this.plot.over.addEventListener("dblclick", () => { if (this.range) this.load(null); });
    this.figure.dataset.drawn = String(Number(this.figure.dataset.drawn || 0) + 1);
  }

  onSelect(u) {
    if (u.select.width < 4) return;
    const lo = u.posToVal(u.select.left, "x");
    const hi = u.posToVal(u.select.left + u.select.width, "x");
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    const range = this.stepRange(lo, hi);
    if (range) this.load(range);
  }

  // The steps whose x (step or time) lies in [lo, hi].
  stepRange(lo, hi) {
    let start = Infinity;
    let end = -Infinity;
    this.data.forEach((s, i) => {
      if (!s) return;
      const x = xValues(s, this.settings.x, this.lines[i].startTime);
      x.forEach((v, j) => {
        if (v >= lo && v <= hi) { start = Math.min(start, s.step[j]); end = Math.max(end, s.step[j]); }
      });
    });
    if (this.settings.x === "step") { start = Math.ceil(lo); end = Math.floor(hi); }
    return start <= end ? { start: Math.max(start, 0), end } : null;
  }

  // NaN and infinities are gaps in the line; mark where they are (a line at the bottom for
  // NaN, a triangle at the top for +inf and at the bottom for -inf).
  drawMarkers(u, present, xs) {
    const ctx = u.ctx;
    const { top, height } = u.bbox;
    present.forEach(([s], i) => {
      ctx.fillStyle = "#d64545";
      s.value.forEach((v, j) => {
        if (Number.isFinite(v)) return;
        const px = Math.round(u.valToPos(xs[i][j], "x", true));
        if (Number.isNaN(v)) ctx.fillRect(px - 1, top + height - 8, 3, 8);
        else triangle(ctx, px, v > 0 ? top + 1 : top + height - 1, v > 0 ? 1 : -1);
      });
    });
  }

  resize() {
    if (this.plot) this.plot.setSize({ width: Math.max(this.plotBox.clientWidth, 300), height: HEIGHT });
  }
}

function triangle(ctx, x, y, dir) {
  const r = 5 * window.devicePixelRatio;
  ctx.beginPath();
  ctx.moveTo(x, y);
  ctx.lineTo(x - r, y + dir * r * 1.6);
  ctx.lineTo(x + r, y + dir * r * 1.6);
  ctx.fill();
}

function fade(color) {
  return `${color}55`;
}

function formatX(v, mode) {
  if (v === null || v === undefined) return "";
  if (mode === "time") return new Date(v * 1000).toLocaleString();
  if (mode === "relative") return relLabel(v);
  return String(v);
}

function relLabel(seconds) {
  const s = Math.round(seconds);
  if (Math.abs(s) < 60) return `${s}s`;
  if (Math.abs(s) < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

function relTicks(u, ticks) {
  return ticks.map(relLabel);
}

// The shared controls (x mode, y scale, smoothing): every chart redraws when they change.
export function bindControls(form, charts) {
  const settings = { x: "step", y: "linear", smoothing: 0 };
  if (!form) return settings;
  form.addEventListener("input", () => {
    settings.x = form.elements.x.value;
    settings.y = form.elements.y.value;
    settings.smoothing = Number(form.elements.smoothing.value);
    form.elements.smoothing_value.value = settings.smoothing.toFixed(2);
    for (const chart of charts) if (chart.plot) chart.draw();
  });
  form.addEventListener("submit", (event) => event.preventDefault());
  let width = window.innerWidth;
  window.addEventListener("resize", () => {
    if (window.innerWidth === width) return;
    width = window.innerWidth;
    for (const chart of charts) chart.resize();
  });
  return settings;
}
