#!/usr/bin/env python3
"""Upstream routing (issue 16), through lighttpd against the replay
provider: a [model] naming several upstreams falls back to the next one
when the first refuses before anything reached the client (connection
refused, 429, 503, a stall past first_byte_timeout, a context too long),
and the backup's answer arrives once; a failure mid-stream stays an error
event with no second request; weighted balance over 200 requests lands
near the weights; least-busy spreads 20 concurrent streams; a cooldown
that one lighttpd (max-procs 2) sets in the shared SQLite store is
honoured by another lighttpd and expires; every deployment down gives the
last failure's status and its Retry-After, every one cooling a 503 with
Retry-After.  The access line and the ledger name the deployment that
served and how many were tried; the finish event and /api/v1 name the
model that answered; --check-config prints the chain."""

import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

S = {}
# Weighted: 200 requests at weights 3:1.  The count on the first is
# binomial (n 200, p 0.75: mean 150, sd 6.1); the test allows 4 sd.
WEIGHTED_N = 200
WEIGHTED_TOL = 25
LEAST_N = 20
SLOW = "gen-20+delay:150"  # 3 s: the least-busy streams overlap
COOL_S = 3


def upstream(name, root, path, provider="openai-chat", **over):
    rows = [("[upstream %s]" % name, None), ("provider", provider),
            ("base_url", root + path), ("api_key_file", S["key_path"])]
    return rows + list(over.items())


def model(alias, ups, models, **over):
    return [("[model %s]" % alias, None), ("upstream", ups),
            ("upstream_model", models)] + list(over.items())


def setup(stack):
    stack.start_replay()
    S["replay"] = stack.replay
    S["key_path"] = stack.key_path
    root = stack.replay.base_url[:-len("/v1")]
    closed = h.free_port()  # nothing listens there
    ups = (upstream("p", root, "/p/v1", max_retries=0)
           + upstream("b", root, "/b/v1", max_retries=0)
           + upstream("stall", root, "/s/v1", first_byte_timeout_seconds=1)
           + upstream("down", "http://127.0.0.1:%d" % closed, "/v1")
           + upstream("ant", root, "/a/v1", provider="anthropic"))
    models = (
        model("connect", "down, b", "gen-3")
        + model("r429", "p, b", "gen-3+status:429, gen-3")
        + model("r503", "p, b", "gen-3+status:503, gen-3")
        + model("stall", "stall, b", "gen-3+stall-first:4000, gen-3")
        + model("ctx", "p, b", "gen-3+status:400+ctx, gen-3")
        + model("bad", "p, b", "gen-3+status:400, gen-3")
        + model("mid", "p, b", "gen-10+drop:4, gen-3")
        + model("early", "ant, b", "anthropic-overloaded-early, gen-3")
        + model("earlyalone", "ant", "anthropic-overloaded-early")
        + model("alldown", "p, b", "gen-1+status:503+retry-after:7, "
                "gen-1+status:429+retry-after:9", allowed_fails=0)
        + model("all5xx", "p, b", "gen-1+status:429+retry-after:9, "
                "gen-1+status:503+retry-after:7", allowed_fails=0)
        + model("weighted", "p, b", "gen-1", balance="weighted",
                weights="3, 1")
        + model("least", "p, b", SLOW, balance="least-busy"))
    settings = stack.settings(["gen-1"]) + ups + models
    S["lt"] = stack.server(None, name="routing", settings=settings, threads=32)
    S["conf"] = os.path.join(stack.tmp, "routing", "chatstream.conf")
    # The cooldown: two lighttpds on one store, the first with two
    # processes.
    S["db"] = os.path.join(stack.tmp, "cool-state.db")
    # A limit, so each chat leaves a ledger record.
    cool = (stack.settings(["gen-1"], state="sqlite:" + S["db"],
                           requests_per_minute=100000) + ups
            + model("cool", "p, b", "gen-2+status:503, gen-2",
                    allowed_fails=2, cooldown_seconds=COOL_S)
            + model("gone", "p, b", "gen-4+status:503, gen-4+status:503",
                    allowed_fails=1, cooldown_seconds=60))
    S["cool_a"] = stack.server(None, name="cool-a", settings=cool,
                               lighttpd_args={"max_procs": 2})
    S["cool_b"] = stack.server(None, name="cool-b", settings=cool)


