#!/usr/bin/env python3
"""The usage dashboard (issue 17, item 3): GET /api/admin/usage and the
page www/admin/, through the real lighttpd + chatstream with the replay
provider.

A known mix on the main server: chats on two models with two keys
(alice, bob), one without a key, an upstream error (the replay answers
500 every time), a 429 (carol's requests_per_minute = 1) and a 401 (a
wrong key).  Then:
  * admin = off (the default): 404 not_found, as for an unknown endpoint;
  * admin = key: 401 without a key or with a wrong one, 403 with alice's
    (permissions chat), 200 with the admin key, Cache-Control: no-store;
  * the numbers equal the ledger's (`chatstream usage --by day/model/key`
    and the SQLite rows): requests and tokens per day, model and key, the
    error, the 429 and the 401 counted as refusals, ttfd p50/p99 within a
    histogram bucket of the ledger's exact percentiles;
  * the JSON holds no key secret, no upstream API key and no raw address
    (ledger_raw_ip = no: identities are iph: hashes);
  * the page in headless Chromium under the shipped CSP at 1280 and 375
    px, light and dark: the key typed into the form, the charts drawn
    (waited for through <html data-dash="ready">), their data-* values
    equal the ledger's, no console error and no CSP violation; on 403
    and 404 the page says why.  Screenshots in <tmp>/screens/.
"""

import datetime
import hashlib
import json
import math
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402
import pw as cdp  # noqa: E402
from test_limits import ledger_rows  # noqa: E402
from test_usage import conf, table, usage  # noqa: E402

ALICE = "alice-" + "a1" * 12   # secrets: never in any answer
BOB = "bob-" + "b2" * 12
CAROL = "carol-" + "c3" * 12
ADMIN = "admin-" + "d4" * 12
FAIL = "gen-3+status:500"      # the replay fails it every time
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
       "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'self'")
IGNORE = (r"/favicon\.ico\b",)
S = {}


