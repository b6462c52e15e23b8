// driver.mjs — the Node side of tests/lib/pw.py: drives headless Chromium
// through playwright-core and answers JSON-lines commands on stdin.
//
//   stdin:  {"id": 1, "cmd": "navigate", "args": {"page": 1, "url": "…"}}
//   stdout: {"id": 1, "ok": true, "result": …}
//           {"id": 1, "ok": false, "error": "…", "kind": "js"|"nav"|"error"}
//
// The first line on stdout is {"id": 0, "ok": true, "result": {"ready": …}}
// once the browser runs (or ok: false if it could not start).  Every page
// lives in its own browser context (viewport, isMobile, colorScheme), and
// records what should fail a test: uncaught exceptions (pageerror),
// console errors (Chromium's own error log entries — CSP violations, failed
// loads — arrive as console errors too), failed requests, and
// securitypolicyviolation events (window.__cspViolations, read by pw.py).
// stdin closing (the Python side went away) closes the browser and exits.

import { chromium } from 'playwright-core';
import readline from 'node:readline';

const EXECUTABLE = process.env.CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--no-default-browser-check', '--disable-extensions', '--disable-default-apps',
  '--disable-breakpad', '--mute-audio', '--password-store=basic', '--use-mock-keychain',
  '--disable-features=Translate,MediaRouter,OptimizationHints', '--hide-scrollbars'];

// Runs in every page before its own scripts: records CSP violations.
const CSP_HOOK = `(() => {
  if (window.__cspViolations) return;
  const v = [];
  Object.defineProperty(window, "__cspViolations", {value: v});
  const rec = (e) => v.push({directive: e.effectiveDirective || e.violatedDirective,
    blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber, sample: e.sample});
  document.addEventListener("securitypolicyviolation", rec, true);
})();`;

const NAV_ERRORS = ['Execution context was destroyed', 'Inspected target navigated or closed',
  'Cannot find context with specified id'];

let browser = null;
let nextPage = 0;
const pages = new Map();   // id -> {context, page, cdp, rec}

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function getPage(id) {
  const p = pages.get(id);
  if (!p) throw new Error('no such page: ' + id);
  return p;
}

async function newPage({ width = 1000, height = 800, mobile = false, dark = null }) {
  const opts = { viewport: { width, height }, deviceScaleFactor: 1, isMobile: !!mobile,
    hasTouch: false, colorScheme: dark === null ? 'no-preference' : (dark ? 'dark' : 'light') };
  const context = await browser.newContext(opts);
  await context.addInitScript({ content: CSP_HOOK });
  const page = await context.newPage();
  const rec = { console: [], exceptions: [], failed: [] };
  page.on('pageerror', (e) => {
    const top = (e.stack || '').split('\n').find((l) => /^\s+at /.test(l)) || '';
    rec.exceptions.push(`${e.stack && e.stack.startsWith(e.name) ? e.stack.split('\n')[0] : String(e)}${top ? ' ' + top.trim() : ''}`);
  });
  page.on('console', (m) => {
    const loc = m.location() || {};
    rec.console.push({ type: m.type(), text: m.text(), url: loc.url || null,
      line: loc.lineNumber ?? null });
  });
  page.on('requestfailed', (r) => {
    const f = r.failure();
    const err = f ? f.errorText : '?';
    // a fetch the page aborts itself (Stop, leaving the page) is no failure
    if (/ERR_ABORTED/.test(err)) return;
    rec.failed.push({ url: r.url(), error: err, method: r.method() });
  });
  const id = ++nextPage;
  pages.set(id, { context, page, cdp: null, rec });
  return id;
}

async function evaluate(page, expr, timeout) {
  // A string is evaluated as an expression (over CDP: the page's CSP does
  // not apply); a promise it returns is awaited.
  return await withTimeout(page.evaluate(expr), timeout, 'evaluate');
}

