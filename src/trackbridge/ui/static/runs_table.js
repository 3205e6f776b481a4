// The runs table: child runs unfolded on demand, compare selection, live status.
import { el, fmtDuration, fmtNumber, getJSON, localTimes, paintSwatches, setStatus } from "./util.js";

const table = document.getElementById("runs");
const api = table.dataset.api;
const query = new URLSearchParams(table.dataset.query);
const compareForm = document.getElementById("compare-form");
const compareButton = document.getElementById("compare-button");

function selected() {
  return Array.from(document.querySelectorAll("#runs input[name=run]:checked")).map((c) => c.value);
}
table.addEventListener("change", () => { compareButton.disabled = selected().length < 2; });
compareForm.addEventListener("submit", (event) => {
  event.preventDefault();
  window.location.href = `/compare?runs=${selected().map(encodeURIComponent).join(",")}`;
});

function cell(text, cls) {
  return el("td", { class: cls, text });
}

function childRow(run, columns, depth, parentId) {
  const name = el("td", { class: "name" });
  name.style.setProperty("--depth", String(depth));
  if (run.child_count) name.append(expandButton(run.id, run.child_count));
  name.append(el("a", { href: run.url, class: "run-link" },
    el("span", { class: "swatch", "data-color": run.color }), run.name));
  const started = el("td", {}, el("time", { "data-ms": run.start_time }));
  const row = el("tr", { "data-run": run.id, "data-child-of": parentId, class: `level-${depth}` },
    el("td", { class: "select" }, el("input", { type: "checkbox", name: "run", value: run.id,
      form: "compare-form", "aria-label": `select ${run.name}` })),
    name, el("td", {}, el("span", { class: `status status-${run.status.toLowerCase()}`,
      "data-status": true, text: run.status })),
    started, el("td", { class: "num", "data-duration": true, text: fmtDuration(run.duration_ms) }),
    cell(run.user || ""), cell((run.source || "").split("/").pop(), "source"),
    el("td", {}, el("code", { text: run.commit || "" })),
    ...columns.map((c) => cell(fmtNumber(run.values[c]), "num")));
  return row;
}

function expandButton(id, count) {
  return el("button", { type: "button", class: "expand", "data-parent": id,
    "aria-expanded": "false", title: `show ${count} child runs`, text: `▸ ${count}` });
}

function descendants(id) {
  const rows = Array.from(table.querySelectorAll(`tr[data-child-of="${CSS.escape(id)}"]`));
  return rows.flatMap((row) => [row, ...descendants(row.dataset.run)]);
}

table.addEventListener("click", async (event) => {
  const button = event.target.closest("button.expand");
  if (!button) return;
  const id = button.dataset.parent;
  const row = button.closest("tr");
  if (button.getAttribute("aria-expanded") === "true") {
    for (const child of descendants(id)) child.remove();
    button.setAttribute("aria-expanded", "false");
    button.textContent = button.textContent.replace("▾", "▸");
    return;
  }
  const q = new URLSearchParams(query);
  q.set("parent", id);
  q.set("offset", "0");
  q.set("limit", "1000");
  const page = await getJSON(`${api}?${q}`);
  const depth = Number(row.className.replace(/.*level-(\d+).*/, "$1") || 0) + 1;
  let after = row;
  for (const run of page.runs) {
    const child = childRow(run, page.columns, depth, id);
    after.after(child);
    after = child;
  }
  localTimes(table);
  paintSwatches(table);
  button.setAttribute("aria-expanded", "true");
  button.textContent = button.textContent.replace("▸", "▾");
});

// While a run on this page is RUNNING, refresh statuses and durations every 3 s.
async function poll() {
  const page = await getJSON(`${api}?${query}`).catch(() => null);
  if (!page) return setTimeout(poll, 3000);
  for (const run of page.runs) {
    const row = table.querySelector(`tr[data-run="${CSS.escape(run.id)}"]`);
    if (!row) continue;
    setStatus(row.querySelector("[data-status]"), run.status);
    row.querySelector("[data-duration]").textContent = fmtDuration(run.duration_ms);
  }
  if (page.running > 0) setTimeout(poll, 3000);
}
if (Number(table.dataset.running) > 0) setTimeout(poll, 3000);
