// A RUNNING run's page kept live: every 3 s the run's JSON (/api/runs/<id>) updates the
// status, the duration and the metrics table, and gives the keys logged since the page
// loaded (`addCharts` adds their charts); when the run ends, its end time is shown and
// polling stops. A chart sees the end first (it polls every 2 s): the page asks at once.
import { showMetrics } from "./metrics_table.js";
import { fmtDuration, fmtTime, getJSON, setStatus } from "./util.js";

const POLL_MS = 3000;

export function keepRunLive(head, addCharts) {
  if (head.dataset.status !== "RUNNING") return;
  let timer = null;
  let inFlight = null;
  let polls = 0;

  function show(page) {
    showMetrics(page.metrics);
    addCharts(page.metrics);
    for (const cell of document.querySelectorAll(".facts [data-duration]")) {
      cell.textContent = fmtDuration(page.run.duration_ms);
    }
    const status = page.run.status;
    if (status === head.dataset.status) return;
    head.dataset.status = status;
    for (const badge of head.querySelectorAll("[data-status]")) setStatus(badge, status);
    if (status !== "RUNNING") document.getElementById("run-end").textContent = fmtTime(page.run.end_time);
  }

  async function poll() {
    clearTimeout(timer);
    const page = await getJSON(head.dataset.api).catch(() => null); // a failed poll is retried
    polls += 1;
    head.dataset.polls = String(polls); // tests read it
    if (page) show(page);
    if (head.dataset.status === "RUNNING") timer = setTimeout(pollOnce, POLL_MS);
  }

  function pollOnce() {
    if (!inFlight) inFlight = poll().finally(() => { inFlight = null; });
  }

  document.addEventListener("series-status", (event) => {
    if (head.dataset.status === "RUNNING" && event.detail.status[0] !== "RUNNING") pollOnce();
  });
  timer = setTimeout(pollOnce, POLL_MS);
}