function withTimeout(promise, ms, what) {
  if (!ms) return promise;
  let t;
  return Promise.race([promise, new Promise((_, rej) => {
    t = setTimeout(() => rej(new Error(`${what}: timed out after ${ms} ms`)), ms);
  })]).finally(() => clearTimeout(t));
}

const COMMANDS = {
  async new_page(a) { return await newPage(a); },

  async close_page({ page }) {
    const p = pages.get(page);
    if (!p) return null;
    pages.delete(page);
    await p.context.close();
    return null;
  },

  async navigate({ page, url, ms }) {
    const p = getPage(page);
    const r = await p.page.goto(url, { waitUntil: 'load', timeout: ms });
    return r ? r.status() : null;
  },

  async evaluate({ page, expr, ms }) {
    const v = await evaluate(getPage(page).page, expr, ms);
    return v === undefined ? null : v;
  },

  async set_viewport({ page, width, height }) {
    await getPage(page).page.setViewportSize({ width, height });
    return null;
  },

  async emulate_media({ page, dark }) {
    await getPage(page).page.emulateMedia({
      colorScheme: dark === null ? 'no-preference' : (dark ? 'dark' : 'light') });
    return null;
  },

  async screenshot({ page, path, full_page }) {
    await getPage(page).page.screenshot({ path, fullPage: !!full_page, type: 'png' });
    return path;
  },

  async grant_permissions({ page, permissions, origin }) {
    await getPage(page).context.grantPermissions(permissions, origin ? { origin } : {});
    return null;
  },

  // any CDP command in this page's target (e.g. Input.dispatchKeyEvent)
  async send({ page, method, params }) {
    const p = getPage(page);
    if (!p.cdp) p.cdp = await p.context.newCDPSession(p.page);
    return await p.cdp.send(method, params || {});
  },

  async records({ page }) { return getPage(page).rec; },

  async clear({ page }) {
    const r = getPage(page).rec;
    r.console.length = 0; r.exceptions.length = 0; r.failed.length = 0;
    return null;
  },

  async quit() {
    await shutdown(0);
  },
};

let closing = false;
async function shutdown(code) {
  if (closing) return;
  closing = true;
  try {
    if (browser) await withTimeout(browser.close(), 10000, 'browser.close');
  } catch (e) {
    process.stderr.write('driver: browser.close: ' + e + '\n');
  }
  out({ id: -1, ok: true, result: 'bye' });
  process.exit(code);
}

async function main() {
  try {
    browser = await chromium.launch({ executablePath: EXECUTABLE, headless: true,
      args: ARGS, timeout: 30000, handleSIGINT: false });
  } catch (e) {
    out({ id: 0, ok: false, error: String(e && e.message || e), kind: 'error' });
    process.exit(1);
  }
  out({ id: 0, ok: true, result: { ready: true, version: browser.version() } });
  browser.on('disconnected', () => { if (!closing) { process.stderr.write('driver: the browser went away\n'); process.exit(2); } });

  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on('line', async (line) => {
    if (!line.trim()) return;
    let msg;
    try {
      msg = JSON.parse(line);
    } catch (e) {
      out({ id: null, ok: false, error: 'bad JSON: ' + e.message, kind: 'error' });
      return;
    }
    const { id, cmd, args } = msg;
    const fn = COMMANDS[cmd];
    if (!fn) {
      out({ id, ok: false, error: 'unknown command: ' + cmd, kind: 'error' });
      return;
    }
    try {
      const result = await fn(args || {});
      out({ id, ok: true, result: result === undefined ? null : result });
    } catch (e) {
      const text = String(e && e.message || e);
      let kind = 'error';
      if (NAV_ERRORS.some((m) => text.includes(m))) kind = 'nav';
      else if (cmd === 'evaluate' && !/timed out after/.test(text)) kind = 'js';
      out({ id, ok: false, error: text, kind });
    }
  });
  rl.on('close', () => shutdown(0));
}

main();
