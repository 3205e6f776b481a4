// The runs table kept live: while the experiment has RUNNING runs, every 3 s the rows are
// built again from the page's JSON twin: the top level and the children of every unfolded
// parent (as many pages of them as are shown), so statuses, durations and values change,
// new runs and children appear, unfolded parents stay unfolded and ticked runs ticked.
// A finished experiment is not polled.
import { CHILD_PAGE, fetchFirstChildren, pageRows } from "./runs_rows.js";
import { el, getJSON, localTimes, paintSwatches } from "./util.js";

const POLL_MS = 3000;

export function keepTableLive(table, { api, query, columns, changeRows }) {
  const body = table.tBodies[0];
  let polls = 0;

  // parent id -> how many of its children to ask for (whole pages: new children show too)
  function unfoldedParents() {
    const found = new Map();
    for (const button of table.querySelectorAll("button.expand[aria-expanded=true]")) {
      const id = button.dataset.parent;
      const shown = table.querySelectorAll(`tr[data-run][data-child-of="${CSS.escape(id)}"]`).length;
      found.set(id, Math.max(1, Math.ceil(shown / CHILD_PAGE)) * CHILD_PAGE);
    }
    return found;
  }

  async function refresh() {
    const boxes = table.querySelectorAll("input[name=run]:checked");
    const ticked = new Set(Array.from(boxes, (box) => box.value));
    const wanted = unfoldedParents();
    const [top, ...children] = await Promise.all([getJSON(`${api}?${query}`),
      ...Array.from(wanted, ([id, count]) => fetchFirstChildren(api, query, id, count))]);
    const unfolded = new Map(Array.from(wanted.keys(), (id, i) => [id, children[i]]));
    // a row showing just what it showed stays (a click on it is not lost to the refresh)
    const before = new Map(Array.from(body.rows, (row) => [row.signature, row]));
    body.replaceChildren(...pageRows(top, columns, 0, null, unfolded).map(
      (row) => before.get(row.signature) || row));
    for (const box of body.querySelectorAll("input[name=run]")) box.checked = ticked.has(box.value);
    localTimes(table);
    paintSwatches(table);
    table.dispatchEvent(new Event("change", { bubbles: true })); // the compare button
    showCounts(top, query);
    return top.experiment.running > 0;
  }

  async function poll() {
    const again = await changeRows(refresh).catch(() => true); // a failed poll is retried
    polls += 1;
    table.dataset.polls = String(polls); // tests read it
    if (again) setTimeout(poll, POLL_MS);
  }

  if (Number(table.dataset.experimentRunning) > 0) setTimeout(poll, POLL_MS);
}

// The run count, the "no runs" note and the pager, as the server renders them.
function showCounts(page, query) {
  const n = page.matching_runs;
  document.getElementById("run-count").textContent =
    `${n} run${n === 1 ? "" : "s"}${page.filter ? " matching" : ""}`;
  document.getElementById("no-runs").hidden = page.runs.length > 0 || Boolean(page.filter_error);
  const link = (offset, text, id) => {
    const q = new URLSearchParams(query);
    q.set("offset", String(offset));
    return el("a", { href: `?${q}`, id, text });
  };
  const first = page.runs.length ? page.offset + 1 : 0;
  const parts = [el("span", { text: `${first}–${page.offset + page.runs.length} of ${page.total}` })];
  if (page.offset > 0) parts.push(link(Math.max(page.offset - page.limit, 0), "‹ previous"));
  if (page.offset + page.limit < page.total) parts.push(link(page.offset + page.limit, "next ›", "next-page"));
  document.getElementById("pager").replaceChildren(...parts);
}
