// The DocType editor (System Managers): /app/doctype-editor lists the custom DocTypes;
// /app/doctype-editor/new creates one (name, module, submittable, field rows and permission
// rows) with POST /api/resource/DocType and custom: 1; /app/doctype-editor/<name> shows a
// DocType's fields and adds new ones with PUT /api/resource/DocType/<name> (the whole field
// table is sent: a child table in a PUT replaces the rows it had). The server validates;
// its messages are shown as they come.

import { boot, get, post, put, resource } from "../api.js";
import { h, clear, button, notice, toast, link, slug } from "../ui.js";
import { navigate } from "../app.js";

const FIELDTYPES = ["Data", "Int", "Float", "Currency", "Percent", "Check", "Date", "Datetime", "Time", "Select",
  "Link", "Small Text", "Text", "Long Text", "Text Editor", "Code", "JSON", "Attach", "Attach Image", "Password",
  "Read Only", "Phone", "Table", "Section Break", "Column Break", "Tab Break"];
const PERM_RIGHTS = ["read", "write", "create", "delete", "submit", "cancel", "amend"];
const BASE = "/app/doctype-editor";

// Frappe's scrub: "Due Date" -> "due_date".
export const fieldnameOf = (label) =>
  label.trim().toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 140);

export async function render(container, params = {}) {
  if (!boot.is_system_manager) {
    container.append(h("h1", {}, "DocTypes"),
      notice("Only a System Manager may create or change DocTypes.", "error"));
    return;
  }
  const name = (params.rest || []).join("/");
  if (!name) return listPage(container);
  if (name === "new") return newPage(container);
  return editPage(container, name);
}

async function listPage(container) {
  const data = await get(resource("DocType"), { fields: ["name", "module", "is_submittable", "modified"],
    filters: [["custom", "=", 1]], order_by: "modified desc", limit_page_length: 500 });
  container.append(h("div", { class: "toolbar" }, h("h1", {}, "Custom DocTypes"),
    link(`${BASE}/new`, h("span", { class: "btn primary" }, "New DocType"))));
  if (!data.data.length) {
    container.append(h("div", { class: "panel empty" }, h("p", {}, "No custom DocTypes yet."),
      link(`${BASE}/new`, "Create the first one")));
    return;
  }
  container.append(h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Module"), h("th", {}, "Submittable"))),
    h("tbody", {}, data.data.map((d) => h("tr", {},
      h("td", {}, link(`${BASE}/${encodeURIComponent(d.name)}`, d.name)),
      h("td", {}, d.module || ""), h("td", {}, d.is_submittable ? "Yes" : "No")))))));
}

async function choices() {
  const [modules, roles] = await Promise.all([
    get(resource("Module Def"), { fields: ["name"], order_by: "name asc", limit_page_length: 0 }),
    get(resource("Role"), { fields: ["name"], order_by: "name asc", limit_page_length: 0 }),
  ]);
  return { modules: modules.data.map((m) => m.name), roles: roles.data.map((r) => r.name) };
}

function field(labelText, id, control, hint) {
  return h("div", { class: "dt-field" }, h("label", { for: id }, labelText), control,
    hint ? h("small", { class: "muted" }, hint) : null);
}

async function newPage(container) {
  const { modules, roles } = await choices();
  const messages = h("div", { "aria-live": "polite" });
  const name = h("input", { id: "dt-name", required: true, maxlength: "61", autocomplete: "off" });
  const module = h("input", { id: "dt-module", required: true, list: "dt-modules", value: "Custom" });
  const submittable = h("input", { id: "dt-submittable", type: "checkbox" });
  const fields = fieldsGrid([]);
  const perms = permsGrid(roles, [{ role: "System Manager", read: 1, write: 1, create: 1, delete: 1 }]);
  const form = h("form", { class: "dt-form", novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    clear(messages);
    const body = { name: name.value.trim(), module: module.value.trim(), custom: 1,
      is_submittable: submittable.checked ? 1 : 0, fields: fields.rows(), permissions: perms.rows() };
    const problems = [];
    if (!body.name) problems.push("Name is required.");
    if (!body.module) problems.push("Module is required.");
    problems.push(...fields.problems());
    if (problems.length) return messages.append(notice(problems.join("\n"), "error"));
    const save = form.querySelector("button[type=submit]");
    save.disabled = true;
    try {
      const saved = await post(resource("DocType"), body);
      toast(`DocType ${saved.data.name} created`);
      navigate(`${BASE}/${encodeURIComponent(saved.data.name)}`);
    } catch (error) {
      save.disabled = false;
      messages.append(notice(error.message, "error"));
      messages.scrollIntoView({ block: "nearest" });
    }
  } },
  messages,
  h("section", { class: "panel dt-basics" },
    field("Name", "dt-name", name, "Title case, as its documents' kind: \"Book Loan\"."),
    field("Module", "dt-module", module),
    h("datalist", { id: "dt-modules" }, modules.map((m) => h("option", { value: m }))),
    h("div", { class: "dt-check" }, submittable, h("label", { for: "dt-submittable" }, "Is submittable"))),
  h("h2", {}, "Fields"), fields.el,
  h("h2", {}, "Permissions"), perms.el,
  h("div", { class: "toolbar dt-actions" }, h("button", { type: "submit", class: "btn primary" }, "Create DocType"),
    link(BASE, "Cancel")));
  container.append(h("div", { class: "toolbar" }, h("h1", {}, "New DocType")), form);
  fields.add();
  name.focus();
}