def sha(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def keys():
    return [("[key alice]", None), ("secret_sha256", sha(ALICE)),
            ("[key bob]", None), ("secret_sha256", sha(BOB)),
            ("[key carol]", None), ("secret_sha256", sha(CAROL)),
            ("requests_per_minute", 1),
            ("[key admin]", None), ("secret_sha256", sha(ADMIN)),
            ("permissions", "admin")]


def setup(stack):
    stack.start_replay()
    models = ["gen-3", "gen-5", FAIL]
    S["main"] = stack.server(None, name="main", settings=stack.settings(
        models, admin="key") + keys())
    S["off"] = stack.server(None, name="off", settings=stack.settings(
        ["gen-3"]) + keys())
    S["flood"] = stack.server(None, name="flood", settings=stack.settings(
        ["gen-3"], admin="key") + keys())
    S["screens"] = os.path.join(stack.tmp, "screens")
    os.makedirs(S["screens"], exist_ok=True)
    S["browser"] = cdp.Browser(tmpdir=stack.tmp)
    S["mix"] = make_mix(S["main"])


def chat(lt, model, key=None):
    body = {"messages": [{"role": "user", "content": "tag:%s hi" % h.new_tag()}],
            "model": model}
    hd = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    if key:
        hd["Authorization"] = "Bearer " + key
    return h.request(lt.port, "POST", "/api/chat", body=json.dumps(body).encode(),
                     headers=hd, timeout=30)


def make_mix(lt):
    """The requests, their statuses; waits until the ledger has the
    admitted ones."""
    plan = [("gen-3", ALICE), ("gen-3", ALICE), ("gen-5", ALICE),
            ("gen-5", BOB), ("gen-5", BOB), ("gen-3", None),
            (FAIL, ALICE), ("gen-3", CAROL), ("gen-3", CAROL),
            ("gen-3", "wrong-" + "e5" * 12)]
    got = [(m, k, chat(lt, m, k)) for m, k in plan]
    rows = ledger_rows(lt, "1 = 1", (), 8)
    return {"statuses": [r.status for _, _, r in got], "ledger": len(rows)}


def admin_get(lt, key=None):
    hd = {"Authorization": "Bearer " + key} if key else {}
    return h.request(lt.port, "GET", "/api/admin/usage", headers=hd, timeout=30)


def db_rows(lt):
    import sqlite3
    db = os.path.join(lt.dir, "chatstream-state.db")
    with sqlite3.connect(db, timeout=2) as c:
        return c.execute("SELECT time_ms, model, key_name, identity, outcome,"
                         " prompt_tokens, completion_tokens, ttfd_ms FROM ledger"
                         ).fetchall()


def usage_json(t, want_refused=2):
    """The 200 answer's JSON, once the refusals the settle thread counts
    are there (polled: they are written off the request's path)."""
    deadline, j, r = h.mono() + 10, {}, None
    while h.mono() < deadline:
        r = admin_get(S["main"], ADMIN)
        j = r.json() or {} if r.status == 200 else {}
        if sum((j.get("daily") or {}).get("refused", [])) >= want_refused:
            break
        h.time.sleep(0.05)
    return r, j


def today():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")


def nearest_rank(values, p):
    v = sorted(values)
    return v[max(0, math.ceil(len(v) * p / 100) - 1)] if v else None


def case_mix(t):
    st = S["mix"]["statuses"]
    # The failing model: a 502, or an error event in a 200 stream (the
    # outcome upstream_error either way: case_numbers checks the ledger).
    t.check(st[6] in (200, 502), "the upstream error answered", st[6])
    t.eq(st[:6] + st[7:], [200] * 6 + [200, 429, 401],
         "the mix answered as planned")
    t.eq(S["mix"]["ledger"], 8, "eight ledger records (the refusals are none)")


def case_off(t):
    r = admin_get(S["off"], ADMIN)
    h.check_error_json(t, r, 404, "not_found")
    r2 = h.request(S["off"].port, "GET", "/api/no-such-endpoint")
    t.eq((r.json() or {}).get("error", {}).get("message"),
         (r2.json() or {}).get("error", {}).get("message"),
         "the same 404 as an unknown endpoint")


def case_guard(t):
    lt = S["main"]
    h.check_error_json(t, admin_get(lt), 401, "unauthorized")
    h.check_error_json(t, admin_get(lt, "wrong-" + "f6" * 12), 401, "unauthorized")
    h.check_error_json(t, admin_get(lt, ALICE), 403, "forbidden")
    r = h.request(lt.port, "POST", "/api/admin/usage", body=b"{}",
                  headers={"Authorization": "Bearer " + ADMIN,
                           "Content-Type": "application/json"})
    t.eq(r.status, 405, "POST is 405", r.summary())
    r = admin_get(lt, ADMIN)
    t.eq(r.status, 200, "the admin key: 200", r.summary())
    t.eq(r.header_all("Cache-Control"), ["no-store"], "one Cache-Control: no-store")
    t.eq((r.header("Content-Type") or "").split(";")[0], "application/json",
         "JSON")


def case_numbers(t):
    lt = S["main"]
    r, j = usage_json(t)
    t.eq(r.status, 200, "status", r.summary())
    days, d = j.get("days", []), j.get("daily", {})
    t.eq(len(days), 30, "thirty days")
    t.eq(days[-1:], [today()], "today last")
    i = days.index(today()) if today() in days else -1
    rows = db_rows(lt)
    # per day, against chatstream usage --by day
    p = usage("--config", conf(lt), "--by", "day", "--since", "30d")
    t.eq(p.returncode, 0, "chatstream usage --by day", p.stderr)
    _, by_day = table(p.stdout)
    req, pt, ct, _ = by_day.get(today(), (0, 0, 0, 0))
    t.eq((d["requests"][i], d["prompt_tokens"][i], d["completion_tokens"][i]),
         (req, pt, ct), "today's requests and tokens = usage --by day", p.stdout)
    t.eq(sum(d["requests"]), len(rows), "every ledger record counted once")
    # per model and per key
    for by, dim, none in (("model", "models", None), ("key", "keys", "(none)")):
        p = usage("--config", conf(lt), "--by", by, "--since", "30d")
        _, want = table(p.stdout)
        want.pop("total", None)
        got = {}
        for e in j.get(dim, []):
            name = e["name"] or none
            got[name] = (e["requests"], e["prompt_tokens"], e["completion_tokens"],
                         e["prompt_tokens"] + e["completion_tokens"])
            t.eq(e["daily"]["requests"][i], e["requests"],
                 "%s %s: all today" % (dim, name))
        t.eq(got, want, "by %s = usage --by %s" % (by, by), p.stdout)
    t.eq(sorted(e["name"] for e in j["models"]), sorted(["gen-3", "gen-5", FAIL]),
         "the three models")
    # errors and refusals
    errs = sum(1 for row in rows if row[4] in ("upstream_error", "timeout", "internal_error"))
    t.eq([row[4] for row in rows if row[1] == FAIL], ["upstream_error"],
         "the failing model's record is an upstream error")
    t.eq(errs, 1, "the ledger has the one upstream error")
    t.eq(d["errors"][i], errs, "errors today = the ledger's")
    ref = j.get("refusals", {})
    t.eq((ref.get("rate_limited", [0])[i], ref.get("unauthorized", [0])[i], d["refused"][i]),
         (1, 1, 2), "refused today: the 429 and the 401")
    # ttfd percentiles: within a bucket (1/16) of the exact ones
    ttfd = [row[7] for row in rows if row[7] is not None and row[7] >= 0]
    t.eq(d["ttfd_count"][i], len(ttfd), "ttfd counted for the records that have one")
    for pc, key in ((50, "ttfd_p50_ms"), (99, "ttfd_p99_ms")):
        exact, got = nearest_rank(ttfd, pc), d[key][i]
        t.diag("p%d: %s ms (exact %s)" % (pc, got, exact))
        t.check(got is not None and exact is not None and
                abs(got - exact) <= max(1, exact / 16),
                "p%d within a bucket of the ledger's" % pc, (got, exact, ttfd))
    # identities: as the ledger keeps them
    ids = j.get("identities", [])
    t.eq(len(ids), 1, "one client address", ids)
    t.check(all(re.fullmatch(r"iph:[0-9a-f]{32}", e["name"]) for e in ids),
            "identities are keyed hashes", ids)
    S["json"] = j


def case_no_secrets(t):
    r = admin_get(S["main"], ADMIN)
    body = r.body.decode("utf-8", "replace") if isinstance(r.body, bytes) else str(r.body)
    stack_key = open(os.path.join(os.path.dirname(S["main"].dir), "key")).read().strip()
    for what, s in (("alice's secret", ALICE), ("bob's", BOB), ("carol's", CAROL),
                    ("the admin key", ADMIN), ("its hash", sha(ADMIN)),
                    ("the upstream API key", stack_key),
                    ("the client address", "127.0.0.1")):
        t.check(s not in body, "%s is not in the JSON" % what)


def new_page(t, width, dark):
    page = S["browser"].new_page(width, 900)
    if width < 500:
        page.set_viewport(width, 900, mobile=True)
    page.emulate_media(dark=dark)
    t.diag("viewport %d px, %s" % (width, "dark" if dark else "light"))
    return page


def url(lt, path):
    return "http://127.0.0.1:%d%s" % (lt.port, path)


def enter_key(page, key):
    page.evaluate("(() => { const k = document.getElementById('key');"
                  " k.value = %s; document.getElementById('key-form').requestSubmit();"
                  " })()" % json.dumps(key), False)


def browser_case(width, dark):
    def case(t):
        j = S.get("json") or usage_json(t)[1]
        page = new_page(t, width, dark)
        try:
            page.navigate(url(S["main"], "/admin/"))
            page.wait_for("document.documentElement.dataset.dash === 'idle'", 15)
            got = page.evaluate("""(async () => (await fetch(location.href,
                {cache: 'no-store'})).headers.get('content-security-policy'))()""")
            t.eq(got, CSP, "the page came with the shipped CSP")
            t.eq(page.evaluate("document.getElementById('key').type"), "password",
                 "the key field is a password field")
            enter_key(page, ADMIN)
            page.wait_for("document.documentElement.dataset.dash === 'ready'", 20)
            v = page.evaluate("""(() => {
              const vals = (chart, series) => [...document.querySelectorAll(
                `svg[data-chart="${chart}"] [data-series="${series}"]`)].map(
                (e) => [e.dataset.day, Number(e.dataset.value)]);
              const total = (k) => Number(document.querySelector(
                `[data-total="${k}"]`).dataset.value);
              return {
                charts: [...document.querySelectorAll('svg.chart-svg')].map((s) => s.dataset.chart),
                requests: vals('requests', 'requests'),
                prompt: vals('tokens', 'prompt'),
                completion: vals('tokens', 'completion'),
                p50: vals('ttfd', 'p50'), p99: vals('ttfd', 'p99'),
                errors: vals('rates', 'errors'), refused: vals('rates', 'refused'),
                models: [...document.querySelectorAll('#table-models tbody tr')].map(
                  (r) => [r.dataset.name, Number(r.dataset.requests)]),
                keys: [...document.querySelectorAll('#table-keys tbody tr')].map(
                  (r) => [r.dataset.name, Number(r.dataset.requests)]),
                ids: [...document.querySelectorAll('#table-identities tbody tr')].map(
                  (r) => r.dataset.name),
                totals: ['requests', 'prompt_tokens', 'completion_tokens', 'errors', 'refused'].map(total),
                stored: Object.keys(sessionStorage), local: Object.keys(localStorage),
                overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
                svgWidth: document.querySelector('svg[data-chart="requests"]').getBoundingClientRect().width,
              };
            })()""")
            d = j["daily"]
            t.eq(v["charts"], ["requests", "tokens", "rates", "ttfd", "models", "keys"],
                 "the six charts are drawn")
            t.eq([x for _, x in v["requests"]], d["requests"], "request bars = the JSON's")
            t.eq(dict(v["requests"]).get(today()), sum(d["requests"]),
                 "today's bar holds the ledger's requests")
            t.eq([x for _, x in v["prompt"]], d["prompt_tokens"], "prompt token bars")
            t.eq([x for _, x in v["completion"]], d["completion_tokens"], "completion token bars")
            t.eq(dict(v["p50"]).get(today()), d["ttfd_p50_ms"][-1], "p50 point")
            t.eq(dict(v["p99"]).get(today()), d["ttfd_p99_ms"][-1], "p99 point")
            t.eq(len(v["p50"]), 1, "days without a ttfd have no point")
            t.check(abs(dict(v["errors"]).get(today(), -1) - 100 * d["errors"][-1] / d["requests"][-1]) < 1e-9,
                    "the error rate point", v["errors"])
            asked = d["requests"][-1] + d["refused"][-1]
            t.check(abs(dict(v["refused"]).get(today(), -1) - 100 * d["refused"][-1] / asked) < 1e-9,
                    "the refusal rate point", v["refused"])
            t.eq(sorted(v["models"]), sorted([e["name"], e["requests"]] for e in j["models"]),
                 "the model table")
            t.eq(sorted(v["keys"]), sorted([e["name"] or "(no key)", e["requests"]] for e in j["keys"]),
                 "the key table")
            t.eq(v["ids"], [e["name"] for e in j["identities"]], "the identities")
            t.eq(v["totals"], [sum(d["requests"]), sum(d["prompt_tokens"]),
                               sum(d["completion_tokens"]), sum(d["errors"]), sum(d["refused"])],
                 "the totals")
            t.eq(v["local"], [], "nothing in localStorage")
            t.check("chatstream.adminKey" in v["stored"], "the key is in sessionStorage")
            t.check(v["overflow"] <= 0, "no horizontal scrolling (%d px too wide)" % v["overflow"])
            t.check(v["svgWidth"] <= width, "the chart fits (%d px)" % v["svgWidth"])
            shot = page.screenshot(os.path.join(
                S["screens"], "admin-%d-%s.png" % (width, "dark" if dark else "light")),
                full_page=True)
            print("# screenshot: " + shot, flush=True)
            t.check(os.path.getsize(shot) > 0, "screenshot saved")
            probs = page.problems(ignore=IGNORE)
            t.check(not probs, "no console error, failed load or CSP violation",
                    "\n".join(probs))
        finally:
            page.close()
    return case


def case_page_refusals(t):
    page = new_page(t, 1280, False)
    try:
        page.navigate(url(S["main"], "/admin/"))
        page.wait_for("document.documentElement.dataset.dash === 'idle'", 15)
        enter_key(page, ALICE)
        page.wait_for("document.documentElement.dataset.dash === 'error'", 20)
        v = page.evaluate("[document.getElementById('status').dataset.kind,"
                          " document.getElementById('status').textContent,"
                          " document.getElementById('report').hidden]")
        t.eq(v[0], "error-403", "403 shown", v)
        t.check("admin" in v[1], "the message names the admin permission", v[1])
        t.check(v[2], "no report shown")
        page.navigate(url(S["off"], "/admin/"))
        page.wait_for("document.documentElement.dataset.dash === 'idle'", 15)
        enter_key(page, ADMIN)
        page.wait_for("document.documentElement.dataset.dash === 'error'", 20)
        v = page.evaluate("[document.getElementById('status').dataset.kind,"
                          " document.getElementById('status').textContent]")
        t.eq(v[0], "error-404", "404 shown", v)
        t.check("admin = off in the config" in v[1], "it says admin = off", v[1])
        # 401/403/404 are logged by Chromium as failed loads: that is the point here
        probs = page.problems(ignore=IGNORE + (r"status of 40[134]",))
        t.check(not probs, "no other problem", "\n".join(probs))
    finally:
        page.close()


FLOOD = 300


def case_flood(t):
    """A flood of 429s: every one counted, in a few store writes (the
    worker adds them up; one job at a time waits in the settle queue), and
    the settles still go through."""
    import concurrent.futures as cf
    lt = S["flood"]
    with cf.ThreadPoolExecutor(16) as ex:
        st = list(ex.map(lambda _: chat(lt, "gen-3", CAROL).status, range(FLOOD)))
    t.eq((st.count(200), st.count(429)), (1, FLOOD - 1), "one admitted, the rest 429")
    deadline, got = h.mono() + 15, None
    while h.mono() < deadline:
        r = admin_get(lt, ADMIN)
        j = r.json() or {} if r.status == 200 else {}
        got = (j.get("refusals") or {}).get("rate_limited", [0])[-1]
        if got == FLOOD - 1:
            break
        h.time.sleep(0.05)
    t.eq(got, FLOOD - 1, "every 429 counted today")
    t.eq(len(ledger_rows(lt, "1 = 1", (), 1)), 1, "the admitted chat's ledger record")


CASES = [
    ("the mix of requests", case_mix),
    ("admin = off: 404 as an unknown endpoint", case_off),
    ("admin = key: 401, 403, 405, then 200 no-store", case_guard),
    ("the numbers equal the ledger's", case_numbers),
    ("no secret and no raw address in the JSON", case_no_secrets),
    ("the page at 1280 px, light", browser_case(1280, False)),
    ("the page at 1280 px, dark", browser_case(1280, True)),
    ("the page at 375 px, light", browser_case(375, False)),
    ("the page at 375 px, dark", browser_case(375, True)),
    ("the page on 403 and 404", case_page_refusals),
    ("a flood of 429s: every one counted, the settles still done", case_flood),
]


def browser_closes(t):
    b = S.pop("browser", None)
    t.require(b is not None, "no browser")
    pid = b.proc.pid
    b.close()
    t.check(not h.group_pids(pid), "the driver's process group is gone")


def close_browser():
    b = S.pop("browser", None)
    if b is not None:
        b.close()


if __name__ == "__main__":
    try:
        rc = h.main("admin", CASES, setup,
                    after=[("chromium closes", browser_closes)])
    finally:
        close_browser()
    sys.exit(rc)