def paths(tag):
    """Which upstream each request of tag reached: "p", "b", "s"..."""
    return [e["path"].split("/")[1] for e in S["replay"].events(tag, "request")]


def access(lt, rx, timeout=10.0):
    line = lt.wait_log(rx, timeout)
    return line or ""


def field(line, key):
    m = re.search(r"\b%s=(\S+)" % key, line)
    return m.group(1) if m else None


def fallback_case(alias, first):
    def case(t):
        tag = h.new_tag()
        r = S["lt"].chat(tag=tag, model=alias)
        h.check_stream_shape(t, r)
        t.eq(r.text, h.gen_text(3), "the backup's text, once")
        t.eq(paths(tag), [first, "b"], "the first upstream, then the backup")
        fin = r.finish or {}
        t.eq(fin.get("model"), "gen-3", "finish names the model that answered")
        ttfd, dur = fin.get("ttfd_ms"), fin.get("duration_ms")
        t.check(isinstance(ttfd, int) and isinstance(dur, int)
                and 0 <= ttfd <= dur, "finish: ttfd_ms %r <= duration_ms %r"
                % (ttfd, dur))
        st = r.header("server-timing") or ""
        t.check(re.fullmatch(r"upstream;dur=\d+", st),
                "Server-Timing: the backup's time to headers: %r" % st)
        line = access(S["lt"], r"id=%s\b" % r.stream_id)
        t.eq(field(line, "upstream"), "b", "access line: upstream", line)
        t.eq(field(line, "tried"), "2", "access line: tried", line)
        t.eq(field(line, "model"), alias, "access line: the alias", line)
    return case


def test_connect_refused(t):
    tag = h.new_tag()
    r = S["lt"].chat(tag=tag, model="connect")
    h.check_stream_shape(t, r)
    t.eq(r.text, h.gen_text(3), "the backup's text, once")
    t.eq(paths(tag), ["b"], "only the backup was reached")
    line = access(S["lt"], r"id=%s\b" % r.stream_id)
    t.eq(field(line, "upstream"), "b", "access line: upstream", line)
    t.eq(field(line, "tried"), "2", "access line: tried", line)


def test_stall_first_byte(t):
    tag = h.new_tag()
    t0 = time.monotonic()
    r = S["lt"].chat(tag=tag, model="stall")
    took = time.monotonic() - t0
    h.check_stream_shape(t, r)
    t.eq(r.text, h.gen_text(3), "the backup's text, once")
    t.eq(paths(tag), ["s", "b"], "the stalled upstream, then the backup")
    t.check(took < 3.5, "moved on at first_byte_timeout (1 s), not after "
            "the stall (4 s): took %.1f s" % took)


def test_early_in_band_error(t):
    tag = h.new_tag()
    r = S["lt"].chat(tag=tag, model="early")
    h.check_stream_shape(t, r)
    t.eq(r.error_event, None, "the overloaded error inside the 200 is held "
         "back", r.summary())
    t.eq(r.text, h.gen_text(3), "the backup's text, once")
    t.eq(paths(tag), ["a", "b"], "Anthropic, then the backup")
    # Alone it is what it was: an error event.
    r = S["lt"].chat(tag=h.new_tag(), model="earlyalone")
    t.check((r.error_event or {}).get("error"), "alone: an error event",
            r.summary())


def test_plain_400_no_fallback(t):
    tag = h.new_tag()
    r = S["lt"].chat(tag=tag, model="bad")
    t.eq(r.status, 502, "the provider's refusal, as before")
    t.eq(paths(tag), ["p"], "a refusal every deployment would give is "
         "not tried again elsewhere")


