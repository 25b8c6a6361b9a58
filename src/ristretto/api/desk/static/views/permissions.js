// The Role Permissions Manager (/app/permission-manager?doctype=<name>, System Managers): a
// matrix of roles x rights per permlevel for one DocType. It shows the effective rows: the
// DocType's Custom DocPerm rows if it has any (they replace its own rows wholesale), else the
// DocPerm rows of its definition. Every change is one call of Frappe's permission_manager
// methods, which copy the standard rows into Custom DocPerm first when needed, in the same
// transaction as the change (a failure leaves no partial set), and keep the last rule.

import { boot, get, rpc, resource } from "../api.js";
import { h, clear, button, notice, toast } from "../ui.js";

export const RIGHTS = ["read", "write", "create", "delete", "submit", "cancel", "amend", "report", "export",
  "share", "print", "email", "if_owner"];
const LABELS = { if_owner: "Only if creator" };
const PM = "frappe.core.page.permission_manager.permission_manager";
const SUBMIT_ONLY = new Set(["submit", "cancel", "amend"]);

const label = (right) => LABELS[right] || right[0].toUpperCase() + right.slice(1);

export async function render(container) {
  container.append(h("div", { class: "toolbar" }, h("h1", {}, "Role Permissions Manager")));
  if (!boot.is_system_manager) {
    container.append(notice("Only a System Manager may manage role permissions. " +
      "Ask one to give you the System Manager role.", "error"));
    return;
  }
  const [doctypes, names] = await Promise.all([
    get(resource("DocType"), { fields: ["name", "is_submittable"], filters: [["istable", "=", 0]],
      order_by: "name asc", limit_page_length: 0 }),
    // The DocTypes a rule may be set on and the enabled roles (never Administrator, who has
    // every right whatever the rows say).
    rpc(`${PM}.get_roles_and_doctypes`, {}, "GET"),
  ]);
  const settable = new Set(names.doctypes);
  const state = { doctype: new URLSearchParams(location.search).get("doctype") || "",
    doctypes: doctypes.data.filter((d) => settable.has(d.name)),
    roles: [...names.roles].sort(), rows: [], custom: false };
  const picker = h("select", { id: "perm-doctype", onchange: () => choose(picker.value) },
    h("option", { value: "" }, "Select a DocType…"),
    state.doctypes.map((d) => h("option", { value: d.name, selected: d.name === state.doctype }, d.name)));
  const body = h("div", { class: "perm-body" });
  container.append(h("div", { class: "perm-picker" }, h("label", { for: "perm-doctype" }, "DocType"), picker), body);

  async function choose(doctype) {
    state.doctype = doctype;
    const url = doctype ? `?doctype=${encodeURIComponent(doctype)}` : "";
    history.replaceState(null, "", location.pathname + url);
    await load(state, body);
  }
  if (state.doctype) await load(state, body);
  else body.append(h("p", { class: "muted" }, "Pick a DocType to see who may do what with its documents."));
}

async function load(state, body) {
  clear(body).append(h("p", { class: "loading" }, "Loading…"));
  if (!state.doctype) return clear(body);
  try {
    const [rows, custom] = await Promise.all([
      rpc(`${PM}.get_permissions`, { doctype: state.doctype }, "GET"),
      get(resource("Custom DocPerm"), { filters: [["parent", "=", state.doctype]], fields: ["name"],
        limit_page_length: 1 }),
    ]);
    state.rows = rows || [];
    state.custom = custom.data.length > 0;
    const meta = state.doctypes.find((d) => d.name === state.doctype);
    state.submittable = Boolean(meta && meta.is_submittable);
    draw(state, body);
  } catch (error) {
    clear(body).append(notice(error.message, "error"));
  }
}

// The rule a call names: Frappe identifies a row by its role, level and "only if creator".
const ruleOf = (state, row) => ({ doctype: state.doctype, role: row.role, permlevel: Number(row.permlevel || 0),
  if_owner: row.if_owner ? 1 : 0 });

