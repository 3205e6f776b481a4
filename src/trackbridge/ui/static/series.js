// Metric series from /api/runs/<id>/metrics/<key>, x-axis modes and EMA smoothing.
import { getJSON, num } from "./util.js";

export async function fetchSeries(url, { maxPoints, startStep = null, endStep = null }) {
  const query = new URLSearchParams({ max_points: String(maxPoints) });
  if (startStep !== null) query.set("start_step", String(startStep));
  if (endStep !== null) query.set("end_step", String(endStep));
  const body = await getJSON(`${url}?${query}`);
  body.value = body.value.map(num);
  return body;
}

// Append the points of `more` (a later step range of the same series) to `series`.
export function appendSeries(series, more) {
  for (const [column, added] of [[series.step, more.step], [series.timestamp, more.timestamp],
    [series.value, more.value]]) {
    for (const v of added) column.push(v);
  }
  series.total += more.total;
  series.count = more.count;
  series.nan += more.nan;
  series.pos_inf += more.pos_inf;
  series.neg_inf += more.neg_inf;
  series.sampled = series.sampled || more.sampled;
  series.run_status = more.run_status;
}

// x of each point: the step, the wall time (s), or the time since the run started (s).
export function xValues(series, mode, startTime) {
  if (mode === "time") return series.timestamp.map((t) => t / 1000);
  if (mode === "relative") return series.timestamp.map((t) => (t - startTime) / 1000);
  return series.step;
}

// TensorBoard's debiased exponential moving average; non-finite points are skipped.
export function smooth(values, weight) {
  const out = new Array(values.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || !Number.isFinite(v)) { out[i] = null; continue; }
    last = last * weight + (1 - weight) * v;
    n += 1;
    out[i] = last / (1 - Math.pow(weight, n));
  }
  return out;
}

// One x array for several series: the sorted union of their x values; a series without a
// point at some x gets `undefined` there (uPlot joins over it), a NaN/inf point `null` (a gap).
export function align(xs, ys) {
  if (xs.length === 1) return [xs[0], ys[0].map(finiteOrNull)];
  const all = Array.from(new Set(xs.flat())).sort((a, b) => a - b);
  const index = new Map(all.map((x, i) => [x, i]));
  const columns = ys.map((y, s) => {
    const column = new Array(all.length).fill(undefined);
    xs[s].forEach((x, i) => { column[index.get(x)] = finiteOrNull(y[i]); });
    return column;
  });
  return [all, ...columns];
}

function finiteOrNull(v) {
  return v === null || v === undefined || !Number.isFinite(v) ? null : v;
}
