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
client's CSP, and `lighttpd -tt` in Debian's own /etc/lighttpd layout."""

import os
import re
import shutil
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
    with open(h.SHIPPED_LIGHTTPD) as f:
        text = f.read()
    t.check(not re.search(r"(?m)^\s*server\.max-request-size", text),
            "the snippet sets no server.max-request-size (lighttpd's default "
            "is far above max_body_bytes)")


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
    ("100 KB body -> chatstream's 413 JSON", too_big),
    ("50 concurrent streams complete", many),
    ("neither the key nor chatstream.conf is reachable over HTTP", secrets),
    ("static client: CSP and nosniff; API headers not doubled", static_headers),
    ("lighttpd -tt accepts the snippet in Debian's /etc/lighttpd layout",
     lighttpd_tt_debian_layout),
]

if __name__ == "__main__":
    sys.exit(h.main("deploy-lighttpd", CASES, setup, parallel=4))
