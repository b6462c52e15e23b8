#!/usr/bin/env python3
"""`make run` twice in one checkout: each PORT gets its own lighttpd
config, backend socket and chatstream (build/run/PORT/), so each port is
answered by its own backend; a second run on a PORT that is taken refuses
to start with a clear message and leaves the first one alone.

Runs tests/lib/serve, what `make run` executes after `make deps-run all`:
the make target itself would install packages and rebuild $BUILD with
its own flags (wrong for the sanitizer build), which is no job for the
suite."""

import os
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

SERVE = os.path.join(h.REPO, "tests", "lib", "serve")
S = {}


class ServeRun:
    """tests/lib/serve on one PORT with its own CHATSTREAM_CONFIG; its
    output (lighttpd's and chatstream's stderr too) in DIR/error.log.
    The log interface of harness.Lighttpd, for the final checks."""

    def __init__(self, stack, name, models, **over):
        self.dir = os.path.join(stack.tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.errorlog = os.path.join(self.dir, "error.log")
        self.conf = h.write_chatstream_conf(
            os.path.join(self.dir, "chatstream.conf"),
            stack.settings(models, **over))
        self.port = h.free_port()
        self.run_dir = os.path.join(h.REPO, "build", "run", str(self.port))
        self.proc = None

    def env(self):
        env = dict(os.environ)
        for k in h.HERMETIC_DROP:
            env.pop(k, None)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        env.update(PORT=str(self.port), CHATSTREAM_CONFIG=self.conf,
                   BUILD=os.path.dirname(h.chatstream_bin()))
        return env

    def start(self, timeout=20.0):
        log = open(self.errorlog, "ab")
        self.proc = subprocess.Popen(
            [SERVE], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            env=self.env(), start_new_session=True,
            preexec_fn=h._die_with_parent)
        log.close()
        deadline = h.mono() + timeout
        while not h.port_open(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError("serve exited (%s):\n%s" % (
                    self.proc.returncode, self.log_text()[-3000:]))
            if h.mono() > deadline:
                raise RuntimeError("serve did not listen on %d" % self.port)
            h.time.sleep(0.05)
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is not None:
            self.died_early = self.proc.returncode
        h.kill_group(self.proc, timeout=8.0)
        self.proc = None
        shutil.rmtree(self.run_dir, ignore_errors=True)

    died_early = None
    log_text = h.Lighttpd.log_text


def setup(stack):
    stack.start_replay()
    # a: the default limits (the harness turns them off; None takes the
    # keys out), so its chats are counted in a store.
    S["a"] = ServeRun(stack, "run-a", ["gen-3", "only-on-a"],
                      requests_per_minute=None, concurrent_streams=None,
                      tokens_per_day=None, global_tokens_per_day=None)
    S["b"] = ServeRun(stack, "run-b", ["gen-3", "only-on-b"])
    for r in (S["a"], S["b"]):
        stack.servers.append(r)
        r.start()


def model_ids(port):
    r = h.request(port, "GET", "/api/models", timeout=10)
    return r, [m.get("id") for m in (r.json() or {}).get("data") or []]


def own_backend(t):
    for name, other in (("a", "b"), ("b", "a")):
        run = S[name]
        for _ in range(3):      # not by luck of which backend answered
            r, ids = model_ids(run.port)
            t.eq(r.status, 200, "port %s: status" % name, r.summary())
            t.check("only-on-" + name in ids and "only-on-" + other not in ids,
                    "port %s answered by its own chatstream: %r" % (name, ids))
        tag = h.new_tag()
        r = h.request(run.port, "POST", "/api/chat", body=(
            '{"model":"gen-3","messages":[{"role":"user","content":"tag:%s hi"}]}'
            % tag).encode(), headers={"Content-Type": "application/json"},
            timeout=20)
        h.check_stream_shape(t, r)
        t.eq(r.text, h.gen_text(3), "port %s: a stream" % name)
        t.check(os.path.isdir(run.run_dir), "its files are in build/run/%d/"
                % run.port)
    # The store of a's limits is the run's too, never beside the config
    # (make run's is conf/chatstream.conf, in the checkout).
    a = S["a"]
    t.check(os.path.isfile(os.path.join(a.run_dir, "chatstream-state.db")),
            "run a counts its chats in build/run/%d/chatstream-state.db"
            % a.port, os.listdir(a.run_dir))
    t.check(not os.path.exists(os.path.join(a.dir, "chatstream-state.db")),
            "not beside its config file")
    t.check(not os.path.exists(os.path.join(h.REPO, "conf", "chatstream-state.db")),
            "nor in the checkout's conf/")


def same_port_refused(t):
    a = S["a"]
    conf = os.path.join(a.run_dir, "lighttpd.conf")
    with open(conf) as f:
        before = f.read()
    p = subprocess.run([SERVE], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=a.env(), timeout=20)
    t.check(p.returncode != 0, "a second run on the same PORT fails (%s)"
            % p.returncode)
    err = p.stderr.decode("utf-8", "replace")
    t.check("already" in err and "PORT=%d" % a.port in err and
            "make run PORT=" in err,
            "stderr says the port is taken and how to pick another", err)
    with open(conf) as f:
        t.eq(f.read(), before, "the first run's lighttpd.conf is untouched")
    r, ids = model_ids(a.port)
    t.check("only-on-a" in ids, "the first run still serves its backend", ids)


def port_taken_by_other(t):
    """A port some other program holds: refused, not silently shared."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        env = S["a"].env()
        env["PORT"] = str(port)
        p = subprocess.run([SERVE], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env, timeout=20)
    finally:
        s.close()
        shutil.rmtree(os.path.join(h.REPO, "build", "run", str(port)),
                      ignore_errors=True)
    t.check(p.returncode != 0, "refused (%s)" % p.returncode)
    t.check(b"already in use" in p.stderr, "stderr says so", p.stderr)


def lighttpd_pid(run, timeout=5.0):
    path = os.path.join(run.run_dir, "lighttpd.pid")
    deadline = h.mono() + timeout
    while h.mono() < deadline:
        try:
            with open(path) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            h.time.sleep(0.05)
    return None


def stops_cleanly(t):
    for name in ("a", "b"):
        run = S[name]
        lt = lighttpd_pid(run)
        t.check(lt is not None, "run %s: lighttpd wrote its pid file" % name)
        os.killpg(run.proc.pid, signal.SIGTERM)
        try:
            rc = run.proc.wait(10)
        except subprocess.TimeoutExpired:
            rc = None
        t.eq(rc, 0, "run %s: exit status after SIGTERM" % name)
        # lighttpd and its chatstream run in a session of their own.
        deadline = h.mono() + 8
        left = lambda: h.group_pids(run.proc.pid) + (  # noqa: E731
            h.group_pids(lt) if lt else [])
        while left() and h.mono() < deadline:
            h.time.sleep(0.05)
        t.check(not left(), "run %s: lighttpd and chatstream exited" % name,
                left())
        t.check(not h.port_open(run.port), "run %s: port closed" % name)
        run.proc = None     # stopped here, not died early


CASES = [
    ("two runs on two ports: each port is answered by its own backend; "
     "the limits' store is in build/run/PORT/",
     own_backend),
    ("a second run on the same PORT refuses with a clear message",
     same_port_refused),
    ("a PORT held by another program is refused", port_taken_by_other),
]
AFTER = [("both runs stop cleanly on SIGTERM to their process group",
          stops_cleanly)]

if __name__ == "__main__":
    sys.exit(h.main("make_run", CASES, setup, after=AFTER))
