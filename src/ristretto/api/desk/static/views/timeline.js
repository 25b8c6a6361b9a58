// Below a saved document: its comments (Comment records, added with the add_comment document
// method) and, when the DocType tracks changes, its version history (Version records).
// Both lists are read through the API with the user's own rights: a user who may not read
// Comment or Version records is told so instead of seeing an empty list.

import { get, post, resource } from "../api.js";
import { h, button, toast } from "../ui.js";
import { plainText } from "./fields.js";

const when = (ts) => {
  if (!ts) return "";
  const d = new Date(String(ts).replace(" ", "T"));
  return Number.isNaN(d.getTime()) ? String(ts) : d.toLocaleString();
};

function denied(error, what) {
  return h("p", { class: "muted" }, error.status === 403 ? `You may not read ${what}.` : `${what} could not be loaded: ${error.message}`);
}

export async function comments(doctype, name, { canComment }) {
  const list = h("ol", { class: "comments" });
  const box = h("section", { class: "panel timeline", "aria-labelledby": "comments-h" },
    h("h2", { id: "comments-h" }, "Comments"), list);
  async function load() {
    try {
      const rows = (await get(resource("Comment"), {
        filters: [["reference_doctype", "=", doctype], ["reference_name", "=", name], ["comment_type", "=", "Comment"]],
        fields: ["name", "content", "comment_by", "owner", "creation"], order_by: "creation asc", limit_page_length: 100,
      })).data;
      list.replaceChildren(...rows.map((c) => h("li", {},
        h("div", { class: "meta" }, h("strong", {}, c.comment_by || c.owner), " · ", h("time", { datetime: c.creation }, when(c.creation))),
        h("div", { class: "content" }, plainText(c.content)))));
      if (!rows.length) list.replaceChildren(h("li", { class: "muted none" }, "No comments yet."));
    } catch (error) {
      list.replaceChildren(h("li", {}, denied(error, "comments")));
    }
  }
  if (canComment) {
    const text = h("textarea", { id: "new-comment", rows: 3, placeholder: "Add a comment" });
    const add = button("Comment", async () => {
      if (!text.value.trim()) { text.focus(); return; }
      add.disabled = true;
      try {
        await post(resource(doctype, name), { run_method: "add_comment", text: text.value });
        text.value = "";
        await load();
        toast("Comment added");
      } catch (error) {
        toast(error.message, "error");
      } finally {
        add.disabled = false;
      }
    }, { kind: "secondary" });
    box.append(h("div", { class: "add-comment" }, h("label", { for: "new-comment" }, "New comment"), text, add));
  }
  await load();
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

export async function versions(doctype, name, meta) {
  const labels = Object.fromEntries((meta.fields || []).map((f) => [f.fieldname, f.label || f.fieldname]));
  const list = h("ol", { class: "versions" });
  const box = h("section", { class: "panel timeline", "aria-labelledby": "versions-h" }, h("h2", { id: "versions-h" }, "History"), list);
  try {
    const rows = (await get(resource("Version"), {
      filters: [["ref_doctype", "=", doctype], ["docname", "=", name]],
      fields: ["name", "owner", "creation", "data"], order_by: "creation desc", limit_page_length: 50,
    })).data;
    list.replaceChildren(...rows.map((v) => h("li", {},
      h("div", { class: "meta" }, h("strong", {}, v.owner), " · ", h("time", { datetime: v.creation }, when(v.creation))),
      h("ul", { class: "changes" }, describe(v.data, labels).map((line) => h("li", {}, line))))));
    if (!rows.length) list.replaceChildren(h("li", { class: "muted none" }, "No changes since it was created."));
  } catch (error) {
    list.replaceChildren(h("li", {}, denied(error, "the version history")));
  }
  return box;
}
