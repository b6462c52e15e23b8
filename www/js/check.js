// check.js — the streaming self-check behind check.html.
//
// Asks chatstream for a test stream (GET api/check: a "tick" event every
// 100 ms for 4 s, each padded to ~2 KiB so a 64 KiB buffer shows up as a
// burst), notes when each tick arrives and how many bytes had arrived by
// then, and tells the site owner in plain words whether the deployment
// streams, buffers, cuts the stream off, or fails — with the likely fix for
// the web server /api/info names.
//
// The decision is the pure function verdict(), exported with its helpers so
// Node can test it (tests/unit-js/check.test.mjs); the page code at the
// bottom runs only in a browser.  No inline scripts or styles: everything
// visual is a CSS class in check.css or an SVG attribute, so the page works
// under Content-Security-Policy: default-src 'self'.

import { el, svgEl } from "./dom.js";
import { createParser } from "./sse.js";

export const CHECK = { seconds: 4, intervalMs: 100, pad: 2048 };
export const CHECK_URL =
  `api/check?seconds=${CHECK.seconds}&interval_ms=${CHECK.intervalMs}&pad=${CHECK.pad}`;
export const INFO_URL = "api/info";

// A tick "bunches" with the one before it when it arrived less than this
// share of the server's sending gap after it (arrived together, sent apart).
const BUNCH_GAP = 0.25;
// Streams: the arrivals spread over at least this share of the sending
// spread, and at most this share of the ticks arrived in bursts of 3 or more.
const MIN_SPREAD = 0.7;
const MAX_BUNCHED = 0.25;
// A first tick later than this (ms after the request) gets a remark.  A
// late first tick alone is not buffering: a buffer that held the first tick
// releases it together with the ticks behind it, which shows up as a burst
// (and a low spread); if the rest then arrive as spaced as they were sent,
// the server was only slow to start (e.g. spawning a FastCGI process).
const SLOW_START_MS = 2000;

// --- formatting --------------------------------------------------------------

export function fmtMs(ms) {
  if (!Number.isFinite(ms)) return "?";
  if (Math.abs(ms) < 1000) return `${Math.round(ms)}\u00a0ms`;
  return `${(ms / 1000).toFixed(1)}\u00a0s`;
}

export function fmtBytes(n) {
  if (!Number.isFinite(n)) return "?";
  if (n < 1024) return `${Math.round(n)}\u00a0bytes`;
  const k = n / 1024;
  return `${k < 10 ? k.toFixed(1) : Math.round(k)}\u00a0KiB`;
}

const plural = (n, one, many = one + "s") => `${n} ${n === 1 ? one : many}`;

// --- what server is this -----------------------------------------------------

// "apache", "nginx", "lighttpd" or "unknown", from SERVER_SOFTWARE.
export function serverKind(info) {
  const sw = String(info?.server_software ?? "").toLowerCase();
  if (sw.includes("apache")) return "apache";
  if (sw.includes("nginx") || sw.includes("openresty")) return "nginx";
  if (sw.includes("lighttpd")) return "lighttpd";
  return "unknown";
}

// --- measurements ------------------------------------------------------------

