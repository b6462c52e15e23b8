#!/usr/bin/env python3
"""Capacity is explicit: with max_streams provider streams open, a new
request gets 503 with a JSON error and Retry-After at once (logged
overloaded) instead of waiting in the listen queue for the web server's
timeout (lighttpd: an HTML 504 after a minute); /api/v1 answers in
OpenAI's error shape; a peer that stalls while the server is full does not
hold back the next 503; once a stream ends, requests are served again.
Through lighttpd and over --listen, with max_streams = 2.  (Before the
event loops the limit was the worker threads, each holding a stream:
this test then set threads = 2.)"""

import json
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

MAX_STREAMS = 2
LONG = "gen-300+delay:100"      # 30 s unless its client leaves
MODELS = ["gen-3", LONG]
S = {}


def setup(stack):
    stack.start_replay()
    S["replay"] = stack.replay
    S["lt"] = stack.server(MODELS, name="lt",
                           max_streams=MAX_STREAMS)
    S["sa"] = stack.standalone(MODELS, name="listen",
                                 max_streams=MAX_STREAMS)


def hold_streams(srv, n):
    """Open n LONG streams and return (sockets, tags) once each is
    streaming.  They stay open until their socket is closed."""
    socks, tags = [], []
    for _ in range(n):
        tag = h.new_tag()
        body = json.dumps({"model": LONG, "messages": [
            {"role": "user", "content": "tag:%s hi" % tag}]}).encode()
        if isinstance(srv, h.Standalone):
            s = socket.create_connection(srv.addr, timeout=10)
            env = h.cgi_env(body=body)
            s.sendall(h.fcgi_request_bytes(env, body))
        else:
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            s.sendall(h.http_post_bytes("/api/chat", body))
        socks.append(s)
        tags.append(tag)
    for tag in tags:
        if S["replay"].wait(tag, "event_sent", timeout=15) is None:
            raise RuntimeError("a held stream did not start")
    return socks, tags


def release(socks, tags):
    for s in socks:
        s.close()
    for tag in tags:
        S["replay"].wait(tag, "peer_closed", timeout=15)


def ask(srv, path, body):
    if isinstance(srv, h.Standalone):
        return h.fcgi_request(srv.addr, h.cgi_env(path=path, body=body), body,
                              timeout=20)
    return srv.post(path, body, timeout=20)


def chat_body(model="gen-3"):
    return json.dumps({"model": model, "messages": [
        {"role": "user", "content": "tag:%s hi" % h.new_tag()}]}).encode()


def full(key):
    def case(t):
        srv = S[key]
        socks, tags = hold_streams(srv, MAX_STREAMS)
        try:
            r = ask(srv, "/api/chat", chat_body())
            t.eq(r.status, 503, "past capacity: 503", r.summary())
            t.eq(r.header("retry-after"), "1", "Retry-After: 1")
            j = r.json() or {}
            t.eq((j.get("error") or {}).get("type"), "overloaded",
                 "JSON error of type overloaded", r.summary())
            line = srv.wait_log(r"outcome=overloaded", timeout=10)
            t.check(line is not None and "status=503" in line,
                    "logged status=503 outcome=overloaded", line)
            r = ask(srv, "/api/v1/chat/completions", chat_body())
            t.eq(r.status, 503, "/api/v1 past capacity: 503", r.summary())
            e = (r.json() or {}).get("error") or {}
            t.check(all(k in e for k in ("message", "type", "param", "code")),
                    "in OpenAI's error shape", r.summary())
            # A peer that connects and stalls while the server is full
            # waits in the intake and holds nothing back.
            if isinstance(srv, h.Standalone):
                stall = socket.create_connection(srv.addr, timeout=10)
                stall.sendall(b"\x01")
                try:
                    r = ask(srv, "/api/chat", chat_body())
                    t.eq(r.status, 503, "beside a stalled peer: still 503",
                         r.summary())
                finally:
                    stall.close()
        finally:
            release(socks, tags)
        r = ask(srv, "/api/chat", chat_body())
        t.eq(r.status, 200, "a stream ended: served again", r.summary())
        t.eq(r.text, h.gen_text(3), "with its text")
    return case


CASES = [
    ("through lighttpd: max_streams open -> 503 + Retry-After at once",
     full("lt")),
    ("over --listen: the same, and a stalled peer does not hold it back",
     full("sa")),
]

if __name__ == "__main__":
    sys.exit(h.main("overload", CASES, setup))
