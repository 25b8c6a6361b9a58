// The form view's widgets: one control per Frappe fieldtype, with its label, mandatory marker,
// read-only rendering and an error message beside it.
//
// control(df, value, opts) -> { el, focus(), setError(text), value() } where opts =
// { readOnly, onChange(value), doc (for Dynamic Link), compact (a grid cell: no visible label),
//   label (accessible name for compact controls), id }.
// Values are kept as the API speaks them: numbers for Int/Float/Check, "YYYY-MM-DD HH:MM:SS"
// for Datetime, null for empty.

import { call, rpc } from "../api.js";
import { h, link, slug } from "../ui.js";

export const LAYOUT = new Set(["Section Break", "Column Break", "Tab Break", "Fold", "Heading", "Button"]);
export const TEXTS = new Set(["Text", "Small Text", "Long Text", "Text Editor", "Code", "JSON", "HTML Editor",
  "Markdown Editor"]);
const NUMBERS = new Set(["Int", "Float", "Currency", "Percent", "Rating", "Duration"]);
const DISPLAY_ONLY = new Set(["Read Only", "HTML", "Image"]);

let counter = 0;
const uid = (prefix) => `${prefix}-${++counter}`;

// The text of stored HTML (Text Editor values), parsed in an inert document: never run, never shown as markup.
export function plainText(value) {
  if (value === null || value === undefined) return "";
  const text = String(value);
  if (!/[<&]/.test(text)) return text;
  return new DOMParser().parseFromString(text, "text/html").body.textContent || "";
}

export function isEmpty(value) {
  return value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length);
}

// Frappe's "YYYY-MM-DD HH:MM:SS(.ffffff)" <-> the native picker's "YYYY-MM-DDTHH:MM:SS".
const toLocalInput = (v) => (v ? String(v).replace(" ", "T").slice(0, 19) : "");
const fromLocalInput = (v) => (v ? (v.length === 16 ? `${v}:00` : v).replace("T", " ") : null);

function number(df, text) {
  if (text === "" || text === null) return null;
  const n = df.fieldtype === "Int" || df.fieldtype === "Rating" || df.fieldtype === "Duration"
    ? parseInt(text, 10) : parseFloat(text);
  return Number.isNaN(n) ? null : n;
}

export function displayValue(df, value) {
  if (isEmpty(value)) return "";
  if (df.fieldtype === "Check") return Number(value) ? "Yes" : "No";
  if (df.fieldtype === "Password") return "••••••";
  if (df.fieldtype === "Text Editor" || df.fieldtype === "HTML" || df.fieldtype === "Read Only") return plainText(value);
  return String(value);
}

// The read-only rendering of a value: plain text, a link for Link values and attached files.
function readOnlyNode(df, value, doc) {
  if (df.fieldtype === "Check") {
    return h("input", { type: "checkbox", checked: !!Number(value), disabled: true, "aria-readonly": "true" });
  }
  if (isEmpty(value)) return h("span", { class: "ro-value empty" }, "—");
  const target = df.fieldtype === "Link" ? df.options : df.fieldtype === "Dynamic Link" ? doc && doc[df.options] : null;
  if (target) return h("span", { class: "ro-value" }, link(`/app/${slug(target)}/${encodeURIComponent(value)}`, String(value)));
  if (df.fieldtype === "Attach" || df.fieldtype === "Attach Image") {
    return h("span", { class: "ro-value" }, h("a", { href: String(value), target: "_blank", rel: "noopener" }, String(value)));
  }
  const pre = TEXTS.has(df.fieldtype) && df.fieldtype !== "Text Editor";
  return h(pre ? "pre" : "span", { class: "ro-value" }, displayValue(df, value));
}

