#!/usr/bin/env python3
"""`chatstream usage` (issue 14, the usage ledger) on ledgers real servers
wrote: chats on two models through lighttpd + chatstream with a limit
(so admission and the ledger are on), then the command run on that
server's config reports per model the requests and the tokens the replay
provider reported (the same sums as the SQLite rows), per day and per
key; per identity the address is a keyed hash (iph:...), and with
ledger_raw_ip = yes the address itself; ledger_days drops older records
at the first settle; $CHATSTREAM_CONFIG is read like
the server reads it; an empty ledger prints a zero total; bad options
and a missing store exit 2 with one line."""

import datetime
import json
import os
import re
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402
from test_limits import ledger_rows  # noqa: E402

S = {}
HEAD = ["requests", "prompt", "tokens", "completion", "tokens", "total", "tokens"]


def setup(stack):
    stack.start_replay()
    S["two"] = stack.server(["gen-3", "gen-5"], name="two", concurrent_streams=5)
    S["raw"] = stack.server(["gen-3"], name="raw", concurrent_streams=5,
                            ledger_raw_ip="yes")
    S["empty"] = stack.server(["gen-3"], name="empty", concurrent_streams=5)
    S["purge"] = stack.server(["gen-3"], name="purge", concurrent_streams=5,
                              ledger_days=2)


def conf(lt):
    return os.path.join(lt.dir, "chatstream.conf")


def chat(lt, model):
    body = {"messages": [{"role": "user", "content": "tag:%s hi" % h.new_tag()}],
            "model": model}
    return h.request(lt.port, "POST", "/api/chat", body=json.dumps(body).encode(),
                     headers={"Content-Type": "application/json",
                              "Accept": "text/event-stream"}, timeout=30)


def ledger(lt, want):
    """(model, identity, prompt, completion) of every ledger row of lt,
    once there are want (test_limits polls the SQLite file)."""
    rows = ledger_rows(lt, "1 = 1", (), want)
    return [(m, ident, pt, ct) for ident, _, m, _, _, pt, ct in rows]


def usage(*args, env=None):
    e = dict(os.environ)
    e.pop("CHATSTREAM_CONFIG", None)
    e.update(env or {})
    return subprocess.run([h.chatstream_bin(), "usage"] + list(args),
                          capture_output=True, text=True, timeout=20, env=e)


def table(out):
    """The rows of usage's table: {group: (requests, prompt, completion,
    total)}, the total line under "total", and the header's words."""
    lines = out.splitlines()
    rows, head = {}, None
    for i, line in enumerate(lines):
        f = line.split()
        if head is None:
            if len(f) == 8 and f[1:] == HEAD:
                head = f
            continue
        if re.fullmatch(r"-+", line):
            continue
        if len(f) == 5 and all(x.isdigit() for x in f[1:]):
            rows[f[0]] = tuple(int(x) for x in f[1:])
    return head, rows


def case_by_model(t):
    lt = S["two"]
    for model in ["gen-3", "gen-3", "gen-3", "gen-5", "gen-5"]:
        r = chat(lt, model)
        t.eq(r.status, 200, "a chat on " + model, r.summary())
        t.eq(r.text, h.gen_text(int(model[4:])), "its text")
    rows = ledger(lt, 5)
    t.eq(len(rows), 5, "the ledger has the five chats")
    want = {}
    for model, _, pt, ct in rows:
        req, p, c = want.get(model, (0, 0, 0))
        want[model] = (req + 1, p + pt, c + ct)
    t.eq({m: v[2] for m, v in want.items()}, {"gen-3": 9, "gen-5": 10},
         "the completion tokens the replay provider reported (gen-N: N)")
    t.check(all(pt > 0 for _, _, pt, _ in rows),
            "and prompt tokens from its usage", rows)
    p = usage("--config", conf(lt), "--by", "model")
    t.eq(p.returncode, 0, "usage --by model", p.stderr)
    t.eq(p.stderr, "", "nothing on stderr")
    t.check(p.stdout.startswith("usage since ") and "(the last 7d), by model" in p.stdout,
            "a caption: since when, by what", p.stdout)
    head, got = table(p.stdout)
    t.eq(head and head[0], "model", "the group column is named after --by", p.stdout)
    for m, (req, pt, ct) in want.items():
        t.eq(got.get(m), (req, pt, ct, pt + ct), "the row of " + m, p.stdout)
    tot = tuple(sum(v[i] for v in want.values()) for i in range(3))
    t.eq(got.get("total"), tot + (tot[1] + tot[2],), "the total line", p.stdout)
    order = [ln.split()[0] for ln in p.stdout.splitlines()
             if ln.split() and ln.split()[0] in want]
    t.eq(order, sorted(want, key=lambda m: -(want[m][1] + want[m][2])),
         "models by total tokens, most first", p.stdout)
    # Aligned: every line of the table is as wide as the header.
    body = p.stdout.split("\n\n", 1)[-1].splitlines()
    t.eq(len(set(len(ln) for ln in body)), 1, "the columns line up", p.stdout)

    # By day (UTC), through $CHATSTREAM_CONFIG as the server reads it.
    p = usage("--by", "day", env={"CHATSTREAM_CONFIG": conf(lt)})
    t.eq(p.returncode, 0, "usage --by day from $CHATSTREAM_CONFIG", p.stderr)
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    _, got = table(p.stdout)
    t.eq(got.get(day, (0,))[0], 5, "today's row has the five", p.stdout)
    # By key: none was used.
    p = usage("--config", conf(lt), "--by", "key", "--since", "1h")
    _, got = table(p.stdout)
    t.eq(got.get("(none)", (0,))[0], 5, "by key: no key is (none)", p.stdout)
    # By identity: the address as a keyed hash.
    p = usage("--config", conf(lt), "--by", "identity", "--since", "30m")
    t.eq(p.returncode, 0, "usage --by identity", p.stderr)
    _, got = table(p.stdout)
    ids = [g for g in got if g != "total"]
    t.eq(len(ids), 1, "one client", p.stdout)
    t.check(ids and re.fullmatch(r"iph:[0-9a-f]{32}", ids[0]),
            "shown as its keyed hash", p.stdout)
    t.check("127.0.0.1" not in p.stdout, "never as the address", p.stdout)


