#!/usr/bin/env python3
"""Admission across hosts (issue 14): two lighttpd + chatstream "hosts"
count against one real redis-server (Debian's, on a unix socket in the
test's directory), so a client's concurrent_streams holds across both.
Then redis stops mid-run: state_fail = closed answers 503
state_unavailable with Retry-After at once, state_fail = open serves; redis
comes back on the same socket and the closed host admits again."""

import atexit
import json
import os
import shutil
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

SLOW = "gen-20+delay:150"       # 3 s: the admitted streams overlap
S = {}


class Redis:
    """redis-server on a unix socket only (no TCP port), no persistence."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.sock = os.path.join(self.dir, "redis.sock")
        self.proc = None

    def start(self):
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (make deps)")
        self.log = open(os.path.join(self.dir, "redis.log"), "ab")
        self.proc = subprocess.Popen(
            [exe, "--port", "0", "--unixsocket", self.sock,
             "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
             "--dir", self.dir],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir,
            start_new_session=True, preexec_fn=h._die_with_parent)
        deadline = h.mono() + 10
        while h.mono() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited: see " + self.dir)
            if self.ping():
                return self
            h.time.sleep(0.02)
        raise RuntimeError("redis-server did not come up")

    def ping(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(1)
        try:
            s.connect(self.sock)
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False
        finally:
            s.close()

    def stop(self):
        if self.proc is not None:
            h.kill_group(self.proc, timeout=5)
            self.proc = None
            self.log.close()
        if os.path.exists(self.sock):
            os.unlink(self.sock)


def setup(stack):
    stack.start_replay()
    S["stack"] = stack
    S["redis"] = r = Redis(stack.tmp).start()
    atexit.register(r.stop)
    spec = "redis+unix://" + r.sock
    S["a"] = stack.server([SLOW, "gen-3"], name="host-a", threads=32,
                          concurrent_streams=10, state=spec)
    S["b"] = stack.server([SLOW, "gen-3"], name="host-b", threads=32,
                          concurrent_streams=10, state=spec)
    S["closed"] = stack.server(["gen-3"], name="closed",
                               requests_per_minute=100, state=spec)
    S["open"] = stack.server(["gen-3"], name="open",
                             requests_per_minute=100, state=spec,
                             state_fail="open")


def chat(lt, model, timeout=30):
    body = {"messages": [{"role": "user", "content": "tag:%s hi" % h.new_tag()}],
            "model": model}
    return h.request(lt.port, "POST", "/api/chat",
                     body=json.dumps(body).encode(),
                     headers={"Content-Type": "application/json",
                              "Accept": "text/event-stream"},
                     timeout=timeout)


def error_of(r):
    try:
        return (r.json() or {}).get("error") or {}
    except ValueError:
        return {}


def case_two_hosts(t):
    n = 50
    res, go = [None] * n, threading.Barrier(n)
    hosts = [S["a"], S["b"]]

    def one(i):
        go.wait()
        res[i] = chat(hosts[i % 2], SLOW, timeout=60)
    ths = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    ok = [i for i, r in enumerate(res) if r.status == 200]
    refused = [r for r in res if r.status == 429]
    t.eq(len(ok), 10, "streams admitted over both hosts (concurrent_streams = 10)",
         sorted(set(r.status for r in res)))
    t.eq(len(refused), 40, "refused with 429")
    for hi in (0, 1):
        n_ref = sum(1 for i, r in enumerate(res) if i % 2 == hi and r.status == 429)
        t.check(n_ref >= 15, "host %s refused at least 15 of its 25 (it "
                "counts the other host's streams)" % "ab"[hi], n_ref)
    for i in ok:
        t.eq(res[i].text, h.gen_text(20), "an admitted stream runs to the end")
    for r in refused[:3]:
        t.eq(error_of(r).get("type"), "rate_limited", "error type", r.body[:200])
        t.check(r.header("RateLimit-Policy", "").startswith('"concurrency";q=10'),
                "the policy names the shared limit", r.header("RateLimit-Policy"))
        t.check((r.header("Retry-After") or "").isdigit(), "Retry-After")


def case_redis_down_and_back(t):
    redis = S["redis"]
    r = chat(S["closed"], "gen-3")
    t.eq(r.status, 200, "served while redis runs", r.summary())
    redis.stop()
    t0 = h.mono()
    r = chat(S["closed"], "gen-3", timeout=10)
    took = h.mono() - t0
    t.eq(r.status, 503, "state_fail = closed: 503 once redis is gone", r.summary())
    t.eq(error_of(r).get("type"), "state_unavailable", "error type",
         r.body[:200])
    t.check((r.header("Retry-After") or "").isdigit(), "with Retry-After",
            r.header("Retry-After"))
    t.check(took < 3.0, "at once, not after a hang (%.2f s)" % took)
    r = chat(S["open"], "gen-3", timeout=10)
    t.eq(r.status, 200, "state_fail = open: served without the store",
         r.summary())
    t.eq(r.text, h.gen_text(3), "the whole answer")
    redis.start()
    r = chat(S["closed"], "gen-3", timeout=10)
    t.eq(r.status, 200, "redis back on the same socket: admitted again",
         r.summary())
    line = S["closed"].wait_log(r"state store .* failed", timeout=5)
    t.check(line is not None, "the failure was logged", line)


CASES = [
    ("two hosts share one redis: 50 at once against concurrent_streams = 10 "
     "-> 10 stream, 40 get 429", case_two_hosts),
    ("redis stopped: closed -> 503 state_unavailable at once, open serves; "
     "back: admitted again", case_redis_down_and_back),
]

if __name__ == "__main__":
    sys.exit(h.main("limits_redis", CASES, setup))
