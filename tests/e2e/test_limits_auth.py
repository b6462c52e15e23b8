#!/usr/bin/env python3
"""Admission, who is asking (issue 14, "Tests"): client_id = remote_user
through the real Apache (mod_fcgid, `Require valid-user` with
mod_authn_file) and through lighttpd mod_auth (htpasswd backend), each
user with a limit of their own and nobody unauthenticated reaching
chatstream; trusted_proxies: X-Forwarded-For honoured only from a listed
address, and a client cannot spoof it by prepending entries; a chatstream
process SIGKILLed mid-stream leaves a reservation that is bounded by its
expiry (the upstream's total timeout + CS_ADMIT_EXPIRY_MARGIN_MS), not a
permanent one; hostile input: a 10 KB X-Forwarded-For, identity headers
with control bytes, a 10 KB Authorization, a trusted_proxies list that
does not parse.

The reservation's expiry is 60 s past the total timeout (admit.h), too
long to wait for in a test: the kill case checks the expiry written in
the store, then moves it to a second from now (as the clock would) and
polls until a new request is admitted.  LIMITS_AUTH_REAL_EXPIRY=1 waits
for the real expiry instead (about 63 s)."""

import base64
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402
import apache as A  # noqa: E402

USERS = {"alice": "alice-pw-" + "a1" * 6, "bob": "bob-pw-" + "b2" * 6}
KEY = "k-" + "c3" * 12          # an access key's secret (the hostile server)
LONG = "gen-100+delay:100"      # 10 s unless cut
TOTAL_TIMEOUT = 3               # total_timeout_seconds of the kill server
MARGIN_MS = 60000               # CS_ADMIT_EXPIRY_MARGIN_MS (admit.h)
APACHE_MODULES = A.BASE_MODULES + ["fcgid", "auth_basic", "authn_core",
                                   "authn_file", "authz_user"]
BIG_HEADERS = "server.max-request-field-size = 65536"
S = {}


def htpasswd(path):
    """alice and bob as {SHA} lines (base64 SHA-1: Apache 2.4 and
    lighttpd's htpasswd backend both take it; bcrypt is not in Python)."""
    with open(path, "w") as f:
        for u, pw in USERS.items():
            d = base64.b64encode(hashlib.sha1(pw.encode()).digest()).decode()
            f.write("%s:{SHA}%s\n" % (u, d))
    os.chmod(path, 0o644)
    return path


def basic(user, pw=None):
    pw = USERS[user] if pw is None else pw
    return {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (user, pw)).encode()).decode()}


def setup(stack):
    stack.start_replay()
    S["stack"] = stack
    os.chmod(stack.tmp, 0o755)    # Apache's children (www-data) read below it
    auth_dir = os.path.join(stack.tmp, "auth")
    os.makedirs(auth_dir)
    os.chmod(auth_dir, 0o755)
    S["htpasswd"] = pw = htpasswd(os.path.join(auth_dir, "htpasswd"))

    S["lt_auth"] = stack.server(
        ["gen-3"], name="lt-auth", client_id="remote_user",
        requests_per_minute=1,
        lighttpd_args={"extra_modules": ["mod_auth", "mod_authn_file"],
                       "extra_conf": "\n".join([
                           'auth.backend = "htpasswd"',
                           "auth.backend.htpasswd.userfile = %s" % h.lt_str(pw),
                           'auth.require = ( "/api/" => ( "method" => "basic",'
                           ' "realm" => "chat", "require" => "valid-user" ) )'])})
    S["xff_trusted"] = stack.server(["gen-3"], name="xff-trusted",
                                    requests_per_minute=1,
                                    trusted_proxies="127.0.0.1")
    S["xff_unset"] = stack.server(["gen-3"], name="xff-unset",
                                  requests_per_minute=1)
    S["xff_other"] = stack.server(["gen-3"], name="xff-other",
                                  requests_per_minute=1,
                                  trusted_proxies="10.0.0.0/8, 192.0.2.1")
    S["xff_big"] = stack.server(["gen-3"], name="xff-big",
                                requests_per_minute=1,
                                trusted_proxies="127.0.0.1",
                                lighttpd_args={"extra_conf": BIG_HEADERS})
    hostile = stack.settings(["gen-3"], client_id="header:X-Client",
                             concurrent_streams=5) + [
        ("[key k]", None),
        ("secret_sha256", hashlib.sha256(KEY.encode()).hexdigest())]
    S["hostile"] = stack.server(None, name="hostile", settings=hostile,
                                lighttpd_args={"extra_conf": BIG_HEADERS})
    S["hostile_sa"] = stack.standalone(["gen-3"], name="hostile-sa",
                                       client_id="header:X-Client",
                                       concurrent_streams=5)
    setup_apache(stack)


