// The runs table: child runs unfolded on demand (a page at a time), compare selection, and
// kept live while the experiment has RUNNING runs (runs_live.js).
import { depthOf, fetchChildren, pageRows } from "./runs_rows.js";
import { keepTableLive } from "./runs_live.js";
import { localTimes, paintSwatches, serial } from "./util.js";

const table = document.getElementById("runs");
const api = table.dataset.api;
const query = new URLSearchParams(table.dataset.query);
const columns = JSON.parse(table.dataset.columns);
const compareForm = document.getElementById("compare-form");
const compareButton = document.getElementById("compare-button");
// unfolding, showing more and live refreshes change the rows: one at a time, in order
const changeRows = serial();

function selected() {
  return Array.from(document.querySelectorAll("#runs input[name=run]:checked")).map((c) => c.value);
}
table.addEventListener("change", () => { compareButton.disabled = selected().length < 2; });
compareForm.addEventListener("submit", (event) => {
  event.preventDefault();
  window.location.href = `/compare?runs=${selected().map(encodeURIComponent).join(",")}`;
});

// Every row under `id`: its children, theirs, and "show more" rows.
function descendants(id) {
  const rows = Array.from(table.querySelectorAll(`tr[data-child-of="${CSS.escape(id)}"]`));
  return rows.flatMap((row) => [row, ...(row.dataset.run ? descendants(row.dataset.run) : [])]);
}

function decorate() {
  localTimes(table);
  paintSwatches(table);
}

// The button now in the table (a live refresh may have rebuilt the rows since the click).
function current(kind, parentId) {
  return table.querySelector(`button.${kind}[data-parent="${CSS.escape(parentId)}"]`);
}

async function toggle(id) {
  const button = current("expand", id);
  if (!button) return;
  const row = button.closest("tr");
  if (button.getAttribute("aria-expanded") === "true") {
    for (const child of descendants(id)) child.remove();
    button.setAttribute("aria-expanded", "false");
    button.textContent = button.textContent.replace("▾", "▸");
    return;
  }
  const page = await fetchChildren(api, query, id, 0);
  row.after(...pageRows(page, columns, depthOf(row) + 1, id));
  decorate();
  button.setAttribute("aria-expanded", "true");
  button.textContent = button.textContent.replace("▸", "▾");
}

async function showMore(id) {
  const button = current("show-more", id);
  if (!button) return;
  const row = button.closest("tr");
  const page = await fetchChildren(api, query, id, Number(button.dataset.offset));
  row.replaceWith(...pageRows(page, columns, depthOf(row), id));
  decorate();
}

table.addEventListener("click", (event) => {
  const button = event.target.closest("button.expand, button.show-more");
  if (!button) return;
  const id = button.dataset.parent;
  if (button.classList.contains("expand")) {
    changeRows(() => toggle(id));
    return;
  }
  button.disabled = true;
  changeRows(() => showMore(id)).catch(() => {
    const again = current("show-more", id);
    if (again) again.disabled = false;
  });
});

keepTableLive(table, { api, query, columns, changeRows });
