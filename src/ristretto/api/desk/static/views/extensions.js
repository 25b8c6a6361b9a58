// Per-DocType additions to the form view: FORM_EXTENSIONS[doctype] is a function
// (container, context) -> Promise the form calls after drawing a saved document, where
// context = { doctype, name, doc, reload }. (The User form's "Roles" and "API Access" sections.)
export const FORM_EXTENSIONS = {
  User: async (container, context) => {
    const [roles, api] = await Promise.all([import("./user_roles.js"), import("./user_api.js")]);
    await roles.rolesSection(container, context);
    await api.apiAccessSection(container, context);
  },
};
