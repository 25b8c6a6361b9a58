// Home: the DocTypes the user may read, grouped by module, each with its document count.

import { boot, rpc } from "../api.js";
import { h, link, slug, formatCount } from "../ui.js";

export async function render(main) {
  const modules = new Map();
  for (const d of boot.doctypes) {
    if (!modules.has(d.module)) modules.set(d.module, []);
    modules.get(d.module).push(d);
  }
  main.append(h("h1", {}, "Home"));
  if (!modules.size) main.append(h("p", {}, "There is nothing here you may read."));
  const counts = [];
  for (const [module, doctypes] of modules) {
    const items = doctypes.map((d) => {
      const count = h("span", { class: "count", "aria-label": "documents" }, d.issingle ? "" : "…");
      if (!d.issingle) counts.push([d.name, count]);
      return h("li", {}, link(`/app/${slug(d.name)}`, h("span", { class: "name" }, d.name), count));
    });
    main.append(h("section", { class: "module", "aria-labelledby": `m-${slug(module)}` },
      h("h2", { id: `m-${slug(module)}` }, module),
      h("ul", { class: "doctypes" }, items)));
  }
  // Counts fill in as they come, a few at a time (a site may hold hundreds of DocTypes).
  const queue = counts.slice();
  const worker = async () => {
    while (queue.length) {
      const [doctype, el] = queue.shift();
      try {
        el.textContent = formatCount(await rpc("frappe.client.get_count", { doctype }, "GET"));
      } catch {
        el.textContent = "";
      }
    }
  };
  Promise.all([worker(), worker(), worker(), worker()]);
}