// ticks: [{seq, elapsedMs (server, since its first tick), arrivedMs (browser,
// since the request), bytes (body bytes received when it arrived)}]
export function analyse(ticks) {
  const t = [...ticks].sort((a, b) => a.seq - b.seq);
  const n = t.length;
  if (n === 0) return null;
  const first = t[0], last = t[n - 1];
  const serverSpreadMs = last.elapsedMs - first.elapsedMs;
  const arrivalSpreadMs = last.arrivedMs - first.arrivedMs;
  const ratio = serverSpreadMs > 0 ? arrivalSpreadMs / serverSpreadMs : 1;

  // Bursts: runs of ticks that arrived (nearly) together although the
  // server sent them apart.
  const runs = [[first]];
  for (let i = 1; i < n; i++) {
    const sentGap = t[i].elapsedMs - t[i - 1].elapsedMs;
    const gotGap = t[i].arrivedMs - t[i - 1].arrivedMs;
    if (gotGap <= BUNCH_GAP * sentGap) runs[runs.length - 1].push(t[i]);
    else runs.push([t[i]]);
  }
  let prevBytes = 0;
  const bursts = runs.map((r) => {
    const end = r[r.length - 1];
    const b = {
      count: r.length, fromSeq: r[0].seq, toSeq: end.seq,
      atMs: r[0].arrivedMs, bytes: end.bytes - prevBytes,
    };
    prevBytes = end.bytes;
    return b;
  });
  const big = bursts.filter((b) => b.count >= 3);
  const bunched = big.reduce((s, b) => s + b.count, 0);

  // How long a tick was held: its transit time minus the quickest one's.
  const lags = t.map((x) => x.arrivedMs - x.elapsedMs);
  const minLag = Math.min(...lags);
  const maxHoldMs = Math.max(...lags) - minLag;

  return {
    count: n, firstMs: first.arrivedMs, lastMs: last.arrivedMs,
    serverSpreadMs, arrivalSpreadMs, ratio, bursts, bigBursts: big,
    bunchedShare: bunched / n, largestBurst: Math.max(...bursts.map((b) => b.count)),
    maxHoldMs, sentOffsetMs: minLag, firstBytes: first.bytes,
  };
}

// The buffer size a burst pattern suggests: the whole answer when it all
// came at once, else the typical size of the bursts (the last one is left
// out when there are others: the end of the stream flushes it early).
export function estimateHeld(a, totalBytes) {
  if (a.bursts.length === 1 || a.arrivalSpreadMs < 0.1 * a.serverSpreadMs) {
    return { whole: true, bytes: totalBytes };
  }
  let sizes = (a.bigBursts.length ? a.bigBursts : a.bursts);
  if (sizes.length > 1 && sizes[sizes.length - 1] === a.bursts[a.bursts.length - 1]) {
    sizes = sizes.slice(0, -1);
  }
  const v = sizes.map((b) => b.bytes).filter(Number.isFinite).sort((x, y) => x - y);
  const bytes = v.length ? v[Math.floor((v.length - 1) / 2)] : a.firstBytes;
  return { whole: false, bytes };
}

// --- advice ------------------------------------------------------------------

const LOG_HINT = {
  text: "chatstream logs one line per request (\"chatstream: … path=/api/check … " +
    "outcome=…\") to the web server's error log under mod_fcgid and CGI, or to the " +
    "journal under systemd and Debian's lighttpd (docs/deploy.md says where); it tells " +
    "whether chatstream finished the stream and how long it took.",
};

function bufferFixes(kind, info) {
  const gw = info?.gateway;
  switch (kind) {
    case "lighttpd":
      return [
        { text: "lighttpd collects the whole answer from chatstream before sending it, " +
            "unless lighttpd.conf says otherwise. Add this line to lighttpd.conf and restart lighttpd:",
          code: "server.stream-response-body = 2" },
        { text: "If mod_deflate is enabled, leave text/event-stream out of deflate.mimetypes." },
      ];
    case "apache":
      if (gw === "cgi") {
        return [
          { text: "Apache passes a CGI program's output on as it comes, so something else holds " +
              "it back: most often mod_deflate compressing text/event-stream, or a proxy or CDN " +
              "in front of Apache. Exclude text/event-stream from compression, or run chatstream " +
              "under mod_fcgid with:", code: "FcgidOutputBufferSize 0" },
        ];
      }
      return [
        { text: "With mod_fcgid (common on shared hosting), add this to the server or " +
            "virtual-host configuration (it has no effect in .htaccess) and reload Apache:",
          code: "FcgidOutputBufferSize 0" },
        { text: "With mod_proxy_fcgi, add flushpackets=on to the ProxyPass line:",
          code: "ProxyPass \"/api/\" \"unix:/run/chatstream/chatstream.sock|fcgi://localhost/api/\" flushpackets=on timeout=60" },
        { text: "Also make sure mod_deflate does not compress text/event-stream." },
      ];
    case "nginx":
      return [
        { text: "chatstream sends \"X-Accel-Buffering: no\", which turns nginx's own buffering " +
            "off for this answer (fastcgi_buffering off; in the location does the same). " +
            "So the buffering most likely happens in something between nginx and your browser: " +
            "a CDN, a load balancer or another reverse proxy. Turn off response buffering for " +
            "/api/ there (for an nginx proxy in front:", code: "proxy_buffering off;" },
        { text: "If nginx compresses text/event-stream (gzip_types), remove it from the list." },
      ];
    default:
      return [
        { text: "Something between chatstream and your browser holds the answer back: the web " +
            "server's FastCGI or CGI output buffering, a compression filter (gzip/deflate) applied " +
            "to text/event-stream, or a proxy or CDN in front. The usual settings are:" },
        { text: "Apache with mod_fcgid:", code: "FcgidOutputBufferSize 0" },
        { text: "Apache with mod_proxy_fcgi:", code: "ProxyPass … flushpackets=on" },
        { text: "lighttpd:", code: "server.stream-response-body = 2" },
        { text: "nginx:", code: "fastcgi_buffering off;" },
      ];
  }
}

