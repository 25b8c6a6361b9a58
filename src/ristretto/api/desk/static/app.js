// The desk: the frame (top bar, navigation) and the router that maps /app/... to a view.
//
// Routes: /app -> home; /app/<page> -> a page of views/pages.js (permission manager, DocType
// editor, ...); /app/<doctype-slug> -> the list view (a Single's form); /app/<doctype-slug>/new and
// /app/<doctype-slug>/<name> -> the form view. A view module exports
// `render(main, params) -> Promise`; links marked data-link are followed without a reload.

import { boot } from "./api.js";
import { PAGES } from "./views/pages.js";
import { h, clear, link, notice, slug } from "./ui.js";

const bySlug = new Map(boot.doctypes.map((d) => [slug(d.name), d.name]));
const singles = new Set(boot.doctypes.filter((d) => d.issingle).map((d) => d.name));

export function doctypeOf(part) {
  const text = decodeURIComponent(part);
  return bySlug.get(text) || bySlug.get(slug(text)) || null;
}

export function navigate(href, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", href);
  else history.pushState(null, "", href);
  route();
}

function frame() {
  const main = h("main", { id: "main", tabindex: "-1" });
  const root = document.getElementById("app");
  clear(root).append(
    h("a", { class: "skip", href: "#main" }, "Skip to content"),
    h("header", { class: "topbar" },
      link("/app", h("span", { class: "brand" }, "Ristretto")),
      h("nav", { "aria-label": "Main" },
        link("/app", "Home"),
        boot.is_system_manager ? link("/app/permission-manager", "Permissions") : null,
        boot.is_system_manager ? link("/app/doctype-editor", "DocTypes") : null),
      h("span", { class: "spacer" }),
      h("span", { class: "who", title: boot.user }, boot.full_name),
      h("form", { method: "post", action: "/logout", class: "logout" },
        h("input", { type: "hidden", name: "csrf_token", value: boot.csrf_token }),
        h("button", { type: "submit", class: "btn link" }, "Log out"))),
    main);
  return main;
}

let main;
let current = 0;

export async function route() {
  const token = ++current;  // a slower earlier view must not draw over a later one
  main = main && main.isConnected ? main : frame();
  clear(main).append(h("p", { class: "loading" }, "Loading…"));
  const parts = location.pathname.replace(/\/+$/, "").split("/").slice(2);  // after /app
  let view, params;
  try {
    if (parts.length === 0) {
      [view, params] = [await import("./views/home.js"), {}];
    } else if (parts.length === 1 && PAGES[parts[0]]) {
      [view, params] = [await PAGES[parts[0]](), {}];
    } else {
      const doctype = doctypeOf(parts[0]);
      if (!doctype) {
        if (PAGES[parts[0]]) [view, params] = [await PAGES[parts[0]](), { rest: parts.slice(1).map(decodeURIComponent) }];
        else return show(token, notice(`No DocType "${decodeURIComponent(parts[0])}" that you may read.`, "error"));
      } else if (parts.length === 1 && singles.has(doctype)) {
        // A Single has one document, named after its DocType: its form is its page.
        [view, params] = [await import("./views/form.js"), { doctype, name: doctype }];
      } else if (parts.length === 1) {
        [view, params] = [await import("./views/list.js"), { doctype }];
      } else {
        const name = parts.slice(1).map(decodeURIComponent).join("/");
        [view, params] = [await import("./views/form.js"), { doctype, name: name === "new" ? null : name }];
      }
    }
    if (token !== current) return;
    const target = h("div", { class: "view" });
    await view.render(target, params);
    if (token === current) clear(main).append(target);
  } catch (error) {
    show(token, notice(error.message || String(error), "error"));
  }
}

function show(token, node) {
  if (token === current) clear(main).append(node);
}

document.addEventListener("click", (event) => {
  const a = event.target.closest && event.target.closest("a[data-link]");
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith("/app")) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener("popstate", route);
route();
