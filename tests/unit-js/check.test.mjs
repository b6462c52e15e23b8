// Unit tests for the self-check's decision (www/js/check.js verdict()) on
// synthetic timelines shaped like real deployments, and for runCheck() fed
// by a fake fetch().  Run: node --test tests/unit-js/

import { test } from "node:test";
import assert from "node:assert/strict";

import { verdict, analyse, serverKind, fmtMs, fmtBytes, runCheck, CHECK_URL }
  from "../../www/js/check.js";

const N = 40, INTERVAL = 100, TICK_BYTES = 2048 + 90;   // ~ one tick on the wire
const HEAD = 13;                                         // ": keep-alive\n"
const TAIL = 120;                                        // finish + [DONE]
const TOTAL = HEAD + N * TICK_BYTES + TAIL;

const INFO = {
  lighttpd: { chatstream: "0.1.0", server_software: "lighttpd/1.4.69", gateway: "fastcgi",
    keepalive_seconds: 15, self_check: true },
  apache: { chatstream: "0.1.0", server_software: "Apache/2.4.62 (Debian)", gateway: "fastcgi",
    keepalive_seconds: 15, self_check: true },
  apacheCgi: { chatstream: "0.1.0", server_software: "Apache/2.4.62 (Debian)", gateway: "cgi",
    keepalive_seconds: 15, self_check: true },
  nginx: { chatstream: "0.1.0", server_software: "nginx/1.22.1", gateway: "fastcgi",
    keepalive_seconds: 15, self_check: true },
  caddy: { chatstream: "0.1.0", server_software: "Caddy", gateway: "fastcgi",
    keepalive_seconds: 15, self_check: true },
};

// Server side: tick i (1-based) leaves at (i-1)*INTERVAL + small jitter.
const sent = (i) => (i - 1) * INTERVAL + ((i * 7) % 3);
// Bytes the server had written once tick i was out.
const bytesAfter = (i) => HEAD + i * TICK_BYTES;

// arrive(i) -> ms after the request when tick i reached the browser;
// bytesAt(i) -> bytes received by then (defaults to what the server sent).
function timeline(arrive, { n = N, bytesAt = bytesAfter } = {}) {
  const ticks = [];
  for (let i = 1; i <= n; i++) {
    ticks.push({ seq: i, of: N, elapsedMs: sent(i), arrivedMs: arrive(i), bytes: bytesAt(i) });
  }
  return ticks;
}

const complete = (ticks, info, extra = {}) => ({
  ticks, done: true, httpStatus: 200, contentType: "text/event-stream; charset=utf-8",
  expected: N, totalBytes: TOTAL, endedMs: ticks[ticks.length - 1].arrivedMs + 2, info, ...extra,
});

// A buffer of `size` bytes between server and browser: everything written is
// released when the buffer fills, and the rest at the end of the stream.
function buffered(size) {
  const rel = [];           // release time per tick
  let pending = [], fill = HEAD;
  for (let i = 1; i <= N; i++) {
    pending.push(i);
    fill += TICK_BYTES;
    if (fill >= size) {
      for (const j of pending) rel[j] = { t: sent(i) + 12, bytes: bytesAfter(i) };
      pending = [];
      fill -= Math.floor(fill / size) * size;
    }
  }
  for (const j of pending) rel[j] = { t: sent(N) + 14, bytes: TOTAL };
  return timeline((i) => rel[i].t, { bytesAt: (i) => rel[i].bytes });
}

const text = (v) => [v.title, v.summary, ...v.notes,
  ...v.fixes.map((f) => `${f.text} ${f.code ?? ""}`)].join("\n");

// --- streams -------------------------------------------------------------------

test("streaming: ticks arrive as sent -> streams, no fixes", () => {
  const v = verdict(complete(timeline((i) => 12 + sent(i) + ((i * 13) % 9)), INFO.lighttpd));
  assert.equal(v.kind, "streams", v.summary);
  assert.match(v.title, /Streaming works/);
  assert.match(v.summary, /one by one/);
  assert.deepEqual(v.fixes, []);
  assert.equal(v.server, "lighttpd");
  assert.ok(v.numbers.some(([k]) => /First tick/.test(k)));
});

