// Small helpers: building elements, numbers, folded long texts.

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value == null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
  }
  for (const child of children) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function fmtInt(n) { return n == null ? "–" : Math.round(n).toLocaleString("en-US"); }
function fmtTokens(n) {
  if (n == null) return "–";
  if (n >= 1e6) return (n / 1e6).toFixed(2) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return fmtInt(n);
}
function fmtCost(c) { return c == null ? "no price" : "$" + (c >= 1 ? c.toFixed(2) : c.toFixed(4)); }
function fmtSec(s) {
  if (s == null) return "–";
  if (s < 1) return Math.round(s * 1000) + " ms";
  if (s < 120) return s.toFixed(s < 10 ? 2 : 1) + " s";
  return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
}
function clip(text, n) { text = text == null ? "" : String(text); return text.length > n ? text.slice(0, n) + "…" : text; }
function oneLine(text, n) { return clip(String(text == null ? "" : text).replace(/\s+/g, " ").trim(), n); }

function badge(status) { return el("span", { class: "badge " + status, text: status }); }

const FOLD_CHARS = 2000;
const FOLD_LINES = 40;

/// A <pre> for a long text: the start is shown, the rest behind a button, so huge outputs cost nothing until asked.
function foldedPre(text, cls) {
  text = text == null ? "" : String(text);
  const lines = text.split("\n");
  const long = text.length > FOLD_CHARS || lines.length > FOLD_LINES;
  if (!long) return el("pre", { class: cls || "" , text: text || " " });
  const head = lines.length > FOLD_LINES ? lines.slice(0, FOLD_LINES).join("\n") : text.slice(0, FOLD_CHARS);
  const pre = el("pre", { class: cls || "", text: head + "\n…" });
  const button = el("button", { class: "more fold", text: "show all " + fmtInt(text.length) + " characters (" + fmtInt(lines.length) + " lines)",
    onclick: () => { pre.textContent = text; button.remove(); } });
  return el("div", null, pre, button);
}

/// A collapsible section, open or closed.
function section(title, open, ...content) {
  const d = el("details", open ? { open: true } : null, el("summary", { text: title }));
  for (const c of content) if (c) d.append(c);
  return d;
}
