// Rows of the runs table, built like the server builds them (experiment.html), and the pages
// of child runs that fill an unfolded parent.
import { el, fmtDuration, fmtValue, getJSON } from "./util.js";

export const CHILD_PAGE = 1000; // child runs asked for at a time (the API's largest page)
const FIXED_CELLS = 8; // select, name, status, started, duration, user, source, commit

// One page of the children of `parentId`, with the table's filter, sort and columns.
export function fetchChildren(api, query, parentId, offset, limit = CHILD_PAGE) {
  const q = new URLSearchParams(query);
  q.set("parent", parentId);
  q.set("offset", String(offset));
  q.set("limit", String(limit));
  return getJSON(`${api}?${q}`);
}

// The first `count` children of `parentId` (as one page: runs of every page, the last total).
export async function fetchFirstChildren(api, query, parentId, count) {
  const runs = [];
  let page;
  do {
    page = await fetchChildren(api, query, parentId, runs.length,
      Math.min(CHILD_PAGE, count - runs.length));
    runs.push(...page.runs);
  } while (page.runs.length && runs.length < Math.min(count, page.total));
  return { ...page, offset: 0, runs };
}

export function depthOf(row) {
  return Number(row.dataset.depth || 0);
}

function expandButton(run, expanded = false) {
  return el("button", { type: "button", class: "expand", "data-parent": run.id,
    "aria-expanded": String(expanded), title: `show ${run.child_count} child runs`,
    text: `${expanded ? "▾" : "▸"} ${run.child_count}` });
}

// A run's row; `parentId` null for the top level. `columns`: the header's value columns.
export function runRow(run, columns, depth, parentId, expanded = false) {
  const name = el("td", { class: "name" });
  if (depth) name.style.setProperty("--depth", String(depth));
  if (run.child_count) name.append(expandButton(run, expanded));
  name.append(el("a", { href: run.url, class: "run-link" },
    el("span", { class: "swatch", "data-color": run.color }), run.name));
  const row = el("tr", { "data-run": run.id, "data-child-of": parentId, "data-depth": depth || null,
    class: `level-${depth}` },
  el("td", { class: "select" }, el("input", { type: "checkbox", name: "run", value: run.id,
    form: "compare-form", "aria-label": `select ${run.name}` })),
  name,
  el("td", {}, el("span", { class: `status status-${run.status.toLowerCase()}`,
    "data-status": true, text: run.status })),
  el("td", {}, el("time", { "data-ms": run.start_time })),
  el("td", { class: "num", "data-duration": true, text: fmtDuration(run.duration_ms) }),
  el("td", { text: run.user || "" }),
  el("td", { class: "source", title: run.source || "", text: (run.source || "").split("/").pop() }),
  el("td", {}, el("code", { text: run.commit || "" })),
  ...columns.map((c) => el("td", { class: "num", text: fmtValue(run.values[c]) })));
  row.signature = JSON.stringify([run, columns, depth, parentId, expanded]); // what it shows
  return row;
}

// The row under an unfolded parent's children when more of them are not shown yet.
export function moreRow(parentId, depth, shown, total, columns) {
  const next = Math.min(CHILD_PAGE, total - shown);
  const cell = el("td", { class: "name", colspan: FIXED_CELLS - 1 + columns.length },
    el("button", { type: "button", class: "show-more", "data-parent": parentId,
      "data-offset": shown, text: `show ${next.toLocaleString("en-US")} more` }),
    el("span", { class: "muted", text: ` (${shown.toLocaleString("en-US")} of ` +
      `${total.toLocaleString("en-US")} child runs shown)` }));
  cell.style.setProperty("--depth", String(depth));
  const row = el("tr", { class: `more-runs level-${depth}`, "data-child-of": parentId,
    "data-depth": depth }, el("td", { class: "select" }), cell);
  row.signature = JSON.stringify([parentId, depth, shown, total, columns.length]);
  return row;
}

// The rows of `page`'s runs at `depth` under `parentId` (null: the top level). A run whose
// children `unfolded` holds (a page of them, by parent id) is shown unfolded, its children
// under it; under a page of children that is not their last, a "show more" row.
export function pageRows(page, columns, depth, parentId, unfolded = new Map()) {
  const rows = [];
  for (const run of page.runs) {
    const children = run.child_count ? unfolded.get(run.id) : undefined;
    rows.push(runRow(run, columns, depth, parentId, Boolean(children)));
    if (children) rows.push(...pageRows(children, columns, depth + 1, run.id, unfolded));
  }
  const shown = page.offset + page.runs.length;
  if (parentId !== null && shown < page.total) {
    rows.push(moreRow(parentId, depth, shown, page.total, columns));
  }
  return rows;
}
