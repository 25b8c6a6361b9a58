// The desk's own pages (not DocTypes), by their /app/<page> path: each loads its view module.
export const PAGES = {
  "permission-manager": () => import("./permissions.js"),
  "doctype-editor": () => import("./doctype_editor.js"),
  "user-api-access": () => import("./user_api.js"),
};