def setup_apache(stack):
    """conf/apache-fcgid.conf with a <Location /api/> that asks for a
    login (mod_auth_basic + mod_authn_file, Require valid-user)."""
    why = A.missing(APACHE_MODULES)
    if why is not None:
        S["apache_missing"] = why
        return
    A.add_apache_finals(stack)
    d = A.Deploy(stack, "site")
    state_dir = os.path.join(d.root, "state")
    os.makedirs(state_dir)
    A.give(state_dir, 0o700)      # chatstream (www-data) writes the store
    d.write_conf(["gen-3"], default_model="gen-3", client_id="remote_user",
                 requests_per_minute=1,
                 state="sqlite:" + os.path.join(state_dir, "state.db"))
    S["apache_state"] = os.path.join(state_dir, "state.db")
    ap_dir = os.path.join(stack.tmp, "apache")
    site = A.shipped("apache-fcgid.conf", [
        ("<VirtualHost *:80>", "<VirtualHost *:@PORT@>"),
        ("/usr/local/lib/chatstream", os.path.dirname(d.bin)),
        ("/var/www/chat", d.docroot),
        ("/etc/chatstream/chatstream.conf", d.conf),
        ("${APACHE_LOG_DIR}", ap_dir),
        ("</VirtualHost>", "\n".join([
            '    <Location "/api/">',
            "        AuthType Basic",
            '        AuthName "chat"',
            "        AuthBasicProvider file",
            '        AuthUserFile "%s"' % S["htpasswd"],
            "        Require valid-user",
            "    </Location>",
            "</VirtualHost>"])),
    ])
    ap = A.Apache(stack.tmp, site, APACHE_MODULES, name="apache",
                  extra="FcgidIPCDir %s/run/fcgidsock\nFcgidProcessTableFile "
                  "%s/run/fcgid_shm" % (ap_dir, ap_dir))
    ap.extra_logs.append(os.path.join(ap_dir, "chat-error.log"))
    stack.servers.append(ap)
    ap.start()
    S["apache"] = ap


def chat(srv, headers=None, model="gen-3", path="/api/chat", timeout=30,
         **kw):
    body = {"messages": [{"role": "user", "content": "tag:%s hi" % h.new_tag()}],
            "model": model}
    hd = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    hd.update(headers or {})
    return h.request(srv.port, "POST", path, body=json.dumps(body).encode(),
                     headers=hd, timeout=timeout, **kw)


def fcgi_chat(sa, params):
    """A chat straight to chatstream --listen with extra FastCGI params
    (what a web server that passes anything would send)."""
    body = json.dumps({"messages": [{"role": "user", "content": "tag:%s hi"
                                     % h.new_tag()}], "model": "gen-3"}).encode()
    env = h.cgi_env(body=body)
    env.update(params)
    return h.fcgi_request(sa.addr, env, body, timeout=30)


def error_of(r):
    try:
        return (r.json() or {}).get("error") or {}
    except ValueError:
        return {}


def ledger_identities(db, timeout=10, want=()):
    """The identities in db's ledger, once every one of want is there."""
    deadline, got = h.mono() + timeout, set()
    while h.mono() < deadline:
        try:
            with sqlite3.connect(db, timeout=2) as c:
                got = {r[0] for r in c.execute("SELECT identity FROM ledger")}
        except sqlite3.Error:
            got = set()
        if set(want) <= got:
            break
        time.sleep(0.05)
    return got


def request_lines(srv):
    """chatstream's one line per request (not its start-up lines: mod_fcgid
    starts it on the first request)."""
    return [l for l in srv.log_text().splitlines()
            if re.search(r"chatstream: id=\w+ ", l)]


