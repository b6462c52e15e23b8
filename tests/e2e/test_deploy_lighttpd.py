#!/usr/bin/env python3
"""The shipped lighttpd deployment, end to end: Debian's lighttpd 1.4 with
conf/lighttpd.conf (templated only for paths and the port, by
harness.lighttpd_conf(), the same config every other e2e test and `make run`
use), chatstream as its bin-path FastCGI backend.

Streaming is real (and only because of the snippet's scoped
server.stream-response-body), cancelling reaches the provider (mid-stream at
the next delta; while the provider is silent at the next keep-alive, so
within keepalive_seconds), keep-alives carry a slow first token over
"read-timeout" (and without them the stream is cut), oversized bodies get
chatstream's 413 JSON, 50 streams at once, no secret reachable, the static
client's CSP, and `lighttpd -tt` in Debian's own /etc/lighttpd layout.
server.max-request-size keeps lighttpd from taking (and spooling to
/var/tmp) a body far over max_body_bytes: a declared 300 MB is refused
right after the headers, a growing chunked body once it passes the limit."""

import os
import re
import select
import shutil
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

SLOW = "gen-20+delay:100"
LONG = "gen-200+delay:100"
SILENT = "gen-5+stall-first:20000"
MANY = "gen-30+delay:20"
STALL_S = 8.0              # > read-timeout + lighttpd's up to 2 s lateness
STALL = "gen-5+stall-first:%d" % int(STALL_S * 1000)
MODELS = ["gen-3", SLOW, LONG, SILENT, MANY, STALL]
KEEPALIVE_S = 1.0          # harness BASE_SETTINGS keepalive_seconds
READ_TIMEOUT = 3           # lighttpd "read-timeout" for the slow-token cases
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
       "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'self'")
HUGE = 300 * 1000 * 1000  # the body size declared in the oversized cases
SHIPPED_CS_CONF = os.path.join(h.REPO, "conf", "chatstream.conf")
S = {}


def setup(stack):
    stack.start_replay()
    S["stack"], S["replay"] = stack, stack.replay
    # threads >= the 50 concurrent streams
    S["lt"] = stack.server(MODELS, name="lt", threads=64)
    slow = dict(first_byte_timeout_seconds=STALL_S + 10,
                lighttpd_args={"read_timeout": READ_TIMEOUT})
    S["ka1"] = stack.server(MODELS, name="ka1", **slow)
    S["ka10"] = stack.server(MODELS, name="ka10", keepalive_seconds=10, **slow)
    S["big"] = stack.server(MODELS, name="big", max_body_bytes="2m")
    # control (not shipped): the /api/ block without stream-response-body
    tmp = os.path.join(stack.tmp, "lighttpd-nostream.conf")
    with open(h.SHIPPED_LIGHTTPD) as f:
        text = f.read()
    text, k = re.subn(r"(?m)^(\s*server\.stream-response-body\s*=\s*)2\s*$",
                      lambda m: m.group(1) + "0", text)
    assert k == 1, "conf/lighttpd.conf: no 'server.stream-response-body = 2'"
    with open(tmp, "w") as f:
        f.write(text)
    S["ctl"] = stack.server(MODELS, name="nostream",
                            lighttpd_args={"snippet_path": tmp})


def streaming(t):
    h.deploy_streams(t, S["lt"], S["replay"], SLOW, 20)


def streaming_control(t):
    """Control: without the snippet's stream-response-body = 2 lighttpd
    collects the whole answer, so the streaming check can tell."""
    r = S["ctl"].chat("hi", tag=h.new_tag(), model=SLOW, timeout=30)
    t.eq(r.text, h.gen_text(20), "text")
    deltas = [e for e, j in r.data_events() if "content" in j]
    spread = deltas[-1].t - deltas[0].t if deltas else 0
    t.diag("stream-response-body = 0: first delta %.3f s before the last" % spread)
    t.check(spread < 0.5, "lighttpd buffers without it (%.3f s)" % spread)


def cancel_mid_stream(t):
    # lighttpd notices the hang-up when it writes the next delta (0.1 s)
    h.deploy_cancel(t, S["lt"], S["replay"], LONG, h.first_delta,
                    "the first delta", 1.0, "lighttpd, mid-stream")


def cancel_silent(t):
    # lighttpd notices only at its next write to the client: the next
    # keep-alive comment, so within keepalive_seconds (1 s here)
    dt = h.deploy_cancel(t, S["lt"], S["replay"], SILENT, h.first_comment,
                         "the first keep-alive", KEEPALIVE_S + 1.5,
                         "lighttpd, silent provider")
    t.diag("keepalive_seconds = %.1f" % KEEPALIVE_S)
    t.check(dt <= KEEPALIVE_S + 1.5, "within keepalive_seconds (+ slack)")


def cancel_before_headers(t):
    """The client leaves before any response byte (provider silent)."""
    h.deploy_cancel_before_headers(t, S["lt"], S["replay"], SILENT, "lighttpd",
                                   KEEPALIVE_S + 1.5)


def slow_first_token(t):
    h.deploy_slow_first_token(t, S["ka1"], 5, STALL_S)


