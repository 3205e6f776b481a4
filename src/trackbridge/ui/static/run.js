// The run page: one chart per metric (loaded as they come into view, a few at a time), and,
// while the run is RUNNING, the page kept live (run_live.js): a chart for each new key.
import { MetricChart } from "./chart.js";
import { bindControls } from "./chart_controls.js";
import { keepRunLive } from "./run_live.js";
import { el } from "./util.js";

const head = document.getElementById("run-head");
const runStart = Number(document.querySelector("#run-head ~ .facts time")?.dataset.ms || 0);
const box = document.getElementById("charts");
const charts = [];
const settings = bindControls(document.getElementById("chart-controls"), charts);
const color = head.querySelector("[data-color]")?.dataset.color || "#2b6cb0";

// Up to EAGER charts load at once (4 requests in flight); beyond that, as they come near the
// viewport, so a run with hundreds of metrics never mounts them all.
const EAGER = 24;
const queue = [];
let active = 0;
function pump() {
  while (active < 4 && queue.length) {
    const chart = queue.shift();
    active += 1;
    chart.load().finally(() => {
      active -= 1;
      if (charts.every((c) => c.figure.dataset.drawn)) {  // read by bench/ui_bench.py
        document.body.dataset.chartsDrawnMs = String(Math.round(performance.now()));
      }
      pump();
    });
  }
}
const observer = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (!entry.isIntersecting) continue;
    observer.unobserve(entry.target);
    queue.push(charts.find((c) => c.figure === entry.target));
  }
  pump();
}, { rootMargin: "800px 0px" });

function mount(figure) {
  const line = { label: figure.dataset.key, color, url: figure.dataset.series, startTime: runStart };
  const chart = new MetricChart(figure, [line], settings);
  charts.push(chart);
  return chart;
}

for (const figure of box.querySelectorAll(".chart")) mount(figure);
if (charts.length <= EAGER) {
  queue.push(...charts);
  pump();
} else {
  for (const chart of charts) observer.observe(chart.figure);
}

// A chart for each key of `metrics` (the run JSON's) without one, in key order, as the
// server would have rendered it.
function addCharts(metrics) {
  const shown = new Set(charts.map((c) => c.figure.dataset.key));
  for (const m of metrics) {
    if (shown.has(m.key)) continue;
    const figure = el("figure", { class: "chart", "data-key": m.key, "data-series": m.series_url },
      el("figcaption", {}, el("span", { class: "chart-title", text: m.key }),
        el("span", { class: "chart-note" })),
      el("div", { class: "plot" }));
    box.insertBefore(figure, Array.from(box.children).find((f) => f.dataset.key > m.key) || null);
    const chart = mount(figure);
    if (charts.length <= EAGER) {
      queue.push(chart);
      pump();
    } else {
      observer.observe(figure);
    }
  }
  if (metrics.length) {
    document.getElementById("chart-controls").hidden = false;
    document.getElementById("no-charts").hidden = true;
  }
}

keepRunLive(head, addCharts);
