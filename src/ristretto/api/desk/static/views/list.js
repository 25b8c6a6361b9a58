// The list view of a DocType: columns (name, title and the in_list_view fields), a filter bar,
// sort by a column, 20 rows a page with a count, a "group by" sidebar with counts for Select and
// Link fields, row checkboxes with bulk delete, and a link to create.
//
// The URL holds the view, so reloading or sharing it shows the same rows. As in Frappe's desk,
// an "=" filter is `?field=value` and any other operator is `?field=["op", value]` (JSON);
// `order_by=field desc` and `page=N` (from 1) are the sort and the page. Everything goes
// through the public API: the meta and, as Frappe's own desk does, the RPC methods
// frappe.desk.reportview.get (rows), get_count and get_group_by_count.

import { get, del, rpc, resource, ApiError } from "../api.js";
import { h, clear, link, notice, button, slug, formatCount } from "../ui.js";

const PAGE = 20;

// reportview.get's compressed answer ({keys, values: [[...]]}, or [] when no row matched) as
// one object per row.
export function uncompress(message) {
  if (!message || !Array.isArray(message.keys) || !Array.isArray(message.values)) return [];
  return message.values.map((row) => Object.fromEntries(message.keys.map((k, i) => [k, row[i]])));
}
const RESERVED = new Set(["order_by", "page"]);
// What a filter may compare: the API's operators. "is set" / "is not set" are ["is", "set"].
const OPERATORS = [
  ["=", "equals"], ["!=", "not equals"], ["like", "like"], ["not like", "not like"],
  [">", ">"], ["<", "<"], [">=", ">="], ["<=", "<="], ["in", "in"], ["not in", "not in"],
  ["is set", "is set"], ["is not set", "is not set"],
];
// Field types that hold no value (layout) or that a list cannot show in a cell.
const NO_VALUE = new Set(["Section Break", "Column Break", "Tab Break", "HTML", "Button", "Image", "Fold",
  "Heading", "Table", "Table MultiSelect", "Password", "Attach Image", "Signature", "Geolocation"]);
const GROUPABLE = new Set(["Select", "Link"]);
const STANDARD = [
  { fieldname: "name", label: "ID", fieldtype: "Data" },
  { fieldname: "owner", label: "Created By", fieldtype: "Link", options: "User" },
  { fieldname: "creation", label: "Created On", fieldtype: "Datetime" },
  { fieldname: "modified", label: "Last Updated On", fieldtype: "Datetime" },
];

// --- the URL <-> the view's state ----------------------------------------------------------

export function stateFromQuery(search, fieldnames) {
  const params = new URLSearchParams(search);
  const filters = [];
  for (const [key, raw] of params) {
    if (RESERVED.has(key) || !fieldnames.has(key)) continue;
    let op = "=", value = raw;
    if (raw.startsWith("[") && raw.endsWith("]")) {
      try {
        const parsed = JSON.parse(raw);
        if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[0] === "string") [op, value] = parsed;
      } catch { /* a plain value that happens to look like a list */ }
    }
    if (op === "is") op = value === "not set" ? "is not set" : "is set";
    if (!OPERATORS.some(([o]) => o === op)) continue;
    filters.push({ field: key, op, value: Array.isArray(value) ? value.join(", ") : String(value ?? "") });
  }
  const [sortField, sortDir] = (params.get("order_by") || "").split(" ");
  const page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  return { filters, sort: fieldnames.has(sortField) ? { field: sortField, dir: sortDir === "asc" ? "asc" : "desc" } : null, page };
}

function queryOf(state) {
  const params = new URLSearchParams();
  for (const f of state.filters) {
    if (f.op === "=") params.append(f.field, f.value);
    else params.append(f.field, JSON.stringify(apiFilter(f).slice(1)));
  }
  if (state.sort) params.set("order_by", `${state.sort.field} ${state.sort.dir}`);
  if (state.page > 1) params.set("page", String(state.page));
  const text = params.toString();
  return text ? `?${text}` : "";
}