function cutoffFixes(kind, info) {
  const ka = Number.isFinite(info?.keepalive_seconds) ? info.keepalive_seconds : 15;
  const kaText = `${ka}\u00a0s`;
  const between = {
    text: "A proxy, CDN or firewall between the server and your browser can also end " +
      "responses that last long or stay quiet; its idle timeout must be longer than " +
      `chatstream's keep-alive interval (keepalive_seconds, ${kaText} here).`,
  };
  switch (kind) {
    case "apache":
      return [
        { text: `With mod_fcgid, FcgidIOTimeout must be longer than keepalive_seconds (${kaText}) ` +
            "and FcgidBusyTimeout longer than chatstream's total_timeout_seconds (900), e.g.:",
          code: "FcgidIOTimeout 60\nFcgidBusyTimeout 960" },
        { text: "With mod_proxy_fcgi, raise timeout= on the ProxyPass line (or ProxyTimeout)." },
        between, LOG_HINT,
      ];
    case "nginx":
      return [
        { text: `fastcgi_read_timeout must be longer than keepalive_seconds (${kaText}), e.g.:`,
          code: "fastcgi_read_timeout 120s;" },
        between, LOG_HINT,
      ];
    case "lighttpd":
      return [
        { text: "lighttpd's own time limits (server.max-write-idle, server.max-read-idle) are " +
            "minutes long, so a stream cut off within seconds usually means chatstream stopped " +
            "(see the error log) or something in between ended it." },
        between, LOG_HINT,
      ];
    default:
      return [
        { text: "Look for a time limit on FastCGI or CGI responses in the web server " +
            "(Apache: FcgidIOTimeout, FcgidBusyTimeout; nginx: fastcgi_read_timeout) and make " +
            `it longer than keepalive_seconds (${kaText}).` },
        between, LOG_HINT,
      ];
  }
}

// --- the verdict ---------------------------------------------------------------

