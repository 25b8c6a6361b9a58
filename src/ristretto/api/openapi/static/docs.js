// The API docs page: reads /api/openapi.json (the description as this caller may use it) and
// shows each operation, grouped by tag, with its parameters and schemas and a form to try it.
// Everything is built with DOM calls and textContent (no markup from data), and every request
// goes to this site only (the page's CSP allows nothing else).

const boot = JSON.parse(document.getElementById("boot").textContent);
const main = document.getElementById("docs");
const authInput = document.getElementById("auth");
const filterInput = document.getElementById("filter");
const UNSAFE = new Set(["post", "put", "patch", "delete"]);
let spec = null;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function resolve(schema) {
  // A local reference (#/components/...) to the schema it names; other values as they are.
  let seen = 0;
  while (schema && schema.$ref && seen++ < 8) {
    schema = schema.$ref.split("/").slice(1).reduce((o, k) => (o ? o[k] : undefined), spec);
  }
  return schema || {};
}

function typeText(schema) {
  schema = resolve(schema);
  if (schema.enum) return "one of " + schema.enum.map((v) => JSON.stringify(v)).join(", ");
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  const type = Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type || "any";
  if (schema.type === "array" || (Array.isArray(schema.type) && schema.type.includes("array"))) {
    const items = resolve(schema.items);
    return `${type} of ${items.title || typeText(items)}`;
  }
  return schema.format ? `${type} (${schema.format})` : type;
}

function schemaTable(schema) {
  schema = resolve(schema);
  const props = schema.properties;
  if (!props) return el("p", { class: "type", text: typeText(schema) });
  const required = new Set(schema.required || []);
  const rows = Object.entries(props).map(([name, sub]) => {
    const s = resolve(sub);
    return el("tr", {}, el("td", { class: "name", text: name + (required.has(name) ? " *" : "") }),
      el("td", { class: "type", text: typeText(s) }),
      el("td", { text: s.title && s.title !== name ? s.title + (s.description ? " — " + s.description : "")
        : s.description || "" }));
  });
  return el("table", {}, el("thead", {}, el("tr", {}, el("th", { text: "Field" }), el("th", { text: "Type" }),
    el("th", { text: "About" }))), el("tbody", {}, ...rows));
}

function exampleBody(schema) {
  schema = resolve(schema);
  const out = {};
  for (const name of schema.required || []) {
    const s = resolve((schema.properties || {})[name]);
    const type = Array.isArray(s.type) ? s.type[0] : s.type;
    out[name] = s.enum ? s.enum[0] : type === "integer" || type === "number" ? 0 : type === "array" ? [] : "";
  }
  return JSON.stringify(out, null, 2);
}

function headers(verb) {
  const h = { Accept: "application/json" };
  const auth = authInput.value.trim();
  if (auth) h.Authorization = auth;
  else if (UNSAFE.has(verb) && boot.csrf_token) h["X-Frappe-CSRF-Token"] = boot.csrf_token;
  return h;
}

function tryForm(path, verb, op) {
  const form = el("form", { class: "try" });
  const params = (op.parameters || []).map((p) => resolve(p));
  const inputs = params.map((p) => {
    const input = el("input", { name: p.name, placeholder: typeText(p.schema) });
    if (p.required) input.required = true;
    const schema = resolve(p.schema);
    if (schema.enum && schema.enum.length === 1) input.value = schema.enum[0];
    form.append(el("label", { text: `${p.name} (${p.in})${p.required ? " *" : ""}` }, input));
    return [p, input];
  });
  let body = null;
  const media = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
  if (media) {
    body = el("textarea", { name: "body", rows: "6", spellcheck: "false" });
    body.value = exampleBody(media.schema);
    form.append(el("label", { text: "JSON body" }, body));
  }
  const out = el("pre", { class: "answer", "aria-live": "polite" });
  form.append(el("button", { type: "submit", text: `Send ${verb.toUpperCase()}` }), out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let url = path;
    const query = new URLSearchParams();
    for (const [p, input] of inputs) {
      if (p.in === "path") url = url.replace(`{${p.name}}`, encodeURIComponent(input.value));
      else if (p.in === "query" && input.value !== "") query.append(p.name, input.value);
    }
    if ([...query].length) url += "?" + query.toString();
    const init = { method: verb.toUpperCase(), headers: headers(verb), credentials: "same-origin" };
    if (body) {
      init.headers["Content-Type"] = "application/json";
      init.body = body.value;
    }
    out.textContent = "…";
    try {
      const response = await fetch(url, init);
      const text = await response.text();
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* not JSON: as it is */ }
      out.textContent = `${response.status} ${response.statusText}\n${shown}`;
      out.dataset.status = String(response.status);
    } catch (error) {
      out.textContent = String(error);
    }
  });
  return form;
}

function operation(path, verb, op) {
  const details = el("details", { class: "op", "data-path": path, "data-verb": verb });
  const summary = el("summary", {}, el("span", { class: `verb ${verb}`, text: verb.toUpperCase() }),
    el("code", { text: decodeURI(path) }), el("span", { class: "what", text: op.summary || "" }));
  details.append(summary);
  details.addEventListener("toggle", () => {
    if (!details.open || details.dataset.built) return;
    details.dataset.built = "1";
    if (op.description && op.description !== op.summary) details.append(el("p", { text: op.description }));
    const media = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
    if (media) details.append(el("h4", { text: "Body" }), schemaTable(media.schema));
    const ok = Object.entries(op.responses || {}).find(([code]) => code.startsWith("2"));
    const answer = ok && ok[1].content && ok[1].content["application/json"];
    if (answer) {
      const env = resolve(answer.schema);
      const data = env.properties && (env.properties.data || env.properties.message);
      details.append(el("h4", { text: `Answer (${ok[0]})` }), schemaTable(data || env));
    }
    details.append(el("h4", { text: "Try it" }), tryForm(path, verb, op));
  });
  return details;
}

function render() {
  const byTag = new Map();
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [verb, op] of Object.entries(ops)) {
      const tag = (op.tags && op.tags[0]) || "Other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operation(path, verb, op));
    }
  }
  main.replaceChildren();
  const tags = [...byTag.keys()].sort((a, b) => a.localeCompare(b));
  for (const tag of tags) {
    main.append(el("section", { class: "tag", "data-tag": tag }, el("h2", { text: tag }), ...byTag.get(tag)));
  }
  const count = Object.values(spec.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);
  document.getElementById("who").textContent =
    `${spec.info.title} ${spec.info.version}: ${count} operations for ${boot.user}`;
}

function applyFilter() {
  const words = filterInput.value.trim().toLowerCase();
  for (const section of main.querySelectorAll("section.tag")) {
    let shown = 0;
    for (const op of section.querySelectorAll("details.op")) {
      const hit = !words || op.dataset.path.toLowerCase().includes(words) || section.dataset.tag.toLowerCase().includes(words);
      op.hidden = !hit;
      if (hit) shown++;
    }
    section.hidden = shown === 0;
  }
}

async function load() {
  const init = { headers: { Accept: "application/json" }, credentials: "same-origin" };
  const auth = authInput.value.trim();
  if (auth) init.headers.Authorization = auth;
  const response = await fetch(boot.spec, init);
  if (!response.ok) {
    main.replaceChildren(el("p", { class: "alert", role: "alert", text: `The description could not be read (${response.status}).` }));
    return;
  }
  spec = await response.json();
  render();
  applyFilter();
}

filterInput.addEventListener("input", applyFilter);
authInput.addEventListener("change", load);
load();