// One filter row as the API takes it: [field, operator, value].
function apiFilter(f) {
  if (f.op === "is set") return [f.field, "is", "set"];
  if (f.op === "is not set") return [f.field, "is", "not set"];
  if (f.op === "in" || f.op === "not in") return [f.field, f.op, f.value.split(",").map((v) => v.trim()).filter(Boolean)];
  return [f.field, f.op, f.value];
}

// --- the view --------------------------------------------------------------------------------

export async function render(container, { doctype }) {
  let meta;
  try {
    meta = (await get(`/api/v2/doctype/${encodeURIComponent(doctype)}/meta`)).data;
  } catch (error) {
    container.append(h("h1", {}, doctype), failure(error, doctype));
    return;
  }
  if (meta.istable || meta.issingle) {
    container.append(h("h1", {}, doctype), notice(meta.istable
      ? `${doctype} is a child table: its rows are edited inside the documents that hold them.`
      : `${doctype} is a single document.`, "info"),
    meta.issingle ? link(`/app/${slug(doctype)}/${encodeURIComponent(doctype)}`, `Open ${doctype}`) : null);
    return;
  }
  const fields = (meta.fields || []).filter((f) => f.fieldname && !NO_VALUE.has(f.fieldtype));
  const byName = new Map([...STANDARD, ...fields].map((f) => [f.fieldname, f]));
  const columns = [STANDARD[0]];
  const title = meta.title_field && byName.get(meta.title_field);
  if (title && title.fieldname !== "name") columns.push(title);
  for (const f of fields) if (f.in_list_view && !columns.includes(f)) columns.push(f);
  if (columns.length === 1) columns.push(STANDARD[3]);
  const defaultSort = { field: byName.has(meta.sort_field) ? meta.sort_field : "modified",
    dir: (meta.sort_order || "desc").toLowerCase() === "asc" ? "asc" : "desc" };

  const state = stateFromQuery(location.search, new Set(byName.keys()));
  const view = new ListView(container, doctype, meta, { fields, byName, columns, defaultSort, state, titleField: title });
  await view.load();
}

function failure(error, doctype) {
  if (error instanceof ApiError && error.status === 403) {
    return h("div", { class: "notice error", role: "alert" }, `You do not have permission to read ${doctype}. `,
      link("/app", "Back to Home"));
  }
  return notice(error.message || String(error), "error");
}

class ListView {
  constructor(container, doctype, meta, { fields, byName, columns, defaultSort, state, titleField }) {
    Object.assign(this, { container, doctype, meta, fields, byName, columns, defaultSort, state, titleField });
    this.base = `/app/${slug(doctype)}`;
    this.token = 0;
    this.draw();
  }

  get sort() { return this.state.sort || this.defaultSort; }

  // The frame: toolbar, filter bar, sidebar and the table's place; load() fills them in.
  draw() {
    const id = `list-${slug(this.doctype)}`;
    this.status = h("div", { class: "list-status", "aria-live": "polite" });
    this.countEl = h("span", { class: "count list-count" });
    this.deleteBtn = button("Delete", () => this.bulkDelete(), { kind: "danger", disabled: true });
    this.filterRows = h("div", { class: "filter-rows" });
    this.filterForm = h("form", { class: "filters panel", "aria-label": "Filters",
      onsubmit: (e) => { e.preventDefault(); this.applyFilters(); } },
    this.filterRows,
    h("div", { class: "filter-actions" },
      button("Add filter", () => this.addFilterRow(undefined, true)),
      button("Apply filters", null, { kind: "primary", type: "submit" }),
      button("Clear", () => { this.state.filters = []; this.change(); }, { kind: "link" })));
    this.groups = h("div", { class: "group-by" });
    this.tableWrap = h("div", { class: "table-wrap", id, tabindex: "-1" });
    this.pager = h("nav", { class: "pager", "aria-label": "Pages" });
    this.container.append(
      h("div", { class: "toolbar" },
        h("h1", {}, this.doctype, " ", this.countEl),
        this.deleteBtn,
        h("a", { class: "btn primary", href: `${this.base}/new`, "data-link": "" }, `New ${this.doctype}`)),
      this.filterForm,
      h("div", { class: "list-layout" },
        h("aside", { class: "sidebar panel", "aria-label": "Group by" }, h("h2", {}, "Group by"), this.groups),
        h("div", { class: "list-main" }, this.status, this.tableWrap, this.pager)));
    this.drawFilters();
    this.drawGroups();
  }

