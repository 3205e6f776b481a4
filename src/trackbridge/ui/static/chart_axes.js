// How a chart writes its x values (step, wall time, time since start) and draws its marks.

// A triangle pointing up (dir 1) or down (-1) from (x, y): an infinite value's marker.
export function triangle(ctx, x, y, dir) {
  const r = 5 * window.devicePixelRatio;
  ctx.beginPath();
  ctx.moveTo(x, y);
  ctx.lineTo(x - r, y + dir * r * 1.6);
  ctx.lineTo(x + r, y + dir * r * 1.6);
  ctx.fill();
}

export function fade(color) {
  return `${color}55`;
}

export function formatX(v, mode) {
  if (v === null || v === undefined) return "";
  if (mode === "time") return new Date(v * 1000).toLocaleString();
  if (mode === "relative") return relLabel(v);
  return String(v);
}

function relLabel(seconds) {
  if (Math.abs(seconds) < 10) return `${Number(seconds.toFixed(1))}s`;
  const s = Math.round(seconds);
  if (Math.abs(s) < 60) return `${s}s`;
  if (Math.abs(s) < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

// Tick labels of time since start; ticks less than a second apart get the decimals they need.
export function relTicks(u, ticks, axis, space, increment) {
  const decimals = Math.min(3, (String(increment).split(".")[1] || "").length);
  return ticks.map((t) => (decimals && Math.abs(t) < 60 ? `${t.toFixed(decimals)}s` : relLabel(t)));
}
