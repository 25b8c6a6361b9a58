// Small DOM helpers: elements are built, never parsed from strings, so values are never markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// The URL part of a DocType: "Sales Order" -> "sales-order" (Frappe's form).
export const slug = (doctype) => doctype.toLowerCase().replace(/ /g, "-");

export function link(href, ...children) {
  return h("a", { href, "data-link": "" }, ...children);
}

// A message in the page: kind "error" (role alert), "ok" or "info".
export function notice(text, kind = "info") {
  return h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

let toastTimer;
export function toast(text, kind = "ok") {
  let box = document.getElementById("toast");
  if (!box) {
    box = h("div", { id: "toast", role: "status", "aria-live": "polite" });
    document.body.append(box);
  }
  box.className = `toast ${kind} show`;
  box.textContent = text;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => box.classList.remove("show"), 3500);
}

export function button(label, onclick, { kind = "secondary", type = "button", ...rest } = {}) {
  return h("button", { type, class: `btn ${kind}`, onclick, ...rest }, label);
}

export function formatCount(n) {
  return new Intl.NumberFormat().format(n);
}