  // --- filters ---------------------------------------------------------------------------------

  drawFilters() {
    clear(this.filterRows);
    const rows = this.state.filters.length ? this.state.filters : [];
    rows.forEach((f) => this.addFilterRow(f));
    if (!rows.length) this.filterRows.append(h("p", { class: "muted filter-empty" }, "No filters: showing every row you may read."));
  }

  addFilterRow(f, focus = false) {
    f = f || { field: (this.columns[1] || this.columns[0]).fieldname, op: "=", value: "" };
    const empty = this.filterRows.querySelector(".filter-empty");
    if (empty) empty.remove();
    const n = (this.filterSeq = (this.filterSeq || 0) + 1);
    const fieldSel = h("select", { id: `ff-${n}`, name: "field" },
      [...this.byName.values()].map((fd) => h("option", { value: fd.fieldname, selected: fd.fieldname === f.field },
        fd.label || fd.fieldname)));
    const opSel = h("select", { id: `fo-${n}`, name: "op" },
      OPERATORS.map(([o, label]) => h("option", { value: o, selected: o === f.op }, label)));
    const value = h("input", { id: `fv-${n}`, name: "value", value: f.value, autocomplete: "off",
      placeholder: "value" });
    const syncValue = () => {
      value.hidden = opSel.value === "is set" || opSel.value === "is not set";
      value.placeholder = opSel.value.endsWith("in") ? "a, b, c" : opSel.value.includes("like") ? "%text%" : "value";
    };
    opSel.addEventListener("change", syncValue);
    syncValue();
    const row = h("div", { class: "filter-row" },
      h("label", { for: fieldSel.id, class: "sr-only" }, "Filter field"), fieldSel,
      h("label", { for: opSel.id, class: "sr-only" }, "Operator"), opSel,
      h("label", { for: value.id, class: "sr-only" }, "Value"), value,
      button("Remove", () => { row.remove(); }, { kind: "link", "aria-label": "Remove filter" }));
    this.filterRows.append(row);
    if (focus) fieldSel.focus();
  }

  applyFilters() {
    this.state.filters = [...this.filterRows.querySelectorAll(".filter-row")].map((row) => ({
      field: row.querySelector("[name=field]").value,
      op: row.querySelector("[name=op]").value,
      value: row.querySelector("[name=value]").value.trim(),
    }));
    this.change();
  }

  // A group-by click: one filter on that field (an empty group is "is not set", as NULLs are).
  setFilter(field, value) {
    this.state.filters = this.state.filters.filter((f) => f.field !== field);
    this.state.filters.push(value === "" ? { field, op: "is not set", value: "" } : { field, op: "=", value });
    this.change();
  }

  // Filters or sort changed: back to page 1 unless the page itself changed.
  // The control that was used is drawn anew: the focus goes back to its successor (by its
  // data-key), or to the table when that is gone or disabled.
  change({ keepPage = false } = {}) {
    if (!keepPage) this.state.page = 1;
    const key = document.activeElement && document.activeElement.dataset && document.activeElement.dataset.key;
    history.pushState(null, "", this.base + queryOf(this.state));
    this.drawFilters();
    this.load().then(() => {
      const again = key && this.container.querySelector(`[data-key="${CSS.escape(key)}"]`);
      (again && !again.disabled ? again : this.tableWrap).focus({ preventScroll: true });
    });
  }

  // --- loading -------------------------------------------------------------------------------

  apiFilters() {
    return this.state.filters.map(apiFilter);
  }