def case_raw_ip(t):
    lt = S["raw"]
    r = chat(lt, "gen-3")
    t.eq(r.status, 200, "a chat", r.summary())
    rows = ledger(lt, 1)
    t.eq([x[1] for x in rows], ["ip:127.0.0.1"],
         "ledger_raw_ip = yes: the ledger keeps the address")
    p = usage("--config", conf(lt), "--by", "identity")
    t.eq(p.returncode, 0, "usage --by identity", p.stderr)
    _, got = table(p.stdout)
    t.eq(got.get("ip:127.0.0.1"), (1, rows[0][2], 3, rows[0][2] + 3) if rows else None,
         "and usage shows it", p.stdout)


def case_empty_and_errors(t):
    lt = S["empty"]
    # The server made its store at start (--check-config's empty write).
    p = usage("--config", conf(lt))
    t.eq(p.returncode, 0, "an empty ledger", p.stderr)
    head, got = table(p.stdout)
    t.eq(head and head[0], "day", "--by defaults to day", p.stdout)
    t.eq(got, {"total": (0, 0, 0, 0)}, "the header and a zero total", p.stdout)

    for args, msg in [(["--by", "week"], '--by: "week" is not day, model'),
                      (["--since", "0d"], '--since: "0d" is not a duration'),
                      (["--since", "3651d"], '--since: "3651d"'),
                      (["--since", "7"], '--since: "7"'),
                      (["--bogus"], 'unknown option "--bogus"'),
                      (["--by"], "--by needs a value")]:
        p = usage("--config", conf(lt), *args)
        t.eq(p.returncode, 2, "%s: exit 2" % " ".join(args), p.stdout + p.stderr)
        t.check(p.stderr.startswith("chatstream usage: " + msg),
                "%s: says why" % " ".join(args), p.stderr)
        t.eq(p.stdout, "", "%s: no table" % " ".join(args))
    p = usage()
    t.eq(p.returncode, 2, "no config: exit 2")
    t.check("no config file" in p.stderr, "and says so", p.stderr)
    # A store that is not there: the config of a directory no server ran in.
    path = os.path.join(S["stack"].tmp, "nostore.conf")
    with open(path, "w") as f:
        f.write("concurrent_streams = 1\n")
    p = usage("--config", path)
    t.eq(p.returncode, 2, "no store: exit 2", p.stdout)
    t.check(re.match(r"chatstream usage: state sqlite:.*nostore|"
                     r"chatstream usage: state sqlite:.*chatstream-state\.db: "
                     r"No such file", p.stderr), "names the store", p.stderr)
    t.eq(len(p.stderr.splitlines()), 1, "in one line", p.stderr)
    p = subprocess.run([h.chatstream_bin(), "--help"], capture_output=True,
                       text=True, timeout=10)
    t.check("chatstream usage [--config FILE]" in p.stdout,
            "--help mentions usage", p.stdout)


def case_purge(t):
    lt = S["purge"]
    # usage opens the store (making its tables); then two records older
    # than ledger_days = 2 and one that is not, as another process of the
    # site would have written them.
    p = usage("--config", conf(lt))
    t.eq(p.returncode, 0, "usage on a fresh store", p.stderr)
    now = int(h.time.time() * 1000)
    db = os.path.join(lt.dir, "chatstream-state.db")
    with sqlite3.connect(db, timeout=2) as c:
        for age_days, rid in [(3, "old-1"), (30, "old-2"), (1, "recent")]:
            c.execute("INSERT INTO ledger VALUES(?, ?, 'iph:0', '', 'gen-3', "
                      "'default', 'done', 1, 1, 1, 1, 1, 1, 1)",
                      (now - age_days * 86400000, rid))
    p = usage("--config", conf(lt), "--since", "3650d")
    _, got = table(p.stdout)
    t.eq(got.get("total", (0,))[0], 3, "three records to start with", p.stdout)
    # The first settle of the process purges (then at most once an hour).
    r = chat(lt, "gen-3")
    t.eq(r.status, 200, "a chat", r.summary())
    deadline, ids = h.mono() + 10, None
    while h.mono() < deadline:
        with sqlite3.connect(db, timeout=2) as c:
            ids = sorted(x[0] for x in c.execute("SELECT request_id FROM ledger"))
        if "old-1" not in ids and len(ids) >= 2:
            break
        h.time.sleep(0.05)
    t.eq(len(ids or []), 2, "the chat's record and the recent one are left", ids)
    t.check(ids is not None and "recent" in ids and not {"old-1", "old-2"} & set(ids),
            "the records older than ledger_days are gone", ids)


def setup_all(stack):
    S["stack"] = stack
    setup(stack)


CASES = [
    ("usage --by model/day/key/identity: the requests and the provider's "
     "tokens of chats on two models; addresses hashed", case_by_model),
    ("ledger_raw_ip = yes: the address in the ledger and in usage", case_raw_ip),
    ("an empty ledger: a zero total; bad options and no store: exit 2",
     case_empty_and_errors),
    ("ledger_days = 2: the settle thread drops older records", case_purge),
]

if __name__ == "__main__":
    sys.exit(h.main("usage", CASES, setup_all, parallel=2))