def slow_first_token_cut(t):
    """keepalive_seconds (10) above "read-timeout" (3): lighttpd gives up on
    the silent backend."""
    r = S["ka10"].chat("hi", tag=h.new_tag(), model=STALL, timeout=STALL_S + 30)
    dt = r.t_end - r.t_start
    t.diag("HTTP %s after %.2f s, %d events" % (r.status, dt, len(r.events)))
    t.check(not r.done_events and r.text != h.gen_text(5),
            "the stream was cut (no [DONE], not the full text)", r.summary())
    t.eq(r.status, 504, "lighttpd answers 504 (nothing was sent before it gave up)",
         r.summary())
    # lighttpd checks backend timeouts on its once-a-second timer: a
    # read-timeout of 3 fired after 5.0 s in every run so far
    t.check(READ_TIMEOUT - 0.5 <= dt <= READ_TIMEOUT + 3,
            "cut by read-timeout %d (%.2f s)" % (READ_TIMEOUT, dt))
    line = S["ka10"].wait_log(r"read timeout on socket", timeout=5)
    t.check(line is not None, "lighttpd logged 'read timeout on socket'")


def too_big(t):
    h.deploy_too_big(t, S["lt"])
    limit = h.shipped_max_request_kib() << 10
    default = h.conf_max_body_bytes(SHIPPED_CS_CONF)
    t.diag("server.max-request-size %d KiB, max_body_bytes default %d"
           % (limit >> 10, default))
    t.check(limit > default, "conf/lighttpd.conf server.max-request-size (%d "
            "bytes) is above conf/chatstream.conf max_body_bytes (%d)"
            % (limit, default))
    # just over chatstream's default: lighttpd passes it on, chatstream's 413
    r = S["lt"].post("/api/chat", b"{" + b" " * (default + 10) + b"}", timeout=30)
    h.check_error_json(t, r, 413, "invalid_request")


def _huge_request(tag, chunked):
    """Headers of a 300 MB chat and its first KiB, nothing more."""
    first = ('{"messages":[{"role":"user","content":"tag:%s ' % tag).encode()
    first += b"x" * (1024 - len(first))
    head = ("POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nConnection: close\r\n")
    if chunked:   # one chunk that says it is 300 MB long
        return (head + "Transfer-Encoding: chunked\r\n\r\n%x\r\n"
                % HUGE).encode() + first
    return (head + "Content-Length: %d\r\n\r\n" % HUGE).encode() + first


def huge_declared(t):
    """A body declared far over server.max-request-size (Content-Length, or
    a chunk size) is refused by lighttpd as soon as it has the headers: it
    neither waits for (and spools) 300 MB nor passes anything on."""
    for chunked in (False, True):
        what = "chunk size" if chunked else "Content-Length"
        tag = h.new_tag()
        r = h.request(S["lt"].port, "POST", "/api/chat", timeout=10,
                      raw_request=_huge_request(tag, chunked))
        dt = r.t_end - r.t_start
        t.diag("%s %d, 1 KiB sent: HTTP %s after %.3f s" % (what, HUGE, r.status, dt))
        t.eq(r.status, 413, "%s %d -> 413" % (what, HUGE), r.summary())
        t.check(dt < 2.0, "answered at once, not after waiting for the body "
                "(%.3f s)" % dt)
        t.eq(S["replay"].events(tag), [], "nothing reached the provider")
    line = S["lt"].wait_log(r"request-size too long: %d -> 413" % HUGE, timeout=5)
    t.check(line is not None, "lighttpd refused it itself ('request-size too "
            "long: %d -> 413')" % HUGE)


