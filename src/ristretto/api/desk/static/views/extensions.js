// Per-DocType additions to the form view: FORM_EXTENSIONS[doctype] is a function
// (container, context) -> Promise the form calls after drawing a saved document, where
// context = { doctype, name, doc, reload }. (The User form's "API Access" section is one.)
export const FORM_EXTENSIONS = {};
