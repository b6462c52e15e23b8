// historyFor(): the history the client sends is trimmed by count and, when
// the server reports max_body_bytes, to fit that many bytes of JSON.
import { test } from "node:test";
import assert from "node:assert/strict";
import { historyFor } from "../../www/js/store.js";

function chat(turns, size) {
  const msgs = [];
  for (let i = 0; i < turns; i++) {
    msgs.push({ role: "user", content: "q" + i + " " + "é".repeat(size) });
    msgs.push({ role: "assistant", content: "a" + i + " " + "x".repeat(size) });
  }
  msgs.push({ role: "user", content: "last question" });
  return msgs;
}

const bytes = (ms) => new TextEncoder().encode(JSON.stringify(ms)).length;

test("no byte budget: only the count limit applies", () => {
  const r = historyFor(chat(10, 100), 1000);
  assert.equal(r.messages.length, 21);
  assert.equal(r.dropped, 0);
});

test("a byte budget drops the oldest turns until the JSON fits", () => {
  const msgs = chat(10, 500);        // é is 2 bytes: user turns ~1 KB
  for (const budget of [2000, 5000, 9000]) {
    const r = historyFor(msgs, 1000, budget);
    assert.ok(bytes(r.messages) <= budget, `fits ${budget}: ${bytes(r.messages)}`);
    assert.equal(r.messages[0].role, "user", "starts with a user turn");
    assert.equal(r.messages.at(-1).content, "last question");
    assert.equal(r.dropped, 21 - r.messages.length);
  }
});

test("the last message is always sent, even over the budget", () => {
  const msgs = [{ role: "user", content: "y".repeat(5000) }];
  const r = historyFor(msgs, 20, 100);
  assert.equal(r.messages.length, 1);
  assert.equal(r.dropped, 0);
});

test("count and bytes together: the stricter wins", () => {
  const msgs = chat(10, 10);
  assert.equal(historyFor(msgs, 3, 1 << 20).messages.length, 3);
  assert.ok(historyFor(msgs, 1000, 200).messages.length < 21);
});