def per_user(t, srv, label, db):
    """alice's 2nd request is 429 while bob's 1st is 200; nobody
    unauthenticated (or with a wrong password) reaches chatstream."""
    before = len(request_lines(srv))
    r = chat(srv)
    t.eq(r.status, 401, label + ": no login: 401", r.summary())
    t.check(r.header("WWW-Authenticate", "").lower().startswith("basic"),
            label + ": the server asks for a Basic login",
            r.header("WWW-Authenticate"))
    t.check(r.header("X-Request-Id") is None,
            label + ": the 401 is the server's (no chatstream X-Request-Id)",
            r.summary())
    r = chat(srv, basic("alice", "wrong"))
    t.eq(r.status, 401, label + ": a wrong password: 401", r.summary())
    t.check(r.header("X-Request-Id") is None,
            label + ": also the server's", r.summary())
    r = chat(srv, basic("alice"))
    t.eq(r.status, 200, label + ": alice's 1st request", r.summary())
    t.eq(r.text, h.gen_text(3), label + ": and it streams")
    rid = r.header("X-Request-Id")
    t.check(rid is not None and srv.log_line_for(rid) is not None,
            label + ": chatstream logged alice's request", rid)
    # Requests are sequential and chatstream logs one line each: only
    # alice's reached it.
    t.eq(len(request_lines(srv)) - before, 1,
         label + ": chatstream's request lines for the 3 requests (the two "
         "401s never reached it)", request_lines(srv)[before:])
    r = chat(srv, basic("alice"))
    t.eq(r.status, 429, label + ": alice's 2nd request (requests_per_minute "
         "= 1)", r.summary())
    t.eq(error_of(r).get("type"), "rate_limited", label + ": rate_limited")
    t.check((r.header("RateLimit-Policy") or "").startswith('"requests";q=1;w=60'),
            label + ": RateLimit-Policy", r.header("RateLimit-Policy"))
    r = chat(srv, basic("bob"))
    t.eq(r.status, 200, label + ": bob's 1st request: his own limit",
         r.summary())
    r = chat(srv, basic("bob"))
    t.eq(r.status, 429, label + ": bob's 2nd request", r.summary())
    ids = ledger_identities(db, want=("user:alice", "user:bob"))
    t.check({"user:alice", "user:bob"} <= ids,
            label + ": the ledger counts user:alice and user:bob", ids)


def case_lighttpd_auth(t):
    lt = S["lt_auth"]
    per_user(t, lt, "lighttpd mod_auth", os.path.join(lt.dir, "chatstream-state.db"))


def case_apache_auth(t):
    if "apache_missing" in S:
        t.skip(S["apache_missing"])
    per_user(t, S["apache"], "Apache Require valid-user", S["apache_state"])


def xff(v):
    return {"X-Forwarded-For": v}


def case_trusted_proxies(t):
    lt = S["xff_trusted"]
    steps = [
        ("203.0.113.7", 200, "203.0.113.7's 1st request"),
        ("203.0.113.8", 200, "203.0.113.8 is another identity"),
        ("203.0.113.7", 429, "203.0.113.7's 2nd request"),
        ("198.51.100.1, 203.0.113.7", 429,
         "a prepended entry does not change who it is (still 203.0.113.7)"),
        ("198.51.100.1", 200,
         "198.51.100.1 itself was fresh (so the 429 above was .7's)"),
        ("198.51.100.2,203.0.113.9 , 203.0.113.10", 200,
         "the rightmost untrusted entry (203.0.113.10) counts"),
        ("203.0.113.10", 429, "203.0.113.10 was counted"),
        ("203.0.113.9", 200, "203.0.113.9 was not"),
        ("203.0.113.11, 127.0.0.1", 200,
         "a trusted hop is skipped: 203.0.113.11 counts"),
        ("203.0.113.11", 429, "203.0.113.11 was counted"),
        (None, 200, "no header: the proxy's own address, fresh"),
        (None, 429, "127.0.0.1's 2nd request"),
    ]
    for v, want, what in steps:
        r = chat(lt, xff(v) if v is not None else None)
        t.eq(r.status, want, "trusted_proxies = 127.0.0.1, X-Forwarded-For: "
             "%s: %s" % (v, what), r.summary())
    for name, label in (("xff_unset", "trusted_proxies unset"),
                        ("xff_other", "trusted_proxies = 10.0.0.0/8, "
                         "192.0.2.1 (not the peer)")):
        r = chat(S[name], xff("203.0.113.7"))
        t.eq(r.status, 200, label + ": 1st request", r.summary())
        r = chat(S[name], xff("203.0.113.8"))
        t.eq(r.status, 429, label + ": the header is ignored, both count as "
             "127.0.0.1", r.summary())
        t.eq(error_of(r).get("type"), "rate_limited", label + ": rate_limited")