async function editPage(container, name) {
  const data = (await get(resource("DocType", name))).data;
  const existing = data.fields || [];
  const messages = h("div", { "aria-live": "polite" });
  const fields = fieldsGrid(existing.map((f) => f.fieldname));
  const form = h("form", { class: "dt-form", novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    clear(messages);
    const added = fields.rows();
    const problems = fields.problems();
    if (!added.length) problems.push("Add a field first.");
    if (problems.length) return messages.append(notice(problems.join("\n"), "error"));
    try {
      await put(resource("DocType", name), { fields: [...existing, ...added] });
      toast(`${added.length} field${added.length === 1 ? "" : "s"} added to ${name}`);
      const view = h("div", { class: "view" });
      await editPage(view, name);
      container.replaceWith(view);
    } catch (error) {
      messages.append(notice(error.message, "error"));
    }
  } },
  messages, h("h2", {}, "Add fields"), fields.el,
  h("div", { class: "toolbar dt-actions" }, h("button", { type: "submit", class: "btn primary" }, "Save fields")));
  container.append(
    h("div", { class: "toolbar" }, h("h1", {}, name),
      // A full load: the desk's list of DocTypes is read once per page load.
      h("a", { href: `/app/${slug(name)}`, class: "btn" }, "Open list"),
      link(`/app/permission-manager?doctype=${encodeURIComponent(name)}`, h("span", { class: "btn" }, "Permissions"))),
    h("p", { class: "muted" }, `Module ${data.module || "—"}`, data.is_submittable ? " · submittable" : "",
      data.custom ? " · custom" : " · built in"),
    h("h2", {}, "Fields"),
    existing.length ? h("div", { class: "table-wrap" }, h("table", { class: "dt-existing" },
      h("thead", {}, h("tr", {}, ["Label", "Fieldname", "Type", "Options", "Mandatory", "In list"].map((t) => h("th", {}, t)))),
      h("tbody", {}, existing.map((f) => h("tr", {},
        h("td", {}, f.label || ""), h("td", {}, h("code", {}, f.fieldname)), h("td", {}, f.fieldtype),
        h("td", {}, (f.options || "").split("\n").join(", ")), h("td", {}, f.reqd ? "Yes" : ""), h("td", {}, f.in_list_view ? "Yes" : ""))))))
      : h("p", { class: "muted" }, "No fields yet."),
    form);
  fields.add();
}

