// Below a saved document: its comments (added with the add_comment document method), its
// version history when the DocType tracks changes, and its attachments, all drawn from the
// form's docinfo (frappe.desk.form.load.getdoc / savedocs): as in Frappe, whoever may read the
// document sees them, without needing to read the Comment, Version or File DocTypes.

import { post, resource } from "../api.js";
import { h, button, toast } from "../ui.js";
import { plainText } from "./fields.js";

const when = (ts) => {
  if (!ts) return "";
  const d = new Date(String(ts).replace(" ", "T"));
  return Number.isNaN(d.getTime()) ? String(ts) : d.toLocaleString();
};

// docinfo.comments: newest first (Frappe's order); shown oldest first, as a conversation.
// `refresh()` answers the document's docinfo again, after a comment is added.
export function comments(doctype, name, docinfo, { canComment, refresh }) {
  const list = h("ol", { class: "comments" });
  const box = h("section", { class: "panel timeline", "aria-labelledby": "comments-h" },
    h("h2", { id: "comments-h" }, "Comments"), list);
  function show(info) {
    const rows = [...(info.comments || [])].reverse();
    list.replaceChildren(...rows.map((c) => h("li", {},
      h("div", { class: "meta" }, h("strong", {}, c.comment_by || c.owner), " · ", h("time", { datetime: c.creation }, when(c.creation))),
      h("div", { class: "content" }, plainText(c.content)))));
    if (!rows.length) list.replaceChildren(h("li", { class: "muted none" }, "No comments yet."));
    const more = Number(info.total_comments || 0) - rows.length;
    if (more > 0) list.append(h("li", { class: "muted" }, `${more} older comments not shown.`));
  }
  if (canComment) {
    const text = h("textarea", { id: "new-comment", rows: 3, placeholder: "Add a comment" });
    const add = button("Comment", async () => {
      if (!text.value.trim()) { text.focus(); return; }
      add.disabled = true;
      try {
        await post(resource(doctype, name), { run_method: "add_comment", text: text.value });
        text.value = "";
        show(await refresh());
        toast("Comment added");
      } catch (error) {
        toast(error.message, "error");
      } finally {
        add.disabled = false;
      }
    }, { kind: "secondary" });
    box.append(h("div", { class: "add-comment" }, h("label", { for: "new-comment" }, "New comment"), text, add));
  }
  show(docinfo);
  return box;
}

// One Version's changes as sentences: "Status: Open → Closed", "Items: row added".
function describe(data, labels) {
  let diff;
  try { diff = typeof data === "string" ? JSON.parse(data) : data || {}; } catch { return ["(unreadable change)"]; }
  const text = (v) => (v === null || v === undefined || v === "" ? "empty" : plainText(v).slice(0, 80));
  const out = [];
  for (const [field, before, after] of diff.changed || []) out.push(`${labels[field] || field}: ${text(before)} → ${text(after)}`);
  for (const [table] of diff.added || []) out.push(`${labels[table] || table}: row added`);
  for (const [table] of diff.removed || []) out.push(`${labels[table] || table}: row removed`);
  for (const [table, idx, , changes] of diff.row_changed || []) {
    for (const [field, before, after] of changes || []) out.push(`${labels[table] || table} row ${idx}: ${field} ${text(before)} → ${text(after)}`);
  }
  return out.length ? out : ["(no field changes)"];
}

// docinfo.versions: newest first.
export function versions(docinfo, meta) {
  const labels = Object.fromEntries((meta.fields || []).map((f) => [f.fieldname, f.label || f.fieldname]));
  const list = h("ol", { class: "versions" });
  const box = h("section", { class: "panel timeline", "aria-labelledby": "versions-h" }, h("h2", { id: "versions-h" }, "History"), list);
  const rows = docinfo.versions || [];
  list.replaceChildren(...rows.map((v) => h("li", {},
    h("div", { class: "meta" }, h("strong", {}, v.owner), " · ", h("time", { datetime: v.creation }, when(v.creation))),
    h("ul", { class: "changes" }, describe(v.data, labels).map((line) => h("li", {}, line))))));
  if (!rows.length) list.replaceChildren(h("li", { class: "muted none" }, "No changes since it was created."));
  return box;
}

// docinfo.attachments: the File records attached to the document, as links.
export function attachments(docinfo) {
  const rows = docinfo.attachments || [];
  const list = h("ul", { class: "attachments" }, rows.map((f) => h("li", {},
    f.file_url ? h("a", { href: f.file_url, target: "_blank", rel: "noopener" }, f.file_name || f.file_url) : (f.file_name || f.name),
    Number(f.is_private) ? h("span", { class: "muted" }, " (private)") : null)));
  if (!rows.length) list.append(h("li", { class: "muted none" }, "No attachments."));
  return h("section", { class: "panel timeline", "aria-labelledby": "attachments-h" }, h("h2", { id: "attachments-h" }, "Attachments"), list);
}