export function control(df, value, opts = {}) {
  const id = opts.id || uid(`f-${df.fieldname}`);
  const errorId = `${id}-error`;
  const error = h("p", { class: "field-error", id: errorId, hidden: true });
  const wide = TEXTS.has(df.fieldtype) || df.fieldtype === "HTML" ? " wide" : "";
  const wrap = h("div", { class: `field ft-${slug(df.fieldtype)}${wide}`, dataset: { fieldname: df.fieldname } });
  const readOnly = opts.readOnly || DISPLAY_ONLY.has(df.fieldtype);
  let current = value;
  const changed = (v) => { current = v; if (opts.onChange) opts.onChange(v); };
  const labelText = df.label || df.fieldname;
  const aria = opts.compact ? { "aria-label": opts.label || labelText } : {};
  let input;

  if (readOnly) {
    const node = readOnlyNode(df, value, opts.doc);
    if (opts.compact) return finish(node);
    const labelEl = h("span", { class: "label", id: `${id}-label` }, labelText);
    node.setAttribute && node.setAttribute("aria-labelledby", `${id}-label`);
    wrap.classList.add("read-only");
    wrap.append(labelEl, node);
    if (df.description) wrap.append(h("p", { class: "field-help" }, df.description));
    return { el: wrap, focus() {}, setError: setErr, value: () => current };
  }

  const common = { id, name: df.fieldname, "aria-describedby": errorId, "aria-required": df.reqd ? "true" : null, ...aria };
  const ft = df.fieldtype;
  if (ft === "Check") {
    input = h("input", { ...common, type: "checkbox", checked: !!Number(value), onchange: () => changed(input.checked ? 1 : 0) });
  } else if (ft === "Select") {
    const options = String(df.options || "").split("\n");
    if (options[0] !== "" && !df.reqd) options.unshift("");
    if (!isEmpty(value) && !options.includes(String(value))) options.push(String(value));
    input = h("select", { ...common, onchange: () => changed(input.value === "" ? null : input.value) },
      options.map((o) => h("option", { value: o, selected: String(value ?? "") === o }, o || "\u00a0")));
  } else if (NUMBERS.has(ft)) {
    input = h("input", { ...common, type: "number", step: ft === "Int" || ft === "Rating" || ft === "Duration" ? "1" : "any",
      inputmode: ft === "Int" ? "numeric" : "decimal", value: isEmpty(value) ? "" : String(value),
      oninput: () => changed(number(df, input.value)) });
  } else if (ft === "Date") {
    input = h("input", { ...common, type: "date", value: value ? String(value).slice(0, 10) : "",
      oninput: () => changed(input.value || null) });
  } else if (ft === "Datetime") {
    input = h("input", { ...common, type: "datetime-local", step: "1", value: toLocalInput(value),
      oninput: () => changed(fromLocalInput(input.value)) });
  } else if (ft === "Time") {
    input = h("input", { ...common, type: "time", step: "1", value: value ? String(value).slice(0, 8) : "",
      oninput: () => changed(input.value ? (input.value.length === 5 ? `${input.value}:00` : input.value) : null) });
  } else if (TEXTS.has(ft)) {
    const code = ft === "Code" || ft === "JSON" || ft === "HTML Editor";
    input = h("textarea", { ...common, class: code ? "code" : null, rows: opts.compact ? 1 : ft === "Small Text" ? 3 : 5,
      spellcheck: code ? "false" : null, oninput: () => changed(input.value === "" ? null : input.value) });
    input.value = isEmpty(value) ? "" : String(value);  // a textarea's value is a property, not an attribute
  } else if (ft === "Password") {
    // Write-only: the stored secret is never shown; an untouched field sends nothing.
    input = h("input", { ...common, type: "password", autocomplete: "new-password",
      placeholder: isEmpty(value) ? "" : "unchanged", oninput: () => changed(input.value || undefined) });
    current = undefined;
  } else if (ft === "Link" || ft === "Dynamic Link") {
    input = linkInput(df, value, common, opts, changed, (text) => setErr(text));
  } else if (ft === "Attach" || ft === "Attach Image") {
    input = attachInput(df, value, common, opts, changed);
  } else {
    input = h("input", { ...common, type: df.options === "Email" ? "email" : "text", value: isEmpty(value) ? "" : String(value),
      maxlength: df.length ? String(df.length) : null, inputmode: df.options === "Phone" ? "tel" : null,
      oninput: () => changed(input.value === "" ? null : input.value) });
  }
  if (opts.compact) return finish(input);
  const label = h("label", { for: id }, labelText,
    df.reqd ? h("span", { class: "reqd", "aria-hidden": "true", title: "Mandatory" }, " *") : null);
  if (ft === "Check") wrap.append(h("div", { class: "check" }, input.control || input, label));
  else wrap.append(label, input);
  if (df.description) wrap.append(h("p", { class: "field-help" }, df.description));
  wrap.append(error);
  return { el: wrap, focus: () => (input.control || input).focus(), setError: setErr, value: () => current };

  function finish(node) {
    wrap.classList.add("compact");
    wrap.append(node, error);
    return { el: wrap, focus: () => (node.control || node).focus && (node.control || node).focus(), setError: setErr,
      value: () => current };
  }

  function setErr(text) {
    wrap.classList.toggle("invalid", !!text);
    error.textContent = text || "";
    error.hidden = !text;
    const target = wrap.querySelector("input, select, textarea");
    if (target) target.setAttribute("aria-invalid", text ? "true" : "false");
  }
}

