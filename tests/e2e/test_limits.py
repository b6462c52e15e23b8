#!/usr/bin/env python3
"""Admission (issue 14, first slice): per-client concurrent streams,
requests per minute and daily token budgets, counted in the SQLite store
that every process of lighttpd's max-procs shares; access keys (missing,
wrong, right, a key's models, api_v1_auth = key); the 429 with
Retry-After, RateLimit-Policy and RateLimit (and OpenAI's x-ratelimit-*
and error shape on /api/v1, as the openai npm package sees it); a store
that cannot be used (--check-config names it; state_fail = open serves)."""

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

SLOW = "gen-20+delay:150"       # 3 s: the 10 admitted streams overlap
CLIENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients")
SCRIPT = os.path.join(CLIENTS, "openai_client.mjs")
ALICE = "alice-" + "a1" * 12    # access-key secrets (never in any answer)
BOB = "bob-" + "b2" * 12
S = {}


def sha(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def setup(stack):
    stack.start_replay()
    S["stack"] = stack
    # Three processes, one SQLite file (the default: beside the config).
    S["conc"] = stack.server([SLOW], name="conc", threads=32,
                             concurrent_streams=10,
                             lighttpd_args={"max_procs": 3})
    S["rpm"] = stack.server(["gen-3"], name="rpm", requests_per_minute=3)
    S["budget"] = stack.server(["gen-5"], name="budget", tokens_per_day=30)
    S["sdk"] = stack.server(["gen-3"], name="sdk", requests_per_minute=1)
    keys = stack.settings(["gen-3", "gen-5"], api_v1_auth="key") + [
        ("[key alice]", None), ("secret_sha256", sha(ALICE)),
        ("models", "gen-3"),
        ("[key bob]", None), ("secret_sha256", sha(BOB).upper()),
    ]
    S["keys"] = stack.server(None, name="keys", settings=keys)
    S["ledger"] = stack.server([SLOW, "gen-5"], name="ledger",
                               concurrent_streams=1)
    # The shipped defaults for admission (the harness opens /api/v1 and
    # sets every limit to 0: None takes its key out), the store in the
    # directory a service manager gives (STATE_DIRECTORY, as make run and
    # conf/chatstream.service set it).
    S["default_dir"] = os.path.join(stack.tmp, "state-dir")
    os.makedirs(S["default_dir"])
    S["default"] = stack.server(
        [SLOW, "gen-3"], name="default", threads=32, api_v1_auth=None,
        requests_per_minute=None, concurrent_streams=None,
        tokens_per_day=None, global_tokens_per_day=None,
        lighttpd_args={"bin_env": {"STATE_DIRECTORY": S["default_dir"]}})
    S["open"] = stack.server(["gen-3"], name="open", concurrent_streams=5,
                             state="sqlite:/nonexistent/chatstream/x.db",
                             state_fail="open")


def chat(lt, model, headers=None, path="/api/chat", extra=None, timeout=30):
    body = {"messages": [{"role": "user", "content": "tag:%s hi" % h.new_tag()}],
            "model": model}
    body.update(extra or {})
    hd = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    hd.update(headers or {})
    return h.request(lt.port, "POST", path, body=json.dumps(body).encode(),
                     headers=hd, timeout=timeout)


def error_of(r):
    try:
        return (r.json() or {}).get("error") or {}
    except ValueError:
        return {}


def check_429(t, r, etype, what):
    t.eq(r.status, 429, what + ": status", r.summary())
    t.eq(error_of(r).get("type"), etype, what + ": error type", r.body[:300])
    ra = r.header("Retry-After")
    t.check(ra is not None and ra.isdigit() and int(ra) >= 1,
            what + ": Retry-After is whole seconds", ra)
    pol, rl = r.header("RateLimit-Policy"), r.header("RateLimit")
    t.check(pol is not None and re.fullmatch(r'"\w+";q=\d+(;w=\d+)?;qu="[\w-]+"', pol),
            what + ": RateLimit-Policy", pol)
    t.check(rl is not None and re.fullmatch(r'"\w+";r=\d+;t=\d+', rl),
            what + ": RateLimit", rl)
    return int(ra) if ra and ra.isdigit() else None


def at_once(lt, n):
    """n chats of SLOW started together from one client: the answers."""
    res, go = [None] * n, threading.Barrier(n)

    def one(i):
        go.wait()
        res[i] = chat(lt, SLOW, timeout=60)
    ths = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    return res


def case_concurrent(t):
    lt = S["conc"]
    res = at_once(lt, 50)
    ok = [r for r in res if r.status == 200]
    refused = [r for r in res if r.status == 429]
    t.eq(len(ok), 10, "streams admitted (concurrent_streams = 10, 3 processes)",
         sorted(set(r.status for r in res)))
    t.eq(len(refused), 40, "refused with 429")
    for r in ok:
        t.eq(r.text, h.gen_text(20), "an admitted stream runs to the end")
    for r in refused[:5]:
        check_429(t, r, "rate_limited", "concurrency")
        t.check(r.header("RateLimit-Policy", "").startswith('"concurrency";q=10'),
                "the policy names the limit", r.header("RateLimit-Policy"))
    # The ends are settled: the slots come back (the settle is queued,
    # so wait for it, within the store's own timing).
    back = None
    deadline = h.mono() + 10
    while h.mono() < deadline:
        back = chat(lt, SLOW, extra={"max_tokens": 1}, timeout=30,
                    headers={"X-Probe": "1"})
        if back.status == 200:
            break
        h.time.sleep(0.1)
    t.eq(back.status, 200, "a slot is free again once the streams ended",
         back.summary())
    t.check(os.path.exists(os.path.join(lt.dir, "chatstream-state.db")),
            "the default store is beside the config file")


def case_requests_per_minute(t):
    lt = S["rpm"]
    for i in range(3):
        # The third on /api/v1 (open here), as a whole answer.
        v1 = i == 2
        r = chat(lt, "gen-3", path="/api/v1/chat/completions" if v1 else
                 "/api/chat", extra={"stream": False} if v1 else None)
        t.eq(r.status, 200, "request %d of 3" % (i + 1), r.summary())
        # Every answer says what is left, so a client can pace itself.
        t.check(r.header("RateLimit-Policy", "").startswith('"requests";q=3;w=60'),
                "request %d: RateLimit-Policy on the answer" % (i + 1),
                r.header("RateLimit-Policy"))
        t.check(re.fullmatch(r'"requests";r=%d;t=\d+' % (2 - i),
                             r.header("RateLimit", "")),
                "request %d: RateLimit r=%d" % (i + 1, 2 - i), r.header("RateLimit"))
        t.eq(r.header("x-ratelimit-remaining-requests"), "0" if v1 else None,
             "request %d: x-ratelimit-* only on /api/v1" % (i + 1))
        if v1:
            t.eq(r.header("x-ratelimit-limit-requests"), "3", "x-ratelimit-limit-requests")
    r = chat(lt, "gen-3")
    ra = check_429(t, r, "rate_limited", "4th request")
    t.check(ra is not None and 15 <= ra <= 20,
            "Retry-After is when the next token comes (60 s / 3)", ra)
    t.check(r.header("RateLimit-Policy", "").startswith('"requests";q=3;w=60'),
            "RateLimit-Policy: 3 requests a 60 s window",
            r.header("RateLimit-Policy"))
    line = lt.log_line_for(r.header("X-Request-Id", "-"))
    t.check(line is not None and "outcome=limited" in line,
            "logged as outcome=limited", line)
    t.check(line is not None and re.search(r" admit_us=\d+ ", line),
            "with the time admission took", line)
    m = h.request(lt.port, "GET", "/api/models")
    t.eq(m.status, 200, "GET /api/models is not limited")


def case_budget(t):
    lt = S["budget"]
    seen = []
    for _ in range(6):
        r = chat(lt, "gen-5", extra={"max_tokens": 5})
        seen.append(r.status)
        if r.status != 200:
            break
    t.check(seen[0] == 200, "the first request fits the budget", seen)
    t.eq(seen[-1], 429, "then the budget is spent", seen)
    check_429(t, r, "budget_exceeded", "budget")
    t.check(r.header("RateLimit-Policy", "").startswith('"tokens";q=30;w=86400'),
            "the policy is the daily budget", r.header("RateLimit-Policy"))
    t.check("00:00 UTC" in error_of(r).get("message", ""),
            "the message says when it renews", error_of(r))


def case_keys(t):
    lt = S["keys"]
    r = chat(lt, "gen-3")
    t.eq(r.status, 200, "/api/chat without a key stays open", r.summary())
    r = chat(lt, "gen-3", headers={"Authorization": "Bearer " + ALICE})
    t.eq(r.status, 200, "a right key (Bearer)", r.summary())
    r = chat(lt, "gen-3", headers={"x-api-key": BOB})
    t.eq(r.status, 200, "a right key (x-api-key)", r.summary())
    r = chat(lt, "gen-3", headers={"Authorization": "Bearer " + ALICE + "x"})
    t.eq(r.status, 401, "a wrong key", r.summary())
    t.eq(error_of(r).get("type"), "unauthorized", "native type unauthorized")
    r = chat(lt, "gen-3", headers={"Authorization": "Bearer " + "k" * 300})
    t.eq(r.status, 401, "an oversized key", r.summary())
    t.check("k" * 40 not in r.body.decode("utf-8", "replace"),
            "is not echoed")
    r = chat(lt, "gen-3", headers={"Authorization": "Bearer " + ALICE,
                                   "x-api-key": BOB})
    t.eq(r.status, 401, "two different keys", r.summary())
    r = chat(lt, "gen-5", headers={"Authorization": "Bearer " + ALICE})
    t.eq(r.status, 403, "a model the key may not use", r.summary())
    t.eq(error_of(r).get("type"), "model_not_allowed", "type model_not_allowed")
    r = chat(lt, "gen-5", headers={"Authorization": "Bearer " + BOB})
    t.eq(r.status, 200, "a key without a models list may use any", r.summary())

    v1 = "/api/v1/chat/completions"
    r = chat(lt, "gen-3", path=v1)
    t.eq(r.status, 401, "/api/v1 without a key (api_v1_auth = key)", r.summary())
    e = error_of(r)
    t.eq(e.get("code"), "invalid_api_key", "OpenAI code invalid_api_key", e)
    t.check("[key NAME]" in e.get("message", ""),
            "the message says how to configure a key", e)
    r = chat(lt, "gen-3", path=v1, headers={"Authorization": "Bearer nope"})
    t.eq(r.status, 401, "/api/v1 with a wrong key")
    r = chat(lt, "gen-3", path=v1, headers={"Authorization": "Bearer " + ALICE})
    t.eq(r.status, 200, "/api/v1 with a right key", r.summary())
    for srv in ("keys",):
        log = S[srv].log_text()
        t.check(ALICE not in log and BOB not in log, "no secret in the log")


def node(t, mode, model):
    if not os.path.isdir(os.path.join(CLIENTS, "node_modules", "openai")):
        t.skip("tests/clients/node_modules missing (make clients-deps)")
    base = "http://127.0.0.1:%d/api/v1" % S["sdk"].port
    p = subprocess.run(["node", SCRIPT, base, mode, model, "hello"],
                       capture_output=True, text=True, timeout=60)
    t.require(p.returncode == 0, "node exited 0", p.stderr)
    return json.loads(p.stdout.strip().splitlines()[-1])


def case_openai_sdk(t):
    first = node(t, "create", "gen-3")
    t.eq(first.get("text"), h.gen_text(3), "the first request is served", first)
    for mode in ("create", "stream"):
        e = node(t, mode, "gen-3").get("error") or {}
        t.eq(e.get("class"), "RateLimitError", mode + ": the SDK's class", e)
        t.eq(e.get("status"), 429, mode + ": status")
        t.eq(e.get("code"), "rate_limit_exceeded", mode + ": code")
    r = chat(S["sdk"], "gen-3", path="/api/v1/chat/completions",
             extra={"stream": False})
    t.eq(r.status, 429, "raw: 429")
    t.eq(r.header("x-ratelimit-limit-requests"), "1", "x-ratelimit-limit-requests")
    t.eq(r.header("x-ratelimit-remaining-requests"), "0",
         "x-ratelimit-remaining-requests")
    t.check(re.fullmatch(r"\d+s", r.header("x-ratelimit-reset-requests", "")),
            "x-ratelimit-reset-requests", r.header("x-ratelimit-reset-requests"))
    t.eq(error_of(r).get("code"), "rate_limit_exceeded", "OpenAI code")


def ledger_rows(lt, where, args, want, timeout=10):
    """The ledger rows of lt's store matching where, once there are want
    of them (polled: the settle thread writes them after the stream)."""
    db = os.path.join(lt.dir, "chatstream-state.db")
    deadline, rows = h.mono() + timeout, []
    while h.mono() < deadline:
        try:
            with sqlite3.connect(db, timeout=2) as c:
                rows = c.execute("SELECT identity, key_name, model, upstream, "
                                 "outcome, prompt_tokens, completion_tokens "
                                 "FROM ledger WHERE " + where, args).fetchall()
        except sqlite3.Error:
            rows = []
        if len(rows) >= want:
            break
        h.time.sleep(0.05)
    return rows


def case_ledger_and_cancel(t):
    lt = S["ledger"]
    r = chat(lt, "gen-5")
    t.eq(r.status, 200, "a stream", r.summary())
    rows = ledger_rows(lt, "request_id = ?", (r.header("X-Request-Id"),), 1)
    t.eq(len(rows), 1, "one ledger record for it")
    if rows:
        ident, key, model, up, outcome, pt, ct = rows[0]
        t.check(re.fullmatch(r"iph:[0-9a-f]{32}", ident or ""),
                "the address is stored as a keyed hash", ident)
        t.eq((model, up, outcome, pt, ct), ("gen-5", "default", "done", 7, 5),
             "model, upstream, outcome and the provider's usage")
    # A client that leaves mid-stream: its slot comes back, and what it
    # was sent is counted.
    cut = chat_cut(lt)
    t.check(cut.closed_by_us, "the client left mid-stream", cut.summary())
    rows = ledger_rows(lt, "request_id = ?", (cut.header("X-Request-Id"),), 1)
    t.eq(len(rows), 1, "the cancelled stream is in the ledger too")
    if rows:
        t.eq(rows[0][4], "client_gone", "as client_gone", rows[0])
    r = chat(lt, "gen-5")
    t.eq(r.status, 200, "and its concurrency slot is free again", r.summary())


def chat_cut(lt):
    body = {"messages": [{"role": "user", "content": "tag:%s hi" % h.new_tag()}],
            "model": SLOW}
    return h.request(lt.port, "POST", "/api/chat", body=json.dumps(body).encode(),
                     headers={"Content-Type": "application/json",
                              "Accept": "text/event-stream"}, timeout=30,
                     stop=lambda resp, ev: len(resp.deltas) >= 2)


def check_config(text):
    """chatstream --check-config on a config file holding text."""
    path = os.path.join(S["stack"].tmp, "check.conf")
    with open(path, "w") as f:
        f.write(text)
    return subprocess.run([h.chatstream_bin(), "--check-config", path],
                          capture_output=True, text=True, timeout=20)


def as_nobody(t):
    """A store the server's user may not write (the tests run as root,
    who may write anything): a read-only file, and a missing file in a
    directory it cannot create files in, both refused by --check-config
    and at start, naming the path."""
    if os.geteuid() != 0:
        t.diag("not root: the read-only store cases need another user")
        return
    d = os.path.join(S["stack"].tmp, "ro")
    os.makedirs(d)
    os.chmod(S["stack"].tmp, 0o755)
    os.chmod(d, 0o755)                   # root's: nobody cannot create here
    ro = os.path.join(d, "ro.db")
    c = sqlite3.connect(ro)
    c.execute("CREATE TABLE x(y)")
    c.close()
    os.chmod(ro, 0o444)
    for spec, what in (("sqlite:" + ro, "a read-only store"),
                       ("sqlite:" + os.path.join(d, "new.db"),
                        "a missing store in a directory it cannot write")):
        conf = os.path.join(d, "%s.conf" % what.split()[1])
        with open(conf, "w") as f:
            f.write("concurrent_streams = 2\nstate = %s\n" % spec)
        os.chmod(conf, 0o644)
        for argv in (["--check-config", conf],
                     ["--config", conf, "--listen", os.path.join(d, "x.sock")]):
            p = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup",
                                "--clear-groups", h.chatstream_bin()] + argv,
                               capture_output=True, text=True, timeout=20,
                               stdin=subprocess.DEVNULL)
            t.check(p.returncode != 0 and spec[7:] in p.stderr,
                    "%s: %s fails naming the path" % (what, argv[0]),
                    (p.returncode, p.stderr[-400:]))
        t.check(("read" in p.stderr.lower()) if what.startswith("a read-only")
                else "cannot create files in" in p.stderr,
                "%s: and says why" % what, p.stderr[-400:])
    t.check(not os.path.exists(os.path.join(d, "new.db")), "nothing was made")


