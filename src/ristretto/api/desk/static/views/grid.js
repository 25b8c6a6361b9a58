// A Table field as an editable grid: one row per child document, columns from the child
// DocType's in_list_view fields (its first few fields otherwise), an "Edit" toggle per row that
// opens every other field of the row, Add row and Delete row.
//
// grid(df, rows, childMeta, opts) -> { el, rows(), setErrors([{idx, fieldname, message}]) }
// opts = { readOnly, onChange() }. Rows are plain objects as the API returns them; new rows
// carry no name (the server names them on save).

import { h, button } from "../ui.js";
import { control, displayValue, LAYOUT } from "./fields.js";

const MAX_COLUMNS = 5;

export function grid(df, initial, childMeta, opts = {}) {
  const fields = (childMeta.fields || []).filter((f) => !LAYOUT.has(f.fieldtype) && !f.hidden && f.fieldtype !== "Table"
    && f.fieldtype !== "Table MultiSelect");
  let columns = fields.filter((f) => f.in_list_view);
  if (!columns.length) columns = fields.slice(0, MAX_COLUMNS);
  const others = fields.filter((f) => !columns.includes(f));
  const rows = (initial || []).map((r) => ({ ...r }));
  const label = df.label || df.fieldname;
  const body = h("tbody");
  const cells = new Map();  // `${row index}:${fieldname}` -> control
  const empty = h("p", { class: "grid-empty" }, "No rows");
  const table = h("table", { class: "grid" },
    h("caption", { class: "visually-hidden" }, label),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col", class: "idx" }, "#"),
      columns.map((c) => h("th", { scope: "col" }, c.label || c.fieldname, c.reqd ? h("span", { class: "reqd", "aria-hidden": "true" }, " *") : null)),
      opts.readOnly && !others.length ? null : h("th", { scope: "col", class: "actions" }, h("span", { class: "visually-hidden" }, "Actions")))),
    body);
  const errorBox = h("p", { class: "field-error", hidden: true });
  const el = h("div", { class: "field grid-field wide", dataset: { fieldname: df.fieldname }, role: "group", "aria-label": label },
    h("div", { class: "grid-head" }, h("span", { class: "label" }, label, df.reqd ? h("span", { class: "reqd", "aria-hidden": "true" }, " *") : null)),
    h("div", { class: "table-wrap" }, table), empty, errorBox,
    opts.readOnly ? null : h("div", { class: "grid-actions" }, button("Add row", () => add(), { kind: "secondary", "aria-label": `Add row to ${label}` })));
  const open = new Set();

  function changed() { if (opts.onChange) opts.onChange(); }

  function add() {
    const row = { doctype: childMeta.name };
    for (const f of fields) if (f.default !== undefined && f.default !== null && f.default !== "") row[f.fieldname] = f.default;
    rows.push(row);
    draw();
    changed();
    const first = cells.get(`${rows.length - 1}:${columns[0] && columns[0].fieldname}`);
    if (first) first.focus();
  }

  function remove(i) {
    rows.splice(i, 1);
    open.clear();
    draw();
    changed();
  }

  function draw() {
    cells.clear();
    body.replaceChildren();
    empty.hidden = rows.length > 0;
    table.hidden = rows.length === 0;
    rows.forEach((row, i) => {
      const n = i + 1;
      const tr = h("tr", { dataset: { idx: String(n) } }, h("td", { class: "idx" }, String(n)));
      for (const c of columns) {
        const ctl = control(c, row[c.fieldname], { compact: true, readOnly: opts.readOnly || c.read_only,
          label: `${c.label || c.fieldname}, row ${n}`, doc: row,
          onChange: (v) => { row[c.fieldname] = v; changed(); } });
        cells.set(`${i}:${c.fieldname}`, ctl);
        tr.append(h("td", { dataset: { fieldname: c.fieldname } }, ctl.el));
      }
      const actions = h("td", { class: "actions" });
      if (others.length) {
        actions.append(button(open.has(i) ? "Close" : opts.readOnly ? "View" : "Edit", () => { open.has(i) ? open.delete(i) : open.add(i); draw(); },
          { kind: "link", "aria-expanded": open.has(i) ? "true" : "false", "aria-label": `All fields of row ${n}` }));
      }
      if (!opts.readOnly) actions.append(button("Delete", () => remove(i), { kind: "link danger", "aria-label": `Delete row ${n}` }));
      if (actions.childNodes.length) tr.append(actions);
      body.append(tr);
      if (open.has(i)) {
        const detail = h("div", { class: "grid-detail" });
        for (const f of others) {
          const ctl = control(f, row[f.fieldname], { readOnly: opts.readOnly || f.read_only, doc: row,
            onChange: (v) => { row[f.fieldname] = v; changed(); } });
          cells.set(`${i}:${f.fieldname}`, ctl);
          detail.append(ctl.el);
        }
        body.append(h("tr", { class: "detail-row" }, h("td", { colspan: String(columns.length + 2) }, detail)));
      }
    });
  }

  // Errors naming a row (Frappe's "Items Row #2: Value missing for: Qty") go beside that cell.
  function setErrors(errors) {
    let reopen = false;
    for (const e of errors) {
      const i = (e.idx || 0) - 1;
      if (i >= 0 && i < rows.length && others.some((f) => f.fieldname === e.fieldname) && !open.has(i)) {
        open.add(i);
        reopen = true;
      }
    }
    if (reopen) draw();
    for (const ctl of cells.values()) ctl.setError("");
    const general = [];
    for (const e of errors) {
      const i = (e.idx || 0) - 1;
      const ctl = i >= 0 && e.fieldname ? cells.get(`${i}:${e.fieldname}`) : null;
      if (ctl) ctl.setError(e.message);
      else general.push(e.message);
    }
    el.classList.toggle("invalid", errors.length > 0);
    errorBox.textContent = general.join("\n");
    errorBox.hidden = !general.length;
  }

  draw();
  return {
    el,
    rows: () => rows,
    setErrors,
    focus: () => {
      const b = el.querySelector(".grid .invalid input, .grid .invalid select, .grid .invalid textarea") || el.querySelector("input, select, textarea, button");
      if (b) b.focus();
    },
    fieldByLabel: (text) => fields.find((f) => (f.label || f.fieldname) === text),
    summary: () => rows.map((r) => columns.map((c) => displayValue(c, r[c.fieldname])).join(" ")),
  };
}