def case_xff_big(t):
    lt = S["xff_big"]
    entries, n = [], 0
    while n < 10 * 1024:
        e = "198.51.100.%d" % (len(entries) % 250 + 1)
        entries.append(e)
        n += len(e) + 2
    big = ", ".join(entries + ["203.0.113.77"])
    t.check(len(big) >= 10 * 1024, "the header is 10 KB (%d bytes)" % len(big))
    r = chat(lt, xff(big))
    t.eq(r.status, 200, "a 10 KB X-Forwarded-For from the trusted proxy",
         r.summary())
    r = chat(lt, xff("203.0.113.77"))
    t.eq(r.status, 429, "it counted as its rightmost entry, 203.0.113.77",
         r.summary())
    r = chat(lt, xff("x" * 10240))
    t.eq(r.status, 200, "10 KB of garbage: served", r.summary())
    r = chat(lt)
    t.eq(r.status, 429, "as the proxy's own address (127.0.0.1), not a "
         "made-up identity", r.summary())
    # lighttpd's default limit on a header (8 KB): the server refuses it.
    r = chat(S["xff_unset"], xff(big))
    t.eq(r.status, 431, "lighttpd's default header limit refuses a 10 KB "
         "header itself", r.summary())
    t.check(big.encode() not in r.body, "and does not echo it")


def case_hostile_identity(t):
    lt, sa = S["hostile"], S["hostile_sa"]
    r = chat(lt, {"X-Client": "carol"})
    t.eq(r.status, 200, "header:X-Client: a plain value", r.summary())
    r = chat(lt)
    j = h.check_error_json(t, r, 400, "invalid_request")
    t.check("X-Client" in ((j or {}).get("error") or {}).get("message", ""),
            "no header: the message names it", j)
    # C1 control (U+0085) and a bidi override (U+202E): lighttpd passes
    # them, chatstream refuses them.
    for raw, what in ((b"ca\xc2\x85rol", "U+0085"),
                      (b"ca\xe2\x80\xaerol", "U+202E")):
        r = h.request(lt.port, "POST", "/api/chat", raw_request=raw_req(
            lt.port, b"X-Client: " + raw))
        j = h.check_error_json(t, r, 400, "invalid_request")
        msg = ((j or {}).get("error") or {}).get("message", "")
        t.check("control character" in msg and "X-Client" in msg,
                "%s: the message says why: %r" % (what, msg))
    # \x01 through lighttpd: lighttpd's strict header parsing answers 400
    # itself; straight to chatstream (FastCGI) it is chatstream's 400.
    r = h.request(lt.port, "POST", "/api/chat",
                  raw_request=raw_req(lt.port, b"X-Client: ca\x01rol"))
    t.eq(r.status, 400, "\\x01 through lighttpd: 400", r.summary())
    t.check(r.header("X-Request-Id") is None,
            "lighttpd's own 400 (header-strict): it never reaches chatstream",
            r.summary())
    r = fcgi_chat(sa, {"HTTP_X_CLIENT": "ca\x01rol"})
    j = h.check_error_json(t, r, 400, "invalid_request")
    msg = ((j or {}).get("error") or {}).get("message", "")
    t.check(re.search(r"header:X-Client: a control character at byte 2", msg),
            "\\x01 straight to chatstream: the message says what and where: %r"
            % msg)
    t.check("\x01" not in r.body.decode("utf-8", "replace"),
            "the control byte is not echoed")
    r = fcgi_chat(sa, {"HTTP_X_CLIENT": "c" * 300})
    j = h.check_error_json(t, r, 400, "invalid_request")
    msg = ((j or {}).get("error") or {}).get("message", "")
    t.check("longer than 256 bytes" in msg and "c" * 40 not in msg,
            "a 300-byte identity: refused, not echoed: %r" % msg)
    r = h.request(lt.port, "POST", "/api/chat",
                  raw_request=raw_req(lt.port, b"X-Client: ca\xffrol"))
    j = h.check_error_json(t, r, 400, "invalid_request")
    t.check("not UTF-8" in ((j or {}).get("error") or {}).get("message", ""),
            "not UTF-8 (through lighttpd): says so", j)


def raw_req(port, header):
    body = json.dumps({"messages": [{"role": "user", "content": "tag:%s hi"
                                     % h.new_tag()}], "model": "gen-3"}).encode()
    return (b"POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
            b"Connection: close\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n%s\r\n\r\n" % (port, len(body), header)) + body


