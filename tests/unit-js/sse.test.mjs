// Unit tests for www/js/sse.js against the conformance corpus in
// tests/fixtures/sse/ (see its SOURCES.md).  Run: node --test tests/unit-js/
//
// How the bytes become text: the way a browser client does it, with a
// TextDecoder.  We use new TextDecoder("utf-8", { ignoreBOM: true }) so a
// leading byte-order mark reaches the parser, which must strip exactly one
// (ep-multi-bom-raw has a BOM at the start AND mid-stream; only the first
// goes).  Invalid UTF-8 becomes U+FFFD, as in EventSource (none of the
// corpus inputs is invalid; a synthetic case below is).
//
// Each case is replayed
//   * whole, as one string;
//   * split in two at every character offset;
//   * one character at a time;
//   * at the source test's own chunk boundaries (bytes), if it has any;
//   * as bytes split in two at every byte offset and byte by byte, through
//     one streaming TextDecoder (decode(chunk, {stream: true})) — this is
//     what proves the decoder + parser pair copes with UTF-8 sequences and
//     CR/LF pairs cut between reads;
// and must dispatch exactly the events of <name>.expect.json, leave the
// retry time the manifest names, and pass the manifest's sha256.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

import { createParser } from "../../www/js/sse.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const FIXTURES = join(HERE, "..", "fixtures", "sse");
const CASES = JSON.parse(readFileSync(join(FIXTURES, "cases.json"), "utf8"));

const newDecoder = () => new TextDecoder("utf-8", { ignoreBOM: true });

// Feed string pieces; returns what the parser dispatched and its state.
function parseTexts(pieces) {
  const events = [];
  const p = createParser((ev) => events.push(ev));
  for (const s of pieces) p.feed(s);
  p.end();
  return { events, retry: p.retry, lastEventId: p.lastEventId };
}

// Feed byte chunks through one streaming decoder, as a fetch() reader does.
function parseBytes(chunks) {
  const dec = newDecoder();
  const texts = chunks.map((c) => dec.decode(c, { stream: true }));
  texts.push(dec.decode());
  return parseTexts(texts);
}

function splitAt(buf, offsets) {
  const out = [];
  let prev = 0;
  for (const o of offsets) {
    out.push(buf.subarray(prev, o));
    prev = o;
  }
  out.push(buf.subarray(prev));
  return out;
}

function finalIdFromNotes(notes) {
  const m = /final lastEventId: "(.*)"/.exec(notes || "");
  return m ? m[1] : undefined;
}

test("the corpus manifest lists cases", () => {
  assert.ok(CASES.length >= 20, `${CASES.length} cases`);
});

for (const c of CASES) {
  test(`corpus: ${c.name}`, () => {
    const bytes = new Uint8Array(readFileSync(join(FIXTURES, c.input)));
    const want = JSON.parse(readFileSync(join(FIXTURES, c.expect), "utf8"));
    assert.equal(bytes.length, c.bytes, "input size as in cases.json");
    assert.equal(createHash("sha256").update(bytes).digest("hex"), c.sha256,
      "input sha256 as in cases.json");
    const text = newDecoder().decode(bytes);
    const wantRetry = c.retry_ms_after_stream ?? null;
    const wantId = finalIdFromNotes(c.notes);

    const check = (got, how) => {
      assert.deepEqual(got.events, want, `events (${how})`);
      assert.equal(got.retry, wantRetry, `retry after the stream (${how})`);
      if (wantId !== undefined) assert.equal(got.lastEventId, wantId, `lastEventId (${how})`);
    };

    check(parseTexts([text]), "whole");
    for (let i = 0; i <= text.length; i++) {
      check(parseTexts([text.slice(0, i), text.slice(i)]), `split at char ${i}`);
    }
    check(parseTexts(Array.from(text.split(""))), "char by char");
    if (Array.isArray(c.chunk_boundaries)) {
      check(parseBytes(splitAt(bytes, c.chunk_boundaries)), "the source's chunks");
    }
    for (let i = 0; i <= bytes.length; i++) {
      check(parseBytes([bytes.subarray(0, i), bytes.subarray(i)]), `split at byte ${i}`);
    }
    check(parseBytes(Array.from(bytes, (b) => Uint8Array.of(b))), "byte by byte");
  });
}

// --- behaviour beyond the corpus --------------------------------------------

const enc = new TextEncoder();

test("a CR ending one chunk and an LF starting the next are one line end", () => {
  const got = parseTexts(["data: a\r", "\ndata: b\r", "\n\r", "\n"]);
  assert.deepEqual(got.events, [{ event: "message", data: "a\nb", id: "" }]);
});

test("a CR at the end of a chunk ends the line at once (no wait for the next chunk)", () => {
  const events = [];
  const p = createParser((ev) => events.push(ev));
  p.feed("data: x\r\r");
  assert.equal(events.length, 1, "dispatched before any further input");
  p.feed("\n");   // this LF follows a CR: it is part of CRLF, not a blank line
  p.feed("data: y\n\n");
  assert.deepEqual(events.map((e) => e.data), ["x", "y"]);
});

test("empty chunks change nothing, also before the BOM", () => {
  const got = parseTexts(["", "\uFEFF", "", "data: x", "", "\n", "", "\n"]);
  assert.deepEqual(got.events, [{ event: "message", data: "x", id: "" }]);
});

test("only one leading BOM is stripped", () => {
  const got = parseTexts(["\uFEFF\uFEFFdata: no\n\ndata: yes\n\n"]);
  assert.deepEqual(got.events.map((e) => e.data), ["yes"]);
});

