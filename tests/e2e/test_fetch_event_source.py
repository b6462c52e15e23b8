#!/usr/bin/env python3
"""@microsoft/fetch-event-source (2.0.1, tests/clients) against chatstream
through lighttpd: the library hands every blank line to onmessage as a
message, data or not, and re-posts the request (after 1 s, forever) when
onmessage throws.  So a keep-alive must be a comment line alone: with a
blank line after it, the message with data "" made the README's
JSON.parse(ev.data) throw and every keep-alive cost a new, billed provider
request.  A provider that stalls before its first byte and again mid-stream,
with keepalive_seconds 0.2, puts keep-alives before the first event and
between events, for each SSE protocol (native, OpenAI stream, useChat's UI
message stream): one provider request per chat, the whole text, no empty
message, no error."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

N = 5
# silent 1.5 s before its first byte, and 1 s before "w3 " (event 3 after
# the role chunk): ~12 keep-alives, some right before an event
STALL = "gen-%d+stall-first:1500+stall-mid:3:1000" % N
KEEPALIVE_S = 0.2
DEADLINE_MS = 6000    # the stream takes ~2.5 s; a retrying client is cut off here
CLIENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients")
SCRIPT = os.path.join(CLIENTS, "fetch_event_source.mjs")
S = {}


def setup(stack):
    stack.start_replay()
    S["replay"] = stack.replay
    # max_retries 0: every provider request counted below is the client's
    S["lt"] = stack.server([STALL], name="fes", keepalive_seconds=KEEPALIVE_S,
                           max_retries=0)


def native_body(tag):
    return "/api/chat", {"model": STALL, "messages": [
        {"role": "user", "content": "tag:%s hello" % tag}]}


def openai_body(tag):
    return "/api/v1/chat/completions", {"model": STALL, "stream": True,
                                        "messages": [{"role": "user",
                                                      "content": "tag:%s hello" % tag}]}


def ui_body(tag):
    """What useChat's DefaultChatTransport POSTs."""
    return "/api/chat", {"id": "chat-1", "trigger": "submit-message", "model": STALL,
                         "messages": [{"id": "u1", "role": "user", "parts": [
                             {"type": "text", "text": "tag:%s hello" % tag}]}]}


def run_client(t, path, body):
    if not os.path.isdir(os.path.join(CLIENTS, "node_modules", "@microsoft",
                                      "fetch-event-source")):
        t.skip("tests/clients/node_modules missing (make clients-deps)")
    url = "http://127.0.0.1:%d%s" % (S["lt"].port, path)
    return h.node_json(t, [SCRIPT, url, json.dumps(body), str(DEADLINE_MS)])


def check_client(t, make_body):
    """One chat through the library: one provider request, the whole
    text, every message JSON, none empty, nothing reached onerror."""
    tag = h.new_tag()
    path, body = make_body(tag)
    out = run_client(t, path, body)
    msgs = out.get("messages") or []
    t.diag("posts %s, ended %s, %d messages, %d empty, errors %s"
           % (out.get("posts"), out.get("ended"), len(msgs), out.get("empty"),
              out.get("errors")[:3]))
    # the replay records each request once it has read it; the library's
    # re-posts (if any) were all sent before the script ended
    reqs = S["replay"].events(tag, "request")
    t.eq(len(reqs), 1, "provider requests for this chat (each one is billed)")
    t.eq(out.get("posts"), 1, "the library POSTed once")
    t.eq(out.get("ended"), "closed", "the stream ended and the promise resolved")
    t.eq(out.get("empty"), 0, "messages with data \"\" reaching onmessage")
    t.eq(out.get("errors"), [], "errors reaching onerror")
    t.eq(out.get("text"), h.gen_text(N), "the whole text arrived")
    t.check(msgs and msgs[-1]["data"] == "[DONE]", "the last message is [DONE]",
            msgs[-3:])
    return msgs


def native(t):
    msgs = check_client(t, native_body)
    ids = [m["id"] for m in msgs]
    sid = ids[0].rsplit(":", 1)[0] if ids and ":" in ids[0] else None
    t.eq(ids, ["%s:%d" % (sid, i) for i in range(1, len(ids) + 1)],
         "every event reached onmessage once, ids counting up from 1")
    t.eq([m["event"] for m in msgs][-2:], ["finish", ""], "finish, then [DONE]")


def openai_stream(t):
    check_client(t, openai_body)


def ui_stream(t):
    msgs = check_client(t, ui_body)
    types = [json.loads(m["data"]).get("type") for m in msgs
             if m["data"] not in ("", "[DONE]")]
    t.eq(types[:3], ["start", "start-step", "text-start"], "the UI stream's first chunks")
    t.eq(types[-2:], ["finish-step", "finish"], "the UI stream's last chunks")


def raw_keepalives(t):
    """Control: the same chat, read raw, really has keep-alives before the
    first event and between events, each a comment line alone, and the
    stream's shape is unchanged."""
    r = S["lt"].chat("hello", tag=h.new_tag(), model=STALL, timeout=30)
    h.check_stream_shape(t, r)
    t.eq(r.text, h.gen_text(N), "text")
    deltas = [e for e, j in r.data_events() if "content" in j]
    t.require(len(deltas) == N, "%d deltas" % N, r.summary())
    before = [c for c in r.comments if c.t < deltas[0].t]
    between = [c for c in r.comments if deltas[1].t < c.t < deltas[2].t]
    t.diag("%d keep-alives before the first delta, %d between the 2nd and 3rd"
           % (len(before), len(between)))
    t.check(len(before) >= 3, "keep-alives while the provider stalls (%d)" % len(before))
    t.check(len(between) >= 2, "keep-alives mid-stream (%d)" % len(between))
    t.check(b": keep-alive\n" in r.body and b": keep-alive\n\n" not in r.body,
            "each keep-alive is a comment line alone (no blank line after it)",
            r.body[:200])
    t.check(b"\n\n: keep-alive\n" in r.body, "a keep-alive right after an event")
    t.check(b": keep-alive\nid: " in r.body,
            "a keep-alive right before an event: the event's lines follow it")


CASES = [
    ("native SSE: one provider request, the whole text, no empty message",
     native),
    ("OpenAI stream (/api/v1): one provider request, the whole text, "
     "no empty message", openai_stream),
    ("useChat's UI message stream: one provider request, the whole text, "
     "no empty message", ui_stream),
    ("control: keep-alives went out before and between events, each a "
     "comment line alone", raw_keepalives),
]

if __name__ == "__main__":
    sys.exit(h.main("fetch_event_source", CASES, setup, parallel=4))
