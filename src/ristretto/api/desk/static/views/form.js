// The form view: one document of any DocType, drawn from its meta (GET /api/v2/doctype/<dt>/meta)
// in field_order with its tab, section and column breaks. As Frappe's own desk does, it loads
// the document with frappe.desk.form.load.getdoc (the document and its docinfo: comments,
// versions, attachments) and saves, submits, cancels and updates it with
// frappe.desk.form.save.savedocs (the whole document and an action); amend is the document
// method, delete DELETE /api/resource. The server decides: the rights computed here from the
// meta's permissions only choose which buttons and inputs to offer; every refusal the server
// sends is shown. Server validation messages go to the top of the form and beside the fields
// they name.

import { boot, call, get, post, del, resource } from "../api.js";
import { h, link, notice, toast, button, slug } from "../ui.js";
import { FORM_EXTENSIONS } from "./extensions.js";
import { control, isEmpty, LAYOUT } from "./fields.js";
import { grid } from "./grid.js";
import { attachments, comments, versions } from "./timeline.js";

const RIGHTS = ["read", "write", "create", "delete", "submit", "cancel", "amend"];
const TABLES = new Set(["Table", "Table MultiSelect"]);

// The app's router follows history changes (popstate); the view does not import app.js, whose
// URL carries a version and would load a second router.
function go(href, replace = false) {
  if (replace) history.replaceState(null, "", href);
  else history.pushState(null, "", href);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

const level = (df) => Number(df.permlevel || 0);
// The form on screen with changes not yet saved: leaving the page asks first.
let unsaved = null;
window.addEventListener("beforeunload", (event) => {
  if (unsaved && unsaved()) event.preventDefault();
});
// The tab last shown for a document, kept when the form redraws after a save or a submit.
let shownTab = { key: null, index: 0 };

// What the user's roles grant on this document by the meta's permission rules (if_owner rules
// only on their own documents); writeLevels are the permlevels whose fields they may change.
export function rightsOf(meta, doc) {
  const all = boot.user === "Administrator";
  const out = { writeLevels: new Set() };
  for (const r of RIGHTS) out[r] = all;
  if (all) {
    for (const f of meta.fields || []) out.writeLevels.add(level(f));
    return out;
  }
  const roles = new Set(boot.roles);
  const mine = !doc || !doc.owner || doc.owner === boot.user;
  for (const p of meta.permissions || []) {
    if (!roles.has(p.role) || (Number(p.if_owner) && !mine)) continue;
    const lv = level(p);
    if (lv === 0) for (const r of RIGHTS) if (Number(p[r])) out[r] = true;
    if (Number(p.write)) out.writeLevels.add(lv);
  }
  if (!out.write) out.writeLevels.clear();
  return out;
}

// Fields in field_order (the rest after, in their own order).
function ordered(meta) {
  const fields = (meta.fields || []).filter((f) => f && f.fieldname);
  const order = Array.isArray(meta.field_order) ? meta.field_order : [];
  const byName = new Map(fields.map((f) => [f.fieldname, f]));
  const out = order.map((n) => byName.get(n)).filter(Boolean);
  const seen = new Set(out);
  return out.concat(fields.filter((f) => !seen.has(f)));
}

// Tabs of sections of columns of fields, empty ones dropped.
function layout(meta, doc) {
  const tabs = [{ label: "Details", sections: [] }];
  let section = null;
  const newSection = (df) => { section = { label: df ? df.label : null, columns: [[]] }; tabs.at(-1).sections.push(section); };
  newSection(null);
  for (const df of ordered(meta)) {
    if (df.fieldtype === "Tab Break") { tabs.push({ label: df.label || "Details", sections: [] }); newSection(null); }
    else if (df.fieldtype === "Section Break") newSection(df);
    else if (df.fieldtype === "Column Break") section.columns.push([]);
    else if (!LAYOUT.has(df.fieldtype) && !Number(df.hidden) && !((Number(df.read_only) || df.fieldtype === "Read Only") && isEmpty(doc[df.fieldname]))) {
      section.columns.at(-1).push(df);
    }
  }
  for (const tab of tabs) {
    for (const s of tab.sections) s.columns = s.columns.filter((c) => c.length);
    tab.sections = tab.sections.filter((s) => s.columns.length);
  }
  return tabs.filter((t) => t.sections.length);
}

// A new form's temporary name, as Frappe's desk makes it ("new-todo-1"): dropped by savedocs,
// which answers with the real name.
let newCount = 0;

function newDoc(meta) {
  const doc = { doctype: meta.name, docstatus: 0, __islocal: 1, name: `new-${slug(meta.name)}-${++newCount}` };
  for (const f of meta.fields || []) {
    if (LAYOUT.has(f.fieldtype) || isEmpty(f.default) || String(f.default).startsWith("__") || /^(Today|now)$/i.test(f.default)) continue;
    doc[f.fieldname] = ["Int", "Check", "Float", "Currency", "Percent"].includes(f.fieldtype) ? Number(f.default) : f.default;
  }
  return doc;
}

// The server's messages, one per line (Frappe's _server_messages, else the error's message).
function messagesOf(error) {
  const body = error.body || {};
  if (body._server_messages) {
    try {
      const list = JSON.parse(body._server_messages).map((m) => { try { return JSON.parse(m).message || m; } catch { return m; } });
      const out = list.map((m) => String(m).replace(/<[^>]*>/g, "").trim()).filter(Boolean);
      if (out.length) return out;
    } catch { /* the message below */ }
  }
  return String(error.message || "").split("\n").filter(Boolean);
}

// Which fields a message names: Frappe's "Value missing for ToDo: Description", "Items Row #2:
// Value missing for: Qty", "Data missing in table: Items", "Status cannot be ...", and the
// fieldnames a MandatoryError lists after "[DocType, name]: ".
export function locate(error, fields, childFields) {
  const byLabel = (list, text) => list.find((f) => (f.label || f.fieldname) === text.trim() || f.fieldname === text.trim());
  const prefixed = (list, text) => list.filter((f) => f.label && (text.startsWith(`${f.label} `) || text.startsWith(`${f.label}:`)))
    .sort((a, b) => b.label.length - a.label.length)[0];
  const top = [];
  const rows = [];
  for (const raw of messagesOf(error)) {
    const msg = raw.replace(/^Error:\s*/, "");
    let m = /^(.+?) Row #(\d+):\s*(.*)$/.exec(msg);
    if (m) {
      const table = byLabel(fields, m[1]);
      const kids = table ? childFields[table.fieldname] || [] : [];
      const missing = /Value missing for:?\s*(.+)$/.exec(m[3]);
      const child = missing ? byLabel(kids, missing[1]) : prefixed(kids, m[3]);
      if (table) { rows.push({ table: table.fieldname, idx: Number(m[2]), fieldname: child && child.fieldname, message: m[3] }); continue; }
    }
    m = /Value missing for [^:]*:\s*(.+)$/.exec(msg) || /Data missing in table:\s*(.+)$/.exec(msg);
    const df = m ? byLabel(fields, m[1]) : prefixed(fields, msg);
    if (df) top.push({ fieldname: df.fieldname, message: m ? (/^Data/.test(msg) ? "At least one row is required" : "Value missing") : msg });
  }
  const exc = error.body && typeof error.body.exception === "string" ? error.body.exception : "";
  const listed = /MandatoryError: \[[^\]]*\]: (.+)$/.exec(exc);
  if (listed) {
    for (const fn of listed[1].split(",").map((s) => s.trim())) {
      if (fields.some((f) => f.fieldname === fn) && !top.some((t) => t.fieldname === fn)) top.push({ fieldname: fn, message: "Value missing" });
    }
  }
  return { top, rows };
}

