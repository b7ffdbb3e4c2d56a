// A small Markdown renderer for model replies.
//
// Safety: model text is escaped before any markup is added, so the only tags in the output are the
// ones written here. Link targets must be http(s), mailto or same-origin paths; images load only from
// this origin (no request to a host the model picked, which could carry the chat's text in its URL):
// an image URL is resolved as the browser will resolve it and its origin compared with the page's.
// Unterminated constructs, common mid-stream, fall back to plain text or to a code block that runs to
// the end.

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (ch) => ESCAPES[ch]);
}

const SAFE_LINK = /^(https?:\/\/|mailto:|\/|#)/i;
const SAME_ORIGIN_PATH = /^\/(?!\/)/;
// Browsers read a backslash in a URL as "/" ("/\host/x" is "//host/x") and drop tabs and newlines.
const UNSAFE_URL_CHARS = /[\\\u0000-\u001f\u007f]/;

function safeLink(url) {
  return SAFE_LINK.test(url) && !UNSAFE_URL_CHARS.test(url);
}

// The absolute URL an image may load from, or null: a path on this page's own origin only.
function sameOriginImage(url) {
  if (!SAME_ORIGIN_PATH.test(url) || UNSAFE_URL_CHARS.test(url)) return null;
  let resolved;
  try {
    resolved = new URL(url, globalThis.location.href);
  } catch {
    return null;
  }
  return resolved.origin === globalThis.location.origin ? resolved.href : null;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w+#.-]*)/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$/;
const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}> ?/;
const ITEM = /^( *)([-*+]|\d{1,9}[.)])(?:\s+(.*)|$)/;
const TABLE_RULE = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;

export function renderMarkdown(source) {
  const text = String(source).replace(/\r\n?/g, "\n").replace(/\u0000/g, "");
  return renderBlocks(text.split("\n"), false);
}

function startsBlock(lines, i) {
  const line = lines[i];
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) ||
    ITEM.test(line) || isTableStart(lines, i);
}

function isTableStart(lines, i) {
  return lines[i].includes("|") && i + 1 < lines.length && lines[i + 1].includes("-") &&
    TABLE_RULE.test(lines[i + 1]);
}

function indentOf(line) {
  return line.match(/^ */)[0].length;
}

// `tight` renders paragraphs without <p>, as list items in a list without blank lines look.
function renderBlocks(lines, tight) {
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (!line.trim()) {
      i += 1;
    } else if ((m = line.match(FENCE))) {
      const closing = new RegExp(`^ {0,3}${m[1][0]}{${m[1].length},}\\s*$`);
      const body = [];
      for (i += 1; i < lines.length && !closing.test(lines[i]); i += 1) body.push(lines[i]);
      i += 1;
      out.push(codeBlock(body.join("\n"), m[2]));
    } else if ((m = line.match(HEADING))) {
      const level = m[1].length;
      out.push(`<h${level}>${renderInline(m[2])}</h${level}>`);
      i += 1;
    } else if (RULE.test(line)) {
      out.push("<hr>");
      i += 1;
    } else if (QUOTE.test(line)) {
      const body = [];
      for (; i < lines.length && QUOTE.test(lines[i]); i += 1) body.push(lines[i].replace(QUOTE, ""));
      out.push(`<blockquote>${renderBlocks(body, false)}</blockquote>`);
    } else if (ITEM.test(line)) {
      i = renderList(lines, i, out);
    } else if (isTableStart(lines, i)) {
      i = renderTable(lines, i, out);
    } else {
      const body = [line];
      for (i += 1; i < lines.length && lines[i].trim() && !startsBlock(lines, i); i += 1) {
        body.push(lines[i]);
      }
      const html = body.map((l) => renderInline(l.trim())).join("<br>");
      out.push(tight ? html : `<p>${html}</p>`);
    }
  }
  return out.join("");
}

function codeBlock(code, lang) {
  const language = escapeHtml(lang);
  const label = language ? `<span class="code-lang">${language}</span>` : "<span></span>";
  const cls = language ? ` class="language-${language}"` : "";
  return `<div class="code-block"><div class="code-head">${label}` +
    `<button type="button" class="copy-code" data-testid="copy-code">Copy</button></div>` +
    `<pre><code${cls}>${escapeHtml(code)}</code></pre></div>`;
}