def case_state_unusable(t):
    p = check_config("concurrent_streams = 2\nstate = sqlite:/nonexistent/cs/x.db\n")
    t.check(p.returncode != 0, "--check-config fails", p.stdout)
    t.check("/nonexistent/cs" in p.stderr, "and names the path", p.stderr)
    # At start too: the server does not come up to refuse every chat.
    sock = os.path.join(S["stack"].tmp, "bad.sock")
    p = subprocess.run([h.chatstream_bin(), "--config",
                        os.path.join(S["stack"].tmp, "check.conf"),
                        "--listen", sock],
                       capture_output=True, text=True, timeout=20)
    t.check(p.returncode != 0, "chatstream --listen exits at start", p.returncode)
    t.check("/nonexistent/cs" in p.stderr, "naming the path", p.stderr)
    as_nobody(t)
    zero = ("requests_per_minute = 0\nconcurrent_streams = 0\n"
            "tokens_per_day = 0\nglobal_tokens_per_day = 0\n")
    p = check_config("threads = 4\n")
    t.eq(p.returncode, 0, "the defaults: fine", p.stderr)
    t.check("admission: on" in p.stdout and "writable, not made yet" in p.stdout,
            "says admission is on and where its store goes", p.stdout)
    t.check(not os.path.exists(os.path.join(S["stack"].tmp, "chatstream-state.db")),
            "--check-config makes no store file")
    p = check_config("threads = 4\n" + zero)
    t.eq(p.returncode, 0, "every limit 0: fine", p.stderr)
    t.check("/api/v1 needs an access key" in p.stdout
            and "no store is opened" in p.stdout,
            "says /api/v1 is shut and nothing is counted", p.stdout)
    p = check_config("threads = 4\napi_v1_auth = open\n" + zero)
    t.eq(p.returncode, 0, "no limit, api_v1_auth = open: fine", p.stderr)
    t.check("admission: off" in p.stdout, "says admission is off", p.stdout)
    p = check_config("concurrent_streams = 2\nstate = memory\n")
    t.eq(p.returncode, 0, "state = memory: usable", p.stderr)
    t.check("warning: state = memory counts in this process only" in p.stdout,
            "but --check-config warns it counts per process", p.stdout)
    # state_fail = open: served, and the warning is logged.
    r = chat(S["open"], "gen-3")
    t.eq(r.status, 200, "state_fail = open serves without the store", r.summary())
    t.check(S["open"].wait_log(r"state store .*failed") is not None,
            "and logs why")


