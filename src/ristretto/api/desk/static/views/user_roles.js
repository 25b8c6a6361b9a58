// A user's "Roles" section on the User form: every role as a checkbox, the user's own ticked;
// "Save roles" writes the user's role rows (the `roles` table, which the form itself hides as
// Frappe's does) through the API, so only those allowed to change users may change them.

import { get, put, resource } from "../api.js";
import { h, button, notice, toast } from "../ui.js";

// Roles every user holds without a row, and the one no row may give.
const IMPLICIT = new Set(["All", "Guest", "Desk User", "Administrator"]);

export async function rolesSection(container, { name, reload }) {
  const section = h("section", { class: "panel user-roles", "aria-labelledby": "user-roles-title" });
  container.append(section);
  let user, roles;
  try {
    [user, roles] = await Promise.all([
      get(resource("User", name)),
      get(resource("Role"), { fields: ["name", "disabled"], limit_page_length: 0, order_by: "name asc" }),
    ]);
  } catch (error) {
    // Only those who may read users' roles and the Role list see this section.
    if (error.status === 403) return section.remove();
    throw error;
  }
  const held = new Set((user.data.roles || []).map((r) => r.role));
  const boxes = roles.data.filter((r) => !IMPLICIT.has(r.name) && !r.disabled).map((r) => {
    const id = `role-${r.name.replace(/[^A-Za-z0-9_-]/g, "_")}`;
    return h("li", {}, h("input", { type: "checkbox", id, value: r.name, checked: held.has(r.name) }),
      h("label", { for: id }, r.name));
  });
  const status = h("div");
  section.append(
    h("h2", { id: "user-roles-title" }, "Roles"),
    status,
    h("ul", { class: "role-boxes" }, boxes),
    h("div", { class: "toolbar" }, button("Save roles", async (event) => {
      const chosen = [...section.querySelectorAll("input[type=checkbox]:checked")].map((c) => ({ role: c.value }));
      event.target.disabled = true;
      try {
        await put(resource("User", name), { roles: chosen });
        status.replaceChildren();
        toast("Roles saved");
        if (reload) await reload();
      } catch (error) {
        status.replaceChildren(notice(error.message, "error"));
      } finally {
        event.target.disabled = false;
      }
    }, { kind: "primary" })));
}
