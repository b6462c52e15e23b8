// sse.js — an incremental Server-Sent Events (text/event-stream) parser.
//
// It follows the WHATWG HTML Standard, "Interpreting an event stream"
// (https://html.spec.whatwg.org/multipage/server-sent-events.html), for
// streams read with fetch(): no DOM, no EventSource, so it also runs in Node.
//
//   import { createParser } from "./sse.js";
//   const parser = createParser(({ event, data, id }) => { ... });
//   const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
//   for (;;) {
//     const { value, done } = await reader.read();
//     if (done) break;
//     parser.feed(decoder.decode(value, { stream: true }));
//   }
//   parser.feed(decoder.decode());       // flush the decoder
//   const cutMidEvent = parser.end();    // true: the stream ended mid-event
//
// Text in, events out.  The parser takes JS strings; turning bytes into text
// is the caller's TextDecoder's job, and `decode(chunk, { stream: true })`
// keeps a UTF-8 sequence split across two reads together (it holds the
// first bytes back until the rest arrives); invalid UTF-8 becomes U+FFFD,
// as in EventSource.  Use `ignoreBOM: true` so the byte-order mark reaches
// the parser, which strips exactly one at the start of the stream as the
// standard says.  (With a default TextDecoder the decoder strips it first;
// that only differs for a stream that starts with two BOMs.)
//
// Rules implemented:
//   * lines end at CRLF, LF or CR, also when a CR ends one chunk and its LF
//     starts the next; partial lines are buffered across chunks;
//   * "" (blank line) dispatches; ":..." is a comment; "field:value" with one
//     leading space stripped from the value; "field" alone means an empty
//     value; unknown fields are ignored;
//   * data lines are joined with "\n" (the final LF removed); a block with no
//     data line dispatches nothing (but still commits its id);
//   * `event` empty or unset = "message";
//   * `id` sets the last event ID, which persists across events until another
//     id field changes it ("id:" resets it to ""); an id containing U+0000 is
//     ignored;
//   * `retry` counts only if it is all ASCII digits;
//   * at the end of the stream an unfinished event is discarded.
//
// createParser(onEvent, { onComment, onRetry }) returns
//   feed(text)    parse the next piece of the stream (any size, even "");
//                 callbacks run synchronously; an exception thrown by one
//                 propagates out of feed() and the rest of that chunk is
//                 not parsed
//   end()         the stream ended: drop any unfinished line or event and
//                 get ready for a new stream (the last event ID is kept, as
//                 an EventSource keeps it across reconnections); returns true
//                 if something unfinished was dropped
//   lastEventId   the last event ID string
//   retry         the reconnection time the stream set in ms, or null
//
// onEvent({ event, data, id }) — id is the last event ID at dispatch time.
// onComment(text) — text after the ":" as sent (e.g. " keep-alive").
// onRetry(ms)     — a valid retry field.

export function createParser(onEvent, { onComment, onRetry } = {}) {
  let line = "";          // the unfinished line carried over from earlier chunks
  let afterCR = false;    // the previous chunk ended with CR: drop a leading LF
  let atStart = true;     // no character seen yet: a BOM may come
  let data = "";          // data buffer (each data line + "\n")
  let type = "";          // event type buffer
  let hasFields = false;  // the current block has had a field line
  let idBuffer = "";      // last event ID buffer
  let lastEventId = "";   // last event ID string (committed at dispatch)
  let retry = null;
  const EOL = /[\r\n]/g;  // per parser: exec() keeps state in lastIndex

  function dispatch() {
    lastEventId = idBuffer;
    hasFields = false;
    if (data === "") {
      type = "";
      return;
    }
    const ev = { event: type || "message", data: data.slice(0, -1), id: lastEventId };
    data = "";
    type = "";
    onEvent(ev);
  }

  function processLine(s) {
    if (s === "") {
      dispatch();
      return;
    }
    if (s.charCodeAt(0) === 58 /* ":" */) {
      if (onComment) onComment(s.slice(1));
      return;
    }
    hasFields = true;
    const colon = s.indexOf(":");
    let field = s, value = "";
    if (colon >= 0) {
      field = s.slice(0, colon);
      value = s.slice(colon + 1);
      if (value.charCodeAt(0) === 32 /* " " */) value = value.slice(1);
    }
    switch (field) {
      case "event":
        type = value;
        break;
      case "data":
        data += value + "\n";
        break;
      case "id":
        if (!value.includes("\0")) idBuffer = value;
        break;
      case "retry":
        if (/^[0-9]+$/.test(value)) {
          retry = parseInt(value, 10);
          if (onRetry) onRetry(retry);
        }
        break;
      default:
        break;   // unknown field: ignored
    }
  }

  function feed(text) {
    if (typeof text !== "string") throw new TypeError("feed() takes a string");
    if (text === "") return;
    let pos = 0;
    if (atStart) {
      atStart = false;
      if (text.charCodeAt(0) === 0xfeff) pos = 1;
    }
    if (afterCR) {
      afterCR = false;
      if (text.charCodeAt(pos) === 10) pos++;
    }
    EOL.lastIndex = pos;
    for (;;) {
      const m = EOL.exec(text);
      if (m === null) {
        line += text.slice(pos);
        return;
      }
      const end = m.index;
      const s = line === "" ? text.slice(pos, end) : line + text.slice(pos, end);
      line = "";
      pos = end + 1;
      if (text.charCodeAt(end) === 13) {
        if (pos === text.length) afterCR = true;
        else if (text.charCodeAt(pos) === 10) pos++;
      }
      processLine(s);
      EOL.lastIndex = pos;
    }
  }

  function end() {
    const dropped = line !== "" || hasFields || data !== "";
    line = "";
    afterCR = false;
    atStart = true;
    data = "";
    type = "";
    hasFields = false;
    return dropped;
  }

  return {
    feed,
    end,
    get lastEventId() { return lastEventId; },
    get retry() { return retry; },
  };
}
