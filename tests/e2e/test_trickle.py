#!/usr/bin/env python3
"""Requests still arriving hold no worker: peers that stall or trickle
their request (as Apache mod_proxy_fcgi passes on a client's slow body)
wait in the intake, so with threads = 2 and six such peers, normal chats
are answered at once -- over --listen (raw FastCGI peers) and through the
real Apache with mod_proxy_fcgi (HTTP clients trickling a body).  A parked
request that completes is then served in full.

Before the intake each such peer took a worker until
request_read_timeout_seconds (here 20 s), so the normal chats waited for
it; every wait here is bounded well below that, so the old behaviour
shows as a failure, not a hang."""

import json
import os
import select
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402
import apache as A  # noqa: E402

THREADS = 2
READ_TIMEOUT = 20        # request_read_timeout_seconds: far above the waits
GOOD_WITHIN = 8.0        # a normal chat must be answered within this
TRICKLE_EVERY = 0.25     # s between trickled bytes
S = {}


def setup(stack):
    S["replay"] = stack.start_replay()
    S["sa"] = stack.standalone(["gen-3"], name="listen", threads=THREADS,
                               request_read_timeout_seconds=READ_TIMEOUT)
    _, _, S["ap"] = A.proxy_fcgi_site(
        stack, threads=THREADS, request_read_timeout_seconds=READ_TIMEOUT)


def chat_body(tag):
    return json.dumps({"model": "gen-3", "messages": [
        {"role": "user", "content": "tag:%s hi" % tag}]}).encode()


class Trickler:
    """Sends head at once, then body one byte every TRICKLE_EVERY s from a
    thread, keeping the last byte (and, for FastCGI, the end of STDIN)
    back until finish().  wrap(chunk) turns body bytes into what goes on
    the wire."""

    def __init__(self, addr, head, body, wrap, tail=b""):
        fam = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
        self.s = socket.socket(fam, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(addr)
        self.s.sendall(head)
        self.body, self.wrap, self.tail = body, wrap, tail
        self.sent = 0
        self.going = threading.Event()    # two bytes of body are out
        if len(body) < 3:
            self.going.set()
        self.halt = threading.Event()
        self.failed = None
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _run(self):
        while not self.halt.wait(TRICKLE_EVERY):
            if self.sent >= len(self.body) - 1:
                continue      # hold the last byte back
            try:
                self.s.sendall(self.wrap(self.body[self.sent:self.sent + 1]))
            except OSError as e:
                self.failed = e
                return
            self.sent += 1
            if self.sent >= 2:
                self.going.set()

    def still_open(self):
        """Nothing came back and the connection is open."""
        r, _, _ = select.select([self.s], [], [], 0)
        return not r and self.failed is None

    def finish(self):
        """Send the rest; return everything that comes back until close."""
        self.halt.set()
        self.th.join(5)
        self.s.sendall(self.wrap(self.body[self.sent:]) + self.tail)
        out = b""
        deadline = h.mono() + 15
        while h.mono() < deadline:
            r, _, _ = select.select([self.s], [], [], deadline - h.mono())
            if not r:
                break
            d = self.s.recv(65536)
            if not d:
                break
            out += d
        return out

    def close(self):
        self.halt.set()
        self.s.close()


def fcgi_stalls(addr):
    """Six raw FastCGI peers: three that stall early, three trickling a
    body (the first of those is finished later)."""
    env = h.cgi_env(body=b"{}")
    params = h.fcgi_request_bytes(env, b"", end=False)
    out = []
    for head in (b"", b"\x01", params[:20]):
        out.append(Trickler(addr, head, b"", lambda c: b""))
    for _ in range(3):
        body = chat_body(h.new_tag())
        head = h.fcgi_request_bytes(h.cgi_env(body=body), b"", end=False)
        out.append(Trickler(addr, head, body,
                            lambda c: h._fcgi_record(5, 1, c) if c else b"",
                            tail=h._fcgi_record(5, 1)))
    return out[3:], out


def http_tricklers(port, n):
    out = []
    for _ in range(n):
        body = chat_body(h.new_tag())
        head = h.http_post_bytes("/api/chat", body, sse=True, close=True,
                                 with_body=False)
        out.append(Trickler(("127.0.0.1", port), head, body, lambda c: c))
    return out


def good_chats(t, srv, n):
    """n chats, two at a time (the worker count); each answered in full
    within GOOD_WITHIN s."""
    res = [None] * n

    def one(i):
        t0 = h.mono()
        r = srv.chat("hi", tag=h.new_tag(), model="gen-3",
                     timeout=GOOD_WITHIN + 2)
        res[i] = (r, h.mono() - t0)
    for k in range(0, n, THREADS):
        ths = [threading.Thread(target=one, args=(i,))
               for i in range(k, min(n, k + THREADS))]
        for th in ths:
            th.start()
        for th in ths:
            th.join(GOOD_WITHIN + 5)
    worst = 0.0
    for i, x in enumerate(res):
        t.require(x is not None, "normal chat %d finished" % i)
        r, took = x
        worst = max(worst, took)
        t.check(r.error is None and r.text == h.gen_text(3),
                "normal chat %d: the whole text" % i, r.summary())
        t.check(took < GOOD_WITHIN, "normal chat %d answered in %.2f s "
                "(< %.0f s; waiting for a worker would take %d s)"
                % (i, took, GOOD_WITHIN, READ_TIMEOUT))
    t.diag("slowest normal chat: %.3f s" % worst)


def check_finished_fcgi(t, raw):
    r = h.parse_fcgi_output(raw)
    t.eq(r.status, 200, "the finished request: 200", r.summary())
    t.check(r.complete, "the finished request: FCGI_END_REQUEST")
    t.eq(r.text, h.gen_text(3), "the finished request: the whole text")


def listen_case(t):
    sa = S["sa"]
    tricklers, peers = fcgi_stalls(sa.addr)
    try:
        # Let every trickler get bytes in first.
        t.require(all(p.going.wait(5) for p in tricklers),
                  "the tricklers are trickling")
        good_chats(t, sa, 6)
        t.check(all(p.still_open() for p in peers),
                "all six stalled or trickling peers are still waiting "
                "(none was cut to make room)")
        raw = tricklers[0].finish()
        check_finished_fcgi(t, raw)
    finally:
        for p in peers:
            p.close()


def apache_case(t):
    ap = S["ap"]
    peers = http_tricklers(ap.port, 4)
    try:
        t.require(all(p.going.wait(5) for p in peers),
                  "the clients are trickling")
        good_chats(t, ap, 4)
        t.check(all(p.still_open() for p in peers),
                "all four trickling clients are still sending")
        raw = peers[0].finish()
        head, _, body = raw.partition(b"\r\n\r\n")
        t.check(head.startswith(b"HTTP/1.1 200"), "the finished request: "
                "200 (%r)" % head[:40])
        t.check(b"event: done" in body or b"[DONE]" in body or
                b"event: finish" in body, "the finished request: the "
                "stream ran to its end")
    finally:
        for p in peers:
            p.close()


CASES = [
    ("over --listen: six stalled or trickling FastCGI peers, threads = 2: "
     "normal chats answered at once; a finished one is served",
     listen_case),
    ("through Apache mod_proxy_fcgi: four clients trickling their body, "
     "threads = 2: normal chats answered at once; a finished one is served",
     apache_case),
]

if __name__ == "__main__":
    A.require_apache(A.PROXY_FCGI_MODULES)
    sys.exit(h.main("trickle", CASES, setup))
