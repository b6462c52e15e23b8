#!/usr/bin/env python3
"""chatstream without lighttpd: `--listen` (FastCGI over TCP, as for nginx
and mod_proxy_fcgi), SIGTERM with shutdown_grace_seconds, and plain CGI."""

import json
import os
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

SHORT = "gen-10+delay:100"      # 1 s: finishes within a 2 s grace
LONG = "gen-100+delay:100"      # 10 s: cut by a 1 s grace
MODELS = ["gen-3", SHORT, LONG]
S = {}


def setup(stack):
    stack.start_replay()
    S["stack"] = stack
    S["replay"] = stack.replay
    S["sa"] = stack.standalone(MODELS, name="listen")


def listen_stream(t):
    r = S["sa"].chat("hi", tag=h.new_tag(), model="gen-3")
    h.check_stream_shape(t, r)
    t.eq(r.text, h.gen_text(3), "text")
    t.check(r.complete, "FCGI_END_REQUEST received", r.summary())
    line = S["sa"].log_line_for(r.stream_id or "?", timeout=5)
    t.check(line is not None and "outcome=done" in line,
            "stderr has the access line with outcome=done: %r" % line)


def listen_models(t):
    r = h.fcgi_request(S["sa"].addr, h.cgi_env("GET", "/api/models"))
    t.eq(r.status, 200, "status", r.summary())
    ids = [m.get("id") for m in (r.json() or {}).get("data") or []]
    t.eq(ids, MODELS, "models")


def listen_error(t):
    body = b"{"
    r = h.fcgi_request(S["sa"].addr, h.cgi_env(body=body), body)
    h.check_error_json(t, r, 400, "invalid_request")


def sigterm(model, grace, want_complete):
    def run(t):
        sa = S["stack"].standalone(MODELS, name="term%d" % grace,
                                   shutdown_grace_seconds=grace)
        tag = h.new_tag()
        sent = {}
        after = {}

        def probe():
            # Once chatstream has handled SIGTERM (it says so on stderr), no
            # new stream may start.
            after["line"] = sa.wait_log(r"signal 15|stopping", timeout=5)
            after["r"] = sa.chat("late", tag=h.new_tag(), model="gen-3", timeout=10)

        def on_event(resp, ev):
            if "t" not in sent and ev.kind == "event" and "content" in (ev.json() or {}):
                sent["t"] = h.mono()
                os.kill(sa.proc.pid, signal.SIGTERM)
                th = threading.Thread(target=probe)
                th.start()
                sent["th"] = th
            return False

        r = sa.chat("hi", tag=tag, model=model, stop=on_event, timeout=30)
        t.require("t" in sent, "got a delta and sent SIGTERM", r.summary())
        if want_complete:
            h.check_stream_shape(t, r)
            t.eq(r.text, h.gen_text(10), "the stream finished within the grace")
        else:
            h.check_error_event(t, r, "server_shutdown")
            dt = r.t_end - sent["t"]
            t.diag("stream ended %.2f s after SIGTERM (grace %d s)" % (dt, grace))
            t.check(grace - 0.3 <= dt <= grace + 2.0,
                    "ended after about the grace period (%.2f s)" % dt)
            t.check(S["replay"].wait(tag, "peer_closed", timeout=10) is not None,
                    "the provider request was cancelled")
        try:
            rc = sa.proc.wait(timeout=grace + 5)
        except subprocess.TimeoutExpired:
            rc = None
        t.eq(rc, 0, "exit status after SIGTERM")
        sent["th"].join()
        t.check(after.get("line"), "chatstream logged that it is stopping")
        late = after["r"]
        refused = late.status is None and late.error is not None
        t.diag("request after SIGTERM: %s" % (late.error if refused else
                                               "HTTP %s" % late.status))
        t.check(refused or late.status == 503,
                "a request after SIGTERM is refused or gets 503 server_shutdown",
                late.summary())
        if late.status == 503:
            h.check_error_json(t, late, 503, "server_shutdown")
    return run


def loop_threads(pid):
    """chatstream's event-loop threads (it names them cs-loop)."""
    n = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                n += f.read().strip() == "cs-loop"
        except OSError:
            pass
    return n


