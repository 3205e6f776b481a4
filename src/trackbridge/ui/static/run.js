// The run page: one chart per metric (loaded as they come into view, a few at a time), and
// the status badge kept live while the run is RUNNING.
import { MetricChart } from "./chart.js";
import { bindControls } from "./chart_controls.js";
import { fmtDuration, fmtTime, getJSON, setStatus } from "./util.js";

const head = document.getElementById("run-head");
const runStart = Number(document.querySelector("#run-head ~ .facts time")?.dataset.ms || 0);
const charts = [];
const settings = bindControls(document.getElementById("chart-controls"), charts);
const color = head.querySelector("[data-color]")?.dataset.color || "#2b6cb0";

for (const figure of document.querySelectorAll("#charts .chart")) {
  const line = { label: figure.dataset.key, color, url: figure.dataset.series, startTime: runStart };
  charts.push(new MetricChart(figure, [line], settings));
}

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
if (charts.length <= EAGER) {
  queue.push(...charts);
  pump();
} else {
  for (const chart of charts) observer.observe(chart.figure);
}

// Live status: charts report their run's status when they poll; without charts, ask the API.
function showStatus(status) {
  if (!status || status === head.dataset.status) return;
  head.dataset.status = status;
  for (const badge of document.querySelectorAll("#run-head [data-status]")) setStatus(badge, status);
  if (status !== "RUNNING") {  // it ended: show when, and how long it ran
    getJSON(head.dataset.api).then((page) => {
      document.getElementById("run-end").textContent = fmtTime(page.run.end_time);
      for (const cell of document.querySelectorAll(".facts [data-duration]")) {
        cell.textContent = fmtDuration(page.run.duration_ms);
      }
    }).catch(() => {});
  }
}
document.addEventListener("series-status", (event) => showStatus(event.detail.status[0]));

async function pollHead() {
  if (head.dataset.status !== "RUNNING") return;
  if (!charts.length) {
    const page = await getJSON(head.dataset.api).catch(() => null);
    if (page) showStatus(page.run.status);
  }
  const since = Date.now() - runStart;
  for (const cell of document.querySelectorAll(".facts [data-duration]")) {
    if (head.dataset.status === "RUNNING" && runStart) cell.textContent = fmtDuration(since);
  }
  setTimeout(pollHead, 3000);
}
setTimeout(pollHead, 3000);