test("streaming with jitter and a few late pairs still streams", () => {
  // every 7th tick is 80 ms late, so it arrives together with the next one
  const v = verdict(complete(timeline((i) => 20 + sent(i) + (i % 7 === 0 ? 80 : 0)), INFO.nginx));
  assert.equal(v.kind, "streams", v.summary);
});

test("streaming after a slow start: streams, with a remark about the start", () => {
  const v = verdict(complete(timeline((i) => 2600 + sent(i)), INFO.apache));
  assert.equal(v.kind, "streams", v.summary);
  assert.equal(v.notes.length, 1);
  assert.match(v.notes[0], /slow to start/);
});

// --- buffers -------------------------------------------------------------------

test("one burst at the end (lighttpd stream-response-body = 0) -> buffers, names the setting", () => {
  const end = sent(N) + 15;
  const v = verdict(complete(timeline(() => end, { bytesAt: () => TOTAL }), INFO.lighttpd));
  assert.equal(v.kind, "buffers", v.summary);
  assert.match(v.summary, /All 40 ticks arrived together/);
  assert.match(v.summary, new RegExp(fmtBytes(TOTAL).replace(".", "\\.")));
  assert.match(text(v), /server\.stream-response-body = 2/);
  assert.ok(v.numbers.some(([k, val]) => /Held back/.test(k) && /all of it/.test(val)));
  assert.equal(v.stats.bursts.length, 1);
});

test("64 KiB buffer (Apache mod_fcgid default) -> buffers, about 64 KiB, Apache fixes", () => {
  const ticks = buffered(65536);
  const v = verdict(complete(ticks, INFO.apache));
  assert.equal(v.kind, "buffers", v.summary);
  assert.match(v.summary, /2 bursts/);
  const kib = Number(/about (\d+)\sKiB/.exec(v.summary)?.[1]);
  assert.ok(kib >= 56 && kib <= 68, `estimated ${kib} KiB`);
  assert.ok(v.stats.firstMs > 2500, `first tick after ${v.stats.firstMs} ms`);
  const t = text(v);
  assert.match(t, /FcgidOutputBufferSize 0/);
  assert.match(t, /flushpackets=on/);
  assert.match(t, /\.htaccess/);
});

test("16 KiB buffer -> several bursts even though the spread looks fine", () => {
  const ticks = buffered(16384);
  const a = analyse(ticks);
  assert.ok(a.ratio >= 0.7, `spread ratio ${a.ratio}`);   // the spread alone would pass
  const v = verdict(complete(ticks, INFO.nginx));
  assert.equal(v.kind, "buffers", v.summary);
  assert.match(v.summary, /about 1[4-7]\sKiB/);
  const t = text(v);
  assert.match(t, /X-Accel-Buffering: no/);
  assert.match(t, /CDN/);
  assert.match(t, /proxy_buffering off/);
});

test("Apache plain CGI that buffers: points at mod_deflate / proxies", () => {
  const end = sent(N) + 30;
  const v = verdict(complete(timeline(() => end, { bytesAt: () => TOTAL }), INFO.apacheCgi));
  assert.equal(v.kind, "buffers");
  assert.match(text(v), /mod_deflate/);
});

test("unknown server -> generic advice naming every server's setting", () => {
  const end = sent(N) + 30;
  for (const info of [INFO.caddy, null, {}]) {
    const v = verdict(complete(timeline(() => end, { bytesAt: () => TOTAL }), info));
    assert.equal(v.kind, "buffers");
    assert.equal(v.server, "unknown");
    const t = text(v);
    for (const s of ["FcgidOutputBufferSize 0", "flushpackets=on",
      "server.stream-response-body = 2", "fastcgi_buffering off", "proxy or CDN"]) {
      assert.ok(t.includes(s), `mentions ${s}`);
    }
  }
});

// --- cut off -------------------------------------------------------------------

