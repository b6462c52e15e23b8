#!/usr/bin/env python3
"""write_timeout_seconds: a client that stops reading its stream is cut
off after the write timeout, logged slow_client, and its provider request
is cancelled -- while streams beside it keep getting their deltas.  Through
lighttpd (an HTTP client that reads the head and then nothing) and over
--listen (a FastCGI peer that never reads).  Before the fix the stalled
stream held its worker thread in a blocking write() until the web server
gave up (lighttpd: minutes); every wait here is bounded so that shows as a
failure, not a hang.  Each server runs one event loop (loops = 1), so the
stalled stream shares it with the normal ones: a write that blocked the
loop would pause them all for the write timeout."""

import json
import os
import select
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

WRITE_TIMEOUT = 1       # write_timeout_seconds in these servers
BIG = "gen-5000+wide:4000"          # 20 MB as fast as it can go
NORMAL = "gen-40+delay:50"          # 2 s, a delta every 50 ms
SLOWREAD = "gen-600+wide:1000"      # 600 kB as fast as it can go
MODELS = [BIG, NORMAL, SLOWREAD, "gen-3"]
PENDING = 64 * 1024     # max_pending_bytes of the --listen server
READ_CHUNK = 16384      # the slow reader: this much every READ_EVERY s
READ_EVERY = 0.01       # (a 4 kB receive buffer: ~400 kB/s, over PENDING per s)
MAX_GAP_S = 0.5         # normal streams: longest pause between deltas
                        # (half the write timeout a blocked write takes)
S = {}


def setup(stack):
    stack.start_replay()
    S["replay"] = stack.replay
    S["lt"] = stack.server(MODELS, name="lt", default_model="gen-3",
                           write_timeout_seconds=WRITE_TIMEOUT, loops=1)
    S["sa"] = stack.standalone(MODELS, name="listen", default_model="gen-3",
                               write_timeout_seconds=WRITE_TIMEOUT,
                               max_pending_bytes=PENDING, loops=1)
    # The same, with the metrics on and a longer write timeout: the
    # stalled stream's pending bytes are in the gauge meanwhile.
    S["gauge"] = stack.standalone(MODELS, name="gauge", default_model="gen-3",
                                  write_timeout_seconds=3,
                                  max_pending_bytes=PENDING, loops=1,
                                  metrics="loopback")


def chat_body(tag, model):
    return json.dumps({"model": model, "messages": [
        {"role": "user", "content": "tag:%s hi" % tag}]}).encode()


def small_socket(family):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    return s


def request_id(head):
    for line in head.split(b"\r\n"):
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"x-request-id":
            return v.strip().decode()
    return None


def stall_http(port, tag):
    """POST a chat to lighttpd, read the response head, then read nothing.
    Returns (socket, stream id)."""
    s = small_socket(socket.AF_INET)
    s.connect(("127.0.0.1", port))
    body = chat_body(tag, BIG)
    s.sendall(h.http_post_bytes("/api/chat", body, sse=True))
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 65536:
        d = s.recv(1)     # byte by byte: take no more than the head
        if not d:
            break
        head += d
    return s, request_id(head)


def stall_fcgi(addr, tag):
    """The same as a FastCGI peer (a web server that stops reading)."""
    s = small_socket(socket.AF_INET)
    s.connect(addr)
    body = chat_body(tag, BIG)
    env = h.cgi_env(body=body)
    s.sendall(h.fcgi_request_bytes(env, body))
    out = b""
    while b"\r\n\r\n" not in out and len(out) < 65536:
        rec = b""
        while len(rec) < 8:
            d = s.recv(8 - len(rec))
            if not d:
                return s, None
            rec += d
        n = ((rec[4] << 8) | rec[5]) + rec[6]
        content = b""
        while len(content) < n:
            d = s.recv(n - len(content))
            if not d:
                return s, None
            content += d
        if rec[1] == 6:
            out += content[:(rec[4] << 8) | rec[5]]
    return s, request_id(out)


def normal_streams(srv, n):
    """n concurrent NORMAL chats; returns their Responses."""
    out = [None] * n

    def one(i):
        out[i] = srv.chat("hi", tag=h.new_tag(), model=NORMAL, timeout=30)
    ths = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(40)
    return out


def max_gap(r):
    ts = [ev.t for ev in r.events if ev.kind == "event" and
          "content" in (ev.json() or {})]
    return max((b - a for a, b in zip(ts, ts[1:])), default=0.0)


