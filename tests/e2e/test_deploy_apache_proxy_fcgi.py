#!/usr/bin/env python3
"""chatstream as its own process (`chatstream --listen` on a unix socket,
run as the web server's user like a systemd service would be) behind the
real Apache with mod_proxy_fcgi, configured by the shipped
conf/apache-proxy-fcgi.conf (only paths, the port and, for the slow first
token, the worker's timeout= substituted): real streaming, cancellation
reaching the provider, keep-alives outliving the proxy timeout, the body
limit, 50 streams at once, no way to fetch the key."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402
import apache as A  # noqa: E402

LABEL = "apache-proxy-fcgi"
MODULES = A.PROXY_FCGI_MODULES
IO_TIMEOUT = 3          # ProxyPass timeout= in the test (shipped: 60)
THREADS = 64            # chatstream threads: the peak number of streams
S = {}


def setup(stack):
    S["stack"] = stack
    S["replay"] = stack.start_replay()
    d, cs, ap = A.proxy_fcgi_site(
        stack, [("timeout=60", "timeout=%d" % IO_TIMEOUT)], threads=THREADS)
    S["deploy"] = d
    S["cs"] = S["logs"] = cs
    S["srv"] = ap


def shipped_proxy(t):
    """The shipped ProxyPass streams (flushpackets=on), waits longer than
    chatstream's keep-alive interval, and reaches the socket path the
    docs tell chatstream to --listen on."""
    conf = A.read_conf("apache-proxy-fcgi.conf")
    pp = A.directive(conf, "ProxyPass")
    t.require(len(pp) == 1, "one ProxyPass line: %r" % pp)
    ka = float(A.chatstream_default("keepalive_seconds"))
    m = dict(kv.split("=", 1) for kv in pp[0].split()[2:])
    t.eq(m.get("flushpackets"), "on", "flushpackets")
    t.check(float(m.get("timeout", 0)) >= 2 * ka, "timeout= (%s) comfortably above "
            "keepalive_seconds (%s)" % (m.get("timeout"), ka))
    sock = pp[0].split()[1].strip('"').split("|")[0]
    t.check(sock.startswith("unix:") and ("--listen " + sock[5:]) in conf,
            "the docs start chatstream with --listen on the ProxyPass socket (%s)" % sock)
    t.eq(A.directive(conf, "ProxyFCGIBackendType"), ["GENERIC"], "ProxyFCGIBackendType")
    unit = os.path.join(A.CONF, "chatstream.service")
    if os.path.exists(unit):
        with open(unit) as f:
            ex = A.re.findall(r"(?m)^ExecStart=(.*)$", f.read())
        t.check(ex and ("--listen " + sock[5:]) in ex[0],
                "conf/chatstream.service listens where ProxyPass connects: %r" % ex)


def socket_perms(t):
    """The socket as conf/chatstream.service makes it: group www-data, no
    access for others; Apache (www-data) got through it all along."""
    import stat
    st = os.stat(S["cs"].sock_path)
    mode = stat.S_IMODE(st.st_mode)
    t.diag("socket mode %o, uid %d, gid %d" % (mode, st.st_uid, st.st_gid))
    t.eq(mode & 0o007, 0, "others have no access to the socket (umask 0007)")
    if A.is_root():
        t.eq(st.st_gid, A.grp.getgrnam(A.RUN_USER).gr_gid, "socket group www-data")
        key = os.stat(S["deploy"].key_path)
        t.check(key.st_uid != A.run_ids()[0] and (key.st_mode & 0o077) == 0,
                "the key is not readable by Apache's user")


def routing_vars(t):
    """What chatstream routes on arrives: a path that does not end in an
    endpoint gets chatstream's own 404 JSON, i.e. the request reached it."""
    r = h.request(S["srv"].port, "GET", "/api/nothing-here")
    h.check_error_json(t, r, 404, "not_found")
    r = h.request(S["srv"].port, "GET", "/api/models?x=1")
    t.eq(r.status, 200, "GET /api/models?x=1", r.summary())


def one_process(t):
    lines = S["cs"].access_lines()
    ready = [l for l in S["cs"].log_text().splitlines() if "ready:" in l]
    t.eq(len(ready), 1, "one chatstream process served everything", ready)
    t.check(ready and "%d worker thread" % THREADS in ready[0], ready)
    t.check(len(lines) >= 50, "%d access lines in chatstream's log" % len(lines))


CASES = [
    ("the static client is served with the snippet's CSP", A.case_static(S)),
    ("streaming is real: deltas arrive as the provider sends them",
     A.case_streaming(S, LABEL)),
    ("client leaves mid-stream -> provider request cancelled",
     A.case_cancel_mid(S, LABEL)),
    ("client leaves while the provider is silent -> cancelled within "
     "keepalive_seconds + margin", A.case_cancel_silent(S, LABEL)),
    ("a first token slower than the proxy timeout=%d survives on keep-alives"
     % IO_TIMEOUT, A.case_slow_first_token(S, "ProxyPass timeout=%d" % IO_TIMEOUT)),
    ("a 100 KB body gets chatstream's 413 JSON", A.case_body_limit(S)),
    ("GET /api/v1/models/vendor%2Fgen-3 (a slashed id) -> the model object",
     A.case_model_slash(S)),
    ("the shipped ProxyPass flushes, outwaits keep-alives, matches --listen",
     shipped_proxy),
    ("the socket is reachable by www-data only (as conf/chatstream.service "
     "sets it up)", socket_perms),
    ("chatstream routes what mod_proxy_fcgi passes (SCRIPT_NAME/REQUEST_URI)",
     routing_vars),
    ("50 concurrent streams all complete with the right text",
     A.case_many(S, 50, min_peak=45)),
    ("one chatstream process, %d threads, served all of it" % THREADS, one_process),
    ("the key and chatstream.conf cannot be fetched",
     A.case_secrets(S, ["/etc/chatstream/chatstream.conf", "/etc/chatstream/api-key",
                        "/chatstream.conf", "/api-key", "/api/api-key",
                        "/api/../etc/chatstream/api-key", "/api/chatstream.conf",
                        "/site/etc/chatstream/api-key"])),
]

if __name__ == "__main__":
    A.require_apache(MODULES)
    sys.exit(h.main("apache-proxy-fcgi", CASES, setup))