test("cut off mid-way -> cutoff: after how long, how many ticks, timeouts to raise", () => {
  const ticks = timeline((i) => 15 + sent(i), { n: 23 });
  const base = { ticks, done: false, httpStatus: 200, contentType: "text/event-stream",
    expected: N, totalBytes: bytesAfter(23), endedMs: 2321 };
  const ap = verdict({ ...base, info: INFO.apache, failure: "network error" });
  assert.equal(ap.kind, "cutoff");
  assert.match(ap.summary, /after 2\.3\ss/);
  assert.match(ap.summary, /23 of 40 ticks/);
  assert.match(ap.summary, /network error/);
  assert.match(text(ap), /FcgidIOTimeout/);
  assert.match(text(ap), /FcgidBusyTimeout/);
  const ng = verdict({ ...base, info: INFO.nginx });
  assert.match(text(ng), /fastcgi_read_timeout/);
  assert.match(text(ng), /keepalive_seconds \(15\ss/);
  const un = verdict({ ...base, info: null });
  assert.equal(un.kind, "cutoff");
  assert.match(text(un), /proxy, CDN or firewall/);
});

test("cut off before any tick, and a timed-out check", () => {
  const v = verdict({ ticks: [], done: false, httpStatus: 200, contentType: "text/event-stream",
    expected: N, endedMs: 500, info: INFO.lighttpd });
  assert.equal(v.kind, "cutoff");
  assert.match(v.summary, /0 of 40 ticks/);
  const t = verdict({ ticks: [], done: false, httpStatus: 200, contentType: "text/event-stream",
    expected: N, endedMs: 34000, timedOut: true, info: INFO.nginx });
  assert.equal(t.kind, "cutoff");
  assert.match(t.title, /timed out/);
  assert.match(t.summary, /34\.0\ss/);
});

test("cut off after bursts: notes the buffering too", () => {
  const ticks = buffered(16384).slice(0, 21);
  const v = verdict({ ticks, done: false, httpStatus: 200, contentType: "text/event-stream",
    expected: N, endedMs: 2200, info: INFO.apache });
  assert.equal(v.kind, "cutoff");
  assert.match(v.notes.join(" "), /bursts/);
});

// --- errors --------------------------------------------------------------------

test("HTTP error with chatstream's JSON: status and message shown", () => {
  const v = verdict({ ticks: [], httpStatus: 400, contentType: "application/json",
    error: { type: "invalid_request", message: "unknown parameter (accepted: …)" }, info: INFO.nginx });
  assert.equal(v.kind, "error");
  assert.match(v.title, /HTTP 400/);
  assert.match(v.summary, /unknown parameter/);
});

test("HTTP 502 from the web server itself (no JSON)", () => {
  const v = verdict({ ticks: [], httpStatus: 502, contentType: "text/html", error: null, info: null });
  assert.equal(v.kind, "error");
  assert.match(v.title, /HTTP 502/);
  assert.match(v.summary, /error log/);
});

test("404 with the self-check disabled says so and how to turn it on", () => {
  const v = verdict({ ticks: [], httpStatus: 404, contentType: "application/json",
    error: { type: "not_found", message: "the self-check is disabled on this server (self_check = no)" },
    info: { ...INFO.lighttpd, self_check: false } });
  assert.equal(v.kind, "error");
  assert.match(v.title, /turned off/);
  assert.match(text(v), /self_check = yes/);
});

test("404 not from chatstream: /api/ not routed", () => {
  const v = verdict({ ticks: [], httpStatus: 404, contentType: "text/html", error: null, info: null });
  assert.equal(v.kind, "error");
  assert.match(v.summary, /not passed to chatstream/);
});

test("no HTTP answer at all", () => {
  const v = verdict({ ticks: [], httpStatus: null, failure: "Failed to fetch", info: null });
  assert.equal(v.kind, "error");
  assert.match(v.summary, /Failed to fetch/);
});

test("200 but not an event stream (an SPA fallback answered)", () => {
  const v = verdict({ ticks: [], httpStatus: 200, contentType: "text/html; charset=utf-8",
    done: false, info: null });
  assert.equal(v.kind, "error");
  assert.match(v.summary, /text\/html/);
});

test("an error event inside the stream", () => {
  const v = verdict({ ticks: timeline((i) => sent(i) + 10, { n: 5 }), done: true, httpStatus: 200,
    contentType: "text/event-stream", streamError: { type: "server_shutdown",
      message: "the server is shutting down" }, info: INFO.nginx });
  assert.equal(v.kind, "error");
  assert.match(v.summary, /shutting down/);
});

// --- helpers -------------------------------------------------------------------

test("serverKind and formatting", () => {
  assert.equal(serverKind(INFO.apache), "apache");
  assert.equal(serverKind({ server_software: "lighttpd" }), "lighttpd");
  assert.equal(serverKind({ server_software: "nginx" }), "nginx");
  assert.equal(serverKind({ server_software: "LiteSpeed" }), "unknown");
  assert.equal(serverKind(null), "unknown");
  assert.equal(fmtMs(85.4), "85\u00a0ms");
  assert.equal(fmtMs(2345), "2.3\u00a0s");
  assert.equal(fmtBytes(512), "512\u00a0bytes");
  assert.equal(fmtBytes(2200), "2.1\u00a0KiB");
  assert.equal(fmtBytes(65536), "64\u00a0KiB");
});

// --- runCheck() with a fake fetch -----------------------------------------------

function fakeResponse(status, contentType, chunks) {
  const enc = new TextEncoder();
  let i = 0;
  return {
    status, ok: status >= 200 && status < 300,
    headers: { get: (k) => (k.toLowerCase() === "content-type" ? contentType : null) },
    text: async () => chunks.join(""),
    body: {
      getReader: () => ({
        read: async () => {
          if (i >= chunks.length) return { done: true, value: undefined };
          const c = chunks[i++];
          if (c instanceof Error) throw c;
          return { done: false, value: enc.encode(c) };
        },
      }),
    },
  };
}

function sseTicks(n, sid = "0123456789abcdef") {
  const out = [": keep-alive\n"];
  for (let i = 1; i <= n; i++) {
    out.push(`id: ${sid}:${i}\nevent: tick\ndata: {"seq":${i},"of":${n},"elapsed_ms":${(i - 1) * 100},"pad":"..."}\n\n`);
  }
  return out;
}

test("runCheck reads ticks, times and bytes, even with events split across reads", async () => {
  const whole = sseTicks(4).join("") +
    "id: x:5\nevent: finish\ndata: {\"finish_reason\":\"stop\",\"usage\":null}\n\nid: x:6\ndata: [DONE]\n\n";
  const chunks = [];
  for (let i = 0; i < whole.length; i += 37) chunks.push(whole.slice(i, i + 37));
  let clock = 0, asked = null;
  const r = await runCheck({
    fetchFn: async (url) => { asked = url; return fakeResponse(200, "text/event-stream", chunks); },
    now: () => (clock += 10),
  });
  assert.equal(asked, CHECK_URL);
  assert.equal(r.httpStatus, 200);
  assert.equal(r.done, true);
  assert.equal(r.expected, 4);
  assert.deepEqual(r.ticks.map((t) => t.seq), [1, 2, 3, 4]);
  assert.ok(r.ticks.every((t, i) => i === 0 || t.arrivedMs > r.ticks[i - 1].arrivedMs));
  assert.equal(r.totalBytes, new TextEncoder().encode(whole).length);
  assert.ok(r.ticks.every((t) => t.bytes > 0 && t.bytes <= r.totalBytes));
});

test("runCheck: an HTTP error keeps the status and the JSON error", async () => {
  const r = await runCheck({
    fetchFn: async () => fakeResponse(404, "application/json",
      ['{"error":{"type":"not_found","message":"the self-check is disabled on this server (self_check = no)"}}']),
  });
  assert.equal(r.httpStatus, 404);
  assert.equal(r.error.type, "not_found");
  assert.equal(verdict({ ...r, info: null }).title, "The self-check is turned off");
});

test("runCheck: a read that fails mid-way is a cut-off", async () => {
  const r = await runCheck({
    fetchFn: async () => fakeResponse(200, "text/event-stream",
      [...sseTicks(3), new TypeError("network error")]),
  });
  assert.equal(r.done, false);
  assert.equal(r.failure, "network error");
  assert.equal(r.ticks.length, 3);
  assert.equal(verdict({ ...r, info: null }).kind, "cutoff");
});

test("runCheck: fetch() rejecting is an error with the reason", async () => {
  const r = await runCheck({ fetchFn: async () => { throw new TypeError("Failed to fetch"); } });
  assert.equal(r.httpStatus, null);
  const v = verdict({ ...r, info: null });
  assert.equal(v.kind, "error");
  assert.match(v.summary, /Failed to fetch/);
});