  async load() {
    const token = ++this.token;  // a slow earlier answer must not draw over a later one
    this.status.replaceChildren();
    this.tableWrap.setAttribute("aria-busy", "true");
    const filters = this.apiFilters();
    const start = (this.state.page - 1) * PAGE;
    const fields = this.columns.map((c) => c.fieldname);
    try {
      const [rows, count] = await Promise.all([
        rpc("frappe.desk.reportview.get", { doctype: this.doctype, fields, filters,
          order_by: `${this.sort.field} ${this.sort.dir}`, start, page_length: PAGE }, "GET").then(uncompress),
        rpc("frappe.desk.reportview.get_count", { doctype: this.doctype, filters }, "GET"),
      ]);
      if (token !== this.token) return;
      this.count = count;
      this.drawTable(rows, start);
      this.drawPager(rows.length, start, count);
    } catch (error) {
      if (token !== this.token) return;
      clear(this.tableWrap);
      clear(this.pager);
      this.countEl.textContent = "";
      this.status.append(failure(error, this.doctype));
    } finally {
      this.tableWrap.removeAttribute("aria-busy");
    }
    this.loadGroupCounts();
  }

  drawTable(rows, start) {
    this.selected = new Set();
    this.updateDelete();
    const sort = this.sort;
    const all = h("input", { type: "checkbox", id: "select-all", "aria-label": "Select all rows on this page",
      onchange: (e) => {
        for (const box of this.tableWrap.querySelectorAll("tbody input[type=checkbox]")) {
          box.checked = e.target.checked;
          box.dispatchEvent(new Event("change"));
        }
      } });
    const head = h("tr", {}, h("th", { class: "check" }, all), this.columns.map((c) => {
      const active = sort.field === c.fieldname;
      const next = active && sort.dir === "desc" ? "asc" : "desc";
      return h("th", { scope: "col", "aria-sort": active ? (sort.dir === "asc" ? "ascending" : "descending") : "none" },
        h("button", { type: "button", class: "sort", dataset: { key: `sort:${c.fieldname}` }, title: `Sort by ${c.label || c.fieldname}`,
          onclick: () => { this.state.sort = { field: c.fieldname, dir: active ? next : "asc" }; this.change(); } },
        c.label || c.fieldname, h("span", { class: "arrow", "aria-hidden": "true" }, active ? (sort.dir === "asc" ? " ▲" : " ▼") : "")));
    }));
    const body = rows.map((row, i) => {
      const href = `${this.base}/${encodeURIComponent(row.name)}`;
      const box = h("input", { type: "checkbox", "aria-label": `Select ${row.name}`, value: row.name,
        onchange: (e) => { e.target.checked ? this.selected.add(row.name) : this.selected.delete(row.name); this.updateDelete(); } });
      return h("tr", {}, h("td", { class: "check" }, box), this.columns.map((c, j) =>
        h("td", { class: j === 0 ? "name" : cellClass(c) },
          j === 0 || c === this.titleField ? link(href, display(row[c.fieldname], c) || row.name) : display(row[c.fieldname], c))));
    });
    const table = h("table", { class: "list" },
      h("caption", { class: "sr-only" }, `${this.doctype}, rows ${start + 1} to ${start + rows.length}`),
      h("thead", {}, head), h("tbody", {}, body));
    clear(this.tableWrap).append(rows.length ? table
      : h("p", { class: "empty" }, this.state.filters.length ? "No rows match these filters." : `No ${this.doctype} yet.`));
  }

  drawPager(shown, start, count) {
    this.countEl.textContent = `${formatCount(count)}`;
    this.countEl.setAttribute("aria-label", `${count} documents`);
    const last = Math.max(1, Math.ceil(count / PAGE));
    const go = (page) => { this.state.page = page; this.change({ keepPage: true }); };
    clear(this.pager).append(
      h("span", { class: "showing" }, shown
        ? `Showing ${formatCount(start + 1)}–${formatCount(start + shown)} of ${formatCount(count)}`
        : `Showing 0 of ${formatCount(count)}`),
      button("Previous", () => go(this.state.page - 1), { disabled: this.state.page <= 1, dataset: { key: "previous" } }),
      h("span", { class: "page-no" }, `Page ${this.state.page} of ${formatCount(last)}`),
      button("Next", () => go(this.state.page + 1), { disabled: start + shown >= count, dataset: { key: "next" } }));
  }

  updateDelete() {
    const n = this.selected ? this.selected.size : 0;
    this.deleteBtn.disabled = n === 0;
    this.deleteBtn.textContent = n ? `Delete ${n}` : "Delete";
  }

