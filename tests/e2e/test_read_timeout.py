#!/usr/bin/env python3
"""request_read_timeout_seconds: a FastCGI peer that connects and stalls
(or trickles) while sending a request is cut off alone, after the
deadline, and never keeps other requests waiting -- over --listen (TCP)
and through lighttpd (its unix socket).  Before the fix one stalled peer
froze every worker (FCGX_Accept_r read the first record under the accept
lock); every wait here is bounded so that shows as a failure, not a
hang."""

import glob
import json
import os
import select
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

MODELS = ["gen-3"]
TIMEOUT = 1          # request_read_timeout_seconds in these servers
THREADS = 2
S = {}

BEGIN = h.FCGI_BEGIN_RESPONDER


def setup(stack):
    stack.start_replay()
    S["stack"] = stack
    S["sa"] = stack.standalone(MODELS, name="listen", threads=THREADS,
                               request_read_timeout_seconds=TIMEOUT)
    S["lt"] = stack.server(MODELS, name="lt", threads=THREADS,
                           request_read_timeout_seconds=TIMEOUT)


def chat_body(tag):
    return json.dumps({"model": "gen-3", "messages": [
        {"role": "user", "content": "tag:%s hi" % tag}]}).encode()


def head(env):
    """Begin-request and the complete params stream."""
    return BEGIN + h._fcgi_record(4, 1, h._fcgi_params(env)) + h._fcgi_record(4, 1)


def connect(addr, data=b""):
    fam = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(addr)
    if data:
        s.sendall(data)
    return s


def wait_closed(s, timeout=5.0):
    """Read until chatstream closes s; (time it did or None, bytes read)."""
    deadline = h.mono() + timeout
    got = b""
    while True:
        left = deadline - h.mono()
        if left <= 0:
            return None, got
        r, _, _ = select.select([s], [], [], left)
        if not r:
            continue
        try:
            d = s.recv(65536)
        except OSError:
            return h.mono(), got
        if not d:
            return h.mono(), got
        got += d


def check_good_request(t, srv, timeout=5.0):
    """A normal stream is answered while peers stall."""
    tag = h.new_tag()
    t0 = h.mono()
    r = srv.chat("hi", tag=tag, model="gen-3", timeout=timeout)
    t.diag("good request answered in %.2f s" % (h.mono() - t0))
    t.check(r.error is None, "the good request was answered in time: %s"
            % r.error, r.summary())
    if r.error is None:
        h.check_stream_shape(t, r)
        t.eq(r.text, h.gen_text(3), "text")


def close_times(socks, timeout):
    """When chatstream closed each socket (None: not within timeout)."""
    when = [None] * len(socks)
    deadline = h.mono() + timeout
    while None in when:
        left = deadline - h.mono()
        if left <= 0:
            break
        open_ = [s for s, w in zip(socks, when) if w is None]
        r, _, _ = select.select(open_, [], [], left)
        for s in r:
            try:
                d = s.recv(65536)
            except OSError:
                d = b""
            if not d:
                when[socks.index(s)] = h.mono()
    return when


def check_cut(t, socks, t0, good, lo=TIMEOUT - 0.3, hi=TIMEOUT + 2.0):
    """Run good(t) (a normal request) while waiting for chatstream to
    close each stalled socket, each between lo and hi s after t0."""
    th = threading.Thread(target=good, args=(t,))
    th.start()
    when = close_times(socks, hi + 3)
    th.join(timeout=30)
    t.check(not th.is_alive(), "the good request finished")
    for i, w in enumerate(when):
        t.check(w is not None, "stalled peer %d: chatstream closed it" % i)
        if w is not None:
            t.diag("stalled peer %d: closed after %.2f s" % (i, w - t0))
            t.check(lo <= w - t0 <= hi, "stalled peer %d: closed after "
                    "about request_read_timeout_seconds (%.2f s)" % (i, w - t0))


def stalled_one_byte(t):
    sa = S["sa"]
    s = connect(sa.addr, b"\x01")
    t0 = h.mono()
    try:
        check_cut(t, [s], t0, lambda c: check_good_request(c, sa))
    finally:
        s.close()
    line = sa.wait_log(r"chatstream: id=- .*outcome=read_timeout", timeout=5)
    t.check(line is not None, "the access log has outcome=read_timeout: %r" % line)


def body_timeout(path):
    def run(t):
        sa = S["sa"]
        body = chat_body(h.new_tag())
        env = h.cgi_env(path=path, body=body)
        s = connect(sa.addr, head(env))
        t0 = h.mono()
        try:
            # Trickle a few bytes well within the deadline, then stall.
            for i in range(3):
                s.sendall(h._fcgi_record(5, 1, body[i * 4:i * 4 + 4]))
                select.select([], [], [], 0.15)
            when, raw = wait_closed(s, timeout=TIMEOUT + 5)
        finally:
            s.close()
        t.require(when is not None, "the answer came and the connection closed")
        t.diag("answered after %.2f s" % (when - t0))
        t.check(TIMEOUT - 0.3 <= when - t0 <= TIMEOUT + 2.0,
                "after about request_read_timeout_seconds")
        r = h.parse_fcgi_output(raw)
        t.check(r.complete, "FCGI_END_REQUEST received", r.summary())
        if "/v1/" in path:
            # OpenAI's error shape: the native type is the code.
            j = h.check_error_json(t, r, 408) or {}
            t.eq((j.get("error") or {}).get("code"), "request_timeout",
                 "error.code", r.summary())
        else:
            h.check_error_json(t, r, 408, "request_timeout")
        t.eq(r.reason, "Request Timeout", "reason phrase")
        line = sa.wait_log(r"path=%s .*status=408 outcome=read_timeout"
                           % path, timeout=5)
        t.check(line is not None, "access line: status=408 outcome=read_timeout")
    return run