test("invalid UTF-8 becomes U+FFFD, however the bytes are split", () => {
  const bytes = Uint8Array.of(...enc.encode("data: a"), 0xff, 0xe6, 0x88,
    ...enc.encode(" b\u00e9\n\n"));
  const whole = parseBytes([bytes]);
  assert.deepEqual(whole.events, [{ event: "message", data: "a\uFFFD\uFFFD b\u00e9", id: "" }]);
  for (let i = 0; i <= bytes.length; i++) {
    assert.deepEqual(parseBytes([bytes.subarray(0, i), bytes.subarray(i)]).events,
      whole.events, `split at byte ${i}`);
  }
});

test("a 4-byte UTF-8 character split between every pair of reads", () => {
  const bytes = enc.encode("data: \u{1F9F9}\u{1F9F9}\n\n");
  for (let i = 0; i <= bytes.length; i++) {
    for (let j = i; j <= bytes.length; j++) {
      const got = parseBytes([bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)]);
      assert.deepEqual(got.events.map((e) => e.data), ["\u{1F9F9}\u{1F9F9}"], `split ${i},${j}`);
    }
  }
});

test("the last event ID persists across events and blocks", () => {
  const got = parseTexts(["id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n"]);
  assert.deepEqual(got.events.map((e) => [e.data, e.id]), [["a", "7"], ["b", "7"], ["c", ""]]);
});

test("event type resets after each dispatch; an id-only block commits the id", () => {
  const got = parseTexts(["event: tick\nid: 1\n\nid: 2\n\ndata: x\n\n"]);
  assert.deepEqual(got.events, [{ event: "message", data: "x", id: "2" }]);
});

test("comments and retry reach their callbacks", () => {
  const comments = [], retries = [], events = [];
  const p = createParser((e) => events.push(e), {
    onComment: (t) => comments.push(t),
    onRetry: (ms) => retries.push(ms),
  });
  p.feed(": keep-alive\n:\nretry: 03000\nretry: 1e3\nretry\ndata: x\n\n");
  assert.deepEqual(comments, [" keep-alive", ""]);
  assert.deepEqual(retries, [3000]);
  assert.equal(p.retry, 3000);
  assert.equal(events.length, 1);
});

test("end() drops an unfinished event, says so, and the parser can start over", () => {
  const events = [];
  const p = createParser((e) => events.push(e));
  p.feed("id: 5\ndata: done\n\ndata: cut");
  assert.equal(p.end(), true, "an unfinished line was dropped");
  assert.equal(p.end(), false, "nothing left");
  p.feed("data: half\n");
  assert.equal(p.end(), true, "a started block was dropped");
  p.feed("\uFEFFdata: next\n\n");   // a new stream may start with a BOM again
  assert.equal(p.end(), false);
  assert.deepEqual(events, [
    { event: "message", data: "done", id: "5" },
    { event: "message", data: "next", id: "5" },
  ]);
});

test("an exception in onEvent propagates; the parser stays usable", () => {
  let n = 0;
  const p = createParser(() => { n++; if (n === 1) throw new Error("boom"); });
  assert.throws(() => p.feed("data: 1\n\ndata: lost\n\n"), /boom/);
  p.feed("data: 2\n\n");
  assert.equal(n, 2);
});

test("feed() refuses non-strings (decode bytes first)", () => {
  const p = createParser(() => {});
  assert.throws(() => p.feed(enc.encode("data: x\n\n")), TypeError);
});

test("chatstream's own stream (docs/protocol.md), in chunks of 7 bytes", () => {
  // keep-alives are a comment line alone (no blank line after), also right
  // before an event and twice in a row
  const s = ": keep-alive\nid: 9f2c4e1a7b3d5c60:1\ndata: {\"content\":\"Hel\"}\n\n" +
    ": keep-alive\n: keep-alive\n" +
    "id: 9f2c4e1a7b3d5c60:2\ndata: {\"content\":\"lo!\"}\n\n" +
    "id: 9f2c4e1a7b3d5c60:3\nevent: finish\ndata: {\"finish_reason\":\"stop\",\"usage\":null}\n\n" +
    "id: 9f2c4e1a7b3d5c60:4\ndata: [DONE]\n\n";
  const b = enc.encode(s);
  const chunks = [];
  for (let i = 0; i < b.length; i += 7) chunks.push(b.subarray(i, i + 7));
  const got = parseBytes(chunks);
  assert.deepEqual(got.events.map((e) => [e.event, e.data, e.id]), [
    ["message", "{\"content\":\"Hel\"}", "9f2c4e1a7b3d5c60:1"],
    ["message", "{\"content\":\"lo!\"}", "9f2c4e1a7b3d5c60:2"],
    ["finish", "{\"finish_reason\":\"stop\",\"usage\":null}", "9f2c4e1a7b3d5c60:3"],
    ["message", "[DONE]", "9f2c4e1a7b3d5c60:4"],
  ]);
});

test("a long stream in big chunks: every event, in order", () => {
  let s = "";
  for (let i = 1; i <= 2000; i++) s += `id: s:${i}\nevent: tick\ndata: {"seq":${i},"pad":"${".".repeat(i % 97)}"}\n\n`;
  const b = enc.encode(s);
  const chunks = [];
  for (let i = 0; i < b.length; i += 4093) chunks.push(b.subarray(i, i + 4093));
  const got = parseBytes(chunks);
  assert.equal(got.events.length, 2000);
  assert.ok(got.events.every((e, i) => e.event === "tick" && JSON.parse(e.data).seq === i + 1 &&
    e.id === `s:${i + 1}`));
});