def case_default_v1_closed(t):
    lt = S["default"]
    v1 = "/api/v1/chat/completions"
    r = chat(lt, "gen-3", path=v1)
    t.eq(r.status, 401, "by default /api/v1 chats need a key", r.summary())
    e = error_of(r)
    t.eq(e.get("code"), "invalid_api_key", "OpenAI code invalid_api_key", e)
    t.check("--hash-key" in e.get("message", ""),
            "the message says how to add a key", e)
    r = chat(lt, "gen-3", path=v1, headers={"Authorization": "Bearer sk-x"})
    t.eq(r.status, 401, "any Bearer token: still 401 (no [key] exists)")
    r = chat(lt, "gen-3")
    t.eq(r.status, 200, "/api/chat is served", r.summary())
    t.eq(r.text, h.gen_text(3), "the whole answer")
    m = h.request(lt.port, "GET", "/api/v1/models")
    t.eq(m.status, 200, "GET /api/v1/models stays open")
    # /api/chat is counted per visitor: 3 streams at once by default.
    res = at_once(lt, 6)
    ok = [r for r in res if r.status == 200]
    refused = [r for r in res if r.status == 429]
    t.eq((len(ok), len(refused)), (3, 3),
         "6 at once from one client: 3 stream (concurrent_streams "
         "defaults to 3), 3 get 429", sorted(r.status for r in res))
    for r in ok:
        t.eq(r.text, h.gen_text(20), "an admitted stream runs to the end")
    for r in refused:
        check_429(t, r, "rate_limited", "the default concurrency limit")
        t.check(r.header("RateLimit-Policy", "").startswith('"concurrency";q=3;'),
                "the policy names the default", r.header("RateLimit-Policy"))
    t.check(os.path.exists(os.path.join(S["default_dir"], "chatstream-state.db")),
            "the store is in $STATE_DIRECTORY")
    t.check(not os.path.exists(os.path.join(lt.dir, "chatstream-state.db")),
            "not beside the config file")
    out = subprocess.run([h.chatstream_bin(), "--check-config", lt.cs_config],
                         capture_output=True, text=True, timeout=30,
                         env=dict(os.environ, STATE_DIRECTORY=S["default_dir"]))
    t.check("20 requests a minute, 3 streams at once, 200000 tokens a day; "
            "site: 2000000 tokens a day" in out.stdout,
            "--check-config shows the default limits", out.stdout)


CASES = [
    ("50 at once against concurrent_streams = 10 over 3 processes: "
     "10 stream, 40 get 429", case_concurrent),
    ("requests_per_minute = 3: each answer has RateLimit with what is left; "
     "the 4th gets 429 with Retry-After ~20",
     case_requests_per_minute),
    ("tokens_per_day: a spent budget gives 429 budget_exceeded", case_budget),
    ("access keys: missing, wrong, right, models; api_v1_auth = key", case_keys),
    ("the defaults: /api/v1 chats get 401 saying how to add a key; "
     "/api/chat is served, 3 streams at once per client, the store in "
     "$STATE_DIRECTORY", case_default_v1_closed),
    ("the openai package sees RateLimitError; x-ratelimit-* headers",
     case_openai_sdk),
    ("the ledger: one record per stream, addresses hashed; a cancelled "
     "stream is settled", case_ledger_and_cancel),
    ("an unusable store: --check-config names it; state_fail = open serves",
     case_state_unusable),
]

if __name__ == "__main__":
    sys.exit(h.main("limits", CASES, setup, parallel=2))
