// The run page's metrics table (latest, min, max, points, last step of each key), its rows
// built like the server's (run.html), kept up to date from the run's JSON.
import { el, fmtValue } from "./util.js";

function metricRow(m) {
  const points = el("td", { class: "num", text: m.count.toLocaleString("en-US") });
  if (m.non_finite) {
    points.append(" ", el("span", { class: "warn", title: "NaN or infinite values",
      text: `(${m.non_finite} non-finite)` }));
  }
  return el("tr", { "data-key": m.key }, el("td", { class: "key", text: m.key }),
    ...[m.latest, m.min, m.max].map((v) => el("td", { class: "num", text: fmtValue(v) })),
    points, el("td", { class: "num", text: m.last_step ?? "" }));
}

// `metrics`: the run JSON's list (sorted by key). Rows whose text changed are replaced,
// new keys get a row in key order; the table shows once there is a key.
export function showMetrics(metrics) {
  const table = document.getElementById("metrics-table");
  const body = table.tBodies[0];
  const old = new Map(Array.from(body.rows, (row) => [row.dataset.key, row]));
  body.replaceChildren(...metrics.map((m) => {
    const row = metricRow(m);
    const same = old.get(m.key);
    return same && same.textContent === row.textContent ? same : row;
  }));
  table.hidden = metrics.length === 0;
  document.getElementById("no-metrics").hidden = metrics.length > 0;
}