// Editable rows of new fields; `taken` are fieldnames the DocType already has.
function fieldsGrid(taken) {
  const tbody = h("tbody");
  let n = 0;
  const add = () => {
    const i = ++n;
    const labelIn = h("input", { "aria-label": `Field ${i} label`, class: "f-label" });
    const nameIn = h("input", { "aria-label": `Field ${i} fieldname`, class: "f-name", spellcheck: "false" });
    let edited = false;
    labelIn.addEventListener("input", () => { if (!edited) nameIn.value = fieldnameOf(labelIn.value); });
    nameIn.addEventListener("input", () => { edited = nameIn.value !== ""; });
    const type = h("select", { "aria-label": `Field ${i} type`, class: "f-type" },
      FIELDTYPES.map((t) => h("option", { value: t }, t)));
    // Suggestions of DocType names (for Link and Table); Select takes its choices, comma separated.
    const options = h("input", { "aria-label": `Field ${i} options`, class: "f-options",
      placeholder: "DocType, or choices", list: "dt-doctypes" });
    const reqd = h("input", { type: "checkbox", "aria-label": `Field ${i} mandatory`, class: "f-reqd" });
    const inList = h("input", { type: "checkbox", "aria-label": `Field ${i} in list view`, class: "f-list" });
    const tr = h("tr", { class: "field-row" },
      h("td", { "data-label": "Label" }, labelIn), h("td", { "data-label": "Fieldname" }, nameIn),
      h("td", { "data-label": "Type" }, type), h("td", { "data-label": "Options" }, options),
      h("td", { class: "c check", "data-label": "Mandatory" }, reqd),
      h("td", { class: "c check", "data-label": "In list" }, inList),
      h("td", { class: "end" }, button("Remove", () => tr.remove(), { kind: "link", "aria-label": `Remove field ${i}` })));
    tbody.append(tr);
    return tr;
  };
  const read = () => [...tbody.querySelectorAll("tr.field-row")].map((tr) => ({
    label: tr.querySelector(".f-label").value.trim(), fieldname: tr.querySelector(".f-name").value.trim(),
    fieldtype: tr.querySelector(".f-type").value,
    // Select options are one per line in Frappe; a comma list typed on one line is split the same way.
    options: tr.querySelector(".f-type").value === "Select"
      ? tr.querySelector(".f-options").value.split(/\s*[,\n]\s*/).filter(Boolean).join("\n")
      : tr.querySelector(".f-options").value.trim(),
    reqd: tr.querySelector(".f-reqd").checked ? 1 : 0, in_list_view: tr.querySelector(".f-list").checked ? 1 : 0,
  })).filter((f) => f.label || f.fieldname);
  const doctypes = h("datalist", { id: "dt-doctypes" });
  get(resource("DocType"), { fields: ["name"], order_by: "name asc", limit_page_length: 0 })
    .then((data) => doctypes.append(...data.data.map((d) => h("option", { value: d.name }))))
    .catch(() => {});  // only suggestions: typing the name works without them
  const el = h("div", {}, doctypes,
    h("div", { class: "table-wrap" }, h("table", { class: "dt-grid" },
      h("thead", {}, h("tr", {}, ["Label", "Fieldname", "Type", "Options", "Mandatory", "In list"].map((t) => h("th", {}, t)),
        h("th", {}, h("span", { class: "sr-only" }, "Remove")))),
      tbody)),
    h("div", { class: "toolbar grid-actions" }, button("Add field", () => add().querySelector("input").focus())));
  return {
    el, add,
    rows: () => read().map((f) => Object.fromEntries(Object.entries(f).filter(([, v]) => v !== ""))),
    problems: () => {
      const out = [];
      const seen = new Set(taken);
      for (const f of read()) {
        if (!f.fieldname) out.push(`Field "${f.label}" needs a fieldname.`);
        else if (seen.has(f.fieldname)) out.push(`Fieldname ${f.fieldname} appears more than once.`);
        seen.add(f.fieldname);
        if (["Link", "Table"].includes(f.fieldtype) && !f.options) {
          out.push(`Field "${f.label || f.fieldname}" (${f.fieldtype}) needs a DocType in Options.`);
        }
      }
      return out;
    },
  };
}

function permsGrid(roles, initial) {
  const tbody = h("tbody");
  let n = 0;
  const add = (row = {}) => {
    const i = ++n;
    const role = h("select", { "aria-label": `Permission ${i} role`, class: "p-role" },
      roles.map((r) => h("option", { value: r, selected: r === row.role }, r)));
    const tr = h("tr", { class: "perm-row" }, h("td", { class: "wide", "data-label": "Role" }, role),
      PERM_RIGHTS.map((right) => h("td", { class: "c check", "data-label": right[0].toUpperCase() + right.slice(1) },
        h("input", { type: "checkbox", dataset: { right }, checked: Boolean(row[right]),
          "aria-label": `Permission ${i} ${right}` }))),
      h("td", { class: "end" },
        button("Remove", () => tr.remove(), { kind: "link", "aria-label": `Remove permission ${i}` })));
    tbody.append(tr);
    return tr;
  };
  initial.forEach(add);
  const el = h("div", {},
    h("div", { class: "table-wrap" }, h("table", { class: "dt-grid" },
      h("thead", {}, h("tr", {}, h("th", {}, "Role"),
        PERM_RIGHTS.map((r) => h("th", { class: "c" }, r[0].toUpperCase() + r.slice(1))),
        h("th", {}, h("span", { class: "sr-only" }, "Remove")))),
      tbody)),
    h("div", { class: "toolbar grid-actions" }, button("Add permission", () => add().querySelector("select").focus())));
  return {
    el,
    rows: () => [...tbody.querySelectorAll("tr.perm-row")].map((tr) => ({
      role: tr.querySelector(".p-role").value, permlevel: 0,
      ...Object.fromEntries([...tr.querySelectorAll("input[data-right]")].map((c) => [c.dataset.right, c.checked ? 1 : 0])),
    })),
  };
}