def test_mid_stream_no_fallback(t):
    tag = h.new_tag()
    r = S["lt"].chat(tag=tag, model="mid")
    t.eq(r.status, 200, "the stream had started")
    err = r.error_event
    t.check(err is not None, "an error event ends it", r.summary())
    t.check(r.text.startswith("w1 "), "the first deltas arrived: %r" % r.text)
    t.check("w1 w2 w3 w1" not in r.text and r.text.count("w1 ") == 1,
            "nothing spliced in from another deployment: %r" % r.text)
    t.eq(paths(tag), ["p"], "no second request after the first byte")


def test_all_down_last_status(t):
    tag = h.new_tag()
    r = S["lt"].chat(tag=tag, model="alldown")
    t.eq(r.status, 429, "the last failure's status (the backup's 429)")
    t.eq(r.header("retry-after"), "9", "its Retry-After")
    t.eq(paths(tag), ["p", "b"], "both were tried, once each")
    tag = h.new_tag()
    r = S["lt"].chat(tag=tag, model="all5xx")
    t.eq(r.status, 502, "the last failure's status (the backup's 503, as "
         "a gateway's 502)")
    t.eq(r.header("retry-after"), "7", "its Retry-After")
    body = r.json() or {}
    t.eq((body.get("error") or {}).get("type"), "upstream_error", "type")


