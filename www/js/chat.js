// chat.js — one streaming chat request (POST api/chat, see docs/protocol.md).
//
//   const result = await streamChat({ body, signal, onDelta, onToolCall });
//
// onDelta(kind, text) is called for every "content" / "refusal" /
// "reasoning" delta as it is parsed.  The result says how it ended:
//   {kind: "done", finish, usage}           [DONE] after finish
//   {kind: "error", status, type, message, retryAfter}
//                                           HTTP error or `event: error`;
//                                           retryAfter: the seconds the
//                                           server's Retry-After asks to
//                                           wait, or null
//   {kind: "dropped"}                       the body ended without [DONE]
//   {kind: "aborted"}                       signal aborted (Stop)
// It never throws.

import { createParser } from "./sse.js";

// Retry-After is delay-seconds or an HTTP-date (RFC 9110 10.2.3).
function retryAfterSeconds(value) {
  const v = (value || "").trim();
  if (/^[0-9]+$/.test(v)) return Number(v);
  const t = Date.parse(v);
  return v && Number.isFinite(t) ? Math.max(0, Math.ceil((t - Date.now()) / 1000)) : null;
}

function httpMessage(status, body) {
  const msg = body?.error?.message;
  if (typeof msg === "string" && msg) return msg;
  const names = { 400: "Bad request", 404: "Not found", 413: "Request too large",
                  429: "Too many requests", 502: "Bad gateway",
                  503: "Service unavailable", 504: "Gateway timeout" };
  return `The server answered ${status}${names[status] ? " (" + names[status] + ")" : ""}.`;
}

export async function streamChat({ body, signal, onDelta = () => {}, onToolCall = () => {},
                                   url = "api/chat" }) {
  let res;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(body),
      signal,
      cache: "no-store",
    });
  } catch (err) {
    if (signal?.aborted) return { kind: "aborted" };
    return { kind: "error", type: "network",
             message: "Could not reach the server. Check your connection and try again." };
  }

  if (!res.ok) {
    let j = null;
    try { j = await res.json(); } catch { /* not JSON */ }
    if (signal?.aborted) return { kind: "aborted" };
    return { kind: "error", status: res.status, type: j?.error?.type ?? "http",
             message: httpMessage(res.status, j),
             retryAfter: retryAfterSeconds(res.headers.get("Retry-After")) };
  }
  if (!/^text\/event-stream/i.test(res.headers.get("Content-Type") || "")) {
    return { kind: "error", status: res.status, type: "protocol",
             message: "The server did not answer with an event stream." };
  }

  let done = false, finish = null, error = null;
  const parser = createParser(({ event, data }) => {
    if (done) return;
    if (data === "[DONE]") { done = true; return; }
    let obj;
    try { obj = JSON.parse(data); } catch { return; }   // not ours: ignore
    if (event === "finish") {
      finish = obj;
    } else if (event === "error") {
      error = obj?.error ?? { message: "The stream failed." };
    } else if (event === "tool_call") {
      onToolCall(obj);
    } else if (event === "message" && obj && typeof obj === "object") {
      for (const kind of ["content", "refusal", "reasoning"]) {
        if (typeof obj[kind] === "string" && obj[kind]) onDelta(kind, obj[kind]);
      }
    }
  });

  const reader = res.body.getReader();
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  try {
    for (;;) {
      const { value, done: eof } = await reader.read();
      if (eof) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
    parser.feed(decoder.decode());
    parser.end();
  } catch (err) {
    if (signal?.aborted) return { kind: "aborted", finish };
    if (error) return { kind: "error", type: error.type, message: error.message };
    return { kind: "dropped", finish };
  } finally {
    reader.releaseLock?.();
  }
  if (signal?.aborted && !done) return { kind: "aborted", finish };
  if (error) {
    return { kind: "error", type: error.type ?? "error",
             message: error.message || "The stream failed." };
  }
  if (!done) return { kind: "dropped", finish };
  return { kind: "done", finish, usage: finish?.usage ?? null };
}