export async function render(container, { doctype, name }) {
  const isNew = name === null || name === undefined;
  let meta;
  try {
    meta = (await get(`/api/v2/doctype/${encodeURIComponent(doctype)}/meta`)).data;
  } catch (error) {
    container.append(denial(error, doctype, name));
    return;
  }
  const childMetas = {};
  await Promise.all((meta.fields || []).filter((f) => TABLES.has(f.fieldtype) && f.options).map(async (f) => {
    try { childMetas[f.fieldname] = (await get(`/api/v2/doctype/${encodeURIComponent(f.options)}/meta`)).data; } catch { /* shown read-only below */ }
  }));
  let loaded = { doc: null, docinfo: null };
  if (isNew) {
    loaded.doc = newDoc(meta);
  } else {
    try {
      loaded = await getdoc(doctype, name);
    } catch (error) {
      container.append(denial(error, doctype, name));
      return;
    }
  }
  await draw(container, meta, childMetas, loaded.doc, isNew, loaded.docinfo);
}

// frappe.desk.form.load.getdoc: `docs` (the document, child rows included) and `docinfo` at
// the top of the body, not in `message`.
async function getdoc(doctype, name) {
  const body = await get("/api/method/frappe.desk.form.load.getdoc", { doctype, name });
  return { doc: body.docs[0], docinfo: body.docinfo || {} };
}