def case_hostile_authorization(t):
    lt, sa = S["hostile"], S["hostile_sa"]
    r = chat(lt, {"X-Client": "dave", "Authorization": "Bearer " + KEY})
    t.eq(r.status, 200, "the right key", r.summary())
    secret = "Z" * (10 * 1024)
    r = chat(lt, {"X-Client": "dave", "Authorization": "Bearer " + secret})
    j = h.check_error_json(t, r, 401, "unauthorized")
    t.check(b"Z" * 32 not in r.body and b"Z" * 32 not in b"".join(
        v.encode() for _, v in r.headers), "a 10 KB Authorization: 401, not echoed",
        r.summary())
    t.check("malformed" in ((j or {}).get("error") or {}).get("message", ""),
            "the message says it is malformed", j)
    log = lt.log_text()
    t.check("Z" * 32 not in log, "not in the log either")
    r = chat(lt, {"X-Client": "dave", "Authorization": "Basic " + "Y" * 10240})
    t.eq(r.status, 200, "a 10 KB Authorization of another scheme is none of "
         "chatstream's business", r.summary())
    # No [key] sections at all (the standalone): any Authorization is ignored.
    r = fcgi_chat(sa, {"HTTP_X_CLIENT": "erin",
                       "HTTP_AUTHORIZATION": "Bearer " + secret})
    t.eq(r.status, 200, "without [key] sections a Bearer token is ignored",
         r.summary())


def case_bad_trusted_proxies(t):
    path = os.path.join(S["stack"].tmp, "bad-proxies.conf")
    for bad, why in (("10.0.0.0/33", "prefix length is over 32"),
                     ("10.0.0.1/8", "host bits"),
                     ("example.org", "not an IPv4 or IPv6 address"),
                     ("10.0.0.0/", "prefix length must be")):
        with open(path, "w") as f:
            f.write("# a config whose proxy list is wrong\n"
                    "requests_per_minute = 5\n"
                    "trusted_proxies = 127.0.0.1, %s\n" % bad)
        p = subprocess.run([h.chatstream_bin(), "--check-config", path],
                           capture_output=True, text=True, timeout=20)
        t.check(p.returncode != 0, "%s: --check-config fails" % bad,
                p.stdout + p.stderr)
        out = p.stdout + p.stderr
        t.check(re.search(re.escape(path) + r":3\b", out),
                "%s: the message has file:line (%s:3)" % (bad, path), out)
        t.check(why in out, "%s: and says why (%r)" % (bad, why), out)
    with open(path, "w") as f:
        f.write("trusted_proxies = " + ", ".join(
            "10.%d.0.0/16" % i for i in range(200)) + "\n")
    p = subprocess.run([h.chatstream_bin(), "--check-config", path],
                       capture_output=True, text=True, timeout=20)
    t.check(p.returncode != 0 and re.search(re.escape(path) + r":1\b",
                                            p.stdout + p.stderr),
            "200 entries: refused with file:line", p.stdout + p.stderr)


# ---- a process killed mid-stream ----

def chatstream_pids(lt):
    """The chatstream processes lighttpd started (its process group)."""
    out = []
    for pid in h.group_pids(lt.proc.pid):
        try:
            exe = os.readlink("/proc/%d/exe" % pid)
        except OSError:
            continue
        if os.path.basename(exe) == "chatstream":
            out.append(pid)
    return out


def holds(db):
    try:
        with sqlite3.connect(db, timeout=2) as c:
            return c.execute("SELECT id, name, expire_ms FROM hold").fetchall()
    except sqlite3.Error:
        return []


def poll_status(lt, want, timeout):
    """Requests until one answers want (or the deadline): (response, tries)."""
    deadline, r, n = h.mono() + timeout, None, 0
    while h.mono() < deadline:
        r = chat(lt, model="gen-3", timeout=10)
        n += 1
        if r.status == want:
            break
        time.sleep(0.2)
    return r, n


