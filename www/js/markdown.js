// markdown.js — a small Markdown renderer that is safe by construction.
//
// Model output is untrusted.  This module never parses HTML: it builds DOM
// nodes with createElement / createTextNode / textContent only, so any
// "<script>", "<img onerror=…>" or similar in the text stays text.  Links
// become <a> only for http: and https: URLs (rel="noopener noreferrer",
// target=_blank); anything else is shown as the literal source text.
//
// Supported: paragraphs (single newlines are line breaks), ATX headings,
// bullet / numbered lists (nested by indentation), block quotes, horizontal
// rules, fenced code blocks (``` or ~~~, with a Copy button), GFM tables,
// and inline code, **strong**, *em* / _em_, ~~strike~~, [links](https://…)
// and bare https:// URLs, backslash escapes.
//
// Streaming-friendly: it re-renders from the whole text each time, and an
// unclosed code fence renders as a code block up to the end of the text.
//
//   import { renderMarkdown } from "./markdown.js";
//   renderMarkdown(text, element);   // replaces element's children

import { el } from "./dom.js";

const LIST_RE = /^( {0,3})([-*+]|\d{1,9}[.)])(?:[ \t]+(.*)|$)/;
const FENCE_RE = /^ {0,3}(`{3,}|~{3,})[ \t]*([^`\s]*)[^`]*$/;
const HEADING_RE = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const HR_RE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const QUOTE_RE = /^ {0,3}> ?(.*)$/;
const TABLE_SEP_RE = /^ *\|? *:?-+:? *(?:\| *:?-+:? *)*\|? *$/;
const BLANK_RE = /^[ \t]*$/;

export function isSafeUrl(url) {
  // http(s) only; no whitespace or control characters anywhere
  return /^https?:\/\/[^\s\x00-\x1f\x7f]+$/i.test(url);
}

function link(href, children) {
  const a = el("a");
  a.href = href;
  a.rel = "noopener noreferrer";
  a.target = "_blank";
  a.append(...children);
  return a;
}

// --- inline ----------------------------------------------------------------

function findClose(s, mark, from) {
  const c = mark[0];
  let j = s.indexOf(mark, from);
  while (j >= 0) {
    const before = s[j - 1];
    const after = s[j + mark.length];
    const okBefore = before !== undefined && !/\s/.test(before);
    const okSingle = mark.length === 2 || (after !== c && before !== c);
    const okUnderscore = c !== "_" || !after || !/[A-Za-z0-9]/.test(after);
    if (okBefore && okSingle && okUnderscore) return j;
    j = s.indexOf(mark, j + 1);
  }
  return -1;
}

const LINK_RE = /\[([^\]\n]*)\]\([ \t]*(<[^>\n]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)(?:[ \t]+"[^"\n]*")?[ \t]*\)/y;
const AUTO_ANGLE_RE = /<(https?:\/\/[^\s<>]+)>/y;
const AUTO_RE = /https?:\/\/[^\s<>"'`]+/y;