def stalled_beside_normal(key, stall):
    def case(t):
        srv = S[key]
        tag = h.new_tag()
        sock, sid = stall(srv, tag)
        try:
            t.require(sid is not None, "the stalled client got the response "
                      "head with X-Request-Id")
            t.require(S["replay"].wait(tag, "first_byte", timeout=10) is not None,
                      "the provider request of the stalled stream started")
            # Streams beside it, running for longer than the write timeout.
            rs = normal_streams(srv, 3)
            for i, r in enumerate(rs):
                t.eq(r.text, h.gen_text(40), "normal stream %d: every delta"
                     % i, r.summary())
                gap = max_gap(r)
                t.diag("normal stream %d: longest pause between deltas %.3f s"
                       % (i, gap))
                t.check(gap < MAX_GAP_S, "normal stream %d: deltas kept "
                        "arriving (longest pause %.3f s < %.1f s)"
                        % (i, gap, MAX_GAP_S))
            ev = S["replay"].wait(tag, "peer_closed", timeout=20)
            t.require(ev is not None, "the stalled stream's provider request "
                      "was cancelled (the replay saw its connection closed)",
                      S["replay"].events(tag)[-3:])
            t.check(not S["replay"].events(tag, "completed"),
                    "the provider never completed the stalled stream")
            sent = len(S["replay"].events(tag, "event_sent"))
            t.diag("events the provider sent before the cut: %d of 5003" % sent)
            line = srv.log_line_for(sid, timeout=10)
            t.require(line is not None, "an access line for the stalled stream")
            t.check("outcome=slow_client" in line, "logged slow_client", line)
        finally:
            sock.close()
        r = srv.chat("hi", tag=h.new_tag(), model="gen-3", timeout=20)
        t.eq(r.text, h.gen_text(3), "the server still serves", r.summary())
    return case


def stall_lt(srv, tag):
    return stall_http(srv.port, tag)


def stall_sa(srv, tag):
    return stall_fcgi(srv.addr, tag)


def reader_in_time(t):
    """A client that reads, slowly but steadily, is not cut: a stream of
    40 deltas over 2 s is twice the write timeout."""
    r = S["lt"].chat("hi", tag=h.new_tag(), model=NORMAL, timeout=30)
    t.eq(r.text, h.gen_text(40), "all deltas", r.summary())
    line = S["lt"].log_line_for(r.stream_id, timeout=10)
    t.check(line is not None and "outcome=done" in line, "logged done", line)


def slow_reader(t):
    """A FastCGI peer that reads steadily but slower than the provider
    writes (the provider is paused at max_pending_bytes and resumed,
    over and over) gets every delta, in order, and is not cut."""
    sa = S["sa"]
    tag = h.new_tag()
    s = small_socket(socket.AF_INET)
    s.connect(sa.addr)
    body = chat_body(tag, SLOWREAD)
    s.sendall(h.fcgi_request_bytes(h.cgi_env(body=body), body))
    raw = b""
    t0 = h.mono()
    try:
        while h.mono() - t0 < 30:
            r, _, _ = select.select([s], [], [], 5)
            if not r:
                break
            d = s.recv(READ_CHUNK)
            if not d:
                break
            raw += d
            select.select([], [], [], READ_EVERY)   # the slowness itself
    finally:
        s.close()
    took = h.mono() - t0
    r = h.parse_fcgi_output(raw)
    pad = "x" * 999
    want = "".join("w%d%s " % (i, pad) for i in range(1, 601))
    t.check(r.complete, "FCGI_END_REQUEST arrived (%.1f s, %d bytes)"
            % (took, len(raw)))
    t.check(r.text == want, "every delta, in order (%d of %d characters)"
            % (len(r.text or ""), len(want)))
    line = sa.log_line_for(r.stream_id, timeout=10) if r.stream_id else None
    t.check(line is not None and "outcome=done" in line, "logged done", line)
    t.check(not S["replay"].events(tag, "peer_closed") or
            S["replay"].events(tag, "completed"),
            "the provider request ran to completion")


def pending_gauge(srv):
    r = h.fcgi_request(srv.addr, h.cgi_env("GET", "/api/metrics"), timeout=10)
    for line in r.text_body.splitlines():
        if line.startswith("chatstream_pending_output_bytes "):
            return int(line.split()[1])
    return None


def pending_in_gauge(t):
    srv = S["gauge"]
    tag = h.new_tag()
    sock, sid = stall_fcgi(srv.addr, tag)
    try:
        t.require(sid is not None, "the stalled stream started")
        # The provider is paused once max_pending_bytes wait for the peer.
        deadline, got = h.mono() + 2.5, None
        while h.mono() < deadline:
            got = pending_gauge(srv)
            if got is not None and got >= PENDING:
                break
            h.time.sleep(0.02)
        t.check(got is not None and got >= PENDING,
                "chatstream_pending_output_bytes holds the stalled stream's "
                "bytes (max_pending_bytes %d)" % PENDING, got)
        line = srv.log_line_for(sid, timeout=10)
        t.require(line is not None and "outcome=slow_client" in line,
                  "cut after the write timeout", line)
        deadline = h.mono() + 5
        while h.mono() < deadline and got:
            got = pending_gauge(srv)
            h.time.sleep(0.02)
        t.eq(got, 0, "the gauge is back to 0 once the stream is gone")
    finally:
        sock.close()


CASES = [
    ("through lighttpd: an HTTP client that stops reading is cut after "
     "write_timeout_seconds (slow_client, provider cancelled) while other "
     "streams keep their pace", stalled_beside_normal("lt", stall_lt)),
    ("over --listen: a FastCGI peer that stops reading, the same",
     stalled_beside_normal("sa", stall_sa)),
    ("a stream longer than the write timeout is not cut", reader_in_time),
    ("over --listen: a client slower than the provider gets every byte; "
     "the provider is paused at max_pending_bytes, the stream not cut",
     slow_reader),
    ("the pending_output_bytes gauge counts a stalled stream's bytes",
     pending_in_gauge),
]

if __name__ == "__main__":
    sys.exit(h.main("slow_client", CASES, setup))
