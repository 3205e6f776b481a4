// One chart of one metric for one or more runs, drawn with uPlot (vendored, global `uPlot`).
// Zooming (drag) re-fetches that step range at full resolution; double-click goes back to
// the whole series. While a run is RUNNING its new points are appended every 2 s.
import { fade, formatX, relTicks, triangle } from "./chart_axes.js";
import { align, appendSeries, fetchSeries, smooth, xValues } from "./series.js";
import { fmtNumber } from "./util.js";

const POLL_MS = 2000;
const RESAMPLE = 1.5; // a live line holding more than this x max points is fetched sampled again
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
    this.zoomedInPlace = null; // {min, max} of x while points all at one step are zoomed
    this.plot = null;
    this.timer = null;
    this.view = 0; // which load the data is of (a zoom or reset starts a new one)
    this.fetches = 0; // how many series requests this chart made (tests read it)
    this.refetches = 0; // how often polling fetched a line's whole view again
  }

  maxPoints() {
    const width = Math.max(this.plotBox.clientWidth, 300);
    return Math.min(Math.max(Math.round(width * 4), 400), 8000);
  }

  // The current view: the whole series, or the zoomed step range, sampled for this width.
  viewOptions() {
    return { maxPoints: this.maxPoints(), startStep: this.range?.start ?? null,
      endStep: this.range?.end ?? null };
  }

  fetchLine(i, options) {
    this.fetches += 1;
    this.figure.dataset.fetches = String(this.fetches);
    return fetchSeries(this.lines[i].url, options);
  }

  async load(range = null) {
    this.range = range;
    this.zoomedInPlace = null;
    this.view += 1; // a poll still in flight for the previous view is dropped
    const view = this.view;
    const options = this.viewOptions();
    this.figure.classList.add("loading");
    try {
      const data = await Promise.all(this.lines.map((line, i) => this.fetchLine(i, options)));
      if (view !== this.view) return;
      this.data = data;
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

  // Append each running line's points logged after its last step (not while zoomed into a
  // range). The key's `count` tells whether points also landed at steps already shown (a
  // metric logged without a step sits at step 0): then that line's view is fetched again,
  // sampled, as it is when the appended tails make it hold over RESAMPLE x max points.
  async poll() {
    if (this.range) { this.schedulePoll(); return; }
    const view = this.view;
    try {
      const maxPoints = this.maxPoints();
      const tails = await Promise.all(this.data.map((s, i) => (s && s.run_status === "RUNNING"
        ? this.fetchLine(i, { maxPoints, startStep: lastStep(s) + 1 }) : null)));
      if (view !== this.view) return;
      const stale = [];
      let changed = false;
      tails.forEach((tail, i) => {
        if (!tail) return;
        const shown = this.data[i];
        if (tail.count > shown.count + tail.total) { stale.push(i); return; }
        changed = changed || tail.total > 0 || tail.run_status !== shown.run_status;
        appendSeries(shown, tail);
        if (shown.step.length > RESAMPLE * maxPoints) stale.push(i);
      });
      if (stale.length) {
        const options = this.viewOptions();
        const fresh = await Promise.all(stale.map((i) => this.fetchLine(i, options)));
        if (view !== this.view) return;
        stale.forEach((i, k) => { this.data[i] = fresh[k]; });
        this.refetches += stale.length;
        this.figure.dataset.refetches = String(this.refetches);
        changed = true;
      }
      if (changed) this.draw();
      this.figure.dispatchEvent(new CustomEvent("series-status", { bubbles: true,
        detail: { status: this.data.map((s) => s && s.run_status) } }));
    } finally {
      if (view === this.view) this.schedulePoll();
    }
  }

  // The x mode chosen, except that points all at one step (a metric logged without a step)
  // are spread by their time since the run started instead of drawn as one vertical line.
  xMode() {
    const present = this.data.filter(Boolean);
    const oneStep = present.length > 0 && present.every((s) => s.step.length > 1
      && s.step[0] === s.step[s.step.length - 1]);
    return this.settings.x === "step" && oneStep ? "relative" : this.settings.x;
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
    let note = this.lines.length === 1 ? parts[0] : `${this.lines.length} runs`;
    if (this.xMode() !== this.settings.x) note += ` · all at step ${this.data.find(Boolean).step[0]}`;
    return (this.range ? `steps ${this.range.start}–${this.range.end} · ` : "") + note;
  }

  draw() {
    const { y: yScale, smoothing } = this.settings;
    const mode = this.xMode();
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
    this.figure.dataset.shown = String(present.reduce((n, [s]) => n + s.step.length, 0));
    this.figure.dataset.maxPoints = String(this.maxPoints());
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
    this.plot.over.addEventListener("dblclick", () => {
      if (this.range) this.load(null);
      else if (this.zoomedInPlace) { this.zoomedInPlace = null; this.draw(); }
    });
    if (this.zoomedInPlace && this.xMode() !== this.settings.x) {
      this.plot.setScale("x", this.zoomedInPlace);
    }
    this.figure.dataset.drawn = String(Number(this.figure.dataset.drawn || 0) + 1);
  }

  onSelect(u) {
    if (u.select.width < 4) return;
    const lo = u.posToVal(u.select.left, "x");
    const hi = u.posToVal(u.select.left + u.select.width, "x");
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    if (this.xMode() !== this.settings.x) {  // one step: no step range to fetch, zoom in place
      this.zoomedInPlace = { min: lo, max: hi };
      u.setScale("x", this.zoomedInPlace);
      return;
    }
    const range = this.stepRange(lo, hi);
    if (range) this.load(range);
  }

  // The steps whose x (step or time) lies in [lo, hi].
  stepRange(lo, hi) {
    let start = Infinity;
    let end = -Infinity;
    this.data.forEach((s, i) => {
      if (!s) return;
      const x = xValues(s, this.xMode(), this.lines[i].startTime);
      x.forEach((v, j) => {
        if (v >= lo && v <= hi) { start = Math.min(start, s.step[j]); end = Math.max(end, s.step[j]); }
      });
    });
    if (this.xMode() === "step") { start = Math.ceil(lo); end = Math.floor(hi); }
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

function lastStep(series) {
  return series.step.length ? series.step[series.step.length - 1] : -1;
}