export function renderInline(s) {
  const out = [];
  let buf = "";
  const flush = () => {
    if (buf) out.push(document.createTextNode(buf));
    buf = "";
  };
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === "\\" && i + 1 < s.length && /[!-/:-@[-`{-~]/.test(s[i + 1])) {
      buf += s[i + 1];
      i += 2;
      continue;
    }
    if (c === "\n") {
      flush();
      out.push(el("br"));
      i++;
      continue;
    }
    if (c === "`") {
      let n = 1;
      while (s[i + n] === "`") n++;
      const fence = "`".repeat(n);
      // the closing run has exactly n backticks
      let end = s.indexOf(fence, i + n);
      while (end >= 0 && s[end + n] === "`") {
        let k = end;
        while (s[k] === "`") k++;
        end = s.indexOf(fence, k);
      }
      if (end >= 0) {
        flush();
        const code = el("code");
        let body = s.slice(i + n, end).replace(/\n/g, " ");
        if (/^ .*[^ ].* $/.test(body)) body = body.slice(1, -1);
        code.textContent = body;
        out.push(code);
        i = end + n;
        continue;
      }
      buf += fence;
      i += n;
      continue;
    }
    if (c === "[") {
      LINK_RE.lastIndex = i;
      const m = LINK_RE.exec(s);
      if (m) {
        flush();
        const url = m[2].replace(/^<(.*)>$/, "$1");
        if (isSafeUrl(url)) out.push(link(url, renderInline(m[1])));
        else out.push(document.createTextNode(m[0]));   // inert: shown as written
        i += m[0].length;
        continue;
      }
    }
    if (c === "<") {
      AUTO_ANGLE_RE.lastIndex = i;
      const m = AUTO_ANGLE_RE.exec(s);
      if (m && isSafeUrl(m[1])) {
        flush();
        out.push(link(m[1], [document.createTextNode(m[1])]));
        i += m[0].length;
        continue;
      }
    }
    if (c === "h" && (i === 0 || !/[A-Za-z0-9]/.test(s[i - 1]))) {
      AUTO_RE.lastIndex = i;
      const m = AUTO_RE.exec(s);
      if (m) {
        let url = m[0].replace(/[.,:;!?)\]}*_~]+$/, "");
        // keep a closing parenthesis that has its opening one in the URL
        while (m[0].length > url.length && m[0][url.length] === ")" &&
               (url.split("(").length > url.split(")").length)) url += ")";
        if (url.length > "https://".length - 1) {
          flush();
          out.push(link(url, [document.createTextNode(url)]));
          i += url.length;
          continue;
        }
      }
    }
    if (c === "*" || c === "_" || c === "~") {
      let n = 1;
      while (s[i + n] === c) n++;
      if (c === "_" && i > 0 && /[A-Za-z0-9]/.test(s[i - 1])) {   // snake_case
        buf += s.slice(i, i + n);
        i += n;
        continue;
      }
      const len = c === "~" ? 2 : Math.min(n, 2);
      if (n >= len && !/\s/.test(s[i + len] || " ")) {
        const mark = c.repeat(len);
        const end = findClose(s, mark, i + len + 1);
        if (end > i + len) {
          flush();
          const e = el(c === "~" ? "del" : len === 2 ? "strong" : "em");
          e.append(...renderInline(s.slice(i + len, end)));
          out.push(e);
          i = end + len;
          continue;
        }
      }
      buf += s.slice(i, i + n);
      i += n;
      continue;
    }
    buf += c;
    i++;
  }
  flush();
  return out;
}

// --- blocks ----------------------------------------------------------------

function codeBlock(text, lang, closed) {
  const wrap = el("div", "code-block");
  if (!closed) wrap.dataset.open = "true";
  const head = el("div", "code-head");
  const label = el("span", "code-lang");
  label.textContent = lang || "code";
  const copy = el("button", "copy-code");
  copy.type = "button";
  copy.textContent = "Copy";
  copy.setAttribute("aria-label", "Copy code");
  head.append(label, copy);
  const pre = el("pre");
  const code = el("code");
  if (lang) code.dataset.lang = lang;
  code.textContent = text;
  pre.append(code);
  wrap.append(head, pre);
  return wrap;
}

function splitRow(line) {
  let s = line.trim();
  if (s.startsWith("|")) s = s.slice(1);
  if (s.endsWith("|") && !s.endsWith("\\|")) s = s.slice(0, -1);
  const cells = [];
  let cur = "";
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "\\" && s[i + 1] === "|") { cur += "|"; i++; continue; }
    if (s[i] === "|") { cells.push(cur.trim()); cur = ""; continue; }
    cur += s[i];
  }
  cells.push(cur.trim());
  return cells;
}

function table(header, sep, rows) {
  const aligns = splitRow(sep).map((c) =>
    c.startsWith(":") && c.endsWith(":") ? "center" : c.endsWith(":") ? "right" :
      c.startsWith(":") ? "left" : "");
  const wrap = el("div", "table-wrap");
  const t = el("table");
  const thead = el("thead");
  const tr = el("tr");
  splitRow(header).forEach((c, k) => {
    const th = el("th");
    if (aligns[k]) th.className = "align-" + aligns[k];
    th.append(...renderInline(c));
    tr.append(th);
  });
  thead.append(tr);
  t.append(thead);
  if (rows.length) {
    const tbody = el("tbody");
    for (const r of rows) {
      const row = el("tr");
      const cells = splitRow(r);
      for (let k = 0; k < tr.children.length; k++) {
        const td = el("td");
        if (aligns[k]) td.className = "align-" + aligns[k];
        td.append(...renderInline(cells[k] ?? ""));
        row.append(td);
      }
      tbody.append(row);
    }
    t.append(tbody);
  }
  wrap.append(t);
  return wrap;
}

