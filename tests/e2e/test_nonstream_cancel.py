#!/usr/bin/env python3
"""Nobody pays for tokens nobody reads: a non-streaming (deferred)
POST /api/v1/chat/completions whose client leaves while the provider is
still generating cancels the provider request and is logged client_gone
-- wherever the web server tells chatstream (nginx closes the FastCGI
connection at once; so does a FastCGI peer that hangs up).  lighttpd 1.4
tells a backend only when it next writes to the client, and a deferred
answer writes nothing until it is complete: there the provider runs to
the end (bounded by total_timeout_seconds and max_tokens_cap), which the
last case records so that a change shows."""

import json
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402
import nginx as n    # noqa: E402

LONG = "gen-200+delay:100"     # 20 s if nobody stops it
SHORTISH = "gen-20+delay:100"  # 2 s
MODELS = ["gen-3", LONG, SHORTISH]
MAX_CANCEL_S = 3.0
S = {}


def setup(stack):
    if n.find_nginx() is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx)")
    stack.start_replay()
    S["replay"] = stack.replay
    S["ng"] = n.deploy(stack, MODELS, "ng")
    S["lt"] = stack.server(MODELS, name="lt")
    S["sa"] = stack.standalone(MODELS, name="listen")


def v1_body(tag, model):
    return json.dumps({"model": model, "stream": False, "messages": [
        {"role": "user", "content": "tag:%s hi" % tag}]}).encode()


def open_http(port, body):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(h.http_post_bytes("/api/v1/chat/completions", body))
    return s


def open_fcgi(addr, body):
    s = socket.create_connection(addr, timeout=10)
    env = h.cgi_env(path="/api/v1/chat/completions", body=body)
    s.sendall(h.fcgi_request_bytes(env, body))
    return s


def leave_mid_generation(key, opener):
    def case(t):
        srv = S[key]
        tag = h.new_tag()
        s = opener(srv, v1_body(tag, LONG))
        try:
            t.require(S["replay"].wait(tag, "event_sent", timeout=10, count=3)
                      is not None, "the provider is generating")
        finally:
            s.close()
        closed = h.mono()
        ev = S["replay"].wait(tag, "peer_closed", timeout=15)
        t.require(ev is not None, "the provider connection was closed after "
                  "the client left", S["replay"].events(tag)[-3:])
        dt = ev["t"] - closed
        t.diag("client left -> provider connection closed: %.3f s" % dt)
        t.check(dt < MAX_CANCEL_S, "within %.1f s (%.3f s)" % (MAX_CANCEL_S, dt))
        t.check(not S["replay"].events(tag, "completed"),
                "the provider never completed")
        line = srv.wait_log(r"path=/api/v1/chat/completions .*"
                            r"outcome=client_gone", timeout=10)
        t.check(line is not None, "logged outcome=client_gone", line)
        body = v1_body(h.new_tag(), "gen-3")
        if key == "sa":
            r = h.fcgi_request(srv.addr, h.cgi_env(
                path="/api/v1/chat/completions", body=body), body, timeout=10)
        else:
            r = srv.post("/api/v1/chat/completions", body, timeout=10)
        t.eq(r.status, 200, "still serving", r.summary())
    return case


def via_ng(srv, body):
    return open_http(srv.port, body)


def via_sa(srv, body):
    return open_fcgi(srv.addr, body)


def lighttpd_runs_to_end(t):
    """lighttpd 1.4.69 does not tell: the provider completes.  (If this
    starts failing because the request was cancelled, lighttpd learned to
    tell -- update deploy.md.)"""
    tag = h.new_tag()
    s = open_http(S["lt"].port, v1_body(tag, SHORTISH))
    try:
        t.require(S["replay"].wait(tag, "event_sent", timeout=10, count=3)
                  is not None, "the provider is generating")
    finally:
        s.close()
    done = S["replay"].wait(tag, "completed", timeout=15)
    t.check(done is not None, "behind lighttpd the provider ran to its end "
            "(documented in deploy.md)", S["replay"].events(tag)[-3:])


CASES = [
    ("behind nginx: a client that leaves a non-streaming request cancels it",
     leave_mid_generation("ng", via_ng)),
    ("over --listen: a FastCGI peer that hangs up cancels it",
     leave_mid_generation("sa", via_sa)),
    ("behind lighttpd: not told until the answer is written (runs to its end)",
     lighttpd_runs_to_end),
]

if __name__ == "__main__":
    sys.exit(h.main("nonstream_cancel", CASES, setup))