// r: {
//   ticks: [{seq, elapsedMs, arrivedMs, bytes}],
//   done: bool          — "data: [DONE]" arrived
//   httpStatus: number  — null if no HTTP response at all
//   contentType: string
//   error: {type, message} — the JSON error body of a non-2xx answer
//   streamError: {type, message} — an "event: error" in the stream
//   failure: string     — fetch()/read() failed with this message
//   timedOut: bool      — the page gave up waiting
//   endedMs: number     — when the stream ended or failed (ms since request)
//   totalBytes: number, expected: number (ticks the server announced),
//   info: the api/info JSON or null
// }
// Returns {kind: "streams"|"buffers"|"cutoff"|"error", title, summary,
//   notes: [text], fixes: [{text, code?}], numbers: [[label, value]],
//   stats, server}.
export function verdict(r) {
  const info = r.info ?? null;
  const server = serverKind(info);
  const ticks = r.ticks ?? [];
  const expected = r.expected || ticks[0]?.of || ticks.length;
  const total = r.totalBytes ?? (ticks.length ? ticks[ticks.length - 1].bytes : 0);
  const a = analyse(ticks);
  const numbers = [];
  const out = (kind, title, summary, fixes = [], notes = []) =>
    ({ kind, title, summary, fixes, notes, numbers, stats: a, server });

  if (a) {
    numbers.push(["First tick arrived after", fmtMs(a.firstMs)]);
    numbers.push(["Ticks received", `${a.count} of ${expected}`]);
    numbers.push(["Server sent them over", fmtMs(a.serverSpreadMs)]);
    numbers.push(["Your browser got them over",
      `${fmtMs(a.arrivalSpreadMs)} (${Math.round(a.ratio * 100)} %)`]);
    numbers.push(["Bursts of 3 or more ticks", a.bigBursts.length === 0 ? "none" :
      `${a.bigBursts.length} (largest: ${a.largestBurst} ticks)`]);
    numbers.push(["Longest a tick was held back", fmtMs(a.maxHoldMs)]);
  }
  if (Number.isFinite(total) && total > 0) numbers.push(["Bytes received", fmtBytes(total)]);

  // 1. No usable HTTP answer.
  if (r.httpStatus == null) {
    return out("error", "The check could not reach the server",
      `The request for api/check failed before any answer came back` +
      (r.failure ? ` (${r.failure})` : "") + ". Is the site up, and is /api/ passed to chatstream?",
      [LOG_HINT]);
  }
  if (r.httpStatus < 200 || r.httpStatus > 299) {
    const msg = r.error?.message;
    if (r.httpStatus === 404 && (/self_check|self-check/i.test(msg ?? "") || info?.self_check === false)) {
      return out("error", "The self-check is turned off",
        "This server's chatstream has the self-check disabled (self_check = no), so it " +
        "cannot be tested from here.",
        [{ text: "To run the check, set this in chatstream.conf (it never calls the AI model " +
            "and costs nothing):", code: "self_check = yes" }]);
    }
    if (r.httpStatus === 404 && !msg) {
      return out("error", "The check was not found (HTTP 404)",
        "The server answered api/check with 404 Not Found, and not in chatstream's words: " +
        "/api/ is probably not passed to chatstream, or this chatstream predates the self-check.",
        [LOG_HINT]);
    }
    return out("error", `The server answered with an error (HTTP ${r.httpStatus})`,
      msg ? `chatstream said: “${msg}”` :
        `api/check answered HTTP ${r.httpStatus} without chatstream's error message, so the ` +
        "web server itself refused or failed: check its error log.",
      [LOG_HINT]);
  }
  if (r.contentType != null && !/^text\/event-stream/i.test(r.contentType)) {
    return out("error", "The answer was not an event stream",
      `api/check answered with “${r.contentType || "no content type"}” instead of ` +
      "text/event-stream: something other than chatstream answered (a rewrite rule, a " +
      "single-page-app fallback or an error page).",
      [LOG_HINT]);
  }
  if (r.streamError) {
    return out("error", "chatstream stopped the check",
      `The stream started, then chatstream reported: “${r.streamError.message}”` +
      (r.streamError.type ? ` (${r.streamError.type})` : "") + ".", [LOG_HINT]);
  }

  // 2. The stream did not end properly.
  if (!r.done) {
    const when = fmtMs(r.endedMs ?? a?.lastMs ?? NaN);
    const got = `${a ? a.count : 0} of ${expected} ticks`;
    const notes = [];
    if (a && a.count >= 3 && a.bunchedShare > MAX_BUNCHED) {
      notes.push("The ticks that did arrive came in bursts, so the answer is also buffered " +
        "on the way (see the timeline).");
    }
    if (r.timedOut) {
      return out("cutoff", "The check timed out",
        `No complete answer after ${when} (${got} arrived). Something between chatstream ` +
        "and your browser holds the stream, or the server is overloaded.",
        cutoffFixes(server, info), notes);
    }
    return out("cutoff", "The stream was cut off",
      `The connection ended after ${when}, before the end of the test stream (${got} arrived` +
      (r.failure ? `; the browser said: ${r.failure}` : "") + "). Long chat answers would stop " +
      "in the middle.", cutoffFixes(server, info), notes);
  }
  if (!a || a.count < 3) {
    return out("error", "Too few ticks to tell",
      `The stream ended properly but carried only ${plural(a ? a.count : 0, "tick")}, too few ` +
      "to see whether they arrive one by one.", [LOG_HINT]);
  }

  // 3. Complete: one by one, or held back?
  if (a.ratio >= MIN_SPREAD && a.bunchedShare <= MAX_BUNCHED) {
    const notes = [];
    if (a.firstMs > SLOW_START_MS) {
      notes.push(`The first tick took ${fmtMs(a.firstMs)} to arrive: the server was slow to ` +
        "start chatstream (e.g. starting a new FastCGI process), but then it streamed.");
    }
    return out("streams", "Streaming works",
      `Yes — this server streams. The ${a.count} ticks reached your browser one by one, spread ` +
      `over ${fmtMs(a.arrivalSpreadMs)} just as the server sent them over ` +
      `${fmtMs(a.serverSpreadMs)}; the first arrived ${fmtMs(a.firstMs)} after the request. ` +
      "Chat answers will appear word by word.", [], notes);
  }

  const held = estimateHeld(a, total);
  numbers.push(["Held back (estimate)", held.whole ? `all of it (${fmtBytes(held.bytes)})`
    : `about ${fmtBytes(held.bytes)} at a time`]);
  const summary = held.whole
    ? `No — the answer is held back. All ${a.count} ticks arrived together, ` +
      `${fmtMs(a.firstMs)} after the request, although the server sent them one every ` +
      `${fmtMs(CHECK.intervalMs)}: something between chatstream and your browser kept the whole ` +
      `answer (${fmtBytes(held.bytes)}) until it was complete. Chat answers would appear all at ` +
      "once, after a long wait."
    : `No — the answer is held back. The ${a.count} ticks arrived in ` +
      `${plural(a.bursts.length, "burst")} instead of one by one: something between chatstream ` +
      `and your browser collects about ${fmtBytes(held.bytes)} before passing it on, and held ` +
      `ticks back for up to ${fmtMs(a.maxHoldMs)} (the first arrived after ` +
      `${fmtMs(a.firstMs)}). Short chat answers would appear only when finished.`;
  return out("buffers", "The answer is buffered, not streamed", summary,
    bufferFixes(server, info));
}