def test_weighted(t):
    tag = h.new_tag()
    errors = []
    lock = threading.Lock()
    left = list(range(WEIGHTED_N))

    def worker():
        while True:
            with lock:
                if not left:
                    return
                left.pop()
            r = S["lt"].chat(tag=tag, model="weighted")
            if r.status != 200 or r.text != h.gen_text(1):
                with lock:
                    errors.append(r.summary())
    ths = [threading.Thread(target=worker) for _ in range(8)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    t.eq(errors, [], "every request answered")
    got = paths(tag)
    n_p = got.count("p")
    t.diag("weighted 3:1 over %d requests: %d and %d"
           % (WEIGHTED_N, n_p, got.count("b")))
    t.eq(len(got), WEIGHTED_N, "one provider request each")
    t.check(abs(n_p - WEIGHTED_N * 3 // 4) <= WEIGHTED_TOL,
            "weights 3:1 over %d: %d on the first (want %d +- %d)"
            % (WEIGHTED_N, n_p, WEIGHTED_N * 3 // 4, WEIGHTED_TOL))


def test_least_busy(t):
    tag = h.new_tag()
    out = [None] * LEAST_N

    def one(i):
        out[i] = S["lt"].chat(tag=tag, model="least")
    ths = [threading.Thread(target=one, args=(i,)) for i in range(LEAST_N)]
    for th in ths:
        th.start()
        # The next one starts once this one is open at the provider, so
        # each choice sees the streams before it.
        S["replay"].wait(tag, "first_byte", count=ths.index(th) + 1,
                         timeout=10)
    for th in ths:
        th.join()
    t.eq([r.status for r in out if r.status != 200], [], "all answered")
    got = paths(tag)
    t.diag("least-busy over %d overlapping streams: %d and %d"
           % (LEAST_N, got.count("p"), got.count("b")))
    t.eq(len(got), LEAST_N, "one provider request each")
    t.check(abs(got.count("p") - LEAST_N // 2) <= 1,
            "least-busy spreads %d overlapping streams: %d and %d"
            % (LEAST_N, got.count("p"), got.count("b")))


def cooled_until(name):
    with sqlite3.connect(S["db"], timeout=5) as db:
        row = db.execute("SELECT cooled_until FROM route_dep WHERE name = ?",
                         (name,)).fetchone()
    return row[0] if row else 0


def wait_cooled(name, timeout=10.0):
    """The settle thread records a failure after the answer: wait for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        until = cooled_until(name)
        if until:
            return until
        time.sleep(0.05)
    return 0


def ledger_row(request_id, timeout=10.0):
    """(upstream, tried) of the chat's ledger record, once it is written."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(S["db"], timeout=5) as db:
            row = db.execute("SELECT upstream, tried FROM ledger WHERE "
                             "request_id = ?", (request_id,)).fetchone()
        if row:
            return row
        time.sleep(0.05)
    return None


def test_cooldown_shared(t):
    tag = h.new_tag()
    for i in range(2):
        r = S["cool_a"].chat(tag=tag, model="cool")
        t.eq(r.text, h.gen_text(2), "request %d: the backup answers" % (i + 1))
    t.eq(paths(tag), ["p", "b", "p", "b"], "two failures on the primary")
    t.eq(ledger_row(r.stream_id), ("b", 2),
         "the ledger: the upstream that served, two tried")
    until = wait_cooled("rt:p/gen-2+status:503")
    t.check(until > 0, "the second failure cooled the primary")
    # Another lighttpd, another process, the same store.
    for lt in (S["cool_b"], S["cool_a"]):
        tag = h.new_tag()
        r = lt.chat(tag=tag, model="cool")
        t.eq(r.text, h.gen_text(2), "%s: the backup answers" % lt.dir)
        t.eq(paths(tag), ["b"], "%s: the cooling primary is skipped"
             % os.path.basename(lt.dir))
        line = access(lt, r"id=%s\b" % r.stream_id)
        t.eq(field(line, "tried"), "1", "access line: one tried", line)
    # It expires: the primary is asked again (the clock is the thing
    # under test, so the test waits for it).
    time.sleep(max(0.0, until / 1000.0 - time.time()) + 0.2)
    tag = h.new_tag()
    r = S["cool_b"].chat(tag=tag, model="cool")
    t.eq(paths(tag), ["p", "b"], "after cooldown_seconds the primary is "
         "tried again")


def test_all_cooling(t):
    tag = h.new_tag()
    r = S["cool_a"].chat(tag=tag, model="gone")
    t.eq(r.status, 502, "both fail: the last failure")
    t.eq(paths(tag), ["p", "b"], "both tried")
    t.check(wait_cooled("rt:b/gen-4+status:503") > 0, "both cooled")
    tag = h.new_tag()
    r = S["cool_b"].chat(tag=tag, model="gone")
    t.eq(r.status, 503, "every deployment cooling: 503")
    body = r.json() or {}
    t.eq((body.get("error") or {}).get("type"), "upstream_unavailable", "type")
    ra = r.header("retry-after")
    t.check(ra is not None and ra.isdigit() and 1 <= int(ra) <= 60,
            "Retry-After until the first cooldown ends: %r" % ra)
    t.eq(paths(tag), [], "the provider was not asked")


def test_server_timing(t):
    r = S["cool_a"].chat(tag=h.new_tag(), model="gen-1")
    h.check_stream_shape(t, r)
    st = r.header("server-timing") or ""
    m = re.fullmatch(r"admit;dur=(\d+\.\d{3}), upstream;dur=(\d+)", st)
    t.check(m, "Server-Timing: admission (a limit is set) and the provider's "
            "time to headers: %r" % st)
    fin = r.finish or {}
    line = access(S["cool_a"], r"id=%s\b" % r.stream_id)
    t.check(fin.get("duration_ms") is not None
            and fin["duration_ms"] <= int(field(line, "duration_ms") or -1),
            "finish duration_ms (%r) is at most the access line's (%s)"
            % (fin.get("duration_ms"), field(line, "duration_ms")))
    if m:
        us = int(field(line, "admit_us") or -1)
        t.eq(m.group(1), "%d.%03d" % (us // 1000, us % 1000),
             "admit;dur is the access line's admit_us in ms")


def test_v1_model(t):
    tag = h.new_tag()
    body = {"model": "r503", "stream": False,
            "messages": [{"role": "user", "content": "tag:%s hi" % tag}]}
    r = S["lt"].post("/api/v1/chat/completions", json.dumps(body))
    t.eq(r.status, 200, "answered by the backup")
    doc = r.json() or {}
    t.eq(doc.get("model"), "gen-3", "/api/v1 names the model that answered")
    t.eq(paths(tag), ["p", "b"], "primary, then backup")


def test_check_config(t):
    p = subprocess.run([h.chatstream_bin(), "--check-config", S["conf"]],
                       capture_output=True, text=True, timeout=30)
    t.eq(p.returncode, 0, "--check-config passes", p.stderr)
    line = [l for l in p.stdout.splitlines()
            if "chain:" in l and "balance weighted" in l]
    t.check(line and "p (openai-chat, key from file, model gen-1, weight 3)"
            " -> b (openai-chat, key from file, model gen-1, weight 1)"
            in line[0], "the weighted chain", p.stdout)
    t.check("chain: down (openai-chat, key from file, model gen-3) -> b "
            in p.stdout, "the connect chain", p.stdout)
    t.check("cooldown 30s after 3 failures in 60s" in p.stdout,
            "the default cooldown of a chain", p.stdout)


def test_bad_config(t):
    d = os.path.join(os.path.dirname(S["conf"]), "bad")
    os.makedirs(d, exist_ok=True)
    cases = [
        ([("[model x]", None), ("upstream", "p, nowhere")],
         'upstream "nowhere" is not defined'),
        ([("[model x]", None), ("upstream", "p, b"),
          ("upstream_model", "a, b, c")],
         "upstream_model lists 3 names but upstream lists 2"),
        ([("[model x]", None), ("upstream", "p, b"), ("weights", "1, 0")],
         "weights"),
        ([("[model x]", None), ("upstream", "p, b"), ("weights", "2")],
         "weights lists 1 names but upstream lists 2"),
        ([("[model x]", None), ("upstream", "p, b"), ("balance", "random")],
         "is not ordered, weighted or least-busy"),
        ([("[model x]", None), ("upstream", "p, " * 8 + "b")],
         "more than 8 names"),
    ]
    for i, (rows, want) in enumerate(cases):
        path = os.path.join(d, "c%d.conf" % i)
        h.write_chatstream_conf(path, [("provider", "openai-chat"),
                                       ("base_url", "http://127.0.0.1:9/v1"),
                                       ("api_key_file", S["key_path"]),
                                       ("[upstream p]", None),
                                       ("base_url", "http://127.0.0.1:9/v1"),
                                       ("[upstream b]", None),
                                       ("base_url", "http://127.0.0.1:9/v1")]
                                + rows)
        p = subprocess.run([h.chatstream_bin(), "--check-config", path],
                           capture_output=True, text=True, timeout=30)
        t.check(p.returncode != 0 and want in p.stderr,
                "config %d refused with %r" % (i, want), p.stderr)


CASES = [
    ("connection refused -> backup", test_connect_refused),
    ("429 -> backup", fallback_case("r429", "p")),
    ("503 -> backup", fallback_case("r503", "p")),
    ("context too long -> backup", fallback_case("ctx", "p")),
    ("stall before the first byte -> backup", test_stall_first_byte),
    ("an in-band error before any output -> backup", test_early_in_band_error),
    ("a plain 400 is not retried elsewhere", test_plain_400_no_fallback),
    ("failure mid-stream: error event, no fallback", test_mid_stream_no_fallback),
    ("every deployment down: the last status and Retry-After",
     test_all_down_last_status),
    ("weighted balance over 200 requests", test_weighted),
    ("least-busy over 20 concurrent streams", test_least_busy),
    ("/api/v1 names the model that answered", test_v1_model),
    ("Server-Timing and the finish event's timings", test_server_timing),
    ("--check-config prints the chains", test_check_config),
    ("bad chains are refused at start", test_bad_config),
]
AFTER = [
    ("a cooldown is shared across processes and expires", test_cooldown_shared),
    ("every deployment cooling: 503 with Retry-After", test_all_cooling),
]

if __name__ == "__main__":
    sys.exit(h.main("routing", CASES, setup, parallel=4, after=AFTER))