def chunked_past_limit(t):
    """A chunked body with no length up front: lighttpd refuses it once it
    has read past server.max-request-size, not after the whole upload."""
    limit = h.shipped_max_request_kib() << 10
    piece, planned = b"x" * 65536, 64 * limit
    sock = socket.create_connection(("127.0.0.1", S["lt"].port), timeout=10)
    sent, answer = 0, b""
    try:
        sock.sendall(b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nConnection: close\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        while sent < planned and not select.select([sock], [], [], 0)[0]:
            try:
                sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
            except OSError:
                break
            sent += len(piece)
        sock.settimeout(5)
        try:
            while True:
                b = sock.recv(65536)
                if not b:
                    break
                answer += b
        except OSError:
            pass
    finally:
        sock.close()
    t.diag("chunked: %d KiB sent (sockets buffer some) when lighttpd answered "
           "%r" % (sent >> 10, answer[:32]))
    t.check(answer.startswith(b"HTTP/1.1 413"), "413 from lighttpd", answer[:300])
    t.check(sent < planned, "answered before the whole %d KiB upload"
            % (planned >> 10))
    # lighttpd logs how much it had taken in when it refused
    rx = re.compile(r"request-size too long: (\d+) -> 413")
    took = [int(m.group(1)) for m in map(rx.search, S["lt"].log_text().splitlines())
            if m and limit < int(m.group(1)) <= limit + len(piece)]
    t.check(took, "lighttpd refused it after one piece past %d KiB (logged %r)"
            % (limit >> 10, rx.findall(S["lt"].log_text())))


def big_max_body(t):
    """A chatstream.conf with max_body_bytes (2m) above the shipped
    server.max-request-size: the lighttpd.conf the harness generates for
    it (the tests' and `make run`'s) raises the limit to match, so a body
    just over 2m still gets chatstream's 413 JSON."""
    srv = S["big"]
    with open(srv.conf_path) as f:
        kib = int(re.search(r"(?m)^\s*server\.max-request-size\s*=\s*(\d+)",
                            f.read()).group(1))
    t.diag("max_body_bytes 2m -> server.max-request-size %d KiB" % kib)
    t.check(kib << 10 > 2 << 20, "generated server.max-request-size (%d KiB) "
            "is above max_body_bytes (2m)" % kib)
    r = srv.post("/api/chat", b"{" + b" " * ((2 << 20) + 10) + b"}", timeout=30)
    h.check_error_json(t, r, 413, "invalid_request")
    kib = h.lighttpd_max_request_kib(SHIPPED_CS_CONF)
    t.eq(kib, h.shipped_max_request_kib(),
         "make run's default config (conf/chatstream.conf) keeps the shipped limit")


def many(t):
    h.deploy_many(t, S["lt"], MANY, 30, 50)


def secrets(t):
    h.deploy_secrets(t, S["lt"], S["stack"], docroot=h.WWW,
                     extra_paths=["/lt/chatstream.conf", "/lt/cs.sock",
                                  S["stack"].key_path])


def static_headers(t):
    h.deploy_static_headers(t, S["lt"], CSP)


def lighttpd_tt_debian_layout(t):
    """The shipped snippet in a copy of Debian's /etc/lighttpd as
    conf-enabled/50-chatstream.conf (next to Debian's own 10-fastcgi.conf
    and 05-setenv.conf, which load the same modules): `lighttpd -tt`
    accepts it.  Only bin-path is templated (lighttpd checks it exists)."""
    etc = os.path.join(S["stack"].tmp, "etc-lighttpd")
    shutil.copytree("/etc/lighttpd", etc, symlinks=True)
    enabled = os.path.join(etc, "conf-enabled")
    for f in ("10-fastcgi.conf", "05-setenv.conf"):
        if os.path.exists(os.path.join(etc, "conf-available", f)) and \
                not os.path.exists(os.path.join(enabled, f)):
            os.symlink("../conf-available/" + f, os.path.join(enabled, f))
    with open(h.SHIPPED_LIGHTTPD) as f:
        snip = f.read()
    snip = snip.replace("/usr/local/lib/chatstream/chatstream", S["stack"].bin)
    with open(os.path.join(etc, "conf-available", "50-chatstream.conf"), "w") as f:
        f.write(snip)
    os.symlink("../conf-available/50-chatstream.conf",
               os.path.join(enabled, "50-chatstream.conf"))
    main = os.path.join(etc, "lighttpd.conf")
    with open(main) as f:
        text = f.read()
    text = text.replace('"/etc/lighttpd/conf-enabled/', '"%s/' % enabled)
    with open(main, "w") as f:
        f.write(text)
    p = subprocess.run([h.find_lighttpd(), "-tt", "-f", main], capture_output=True,
                       text=True, timeout=30)
    out = (p.stdout + p.stderr).strip()
    t.diag(out or "lighttpd -tt: no output")
    t.eq(p.returncode, 0, "lighttpd -tt exit status", out)
    t.check("WARNING" not in out and "DEPRECATED" not in out and "error" not in
            out.lower(), "no warnings", out)


CASES = [
    ("an 8 s silent provider survives read-timeout 3 thanks to 1 s keep-alives",
     slow_first_token),
    ("keepalive_seconds 10 > read-timeout 3: the stream is cut", slow_first_token_cut),
    ("streaming is real through lighttpd (%s)" % SLOW, streaming),
    ("control: without stream-response-body = 2 lighttpd buffers", streaming_control),
    ("client leaves mid-stream -> provider cancelled at the next delta",
     cancel_mid_stream),
    ("client leaves while the provider is silent -> cancelled within "
     "keepalive_seconds", cancel_silent),
    ("client leaves before the headers -> cancelled within keepalive_seconds",
     cancel_before_headers),
    ("100 KB body -> chatstream's 413 JSON; server.max-request-size > "
     "max_body_bytes", too_big),
    ("Content-Length or chunk size of 300 MB -> lighttpd's 413 at once, "
     "nothing spooled or passed on", huge_declared),
    ("a chunked body growing past server.max-request-size is cut off",
     chunked_past_limit),
    ("max_body_bytes above the shipped limit: the generated config follows",
     big_max_body),
    ("50 concurrent streams complete", many),
    ("neither the key nor chatstream.conf is reachable over HTTP", secrets),
    ("static client: CSP and nosniff; API headers not doubled", static_headers),
    ("lighttpd -tt accepts the snippet in Debian's /etc/lighttpd layout",
     lighttpd_tt_debian_layout),
]

if __name__ == "__main__":
    sys.exit(h.main("deploy-lighttpd", CASES, setup, parallel=4))
