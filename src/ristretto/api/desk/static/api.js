// The HTTP API as the desk uses it: same-origin requests with the session cookie and the
// session's CSRF token, Frappe's error bodies turned into one readable message.

export const boot = JSON.parse(document.getElementById("boot").textContent);

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

// Frappe's error body: _server_messages is a JSON list of JSON objects with a message;
// _error_message and exception are the fallbacks.
export function messageOf(body) {
  if (!body || typeof body !== "object") return "";
  if (body._server_messages) {
    try {
      const parts = JSON.parse(body._server_messages).map((m) => {
        try { return JSON.parse(m).message || m; } catch { return m; }
      });
      const text = parts.map(stripTags).filter(Boolean).join("\n");
      if (text) return text;
    } catch { /* fall through */ }
  }
  if (body._error_message) return stripTags(body._error_message);
  if (body.exception) return stripTags(String(body.exception).split(":").slice(1).join(":").trim() || body.exception);
  if (Array.isArray(body.errors) && body.errors.length) return body.errors.map((e) => e.message).join("\n");
  if (body.error_description || body.error) return body.error_description || body.error;
  return "";
}

function stripTags(text) {
  const div = document.createElement("div");
  div.innerHTML = String(text);  // parsed in a detached node, only its text is used
  return div.textContent.trim();
}

function encode(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

export async function call(verb, path, { params, json, form } = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null) url.searchParams.set(key, encode(value));
  }
  const headers = { Accept: "application/json", "X-Frappe-CSRF-Token": boot.csrf_token };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = form;  // FormData: the browser sets the multipart boundary
  }
  const response = await fetch(url, { method: verb, headers, body, credentials: "same-origin" });
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (response.status === 401 && data && data.session_expired) {
    location.assign("/login?redirect-to=" + encodeURIComponent(location.pathname + location.search));
  }
  if (!response.ok) throw new ApiError(response.status, messageOf(data) || response.statusText, data);
  return data;
}

export const get = (path, params) => call("GET", path, { params });
export const post = (path, json) => call("POST", path, { json });
export const put = (path, json) => call("PUT", path, { json });
export const del = (path) => call("DELETE", path);

// A whitelisted method: its `message`.
export async function rpc(method, args = {}, verb = "POST") {
  const data = verb === "GET" ? await get(`/api/method/${method}`, args) : await post(`/api/method/${method}`, args);
  return data ? data.message : undefined;
}

export const resource = (doctype, name) =>
  `/api/resource/${encodeURIComponent(doctype)}` + (name === undefined ? "" : `/${encodeURIComponent(name)}`);