  // --- group by ------------------------------------------------------------------------------

  drawGroups() {
    const candidates = [...this.fields.filter((f) => GROUPABLE.has(f.fieldtype)), STANDARD[1]];
    this.groupFields = candidates.slice(0, 12);  // a long list of counts helps nobody
    clear(this.groups).append(...this.groupFields.map((f, i) => {
      const list = h("ul", { class: "group-values" });
      const details = h("details", { open: i < 3 && f.fieldtype === "Select" ? true : undefined, dataset: { field: f.fieldname } },
        h("summary", {}, f.label || f.fieldname), list);
      details.addEventListener("toggle", () => { if (details.open && !details.dataset.loaded) this.groupCounts(details, f, list); });
      return details;
    }));
  }

  loadGroupCounts() {
    for (const d of this.groups.querySelectorAll("details")) {
      delete d.dataset.loaded;
      const f = this.byName.get(d.dataset.field);
      if (d.open) this.groupCounts(d, f, d.querySelector("ul"));
    }
  }

  async groupCounts(details, field, list) {
    details.dataset.loaded = "1";
    const token = this.token;
    list.replaceChildren(h("li", { class: "muted" }, "Loading…"));
    try {
      // Frappe's sidebar method: [{name: value, count}], largest groups first.
      const groups = await rpc("frappe.desk.reportview.get_group_by_count", {
        doctype: this.doctype, field: field.fieldname, current_filters: this.apiFilters() }, "GET");
      const rows = groups.slice(0, 10).map((g) => ({ value: g.name, count: g.count }));
      if (token !== this.token) return;
      const active = this.state.filters.find((f) => f.field === field.fieldname && (f.op === "=" || f.op === "is not set"));
      list.replaceChildren(...(rows.length ? rows.map((r) => {
        const value = r.value === null || r.value === undefined ? "" : String(r.value);
        const on = Boolean(active) && (active.op === "=" ? active.value === value : value === "");
        return h("li", {}, h("button", { type: "button", class: `group-value${on ? " active" : ""}`, "aria-pressed": on ? "true" : "false",
          onclick: () => this.setFilter(field.fieldname, value) },
        h("span", { class: "label" }, value || "(not set)"), h("span", { class: "count" }, formatCount(r.count))));
      }) : [h("li", { class: "muted" }, "No values")]));
    } catch (error) {
      list.replaceChildren(h("li", { class: "muted" }, error.message || "Counts unavailable"));
    }
  }

  // --- bulk delete ---------------------------------------------------------------------------

  async bulkDelete() {
    const names = [...this.selected];
    if (!names.length || !confirm(`Delete ${names.length} ${this.doctype}? This cannot be undone.`)) return;
    this.deleteBtn.disabled = true;
    const failed = [];
    for (const name of names) {  // one at a time: each answer says what happened to that row
      try {
        await del(resource(this.doctype, name));
      } catch (error) {
        failed.push(`${name}: ${error.message || error.status}`);
      }
    }
    await this.load();
    const done = names.length - failed.length;
    if (done) this.status.append(notice(`Deleted ${done} ${this.doctype}.`, "ok"));
    if (failed.length) this.status.append(notice(`Could not delete ${failed.length}:\n${failed.join("\n")}`, "error"));
  }
}

function display(value, field) {
  if (value === null || value === undefined || value === "") return "";
  if (field.fieldtype === "Check") return value ? "Yes" : "No";
  if (field.fieldtype === "Datetime" && typeof value === "string") return value.slice(0, 16);
  if (typeof value === "string" && /^(Text Editor|HTML Editor|Small Text|Text|Long Text)$/.test(field.fieldtype)) {
    // An inert document: nothing in it loads or runs; only its text is shown.
    const text = new DOMParser().parseFromString(value, "text/html").body.textContent.trim();
    return text.length > 120 ? text.slice(0, 119) + "…" : text;
  }
  return String(value);
}

function cellClass(field) {
  return /^(Int|Float|Currency|Percent)$/.test(field.fieldtype) ? "num" : undefined;
}
