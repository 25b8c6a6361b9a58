"""The one stylesheet of Ristretto's pages (served by ``layout.stylesheet``; kept in a module so it
ships inside the package with no data-file rules).

Plain CSS, no external fonts or images: system fonts, a light and a dark scheme following the
browser's, focus rings that always show for keyboard users, touch targets of at least 44 px, and
one column that fits a phone.
"""

CSS = """\
:root {
  --bg: #f4f1ee; --card: #ffffff; --text: #1f1a17; --muted: #5f5650; --line: #d9d1ca;
  --accent: #7a3e1d; --accent-hover: #5f2f15; --accent-text: #ffffff; --focus: #1a5fb4;
  --error-bg: #fdecea; --error-line: #c0392b; --error-text: #8a1f14; --field: #ffffff;
  --radius: 10px; color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #171311; --card: #221c19; --text: #f3ece6; --muted: #b9ada4; --line: #45392f;
    --accent: #d08a5c; --accent-hover: #e0a077; --accent-text: #1a1210; --focus: #8cb8ff;
    --error-bg: #3a1d19; --error-line: #e06c5a; --error-text: #ffc9c0; --field: #1a1513;
  }
}
*, *::before, *::after { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body {
  margin: 0; min-height: 100vh; display: flex; align-items: flex-start; justify-content: center;
  padding: clamp(1rem, 8vh, 5rem) 1rem 2rem; background: var(--bg); color: var(--text);
  font: 1rem/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
.card {
  width: 100%; max-width: 26rem; background: var(--card); border: 1px solid var(--line);
  border-radius: 14px; padding: 2rem 1.75rem 1.75rem; box-shadow: 0 1px 2px rgb(0 0 0 / .04), 0 8px 24px rgb(0 0 0 / .06);
}
.brand {
  display: flex; align-items: center; gap: .5rem; margin: 0 0 1.5rem; color: var(--accent);
  font-weight: 650; font-size: 1.05rem; letter-spacing: .01em;
}
.brand .mark { flex: none; }
.brand span { color: var(--text); }
h1 { font-size: 1.5rem; line-height: 1.25; margin: 0 0 .5rem; font-weight: 650; }
h2 { font-size: 1rem; margin: 1.5rem 0 .5rem; }
p { margin: 0 0 1rem; }
.lead { color: var(--muted); margin-bottom: 1.5rem; overflow-wrap: anywhere; }
strong { font-weight: 650; }
.lead strong { color: var(--text); }
a { color: var(--accent); text-underline-offset: .15em; }
a:hover { color: var(--accent-hover); }
form { margin: 0; }
.field { margin-bottom: 1.1rem; }
label { display: block; font-weight: 600; margin-bottom: .35rem; }
input[type=text], input[type=email], input[type=password] {
  display: block; width: 100%; min-height: 2.75rem; padding: .6rem .75rem; font: inherit; color: var(--text);
  background: var(--field); border: 1px solid var(--line); border-radius: var(--radius);
}
input[aria-invalid=true] { border-color: var(--error-line); }
input:hover { border-color: var(--muted); }
.button, button {
  display: inline-flex; align-items: center; justify-content: center; min-height: 2.75rem;
  padding: .6rem 1.25rem; font: inherit; font-weight: 600; text-decoration: none; cursor: pointer;
  color: var(--accent-text); background: var(--accent); border: 1px solid var(--accent); border-radius: var(--radius);
}
.button:hover, button:hover { background: var(--accent-hover); border-color: var(--accent-hover); color: var(--accent-text); }
.button.secondary, button.secondary { color: var(--text); background: transparent; border-color: var(--line); }
.button.secondary:hover, button.secondary:hover { background: var(--bg); color: var(--text); border-color: var(--muted); }
.block { width: 100%; }
:focus { outline: none; }
:focus-visible, input:focus { outline: 3px solid var(--focus); outline-offset: 2px; }
.actions { display: flex; flex-wrap: wrap; gap: .75rem; justify-content: flex-end; margin: 1.5rem 0 0; }
.actions > * { flex: 1 1 8rem; }
.actions form { display: flex; }
.actions form button { flex: 1; }
.alert {
  padding: .75rem 1rem; border: 1px solid var(--error-line); border-left-width: 4px; border-radius: var(--radius);
  background: var(--error-bg); color: var(--error-text); overflow-wrap: anywhere;
}
.scopes { list-style: none; padding: 0; margin: 0 0 1rem; border: 1px solid var(--line); border-radius: var(--radius); }
.scopes li { padding: .75rem 1rem .75rem 2.5rem; position: relative; overflow-wrap: anywhere; }
.scopes li + li { border-top: 1px solid var(--line); }
.scopes li::before {
  content: ""; position: absolute; left: 1rem; top: 1.2rem; width: .55rem; height: .55rem;
  border-radius: 50%; background: var(--accent);
}
.scopes .detail { display: block; color: var(--muted); font-size: .925rem; }
.note { color: var(--muted); font-size: .925rem; overflow-wrap: anywhere; }
.sr-only {
  position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}
@media (max-width: 30rem) {
  body { padding: 0; background: var(--card); }
  .card { border: 0; border-radius: 0; box-shadow: none; padding: 1.5rem 1.25rem; max-width: none; }
}
@media (forced-colors: active) {
  .button, button { border: 2px solid ButtonText; }
  .scopes li::before { background: CanvasText; }
}
@media (prefers-reduced-motion: no-preference) {
  .button, button, input { transition: background-color .15s, border-color .15s; }
}
"""