// --- running the check (browser or any fetch()) ----------------------------------

// Runs the check; onTick(ticks) after each tick.  Returns the input of
// verdict() (without info).
export async function runCheck({ fetchFn = fetch, now = () => performance.now(),
  url = CHECK_URL, limitMs = CHECK.seconds * 1000 + 30000, onTick } = {}) {
  const r = { ticks: [], done: false, httpStatus: null, contentType: null, error: null,
    streamError: null, failure: null, timedOut: false, endedMs: null, totalBytes: 0,
    expected: 0, reads: 0, badEvents: 0 };
  const ctl = new AbortController();
  const timer = setTimeout(() => { r.timedOut = true; ctl.abort(); }, limitMs);
  const t0 = now();
  try {
    const res = await fetchFn(url, { cache: "no-store", signal: ctl.signal,
      headers: { Accept: "text/event-stream" } });
    r.httpStatus = res.status;
    r.contentType = res.headers.get("content-type") ?? "";
    if (!res.ok || !/^text\/event-stream/i.test(r.contentType)) {
      const text = await res.text().catch(() => "");
      try { r.error = JSON.parse(text)?.error ?? null; } catch { r.error = null; }
      r.endedMs = now() - t0;
      return r;
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
    let arrived = 0;
    const parser = createParser(({ event, data }) => {
      if (event === "tick") {
        let j;
        try { j = JSON.parse(data); } catch { r.badEvents++; return; }
        r.expected = j.of;
        r.ticks.push({ seq: j.seq, of: j.of, elapsedMs: j.elapsed_ms, arrivedMs: arrived,
          bytes: r.totalBytes });
        if (onTick) onTick(r.ticks, r);
      } else if (event === "error") {
        try { r.streamError = JSON.parse(data).error; } catch { r.streamError = { message: data }; }
      } else if (data === "[DONE]") {
        r.done = true;
      }
    });
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      arrived = now() - t0;
      r.reads++;
      r.totalBytes += value.byteLength;
      parser.feed(decoder.decode(value, { stream: true }));
    }
    parser.feed(decoder.decode());
    parser.end();
  } catch (err) {
    r.failure = r.timedOut ? "gave up waiting" : String(err?.message ?? err);
  } finally {
    clearTimeout(timer);
  }
  r.endedMs = now() - t0;
  return r;
}

