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