// frappe.desk.form.save.savedocs: the whole document (fields left out are cleared, `modified`
// is compared with the stored one) and the action; the saved document is `docs[0]`.
async function savedocs(doc, action) {
  const body = await call("POST", "/api/method/frappe.desk.form.save.savedocs", { json: { doc: JSON.stringify(doc), action } });
  return { doc: body.docs[0], docinfo: body.docinfo || {} };
}

function denial(error, doctype, name) {
  const what = name ? `${doctype} ${name}` : doctype;
  const text = error.status === 403 ? `You do not have permission to open ${what}.`
    : error.status === 404 ? `${what} was not found.` : `${what} could not be loaded.`;
  return h("div", { class: "form-view" },
    h("nav", { class: "breadcrumb", "aria-label": "Breadcrumb" }, link("/app", "Home"), " / ", link(`/app/${slug(doctype)}`, doctype)),
    h("h1", {}, name || `New ${doctype}`),
    notice(error.message && error.message !== text ? `${text}\n${error.message}` : text, "error"));
}

async function draw(container, meta, childMetas, doc, isNew, docinfo) {
  const doctype = meta.name;
  const rights = rightsOf(meta, doc);
  const submittable = !!Number(meta.is_submittable);
  const docstatus = Number(doc.docstatus || 0);
  const mayEdit = (isNew ? rights.create : rights.write) && docstatus === 0;
  const editable = (df) => !Number(df.read_only) && rights.writeLevels.has(level(df))
    && (isNew ? rights.create : rights.write) && (docstatus === 0 || (docstatus === 1 && Number(df.allow_on_submit)));
  const values = { ...doc };
  const controls = new Map();
  const grids = new Map();
  let dirty = false;
  const listHref = `/app/${slug(doctype)}`;

  const status = h("span", { class: "status-badge" });
  const notices = h("div", { class: "form-notices", "aria-live": "polite" });
  const showStatus = () => {
    const [text, kind] = dirty || isNew ? ["Not saved", "dirty"] : docstatus === 1 ? ["Submitted", "submitted"]
      : docstatus === 2 ? ["Cancelled", "cancelled"] : submittable ? ["Draft", "draft"] : ["Saved", "saved"];
    status.textContent = text;
    status.className = `status-badge ${kind}`;
  };
  unsaved = () => container.isConnected && container.isDirty();
  const touch = () => { dirty = true; showStatus(); if (saveBtn) saveBtn.disabled = false; };

  const actions = h("div", { class: "form-actions" });
  const busy = async (btn, work) => {
    for (const b of actions.querySelectorAll("button")) b.disabled = true;
    try { await work(); } finally { if (btn.isConnected) for (const b of actions.querySelectorAll("button")) b.disabled = false; }
  };
  const anyEditable = isNew || meta.fields.some((f) => !LAYOUT.has(f.fieldtype) && editable(f));
  const saveBtn = anyEditable ? button("Save", () => busy(saveBtn, save), { kind: "primary", "aria-keyshortcuts": "Control+S" }) : null;
  if (saveBtn) actions.append(saveBtn);
  if (!isNew && submittable && docstatus === 0 && rights.submit) actions.append(button("Submit", (e) => busy(e.target, submit), { kind: "primary" }));
  if (!isNew && docstatus === 1 && rights.cancel) actions.append(button("Cancel", (e) => busy(e.target, () => lifecycle("cancel")), { kind: "danger" }));
  if (!isNew && docstatus === 2 && rights.amend) actions.append(button("Amend", (e) => busy(e.target, () => lifecycle("amend")), { kind: "primary" }));
  const single = !!Number(meta.issingle);
  if (!isNew && !single && docstatus !== 1 && rights.delete) actions.append(button("Delete", (e) => busy(e.target, remove), { kind: "danger" }));

  const title = isNew ? `New ${doctype}` : single ? doctype : String((meta.title_field && doc[meta.title_field]) || doc.name);
  const head = h("div", { class: "toolbar form-toolbar" },
    h("h1", {}, h("span", { class: "title" }, title), !isNew && title !== String(doc.name) ? h("span", { class: "docname" }, doc.name) : null),
    status, actions);
  showStatus();
  if (!isNew && !mayEdit && docstatus === 0) notices.append(notice("You may read this document but not change it.", "info"));
  if (isNew && !rights.create) notices.append(notice(`You may not create ${doctype} documents; the server will refuse to save this.`, "error"));
  if (docstatus === 1) notices.append(notice("This document is submitted: only fields allowed on submit can change.", "info"));
  if (docstatus === 2) notices.append(notice("This document is cancelled. Amend it to make a corrected copy.", "info"));

  // --- fields -------------------------------------------------------------------------------
  const tabs = layout(meta, doc);
  const panels = [];
  const tabButtons = [];
  const fieldNode = (df) => {
    if (TABLES.has(df.fieldtype)) {
      const child = childMetas[df.fieldname];
      if (!child) return h("p", { class: "muted" }, `${df.label || df.fieldname}: you may not see these rows.`);
      const g = grid(df, values[df.fieldname] || [], child, { readOnly: !editable(df), onChange: touch });
      grids.set(df.fieldname, g);
      return g.el;
    }
    const ctl = control(df, values[df.fieldname], { readOnly: !editable(df), doc: values, id: `f-${df.fieldname}`,
      doctypeOfDoc: isNew ? null : doctype, nameOfDoc: isNew ? null : doc.name,
      onChange: (v) => { if (v === undefined) delete values[df.fieldname]; else values[df.fieldname] = v; touch(); } });
    controls.set(df.fieldname, ctl);
    return ctl.el;
  };
  tabs.forEach((tab, t) => {
    const panel = h("div", { class: "tab-panel", role: tabs.length > 1 ? "tabpanel" : null, id: `tab-${t}`,
      "aria-labelledby": tabs.length > 1 ? `tab-${t}-btn` : null, hidden: t > 0 });
    for (const s of tab.sections) {
      const id = `sec-${t}-${panel.childNodes.length}`;
      panel.append(h("section", { class: "form-section", "aria-labelledby": s.label ? id : null },
        s.label ? h("h2", { id }, s.label) : null,
        h("div", { class: `columns cols-${s.columns.length}` },
          s.columns.map((col) => h("div", { class: "column" }, col.map(fieldNode))))));
    }
    panels.push(panel);
  });
  const tabKey = isNew ? null : `${doctype}\n${doc.name}`;
  let currentTab = 0;
  const keepTab = (next) => { shownTab = { key: `${doctype}\n${next}`, index: currentTab }; };
  const select = (t, focus = false) => {
    currentTab = t;
    shownTab = { key: tabKey, index: t };
    panels.forEach((p, i) => { p.hidden = i !== t; });
    tabButtons.forEach((b, i) => { b.setAttribute("aria-selected", i === t ? "true" : "false"); b.tabIndex = i === t ? 0 : -1; });
    if (focus) tabButtons[t].focus();
  };
  let tabList = null;
  if (tabs.length > 1) {
    tabList = h("div", { class: "tabs", role: "tablist", "aria-label": `${doctype} sections` },
      tabs.map((tab, t) => {
        const b = h("button", { type: "button", role: "tab", id: `tab-${t}-btn`, "aria-controls": `tab-${t}`,
          "aria-selected": t === 0 ? "true" : "false", tabindex: t === 0 ? "0" : "-1", onclick: () => select(t) }, tab.label);
        b.addEventListener("keydown", (e) => {
          const n = tabs.length;
          const next = { ArrowRight: (t + 1) % n, ArrowLeft: (t - 1 + n) % n, Home: 0, End: n - 1 }[e.key];
          if (next !== undefined) { e.preventDefault(); select(next, true); }
        });
        tabButtons.push(b);
        return b;
      }));
  }
  if (tabKey && shownTab.key === tabKey && shownTab.index < tabs.length) select(shownTab.index);
  const form = h("form", { class: "form-body panel", novalidate: true, "aria-label": title,
    onsubmit: (e) => { e.preventDefault(); if (saveBtn) saveBtn.click(); } }, tabList, panels);
  form.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "s") { e.preventDefault(); if (saveBtn && !saveBtn.disabled) saveBtn.click(); }
  });

  // A desk link followed with unsaved changes asks first (the router skips a prevented click).
  // The container outlives a redraw (after a save): one listener, asking the latest form.
  container.isDirty = () => dirty;
  if (!container.guarded) {
    container.guarded = true;
    container.addEventListener("click", (event) => {
      const a = event.target.closest && event.target.closest("a[data-link]");
      if (a && container.isDirty() && !confirm("Leave this form? Your changes are not saved.")) event.preventDefault();
    });
  }
  container.append(h("div", { class: "form-view" },
    h("nav", { class: "breadcrumb", "aria-label": "Breadcrumb" }, link("/app", "Home"), single ? null : [" / ", link(listHref, doctype)]),
    head, notices, form));

  // --- actions ------------------------------------------------------------------------------
  // The whole document as savedocs takes it (a field left out is cleared; the server puts back
  // what the user may not write): the loaded one with the form's values and grid rows, its
  // `modified` for the timestamp check, and for a new one `__islocal` and its temporary name.
  function wholeDoc() {
    const out = { ...values, doctype };
    for (const [fieldname, g] of grids) out[fieldname] = g.rows().map((r) => ({ ...r }));
    if (isNew) { out.__islocal = 1; out.name = doc.name; } else out.modified = doc.modified;
    return out;
  }

  function clearErrors() {
    notices.querySelectorAll(".notice.error").forEach((n) => n.remove());
    for (const c of controls.values()) c.setError("");
    for (const g of grids.values()) g.setErrors([]);
  }

  function showError(error, action) {
    clearErrors();
    const fields = meta.fields.filter((f) => !LAYOUT.has(f.fieldtype));
    const childFields = Object.fromEntries(Object.entries(childMetas).map(([k, m]) => [k, m.fields || []]));
    const found = locate(error, fields, childFields);
    // MandatoryError's own text ("[ToDo, new]: description") repeats the messages for programs.
    const said = messagesOf(error).filter((m) => !/^\[[^\]]*\]: /.test(m)).map((m) => m.replace(/^Error:\s*/, "")).join("\n") || error.message;
    const text = error.status === 403 ? `Not permitted to ${action}: ${said}`
      : error.body && error.body.exc_type === "TimestampMismatchError"
        ? `${said}\nThe document changed since you opened it: reload to see the new version.` : said;
    const box = notice(text || `Could not ${action}`, "error");
    notices.prepend(box);
    let first = null;
    for (const e of found.top) {
      const ctl = controls.get(e.fieldname) || grids.get(e.fieldname);
      if (!ctl) continue;
      if (ctl.setError) ctl.setError(e.message); else ctl.setErrors([{ message: e.message }]);
      first = first || ctl;
    }
    const byTable = {};
    for (const r of found.rows) (byTable[r.table] = byTable[r.table] || []).push(r);
    for (const [table, errs] of Object.entries(byTable)) {
      const g = grids.get(table);
      if (g) { g.setErrors(errs); first = first || g; }
    }
    if (first) {
      const panel = first.el.closest(".tab-panel");
      const t = panels.indexOf(panel);
      if (t > 0 || (t === 0 && tabButtons.length)) select(t);
      first.focus();
    } else {
      box.tabIndex = -1;
      box.focus();
    }
  }

  async function reload(next, nextInfo) {
    container.replaceChildren();
    await draw(container, meta, childMetas, next, false, nextInfo);
  }

  // Save (a submitted document's allow-on-submit fields: Update), with the form's changes.
  async function save() {
    clearErrors();
    try {
      const saved = await savedocs(wholeDoc(), docstatus === 1 ? "Update" : "Save");
      const data = saved.doc;
      toast(`Saved ${data.name}`);
      if (isNew) { keepTab(data.name); go(`${listHref}/${encodeURIComponent(data.name)}`, true); }
      else await reload(data, saved.docinfo);
      return data;
    } catch (error) {
      showError(error, "save");
      return null;
    }
  }

  // Submit saves the form's changes with the submission (one savedocs call, as in Frappe).
  async function submit() {
    if (!confirm(`Permanently submit ${doc.name}?`)) return;
    await lifecycle("submit", false);
  }

  async function lifecycle(method, ask = true) {
    if (ask && method === "cancel" && !confirm(`Permanently cancel ${doc.name}?`)) return;
    clearErrors();
    try {
      if (method === "amend") {
        const data = (await post(resource(doctype, doc.name), { run_method: "amend" })).data;
        toast(`Amended as ${data && data.name}`);
        keepTab(data.name);
        go(`${listHref}/${encodeURIComponent(data.name)}`);
        return;
      }
      const saved = await savedocs(wholeDoc(), method === "submit" ? "Submit" : "Cancel");
      toast(method === "submit" ? "Submitted" : "Cancelled");
      await reload(saved.doc, saved.docinfo);
    } catch (error) {
      showError(error, method);
    }
  }

  async function remove() {
    if (!confirm(`Delete ${doc.name} permanently?`)) return;
    try {
      await del(resource(doctype, doc.name));
      toast(`Deleted ${doc.name}`);
      go(listHref);
    } catch (error) {
      showError(error, "delete");
    }
  }

  if (saveBtn && !isNew) saveBtn.disabled = true;  // nothing to save until something changes
  if (isNew) {
    const first = form.querySelector("input:not([type=hidden]), select, textarea");
    if (first) queueMicrotask(() => first.focus());
    return;
  }

  // --- below a saved document: its docinfo (comments, history, attachments), extensions -----
  const info = docinfo || {};
  const below = h("div", { class: "form-below" });
  container.append(below);
  below.append(...[
    comments(doctype, doc.name, info, { canComment: rights.write, refresh: async () => (await getdoc(doctype, doc.name)).docinfo }),
    Number(meta.track_changes) ? versions(info, meta) : null,
    attachments(info),
  ].filter(Boolean));
  const extension = FORM_EXTENSIONS[doctype];
  if (extension) {
    const box = h("div", { class: "form-extension" });
    container.append(box);
    try {
      await extension(box, { doctype, name: doc.name, doc, reload: async () => { const l = await getdoc(doctype, doc.name); await reload(l.doc, l.docinfo); } });
    } catch (error) {
      box.append(notice(error.message || String(error), "error"));
    }
  }
}