def sigterm_loops(t):
    """SIGTERM with four streams open on two event loops: the two that end
    within the grace period finish, the two longer ones get
    server_shutdown at its end and their provider requests are cancelled;
    the process exits 0."""
    grace = 2
    sa = S["stack"].standalone(MODELS, name="termloops", loops=2,
                               shutdown_grace_seconds=grace)
    models = [SHORT, LONG, SHORT, LONG]
    tags = [h.new_tag() for _ in models]
    res = [None] * len(models)

    def one(i):
        res[i] = sa.chat("hi", tag=tags[i], model=models[i], timeout=30)
    ths = [threading.Thread(target=one, args=(i,)) for i in range(len(models))]
    for th in ths:
        th.start()
    for tag in tags:
        t.require(S["replay"].wait(tag, "event_sent", timeout=10) is not None,
                  "stream %s started" % tag)
    n = loop_threads(sa.proc.pid)
    t.eq(n, 2, "the streams are on two event loops")
    t0 = h.mono()
    os.kill(sa.proc.pid, signal.SIGTERM)
    for th in ths:
        th.join(30)
    for i, r in enumerate(res):
        if models[i] == SHORT:
            t.eq(r.text, h.gen_text(10), "stream %d (1 s) finished within "
                 "the grace" % i, r.summary())
            continue
        h.check_error_event(t, r, "server_shutdown")
        dt = r.t_end - t0
        t.check(grace - 0.3 <= dt <= grace + 2.0, "stream %d ended after "
                "about the grace period (%.2f s)" % (i, dt))
        t.check(S["replay"].wait(tags[i], "peer_closed", timeout=10)
                is not None, "stream %d: the provider request was "
                "cancelled" % i)
    try:
        rc = sa.proc.wait(timeout=grace + 5)
    except subprocess.TimeoutExpired:
        rc = None
    t.eq(rc, 0, "exit status after SIGTERM")


def cgi_mode(t):
    conf = os.path.join(S["stack"].tmp, "listen", "chatstream.conf")
    tag = h.new_tag()
    body = json.dumps({"messages": [{"role": "user", "content": "tag:%s hi" % tag}],
                       "model": "gen-3"}).encode()
    env = {k: v for k, v in os.environ.items() if k not in h.HERMETIC_DROP}
    env.update(h.cgi_env(body=body))
    env["CHATSTREAM_CONFIG"] = conf
    p = subprocess.run([S["stack"].bin], input=body, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=30)
    r = h.Response()
    h.CGIStream(r).feed(p.stdout, h.mono(), final=True)
    r.complete = True
    with h._SEEN_LOCK:
        h.SEEN_BODIES.append(p.stdout + p.stderr)
    t.eq(p.returncode, 0, "exit status", p.stderr.decode(errors="replace")[-2000:])
    h.check_stream_shape(t, r)
    t.eq(r.text, h.gen_text(3), "text")
    t.check(b"chatstream:" in p.stderr and b"outcome=done" in p.stderr,
            "the access line on stderr", p.stderr[-1000:])
    t.check(S["stack"].key.encode() not in p.stderr, "no key on stderr")


def cgi_error(t):
    env = {k: v for k, v in os.environ.items() if k not in h.HERMETIC_DROP}
    env.update(h.cgi_env("PUT", "/api/chat"))
    env["CHATSTREAM_CONFIG"] = os.path.join(S["stack"].tmp, "listen", "chatstream.conf")
    p = subprocess.run([S["stack"].bin], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=30)
    r = h.Response()
    h.CGIStream(r).feed(p.stdout, h.mono(), final=True)
    h.check_error_json(t, r, 405, "invalid_request")