function renderList(lines, start, out) {
  const first = lines[start].match(ITEM);
  const base = first[1].length;
  const ordered = /\d/.test(first[2]);
  const items = [];
  let loose = false;
  let i = start;
  while (i < lines.length) {
    const line = lines[i];
    const m = line.match(ITEM);
    if (m && indentOf(line) <= base + 1) {
      if (/\d/.test(m[2]) !== ordered) break;
      items.push([m[3] || ""]);
      i += 1;
    } else if (!line.trim()) {
      let j = i + 1;
      while (j < lines.length && !lines[j].trim()) j += 1;
      const next = lines[j];
      const nextItem = next !== undefined && next.match(ITEM);
      if (next === undefined || (indentOf(next) <= base && !nextItem)) break;
      loose = true;
      items[items.length - 1].push("");
      i += 1;
    } else if (indentOf(line) > base) {
      items[items.length - 1].push(line);
      i += 1;
    } else {
      break;
    }
  }
  const body = items.map((item) => {
    const [head, ...rest] = item;
    const indent = Math.min(...rest.filter((l) => l.trim()).map(indentOf));
    const dedented = rest.map((l) => l.slice(Number.isFinite(indent) ? indent : 0));
    return `<li>${renderBlocks([head, ...dedented], !loose)}</li>`;
  }).join("");
  const number = parseInt(first[2], 10);
  const startAttr = ordered && number !== 1 ? ` start="${number}"` : "";
  out.push(ordered ? `<ol${startAttr}>${body}</ol>` : `<ul>${body}</ul>`);
  return i;
}

function splitRow(line) {
  const cells = line.trim().replace(/^\|/, "").replace(/\|$/, "").split(/(?<!\\)\|/);
  return cells.map((cell) => cell.trim().replace(/\\\|/g, "|"));
}

function renderTable(lines, start, out) {
  const head = splitRow(lines[start]);
  const aligns = splitRow(lines[start + 1]).map((c) =>
    c.endsWith(":") ? (c.startsWith(":") ? "center" : "right") : (c.startsWith(":") ? "left" : ""));
  const cell = (tag, text, col) => {
    const align = aligns[col] ? ` class="align-${aligns[col]}"` : "";
    return `<${tag}${align}>${renderInline(text)}</${tag}>`;
  };
  let i = start + 2;
  const rows = [];
  for (; i < lines.length && lines[i].trim() && lines[i].includes("|"); i += 1) {
    const cells = splitRow(lines[i]);
    rows.push(`<tr>${head.map((_, col) => cell("td", cells[col] || "", col)).join("")}</tr>`);
  }
  out.push(`<div class="table-wrap"><table><thead><tr>${head.map((t, col) => cell("th", t, col)).join("")}` +
    `</tr></thead><tbody>${rows.join("")}</tbody></table></div>`);
  return i;
}

// Inline markup. Code spans, images and links are cut out first and replaced by \u0000N\u0000
// placeholders so emphasis never applies inside them; the rest is escaped, then emphasised.
export function renderInline(text) {
  const slots = [];
  const keep = (html) => `\u0000${slots.push(html) - 1}\u0000`;
  let s = text.replace(/\u0000/g, "");
  s = s.replace(/(`+)([\s\S]*?[^`])\1(?!`)/g, (_, ticks, code) => keep(`<code>${escapeHtml(code.trim())}</code>`));
  s = s.replace(/!\[([^\]]*)\]\(\s*<?([^\s)>]+)>?(?:\s+"[^"]*")?\s*\)/g, (whole, alt, url) => {
    const src = sameOriginImage(url);
    if (src) return keep(`<img src="${escapeHtml(src)}" alt="${escapeHtml(alt)}" loading="lazy">`);
    return safeLink(url) ? keep(link(url, escapeHtml(alt || url))) : keep(escapeHtml(whole));
  });
  s = s.replace(/\[([^\]]+)\]\(\s*<?([^\s)>]+)>?(?:\s+"[^"]*")?\s*\)/g, (whole, label, url) =>
    keep(safeLink(url) ? link(url, emphasise(escapeHtml(label))) : escapeHtml(whole)));
  s = s.replace(/\bhttps?:\/\/[^\s<>"'`\u0000]*[^\s<>"'`\u0000.,:;!?)\]]/g, (url) => keep(link(url, escapeHtml(url))));
  s = emphasise(escapeHtml(s));
  const restore = (str) => str.replace(/\u0000(\d+)\u0000/g, (_, n) => restore(slots[Number(n)]));
  return restore(s);
}

function link(url, labelHtml) {
  return `<a href="${escapeHtml(url)}" target="_blank" rel="noopener noreferrer">${labelHtml}</a>`;
}

// Input is already escaped; only *, _ and ~ (never escaped) drive these patterns.
function emphasise(html) {
  return html
    .replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[^\w])__(?=\S)([\s\S]*?\S)__(?!\w)/g, "$1<strong>$2</strong>")
    .replace(/\*(?=[^\s*])([^*]*?[^\s*])\*/g, "<em>$1</em>")
    .replace(/(^|[^\w])_(?=[^\s_])([^_]*?[^\s_])_(?!\w)/g, "$1<em>$2</em>")
    .replace(/~~(?=\S)([\s\S]*?\S)~~/g, "<del>$1</del>");
}