function startsBlock(line, next) {
  return FENCE_RE.test(line) || HEADING_RE.test(line) || HR_RE.test(line) ||
    QUOTE_RE.test(line) || LIST_RE.test(line) ||
    (line.includes("|") && next !== undefined && TABLE_SEP_RE.test(next) && next.includes("-"));
}

function indentOf(line) {
  return line.match(/^ */)[0].length;
}

function parseBlocks(lines) {
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (BLANK_RE.test(line)) { i++; continue; }

    if ((m = FENCE_RE.exec(line))) {
      const fence = m[1];
      const close = new RegExp("^ {0,3}" + (fence[0] === "`" ? "`" : "~") +
                               "{" + fence.length + ",}[ \\t]*$");
      const body = [];
      let closed = false;
      i++;
      while (i < lines.length) {
        if (close.test(lines[i])) { closed = true; i++; break; }
        body.push(lines[i]);
        i++;
      }
      out.push(codeBlock(body.join("\n"), m[2], closed));
      continue;
    }
    if ((m = HEADING_RE.exec(line))) {
      const h = el("h" + Math.min(6, m[1].length + 1));
      h.append(...renderInline(m[2] || ""));
      out.push(h);
      i++;
      continue;
    }
    if (HR_RE.test(line)) {
      out.push(el("hr"));
      i++;
      continue;
    }
    if (QUOTE_RE.test(line)) {
      const body = [];
      while (i < lines.length && !BLANK_RE.test(lines[i])) {
        const q = QUOTE_RE.exec(lines[i]);
        body.push(q ? q[1] : lines[i]);
        i++;
      }
      const bq = el("blockquote");
      bq.append(...parseBlocks(body));
      out.push(bq);
      continue;
    }
    if ((m = LIST_RE.exec(line))) {
      const ordered = /\d/.test(m[2]);
      const list = el(ordered ? "ol" : "ul");
      if (ordered) {
        const start = parseInt(m[2], 10);
        if (start !== 1) list.start = start;
      }
      let loose = false;
      while (i < lines.length) {
        const mm = LIST_RE.exec(lines[i]);
        if (!mm || /\d/.test(mm[2]) !== ordered) break;
        const contentIndent = mm[1].length + mm[2].length + 1;
        const item = [mm[3] ?? ""];
        i++;
        while (i < lines.length) {
          const l = lines[i];
          if (BLANK_RE.test(l)) {
            if (i + 1 < lines.length && indentOf(lines[i + 1]) >= contentIndent &&
                !BLANK_RE.test(lines[i + 1])) {
              item.push("");
              loose = true;
              i++;
              continue;
            }
            break;
          }
          if (indentOf(l) >= Math.min(contentIndent, 4) && indentOf(l) >= 2) {
            item.push(l.slice(Math.min(indentOf(l), contentIndent)));
            i++;
            continue;
          }
          if (startsBlock(l, lines[i + 1])) break;
          item.push(l);             // lazy continuation of the paragraph
          i++;
        }
        const li = el("li");
        const kids = parseBlocks(item);
        if (!loose && kids[0] && kids[0].tagName === "P") {
          li.append(...kids[0].childNodes, ...kids.slice(1));
        } else {
          li.append(...kids);
        }
        list.append(li);
        // blank lines between items of the same list
        let j = i;
        while (j < lines.length && BLANK_RE.test(lines[j])) j++;
        if (j > i && j < lines.length) {
          const nx = LIST_RE.exec(lines[j]);
          if (nx && /\d/.test(nx[2]) === ordered && nx[1].length < 2) i = j;
        }
      }
      out.push(list);
      continue;
    }
    if (line.includes("|") && i + 1 < lines.length && lines[i + 1].includes("-") &&
        TABLE_SEP_RE.test(lines[i + 1])) {
      const rows = [];
      let j = i + 2;
      while (j < lines.length && !BLANK_RE.test(lines[j]) && lines[j].includes("|")) {
        rows.push(lines[j]);
        j++;
      }
      out.push(table(line, lines[i + 1], rows));
      i = j;
      continue;
    }
    // paragraph
    const para = [line.trim()];
    i++;
    while (i < lines.length && !BLANK_RE.test(lines[i]) &&
           !startsBlock(lines[i], lines[i + 1])) {
      para.push(lines[i].trim());
      i++;
    }
    const p = el("p");
    p.append(...renderInline(para.join("\n")));
    out.push(p);
  }
  return out;
}

export function renderMarkdown(text, root) {
  const lines = String(text).replace(/\r\n?/g, "\n").split("\n");
  root.replaceChildren(...parseBlocks(lines));
  return root;
}