def trickle_forever(t):
    """Bytes that keep coming after the deadline do not keep it open."""
    sa = S["sa"]
    body = chat_body(h.new_tag()) * 50
    s = connect(sa.addr, head(h.cgi_env(body=body)))
    t0 = h.mono()
    closed = None
    try:
        for i in range(40):     # 8 s at most
            try:
                s.sendall(h._fcgi_record(5, 1, body[i:i + 1]))
            except OSError:
                closed = h.mono()
                break
            when, _ = wait_closed(s, timeout=0.2)
            if when is not None:
                closed = when
                break
    finally:
        s.close()
    t.check(closed is not None, "chatstream cut the trickling peer")
    if closed is not None:
        t.diag("cut after %.2f s" % (closed - t0))
        t.check(closed - t0 <= TIMEOUT + 3.0, "within the deadline plus a "
                "second (%.2f s)" % (closed - t0))


def many_stalled(t):
    sa = S["sa"]
    env = h.cgi_env(body=b"{}")
    params = head(env)
    kinds = [b"", b"\x01", BEGIN, BEGIN + params[len(BEGIN):len(BEGIN) + 12],
             params, b"\x01\x01"]
    socks = [connect(sa.addr, k) for k in kinds]    # 3 x the threads
    t0 = h.mono()
    try:
        # Stalled peers wait in the intake, not in a worker, so the good
        # request is not queued behind them, and every one of them is cut
        # TIMEOUT after its accept, not a round of workers later.
        check_cut(t, socks, t0, lambda c: check_good_request(c, sa))
    finally:
        for s in socks:
            s.close()


def lighttpd_stalled(t):
    lt = S["lt"]
    socks = sorted(glob.glob(os.path.join(lt.dir, "cs.sock*")))
    t.require(socks, "lighttpd's backend socket exists", lt.dir)
    stalled = [connect(p, b"\x01") for p in socks]
    t0 = h.mono()
    try:
        check_cut(t, stalled, t0, lambda c: check_good_request(c, lt))
    finally:
        for s in stalled:
            s.close()
    line = lt.wait_log(r"chatstream: id=- .*outcome=read_timeout", timeout=5)
    t.check(line is not None, "lighttpd's error log has outcome=read_timeout")


def web_server_addrs(t):
    """FCGI_WEB_SERVER_ADDRS still applies now that chatstream accepts
    itself (libfcgi's accept used to check it)."""
    stack = S["stack"]
    conf = os.path.join(stack.tmp, "listen", "chatstream.conf")
    for addrs, allowed in (("10.9.9.9, 127.0.0.2", False),
                           ("10.9.9.9,127.0.0.1", True)):
        port = h.free_port()
        env = {k: v for k, v in os.environ.items() if k not in h.HERMETIC_DROP}
        env["FCGI_WEB_SERVER_ADDRS"] = addrs
        log = open(os.path.join(stack.tmp, "addrs-%d.log" % port), "ab")
        proc = h.subprocess.Popen(
            [stack.bin, "--config", conf, "--listen", "127.0.0.1:%d" % port],
            stdin=h.subprocess.DEVNULL, stdout=log, stderr=log, env=env,
            start_new_session=True, preexec_fn=h._die_with_parent)
        log.close()
        try:
            deadline = h.mono() + 10
            while not h.port_open(port) and h.mono() < deadline:
                h.time.sleep(0.02)
            r = h.fcgi_request(("127.0.0.1", port),
                               h.cgi_env("GET", "/api/models"), timeout=5)
        finally:
            h.kill_group(proc)
        if allowed:
            t.eq(r.status, 200, "%r lets 127.0.0.1 in" % addrs, r.summary())
        else:
            t.check(r.status is None and r.error is not None,
                    "%r: 127.0.0.1 is refused (connection closed)" % addrs,
                    r.summary())


CASES = [
    ("a peer that sends one byte and stalls blocks no other request and is "
     "closed after the deadline", stalled_one_byte),
    ("params sent, body trickles then stalls -> 408 request_timeout",
     body_timeout("/api/chat")),
    ("the same on /api/v1/chat/completions -> 408 request_timeout",
     body_timeout("/api/v1/chat/completions")),
    ("a body that trickles on past the deadline is cut off", trickle_forever),
    ("more stalled peers than threads still let a good request through",
     many_stalled),
    ("through lighttpd: a stalled peer on the backend socket blocks nothing",
     lighttpd_stalled),
    ("FCGI_WEB_SERVER_ADDRS is still honoured", web_server_addrs),
]

if __name__ == "__main__":
    sys.exit(h.main("read_timeout", CASES, setup))