export async function fetchInfo(fetchFn = fetch) {
  try {
    const res = await fetchFn(INFO_URL, { cache: "no-store" });
    if (!res.ok) return null;
    return await res.json();
  } catch {
    return null;
  }
}

// --- the page --------------------------------------------------------------------

// Two rows of marks: when the server sent each tick (its elapsed_ms, shifted
// by the quickest transit time) and when the browser got it.
export function drawTimeline(box, ticks, a, widthPx, minSpanMs = 0) {
  const width = Math.max(260, Math.round(widthPx));
  const labelW = 64, padR = 12, rowH = 22, top = 6, gap = 14;
  const y1 = top, y2 = top + rowH + gap, axisY = y2 + rowH + 8;
  const height = axisY + 20;
  const tMax = Math.max(1, ...ticks.map((t) => Math.max(t.arrivedMs, t.elapsedMs + a.sentOffsetMs)));
  const span = Math.ceil(Math.max(tMax, minSpanMs) / 1000) * 1000;
  const x = (ms) => labelW + (ms / span) * (width - labelW - padR);
  const svg = svgEl("svg", { width, height, viewBox: `0 0 ${width} ${height}`,
    class: "timeline", role: "img",
    "aria-label": `Timeline: the server sent ${ticks.length} ticks over ` +
      `${fmtMs(a.serverSpreadMs)}; your browser received them over ${fmtMs(a.arrivalSpreadMs)}` +
      (a.bigBursts.length ? ` in ${plural(a.bursts.length, "burst")}.` : ", one by one.") });
  for (const [y, label] of [[y1, "sent"], [y2, "arrived"]]) {
    svg.append(svgEl("rect", { x: labelW, y, width: width - labelW - padR, height: rowH,
      rx: 3, class: "tl-lane" }));
    const t = svgEl("text", { x: 0, y: y + rowH / 2 + 4, class: "tl-label" });
    t.textContent = label;
    svg.append(t);
  }
  svg.append(svgEl("line", { x1: x(0), x2: x(span), y1: axisY - 4, y2: axisY - 4,
    class: "tl-grid" }));
  for (let s = 0; s <= span; s += 1000) {
    svg.append(svgEl("line", { x1: x(s), x2: x(s), y1: axisY - 7, y2: axisY - 1,
      class: "tl-grid" }));
    const t = svgEl("text", { x: x(s), y: axisY + 13, class: "tl-axis",
      "text-anchor": s === 0 ? "start" : s === span ? "end" : "middle" });
    t.textContent = `${s / 1000} s`;
    svg.append(t);
  }
  const bunched = new Set(a.bigBursts.flatMap((b) => {
    const seqs = [];
    for (let q = b.fromSeq; q <= b.toSeq; q++) seqs.push(q);
    return seqs;
  }));
  for (const t of ticks) {
    svg.append(svgEl("rect", { x: x(t.elapsedMs + a.sentOffsetMs) - 1, y: y1 + 3, width: 2,
      height: rowH - 6, class: "tl-sent" }));
    svg.append(svgEl("rect", { x: x(t.arrivedMs) - 1, y: y2 + 3, width: 2, height: rowH - 6,
      class: bunched.has(t.seq) ? "tl-got tl-burst" : "tl-got" }));
  }
  // how many ticks each burst held, above its first mark
  for (const b of a.bigBursts) {
    const bx = x(b.atMs);
    const t = svgEl("text", { x: bx, y: y2 - 3, class: "tl-count",
      "text-anchor": bx > width - 60 ? "end" : bx < labelW + 30 ? "start" : "middle" });
    t.textContent = `${b.count} at once`;
    svg.append(t);
  }
  box.replaceChildren(svg);
}