function draw(state, body) {
  const levels = [...new Set(state.rows.map((r) => Number(r.permlevel || 0)))].sort((a, b) => a - b);
  const status = state.custom
    ? notice(`${state.doctype} uses custom permissions (Custom DocPerm); they replace the rows of its definition.`, "info")
    : notice(`${state.doctype} uses the permissions of its definition. Your first change copies them into Custom DocPerm.`, "info");
  const rights = RIGHTS.filter((r) => state.submittable || !SUBMIT_ONLY.has(r));
  clear(body).append(status);
  if (!state.rows.length) body.append(notice("No role has any right on this DocType yet.", "info"));
  for (const level of levels) {
    const rows = state.rows.filter((r) => Number(r.permlevel || 0) === level);
    body.append(h("h2", {}, `Level ${level}`, level === 0 ? " (the document)" : " (fields at this level)"),
      h("div", { class: "table-wrap" }, h("table", { class: "perm-matrix" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Role"),
          rights.map((r) => h("th", { scope: "col" }, label(r))), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Remove")))),
        h("tbody", {}, rows.map((row) => matrixRow(state, body, row, rights, level))))));
  }
  body.append(addRowForm(state, body));
  if (state.custom) {
    body.append(h("div", { class: "toolbar perm-reset" },
      button("Restore the DocType's own permissions", () => restore(state, body), { kind: "danger" })));
  }
}

function matrixRow(state, body, row, rights, level) {
  return h("tr", {},
    h("th", { scope: "row" }, row.role),
    rights.map((right) => h("td", { class: "perm-cell" }, h("input", {
      type: "checkbox", checked: Boolean(row[right]), "aria-label": `${row.role} ${label(right)} (level ${level})`,
      onchange: (event) => change(state, body, row, right, event.target),
    }))),
    h("td", {}, button("Remove", () => removeRow(state, body, row), {
      kind: "link", "aria-label": `Remove ${row.role} (level ${level})` })));
}

async function change(state, body, row, right, box) {
  const value = box.checked ? 1 : 0;
  const wasCustom = state.custom;
  box.disabled = true;
  try {
    const answer = await rpc(`${PM}.update`, { ...ruleOf(state, row), ptype: right, value });
    row[right] = value;
    // "refresh": the standard rows were copied into Custom DocPerm first.
    if (answer === "refresh") state.custom = true;
    toast(`${row.role}: ${label(right)} ${value ? "granted" : "removed"}`);
  } catch (error) {
    box.checked = !value;
    toast(error.message, "error");
  }
  box.disabled = false;
  if (!wasCustom && state.custom) {
    // Now custom: say so and offer the way back, keeping the keyboard focus on the same box.
    const name = box.getAttribute("aria-label");
    draw(state, body);
    const again = [...body.querySelectorAll("input[type=checkbox]")].find((b) => b.getAttribute("aria-label") === name);
    if (again) again.focus();
  }
}

async function removeRow(state, body, row) {
  // As in Frappe: with no rule left the DocType's own rows would silently apply again.
  if (state.rows.length === 1) return toast("There must be at least one permission rule.", "error");
  if (!confirm(`Remove all rights of ${row.role} at level ${row.permlevel || 0}?`)) return;
  try {
    await rpc(`${PM}.remove`, ruleOf(state, row));
    toast(`${row.role} removed`);
  } catch (error) {
    toast(error.message, "error");
  }
  await load(state, body);
}

function addRowForm(state, body) {
  const role = h("select", { id: "perm-add-role", required: true },
    h("option", { value: "" }, "Select a role…"), state.roles.map((r) => h("option", { value: r }, r)));
  const level = h("input", { id: "perm-add-level", type: "number", min: "0", max: "9", value: "0", required: true });
  const error = h("div");
  const form = h("form", { class: "panel perm-add", onsubmit: async (event) => {
    event.preventDefault();
    clear(error);
    const permlevel = Number(level.value);
    if (!role.value) return error.append(notice("Pick a role to add.", "error"));
    if (state.rows.some((r) => r.role === role.value && Number(r.permlevel || 0) === permlevel)) {
      return error.append(notice(`${role.value} already has a row at level ${permlevel}.`, "error"));
    }
    try {
      // A new row grants reading only; tick the other rights in the matrix.
      await rpc(`${PM}.add`, { parent: state.doctype, role: role.value, permlevel });
      toast(`${role.value} added at level ${permlevel}`);
      await load(state, body);
    } catch (e) {
      error.append(notice(e.message, "error"));
    }
  } },
  h("h2", {}, "Add a role"),
  h("div", { class: "perm-add-fields" },
    h("div", {}, h("label", { for: "perm-add-role" }, "Role"), role),
    h("div", {}, h("label", { for: "perm-add-level" }, "Level"), level),
    h("button", { type: "submit", class: "btn primary" }, "Add role")),
  error);
  return form;
}

async function restore(state, body) {
  if (!confirm(`Delete every Custom DocPerm row of ${state.doctype}? Its own permissions apply again.`)) return;
  try {
    await rpc(`${PM}.reset`, { doctype: state.doctype });
    toast("Standard permissions restored");
  } catch (error) {
    toast(error.message, "error");
  }
  await load(state, body);
}