def case_killed_process(t):
    stack = S["stack"]
    # Started here and kept out of stack.servers: its error log says
    # "child signalled: 9", which the final crash check would report.
    lt = stack.server([LONG, "gen-3"], name="killed", concurrent_streams=1,
                      total_timeout_seconds=TOTAL_TIMEOUT)
    stack.servers.remove(lt)
    db = os.path.join(lt.dir, "chatstream-state.db")
    try:
        tag, res = h.new_tag(), {}

        def stream():
            body = {"messages": [{"role": "user", "content": "tag:%s hi" % tag}],
                    "model": LONG}
            res["r"] = h.request(lt.port, "POST", "/api/chat",
                                 body=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Accept": "text/event-stream"},
                                 timeout=30)
        th = threading.Thread(target=stream)
        th.start()
        t.require(stack.replay.wait(tag, "request", timeout=10) is not None,
                  "the stream reached the provider (it was admitted)")
        t_admit = time.time() * 1000
        pids = chatstream_pids(lt)
        t.require(len(pids) == 1, "one chatstream process", pids)
        os.kill(pids[0], signal.SIGKILL)
        th.join(30)
        r = res.get("r")
        t.check(r is not None and (r.status != 200 or not r.finish),
                "the stream did not finish", r.summary() if r else None)
        live = [x for x in holds(db) if x[2] > time.time() * 1000]
        t.eq(len(live), 1, "the killed stream's reservation is still held",
             holds(db))
        if live:
            ttl = live[0][2] - t_admit
            t.diag("reservation expires %.1f s after admission" % (ttl / 1000))
            want = TOTAL_TIMEOUT * 1000 + MARGIN_MS
            t.check(want - 2000 <= ttl <= want + 1000,
                    "it expires the total timeout + the margin after "
                    "admission (%.1f s, want ~%.1f s): not permanent"
                    % (ttl / 1000, want / 1000))
        # lighttpd starts a new chatstream; the reservation still counts.
        r, n = poll_status(lt, 429, timeout=15)
        t.eq(r.status, 429, "a new request (a new process) is refused while "
             "the reservation lives", r.summary())
        t.check((r.header("RateLimit-Policy") or "").startswith(
            '"concurrency";q=1'), "by the concurrency limit",
            r.header("RateLimit-Policy"))
        t.check(chatstream_pids(lt) and chatstream_pids(lt) != pids,
                "served by a new process", chatstream_pids(lt))
        if not live:
            return
        if os.environ.get("LIMITS_AUTH_REAL_EXPIRY"):
            expire_s = live[0][2] / 1000
        else:
            # Stand in for the clock: the reservation now expires in 1 s.
            expire_s = time.time() + 1.0
            with sqlite3.connect(db, timeout=5) as c:
                c.execute("UPDATE hold SET expire_ms = ? WHERE id = ?",
                          (int(expire_s * 1000), live[0][0]))
        r = chat(lt, model="gen-3", timeout=10)
        if time.time() < expire_s - 0.3:
            t.eq(r.status, 429, "still refused just before the expiry",
                 r.summary())
        r, n = poll_status(lt, 200, timeout=expire_s - time.time() + 10)
        t.eq(r.status, 200, "admitted once the reservation expired "
             "(%d requests polled)" % n, r.summary())
        t.check(time.time() >= expire_s - 0.05,
                "and not before it expired")
        t.eq(r.text, h.gen_text(3), "and it streams")
    finally:
        lt.stop()
        log = lt.log_text().splitlines()
        bad = [l for l in log if h.SANITIZER_RX.search(l)
               and not re.search(r"child (signaled|signalled): 9\b", l)]
        t.check(not bad, "no sanitizer report or other crash in %s"
                % lt.errorlog, "\n".join(bad[:20]))
        t.check(any(re.search(r"child (signaled|signalled): 9\b", l) for l in log),
                "lighttpd saw the child killed (signal 9)")


CASES = [
    ("client_id = remote_user through lighttpd mod_auth (htpasswd): alice "
     "and bob each get their own requests_per_minute = 1; no login: "
     "lighttpd's 401", case_lighttpd_auth),
    ("client_id = remote_user through Apache Require valid-user "
     "(mod_authn_file, mod_fcgid): per-user limits; no login: Apache's 401",
     case_apache_auth),
    ("trusted_proxies: X-Forwarded-For counts only from a listed peer; "
     "prepended entries do not spoof", case_trusted_proxies),
    ("a 10 KB X-Forwarded-For: its rightmost entry, or the peer for "
     "garbage; lighttpd's default refuses it", case_xff_big),
    ("identity headers with control bytes, too long, not UTF-8: 400 with a "
     "clear JSON error", case_hostile_identity),
    ("a 10 KB Authorization: 401, not echoed", case_hostile_authorization),
    ("a trusted_proxies list that does not parse: --check-config fails with "
     "file:line", case_bad_trusted_proxies),
    ("a process SIGKILLed mid-stream: its reservation holds, then expires",
     case_killed_process),
]

if __name__ == "__main__":
    sys.exit(h.main("limits-auth", CASES, setup, parallel=2))