function initPage() {
  const $ = (id) => document.getElementById(id);
  const status = $("verdict"), runBtn = $("run"), progress = $("progress");
  const progressText = $("progress-text"), progressRow = $("progress-row");
  let info = null, last = null, running = false, runs = 0;

  function showServer() {
    const dl = $("server");
    const rows = info ? [
      ["Web server", info.server_software || "(not told)"],
      ["Connected through", info.gateway === "cgi" ? "CGI" : "FastCGI"],
      ["chatstream version", info.chatstream ?? "?"],
      ["Keep-alive every", `${info.keepalive_seconds ?? "?"} s`],
    ] : [["Web server", "unknown (api/info did not answer)"]];
    dl.replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]));
  }

  // the whole planned test on the axis, so a cut-off shows what is missing
  const spanFor = (r) => Math.max(0, (r.expected || 0) - 1) * CHECK.intervalMs;

  function render(v, r) {
    status.dataset.kind = v.kind;
    status.replaceChildren(
      el("p", { class: "verdict-title" }, v.title),
      el("p", { class: "verdict-summary" }, v.summary),
      ...v.notes.map((n) => el("p", { class: "verdict-note" }, n)));
    const fix = $("fix");
    fix.replaceChildren(...v.fixes.map((f) => {
      const li = el("li", {}, el("p", {}, f.text));
      if (f.code) li.append(el("pre", {}, el("code", {}, f.code)));
      return li;
    }));
    $("fix-section").hidden = v.fixes.length === 0;
    $("fix-heading").textContent = v.kind === "error" ? "What to do" : "How to fix it";
    const nums = $("numbers");
    nums.replaceChildren(...v.numbers.flatMap(([k, val]) => [el("dt", {}, k), el("dd", {}, val)]));
    $("numbers-section").hidden = v.numbers.length === 0;
    const tl = $("timeline");
    if (v.stats && v.stats.count >= 1) {
      $("timeline-section").hidden = false;
      drawTimeline(tl, r.ticks, v.stats, tl.clientWidth || 600, spanFor(r));
    } else {
      $("timeline-section").hidden = true;
      tl.replaceChildren();
    }
  }

  async function run() {
    if (running) return;
    running = true;
    runs++;
    runBtn.disabled = true;
    document.documentElement.dataset.check = "running";
    status.dataset.kind = "running";
    status.replaceChildren(el("p", { class: "verdict-title" }, "Checking…"),
      el("p", { class: "verdict-summary" },
        `Receiving a ${CHECK.seconds}-second test stream from the server.`));
    progressRow.hidden = false;
    progress.value = 0;
    progressText.textContent = "Waiting for the first tick…";
    if (!info) {
      info = await fetchInfo();
      showServer();
    }
    const r = await runCheck({
      onTick: (ticks, st) => {
        progress.max = st.expected || progress.max;
        progress.value = ticks.length;
        progressText.textContent = `${ticks.length} of ${st.expected} ticks received`;
      },
    });
    r.info = info;
    const v = verdict(r);
    last = { v, r };
    progressRow.hidden = true;
    progressText.textContent = "";
    render(v, r);
    document.documentElement.dataset.check = "done";
    document.documentElement.dataset.runs = String(runs);
    runBtn.disabled = false;
    running = false;
  }

  runBtn.addEventListener("click", run);
  if (typeof ResizeObserver === "function") {
    let w = 0;
    new ResizeObserver((entries) => {
      const nw = Math.round(entries[0].contentRect.width);
      if (last && nw > 0 && nw !== w && last.v.stats) {
        drawTimeline($("timeline"), last.r.ticks, last.v.stats, nw, spanFor(last.r));
      }
      w = nw;
    }).observe($("timeline"));
  }
  run();
}

if (typeof document !== "undefined" && document.getElementById("verdict")) initPage();