def routing(t):
    """The endpoint is found wherever the server puts the path."""
    def env(method, script, path_info=None, uri=None):
        e = h.cgi_env(method, script)
        e["REQUEST_URI"] = uri if uri is not None else script
        if path_info is not None:
            e["PATH_INFO"] = path_info
        return e

    cases = [
        # Apache ScriptAlias /app/api /path/chatstream: split path
        ("ScriptAlias: SCRIPT_NAME + PATH_INFO", env("GET", "/app/api",
         "/models", "/app/api/models"), 200),
        # .htaccess rewrite of /site/api/* to a .fcgi file
        ("rewrite: only REQUEST_URI", env("GET", "/site/chatstream.fcgi",
         "", "/site/api/models?x=1"), 200),
        ("trailing slash", env("GET", "/api/models/"), 200),
        # routed to chat (405 names GET, HEAD, POST), not to models or 404
        ("PATH_INFO /chat under a .fcgi", env("PUT", "/cgi/chatstream.fcgi",
         "/chat", "/cgi/chatstream.fcgi/chat"), 405),
        ("a longer name is not the endpoint", env("GET", "/api/chatx"), 404),
        ("no path at all", env("GET", ""), 404),
    ]
    for name, e, want in cases:
        r = h.fcgi_request(S["sa"].addr, e)
        t.eq(r.status, want, name, r.summary())
        if want == 405:
            t.eq(r.header("Allow"), "GET, HEAD, POST", name + ": Allow header")


def listen_all_interfaces_refused(t):
    p = subprocess.run([S["stack"].bin, "--listen", ":0"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=10,
                       env={"PATH": os.environ.get("PATH", "")})
    t.eq(p.returncode, 2, "exit status")
    t.check(b"all interfaces" in p.stderr and b"127.0.0.1:0" in p.stderr,
            "stderr explains and suggests 127.0.0.1", p.stderr)


def nofile_raised(t):
    """A process started with a low soft RLIMIT_NOFILE (1024 is common)
    raises it to the hard limit, so the descriptors do not cap the
    streams it can hold."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 256:
        t.skip("hard open-file limit is only %d here" % hard)
    stack = S["stack"]
    conf = h.write_chatstream_conf(os.path.join(stack.tmp, "nofile.conf"),
                                   stack.settings(MODELS))
    port = h.free_port()

    def low():
        h._die_with_parent()
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    log = open(os.path.join(stack.tmp, "nofile.log"), "ab")
    proc = subprocess.Popen(
        [stack.bin, "--config", conf, "--listen", "127.0.0.1:%d" % port],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        start_new_session=True, preexec_fn=low)
    log.close()
    try:
        deadline = h.mono() + 10
        while not h.port_open(port) and h.mono() < deadline:
            h.time.sleep(0.02)
        t.require(h.port_open(port), "chatstream --listen started")
        with open("/proc/%d/limits" % proc.pid) as f:
            line = [l for l in f if l.startswith("Max open files")][0]
        got = line.split()[3]
        want = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
        t.eq(got, want, "soft open-file limit raised from 256 to the hard "
             "limit", line.strip())
        r = h.fcgi_request(("127.0.0.1", port), h.cgi_env("GET", "/api/models"),
                           timeout=5)
        t.eq(r.status, 200, "and it serves", r.summary())
    finally:
        h.kill_group(proc)


CASES = [
    ("--listen: a stream over FastCGI/TCP, access line on stderr", listen_stream),
    ("--listen: GET /api/models", listen_models),
    ("--listen: invalid JSON -> 400", listen_error),
    ("routing: PATH_INFO, SCRIPT_NAME or only REQUEST_URI", routing),
    ("--listen :PORT (all interfaces) is refused with advice",
     listen_all_interfaces_refused),
    ("SIGTERM: a stream shorter than shutdown_grace finishes, exit 0",
     sigterm(SHORT, 2, True)),
    ("SIGTERM: a stream longer than shutdown_grace -> error server_shutdown, exit 0",
     sigterm(LONG, 1, False)),
    ("SIGTERM with streams on two event loops: short ones finish, long ones "
     "get server_shutdown, exit 0", sigterm_loops),
    ("plain CGI: POST /api/chat streams on stdout", cgi_mode),
    ("plain CGI: PUT /api/chat -> Status: 405 JSON", cgi_error),
    ("RLIMIT_NOFILE: the soft limit is raised to the hard one at start",
     nofile_raised),
]

if __name__ == "__main__":
    sys.exit(h.main("standalone", CASES, setup))
