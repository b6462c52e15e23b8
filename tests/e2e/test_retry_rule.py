#!/usr/bin/env python3
"""When chatstream retries a failed provider attempt, and what a 429 tells
the client:

  * the retry rule is the same for every downstream protocol: a provider
    that answers 503 after 0.6 s, with keepalive_seconds 0.2 (so headers,
    a prologue and keep-alives went out first), is asked 1 + max_retries
    times whatever the client speaks (native SSE, useChat, text,
    EventSource GET, OpenAI stream and not stream), and the client gets an
    error;
  * a retry wait that would cross total_timeout (or outlast
    first_byte_timeout) is not taken: the 429 comes at once;
  * Retry-After goes out only when the provider sent one, rounded up.
"""

import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

LATE503 = "gen-3+stall-first:600+status:503+retry-after-ms:10"
RA60 = "gen-3+status:429+retry-after-ms:60000"
RA2500 = "gen-3+status:429+retry-after-ms:2500"
NORA = "gen-3+status:429"
RA7 = "gen-3+status:429+retry-after:7"
RA1500 = "gen-3+status:429+retry-after-ms:1500"
S = {}


def setup(stack):
    stack.start_replay()
    S["replay"] = stack.replay
    S["ka"] = stack.server([LATE503], name="ka", keepalive_seconds=0.2,
                           max_retries=2)
    # total 3 s, first byte 2 s: a 60 s or a 2.5 s wait does not fit.
    S["short"] = stack.server([RA60, RA2500], name="short",
                              total_timeout_seconds=3,
                              first_byte_timeout_seconds=2, max_retries=2)
    S["once"] = stack.server([NORA, RA7, RA1500], name="once", max_retries=0)


def requests_seen(tag):
    return len(S["replay"].events(tag, "request"))


def user_text(tag):
    return "tag:%s hello" % tag


def native(port, tag):
    body = {"model": LATE503, "messages": [{"role": "user", "content": user_text(tag)}]}
    r = h.request(port, "POST", "/api/chat", body=json.dumps(body).encode(),
                  headers={"Content-Type": "application/json",
                           "Accept": "text/event-stream"})
    return r, b'"type":"upstream_error"' in r.body and r.named("error")


def usechat(port, tag):
    body = {"id": "chat-1", "trigger": "submit-message", "model": LATE503,
            "messages": [{"id": "u1", "role": "user",
                          "parts": [{"type": "text", "text": user_text(tag)}]}]}
    r = h.request(port, "POST", "/api/chat", body=json.dumps(body).encode(),
                  headers={"Content-Type": "application/json"})
    return r, b'"type":"error"' in r.body


def text(port, tag):
    body = {"model": LATE503, "messages": [{"role": "user", "content": user_text(tag)}]}
    r = h.request(port, "POST", "/api/chat?format=text", body=json.dumps(body).encode(),
                  headers={"Content-Type": "application/json"})
    return r, "[error] upstream_error" in r.text_body


def eventsource(port, tag):
    q = urllib.parse.urlencode({"prompt": user_text(tag), "model": LATE503})
    r = h.request(port, "GET", "/api/chat?" + q,
                  headers={"Accept": "text/event-stream"})
    return r, bool(r.named("error"))


def openai(stream):
    def run(port, tag):
        body = {"model": LATE503, "stream": stream,
                "messages": [{"role": "user", "content": user_text(tag)}]}
        r = h.request(port, "POST", "/api/v1/chat/completions",
                      body=json.dumps(body).encode(),
                      headers={"Content-Type": "application/json"})
        if stream:
            return r, b'data: {"error":' in r.body
        return r, r.status == 502 and b'"error"' in r.body
    return run


def same_rule(send):
    def run(t):
        tag = h.new_tag()
        r, failed = send(S["ka"].port, tag)
        t.check(failed, "the client got an error (status %s)" % r.status,
                r.body[:600])
        t.eq(requests_seen(tag), 3, "upstream requests (1 + max_retries 2)")
    return run


def wait_not_taken(model, ra):
    def run(t):
        tag = h.new_tag()
        r = S["short"].chat("hi", tag=tag, model=model, timeout=10)
        h.check_error_json(t, r, 429, "rate_limited")
        dt = r.t_end - r.t_start
        t.check(dt < 1.0, "answered at once (%.2f s)" % dt)
        t.eq((r.header("retry-after") or "").strip(), ra, "Retry-After")
        t.eq(requests_seen(tag), 1, "upstream requests")
    return run


def retry_after(model, want):
    def run(t):
        tag = h.new_tag()
        r = S["once"].chat("hi", tag=tag, model=model)
        h.check_error_json(t, r, 429, "rate_limited")
        t.eq(r.header("retry-after"), want, "Retry-After")
    return run


CASES = [
    ("503 after 0.6 s, keepalive 0.2 s: native SSE retried twice",
     same_rule(native)),
    ("... useChat retried twice", same_rule(usechat)),
    ("... text retried twice", same_rule(text)),
    ("... EventSource GET retried twice", same_rule(eventsource)),
    ("... OpenAI stream retried twice", same_rule(openai(True))),
    ("... OpenAI not streaming retried twice", same_rule(openai(False))),
    ("429 + retry-after-ms 60000 under total_timeout 3 s -> 429 at once",
     wait_not_taken(RA60, "60")),
    ("429 + retry-after-ms 2500 over first_byte_timeout 2 s -> 429 at once",
     wait_not_taken(RA2500, "3")),
    ("429 without retry-after -> no Retry-After", retry_after(NORA, None)),
    ("429 + retry-after: 7 -> Retry-After: 7", retry_after(RA7, "7")),
    ("429 + retry-after-ms: 1500 -> Retry-After: 2 (rounded up)",
     retry_after(RA1500, "2")),
]

if __name__ == "__main__":
    sys.exit(h.main("retry_rule", CASES, setup, parallel=6))
