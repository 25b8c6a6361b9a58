// A user's "API Access" section: the API key (if any) and "Generate Keys", which asks the
// server for a new key pair and shows the secret once (the server keeps only its hash-like
// Password field, so it can never be shown again). Used by the User form (FORM_EXTENSIONS)
// and by the page /app/user-api-access?user=<name>.

import { boot, get, rpc, resource } from "../api.js";
import { h, clear, button, notice, toast, link, slug } from "../ui.js";

// The section for one user; `doc` is the User document when the caller already has it.
export async function apiAccessSection(container, { name, doc } = {}) {
  const section = h("section", { class: "panel api-access", "aria-labelledby": "api-access-title" });
  container.append(section);
  let apiKey = doc ? doc.api_key : undefined;
  if (apiKey === undefined) {
    try {
      const data = await get(resource("User", name));
      apiKey = data.data.api_key;
    } catch (error) {
      // api_key is at permlevel 1: a user who may not read it still may generate their own keys.
      if (error.status !== 403) throw error;
      apiKey = null;
    }
  }
  draw(section, name, apiKey || null, null);
}

function draw(section, user, apiKey, secret) {
  clear(section).append(
    h("h2", { id: "api-access-title" }, "API Access"),
    h("dl", { class: "api-keys" },
      h("dt", {}, "API Key"),
      h("dd", {}, apiKey ? h("code", { class: "secret", "data-field": "api_key" }, apiKey)
        : h("span", { class: "muted" }, "No keys yet."))),
    secret ? secretBox(secret) : null,
    h("div", { class: "toolbar" },
      button(apiKey ? "Regenerate Keys" : "Generate Keys", (event) => generate(event, section, user, apiKey),
        { kind: "primary" }),
      apiKey ? h("span", { class: "muted" }, "Regenerating invalidates the current secret.") : null));
}

function secretBox(secret) {
  const text = h("input", { type: "text", readonly: true, value: secret, class: "secret", id: "api-secret",
    "aria-label": "API Secret", spellcheck: "false", onfocus: (e) => e.target.select() });
  const copy = button("Copy", async () => {
    try {
      await navigator.clipboard.writeText(secret);
      toast("API secret copied");
    } catch {
      // No clipboard access (plain HTTP, a denied permission): select the text to copy by hand.
      text.focus();
      text.select();
      toast("Press Ctrl+C (or ⌘C) to copy the selected secret", "info");
    }
  });
  return h("div", { class: "secret-box" },
    notice("Copy the API secret now: it will not be shown again.", "ok"),
    h("label", { for: "api-secret" }, "API Secret"),
    h("div", { class: "secret-row" }, text, copy));
}

async function generate(event, section, user, hadKey) {
  if (hadKey && !confirm("Generate new keys? Clients using the current secret will stop working.")) return;
  event.target.disabled = true;
  try {
    const keys = await rpc("frappe.core.doctype.user.user.generate_keys", { user });
    draw(section, user, keys.api_key, keys.api_secret);
    section.querySelector("#api-secret").focus();
  } catch (error) {
    event.target.disabled = false;
    section.append(notice(error.message, "error"));
  }
}

// The page /app/user-api-access?user=<name> (default: the logged-in user).
export async function render(container) {
  const user = new URLSearchParams(location.search).get("user") || boot.user;
  container.append(h("div", { class: "toolbar" },
    h("h1", {}, user),
    boot.doctypes.some((d) => d.name === "User")
      ? link(`/app/${slug("User")}/${encodeURIComponent(user)}`, "Open user") : null),
  h("p", { class: "muted" }, "Keys for the REST API: send them as ", h("code", {}, "Authorization: token <key>:<secret>"), "."));
  await apiAccessSection(container, { name: user });
}
