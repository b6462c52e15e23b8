// fetch_event_source.mjs — drives the real @microsoft/fetch-event-source
// (2.0.1) against chatstream for tests/e2e/test_fetch_event_source.py, the
// way its README shows: POST the chat, parse each message's data with
// JSON.parse in onmessage, and leave retries to the library's defaults.
//
// Usage: node fetch_event_source.mjs URL BODY_JSON [DEADLINE_MS]
//
// Prints one JSON object: {posts, messages, empty, errors, text, ended}.
//   posts     how many times the library POSTed (it re-posts on any error,
//             including an exception thrown by onmessage, after 1 s)
//   messages  [{event, data, id}] in the order onmessage got them
//   empty     how many of them had data "" (what a blank line after a
//             comment produces in this library)
//   errors    what reached onerror (which returns nothing: the library's
//             default retry interval applies)
//   text      the text deltas joined (native {"content"}, OpenAI
//             choices[0].delta.content, UI stream text-delta)
//   ended     "closed" (the stream ended and the promise resolved),
//             "deadline" (still retrying after DEADLINE_MS; we aborted),
//             or "rejected: ..."
import { fetchEventSource } from "@microsoft/fetch-event-source";

// The library is written for browsers: it reads window.fetch and calls
// window.setTimeout/clearTimeout, and document.addEventListener/
// removeEventListener for "visibilitychange" (removeEventListener even
// with openWhenHidden: true).  Node 20 has fetch and timers on globalThis
// and no document: a visible page that never changes visibility.
globalThis.window = globalThis;
globalThis.document = Object.assign(new EventTarget(), { hidden: false });

const [url, bodyJson, deadlineArg] = process.argv.slice(2);
const deadlineMs = Number(deadlineArg ?? 6000);
const out = { posts: 0, messages: [], empty: 0, errors: [], text: "", ended: null };

function textOf(j) {
  if (typeof j?.content === "string") return j.content;
  const d = j?.choices?.[0]?.delta?.content;
  if (typeof d === "string") return d;
  if (j?.type === "text-delta" && typeof j.delta === "string") return j.delta;
  return "";
}

const ctrl = new AbortController();
const timer = setTimeout(() => { out.ended = "deadline"; ctrl.abort(); }, deadlineMs);

try {
  await fetchEventSource(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },   // Accept: set by the library
    body: bodyJson,
    signal: ctrl.signal,
    fetch: (input, init) => { out.posts++; return fetch(input, init); },
    onmessage(ev) {
      out.messages.push({ event: ev.event, data: ev.data, id: ev.id });
      if (ev.data === "") out.empty++;
      if (ev.data === "[DONE]") return;          // the OpenAI-style end marker
      out.text += textOf(JSON.parse(ev.data));   // throws on data "": the library re-posts
    },
    onerror(err) {
      out.errors.push(String(err?.message ?? err));
    },
  });
  out.ended ??= "closed";
} catch (err) {
  out.ended = "rejected: " + String(err?.message ?? err);
}
clearTimeout(timer);
console.log(JSON.stringify(out));