// Link and Dynamic Link: a combobox whose list fills from frappe.desk.search.search_link as one
// types; arrow keys move through it, Enter picks, Escape closes. Leaving it checks the value with
// frappe.client.validate_link and says so beside the field when no such document exists.
function linkInput(df, value, common, opts, changed, report) {
  const listId = `${common.id}-list`;
  const list = h("ul", { class: "link-options", role: "listbox", id: listId, hidden: true,
    "aria-label": `${df.label || df.fieldname} suggestions` });
  const input = h("input", { ...common, type: "text", role: "combobox", autocomplete: "off", "aria-autocomplete": "list",
    "aria-expanded": "false", "aria-controls": listId, value: isEmpty(value) ? "" : String(value) });
  const box = h("div", { class: "link-field" }, input, list);
  box.control = input;
  let items = [];
  let active = -1;
  let timer;
  let asked = 0;
  const target = () => (df.fieldtype === "Link" ? df.options : opts.doc && opts.doc[df.options]);

  const close = () => { list.hidden = true; input.setAttribute("aria-expanded", "false"); input.removeAttribute("aria-activedescendant"); active = -1; };
  const pick = (v) => { input.value = v; changed(v); close(); };
  const mark = (i) => {
    active = i;
    [...list.children].forEach((li, k) => li.setAttribute("aria-selected", k === i ? "true" : "false"));
    if (i >= 0 && list.children[i]) {
      input.setAttribute("aria-activedescendant", list.children[i].id);
      list.children[i].scrollIntoView({ block: "nearest" });
    }
  };
  async function search() {
    const doctype = target();
    if (!doctype) return;
    const ticket = ++asked;
    let rows = [];
    try {
      rows = await rpc("frappe.desk.search.search_link", { doctype, txt: input.value, page_length: 10 }, "GET") || [];
    } catch { rows = []; }
    if (ticket !== asked || document.activeElement !== input) return;
    items = rows.map((r) => (typeof r === "string" ? { value: r } : r));
    list.replaceChildren(...items.map((r, i) => h("li", { role: "option", id: `${listId}-${i}`, "aria-selected": "false",
      onmousedown: (e) => { e.preventDefault(); pick(r.value); } },
      h("span", { class: "opt-value" }, r.value),
      r.description && r.description !== r.value ? h("span", { class: "opt-desc" }, plainText(r.description)) : null)));
    if (!items.length) list.append(h("li", { class: "none", role: "option", "aria-disabled": "true" }, `No ${doctype} found`));
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    active = -1;
  }
  input.addEventListener("input", () => {
    changed(input.value === "" ? null : input.value);
    clearTimeout(timer);
    timer = setTimeout(search, 150);
  });
  input.addEventListener("focus", () => { clearTimeout(timer); timer = setTimeout(search, 50); });
  input.addEventListener("blur", () => { clearTimeout(timer); asked++; close(); check(); });
  async function check() {
    const doctype = target();
    const text = input.value;
    if (!doctype || !text) { report(null); return; }
    let found;
    try {
      found = await rpc("frappe.client.validate_link", { doctype, docname: text }, "GET");
    } catch { return; }  // the save reports what the server refuses
    if (input.value !== text) return;  // typed on since
    report(found && found.name ? null : `${text} is not a ${doctype} that exists`);
  }
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (list.hidden) { search(); return; }
      const n = items.length;
      if (n) mark(e.key === "ArrowDown" ? (active + 1) % n : (active - 1 + n) % n);
    } else if (e.key === "Enter" && !list.hidden && active >= 0) {
      e.preventDefault();
      pick(items[active].value);
    } else if (e.key === "Escape" && !list.hidden) {
      e.preventDefault();
      e.stopPropagation();
      close();
    }
  });
  return box;
}

// Attach / Attach Image: upload with upload_file (multipart), then the field holds the file's URL.
function attachInput(df, value, common, opts, changed) {
  const current = h("span", { class: "attach-current" });
  const file = h("input", { ...common, type: "file", accept: df.fieldtype === "Attach Image" ? "image/*" : null });
  const status = h("span", { class: "attach-status", role: "status" });
  const clearBtn = h("button", { type: "button", class: "btn link", onclick: () => show(null) }, "Remove");
  const box = h("div", { class: "attach" }, current, clearBtn, file, status);
  box.control = file;
  function show(url, initial = false) {
    current.replaceChildren(url ? h("a", { href: url, target: "_blank", rel: "noopener" }, url.split("/").pop()) : "No file");
    clearBtn.hidden = !url;
    if (!initial) changed(url);
  }
  file.addEventListener("change", async () => {
    if (!file.files.length) return;
    const form = new FormData();
    form.append("file", file.files[0]);
    form.append("is_private", "0");
    if (opts.doctypeOfDoc && opts.nameOfDoc) {
      form.append("doctype", opts.doctypeOfDoc);
      form.append("docname", opts.nameOfDoc);
      form.append("fieldname", df.fieldname);
    }
    status.textContent = "Uploading…";
    try {
      const data = await call("POST", "/api/method/upload_file", { form });
      show(data.message.file_url);
      status.textContent = "Uploaded";
    } catch (error) {
      status.textContent = `Upload failed: ${error.message}`;
    }
    file.value = "";
  });
  show(isEmpty(value) ? null : String(value), true);
  return box;
}
