#!/usr/bin/env python3
"""GET /api/metrics (issue 17, item 1) through lighttpd with max-procs 3:
after a known mix of requests (streams on two models, a cancel, a 429 from
a model's rate limit, an upstream 500 retried twice, a fallback to a second
upstream), a real Prometheus from Debian scrapes the endpoint (it asks for
OpenMetrics, so that parser reads our output) and PromQL through its HTTP
API returns the counts summed over the three processes, equal to the
access lines' numbers; promtool check metrics passes on the text format;
open_streams sees a stream in flight; metrics = off is 404, loopback
refuses a proxied request, key refuses no key (401), a key without the
metrics permission (403) and lets the scraper's key in; a metrics-only
key may not chat; no address, identity or secret is in the output."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

S = {}
SLOW = "gen-20+delay:150"          # 3 s, for the cancel and the gauge
MED = "gen-3+delay:100"            # 0.3 s: N_OK at once spread over the pool
FAIL = "gen-3+status:500"          # 500 on every attempt: 2 retries
SCRAPER = "metrics-" + "s3cret-scraper-0123456789"
CHATTER = "chat-" + "s3cret-chatter-0123456789"
N_OK = 6


def sha(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def setup(stack):
    S["stack"] = stack
    replay = stack.start_replay()
    # The mix: three processes, one metrics file beside the config.  A
    # [model] with requests_per_minute = 1 gives the 429; [model fb]
    # falls back from a dead upstream to the replay provider.
    pool = stack.settings([MED, "gen-5", SLOW, FAIL], metrics="loopback",
                          threads=16) + [
        ("[upstream dead]", None), ("provider", "openai-chat"),
        ("base_url", "http://127.0.0.1:%d/v1" % h.free_port()),
        ("api_key_file", stack.key_path),
        ("[model limited]", None), ("upstream_model", "gen-3"),
        ("requests_per_minute", 1),
        ("[model fb]", None), ("upstream", "dead, default"),
        ("upstream_model", "gen-3"),
    ]
    S["pool"] = stack.server(None, name="pool", settings=pool,
                             lighttpd_args={"max_procs": 3})
    keyed = stack.settings(["gen-3"], metrics="key") + [
        ("[key scraper]", None), ("secret_sha256", sha(SCRAPER)),
        ("permissions", "metrics"),
        ("[key chatter]", None), ("secret_sha256", sha(CHATTER)),
    ]
    S["keyed"] = stack.server(None, name="keyed", settings=keyed)
    S["off"] = stack.server(["gen-3"], name="off")
    S["replay"] = replay


def scrape(lt, headers=None):
    return h.request(lt.port, "GET", "/api/metrics", headers=headers or {},
                     timeout=15)


def samples(text):
    """{(name, frozenset(labels)): value} of a text exposition."""
    out = {}
    rx = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = rx.match(line)
        if not m:
            raise ValueError("not a sample line: %r" % line)
        labels = frozenset(re.findall(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"',
                                      m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def total(smp, name, **want):
    return sum(v for (n, l), v in smp.items() if n == name
               and all((k, str(x)) in l for k, x in want.items()))


def access(lt, n, timeout=20.0):
    """The access lines of lt once there are n of chat requests."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [l for l in lt.access_lines() if "path=/api/chat" in l]
        if len(lines) >= n or time.monotonic() > deadline:
            return [dict(kv.split("=", 1) for kv in l.split("chatstream: ", 1)[1].split()
                         if "=" in kv) for l in lines]
        time.sleep(0.05)


def chat_json(lt, model, tag=None):
    return lt.chat("hi", tag=tag or h.new_tag(), model=model)


def writes(lt):
    """{pid: write system calls} of the pool's chatstream processes."""
    out = {}
    for pid in h.group_pids(lt.proc.pid):
        try:
            if os.path.realpath("/proc/%d/exe" % pid) != os.path.realpath(lt.bin_path):
                continue
            with open("/proc/%d/io" % pid) as f:
                out[pid] = int(re.search(r"^syscw: (\d+)", f.read(), re.M).group(1))
        except (OSError, AttributeError):
            continue
    return out


def case_mix(t):
    lt = S["pool"]
    res = []
    before = writes(lt)
    t.eq(len(before), 3, "three chatstream processes", detail=before)
    threads = [threading.Thread(target=lambda: res.append(chat_json(lt, MED)))
               for _ in range(N_OK)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    t.eq(sorted(r.status for r in res), [200] * N_OK, "the streams answered 200")
    after = writes(lt)
    busy = [p for p in before if after.get(p, 0) - before[p] >= 5]
    t.check(len(busy) >= 2, "lighttpd spread the overlapping streams over the pool",
            detail=(before, after))
    r5 = chat_json(lt, "gen-5")
    t.eq(r5.status, 200, "gen-5 answered")
    # A cancel: the client leaves after the first delta of a slow stream.
    rc = lt.chat("hi", tag=h.new_tag(), model=SLOW,
                 stop=lambda resp, ev: ev.kind == "event" and resp.deltas)
    t.check(rc.closed_by_us, "the cancelled stream was closed by the client")
    first = chat_json(lt, "limited")
    second = chat_json(lt, "limited")
    t.eq((first.status, second.status), (200, 429), "the model's rate limit refused the second")
    rf = chat_json(lt, FAIL)
    t.check(rf.error_event is not None, "the upstream's 500s end in an error event",
            detail=rf.summary)
    rb = chat_json(lt, "fb")
    t.eq(rb.status, 200, "the fallback model answered from its second upstream")
    lines = access(lt, N_OK + 6)
    S["lines"] = lines
    t.eq(len(lines), N_OK + 6, "one access line per chat")
    cancel = [l for l in lines if l.get("outcome") == "client_gone"]
    t.eq(len(cancel), 1, "the cancel is logged client_gone", detail=lines)
    # Summed over the pool whichever process answers the scrape.
    seen = set()
    for i in range(6):
        r = scrape(lt)
        t.require(r.status == 200, "a scrape answers 200", detail=r.summary)
        smp = samples(r.text_body)
        seen.add(total(smp, "chatstream_requests_total", endpoint="/chat"))
        t.eq(total(smp, "chatstream_processes"), 3, "every process of the pool maps the file")
    S["text"] = r.text_body
    t.eq(seen, {float(N_OK + 6)}, "every scrape counts the chats of all processes")


def promql(port, q):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": q}))
    with urllib.request.urlopen(url, timeout=10) as f:
        d = json.load(f)
    if d.get("status") != "success":
        raise RuntimeError("query %s: %s" % (q, d))
    return {tuple(sorted(r["metric"].items())): float(r["value"][1])
            for r in d["data"]["result"]}


def one(port, q):
    v = promql(port, q)
    return next(iter(v.values())) if len(v) == 1 else None


def wait_prom(t, port, q, want, timeout=30.0):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        try:
            got = one(port, q)
        except OSError:
            got = None
        if got == want:
            break
        time.sleep(0.2)
    t.eq(got, want, "PromQL %s" % q)
    return got


def case_prometheus(t):
    prom = shutil.which("prometheus")
    if prom is None:
        t.skip("prometheus is not installed (make deps installs it)")
    lt = S["pool"]
    lines = S["lines"]
    d = os.path.join(S["stack"].tmp, "prometheus")
    os.makedirs(d, exist_ok=True)
    port = h.free_port()
    with open(os.path.join(d, "prometheus.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: chatstream\n"
                "    metrics_path: /api/metrics\n"
                "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % lt.port)
    log = open(os.path.join(d, "prometheus.log"), "wb")
    proc = subprocess.Popen(
        [prom, "--config.file=" + os.path.join(d, "prometheus.yml"),
         "--storage.tsdb.path=" + os.path.join(d, "data"),
         "--web.listen-address=127.0.0.1:%d" % port],
        stdout=log, stderr=log, start_new_session=True)
    try:
        wait_prom(t, port, 'up{job="chatstream"}', 1.0)
        t.eq(one(port, 'scrape_samples_scraped{job="chatstream"} > 0') is not None, True,
             "Prometheus read samples (it asked for OpenMetrics)")
        done = sum(1 for l in lines if l["outcome"] == "done")
        wait_prom(t, port, 'sum(chatstream_requests_total{endpoint="/chat",status="200",'
                  'outcome="done"})', float(done))
        wait_prom(t, port, 'sum(chatstream_requests_total{endpoint="/chat",status="429",'
                  'outcome="limited"})', 1.0)
        wait_prom(t, port, 'sum(chatstream_requests_total{endpoint="/chat",'
                  'outcome="upstream_error"})', 1.0)
        wait_prom(t, port, 'sum(chatstream_refused_requests_total{reason="rate_limited"})', 1.0)
        wait_prom(t, port, 'sum(chatstream_client_departures_total{endpoint="/chat"})', 1.0)
        wait_prom(t, port, 'sum(chatstream_upstream_retries_total{upstream="default"})', 2.0)
        wait_prom(t, port, 'sum(chatstream_upstream_errors_total{upstream="default",'
                  'type="server"})', 3.0)
        wait_prom(t, port, 'sum(chatstream_upstream_fallbacks_total{upstream="dead"})', 1.0)
        wait_prom(t, port, 'sum(chatstream_upstream_errors_total{upstream="dead",'
                  'type="connect"})', 1.0)
        for model in (MED, "gen-5"):
            mine = [l for l in lines if l["model"] == model and int(l["prompt_tokens"]) > 0]
            wait_prom(t, port, 'sum(chatstream_prompt_tokens_total{model="%s"})' % model,
                      float(sum(int(l["prompt_tokens"]) for l in mine)))
            wait_prom(t, port, 'sum(chatstream_completion_tokens_total{model="%s"})' % model,
                      float(sum(int(l["completion_tokens"]) for l in mine)))
        ttfd = [l for l in lines if int(l["ttfd_ms"]) >= 0]
        wait_prom(t, port, 'sum(chatstream_time_to_first_delta_seconds_count)', float(len(ttfd)))
        wait_prom(t, port, 'sum(chatstream_time_to_first_delta_seconds_bucket{le="+Inf"})',
                  float(len(ttfd)))
        wait_prom(t, port, 'sum(chatstream_request_duration_seconds_count{endpoint="/chat"})',
                  float(len(lines)))
        p50 = one(port, 'histogram_quantile(0.5, sum by (le) '
                        '(chatstream_time_to_first_delta_seconds_bucket))')
        t.check(p50 is not None and 0 < p50 < 5, "a ttfd median from the buckets", detail=p50)
        deltas = sum(int(l["deltas"]) for l in lines)
        gaps = one(port, 'sum(chatstream_delta_gap_seconds_count)')
        # Every delta but each answer's first is a gap.
        t.eq(gaps, float(deltas - len(ttfd)), "one gap per delta after the first")
        wait_prom(t, port, 'chatstream_processes', 3.0)
        wait_prom(t, port, 'chatstream_state_store_up{backend="sqlite"}', 1.0)
    finally:
        h.kill_group(proc, timeout=5.0)
        log.close()


def case_promtool(t):
    tool = shutil.which("promtool")
    if tool is None:
        t.skip("promtool is not installed")
    p = subprocess.run([tool, "check", "metrics"], input=S["text"].encode(),
                       capture_output=True, timeout=30)
    t.eq(p.returncode, 0, "promtool check metrics exits 0",
         detail=(p.stdout + p.stderr).decode()[:2000])
    t.eq((p.stdout + p.stderr).decode().strip(), "", "promtool has nothing to say")
    for must in ("# TYPE chatstream_requests_total counter",
                 "# TYPE chatstream_time_to_first_delta_seconds histogram",
                 "# TYPE chatstream_open_streams gauge",
                 "# TYPE chatstream_pending_output_bytes gauge"):
        t.check(must in S["text"], "the exposition has %r" % must)


def case_openmetrics(t):
    r = scrape(S["pool"], {"Accept": "application/openmetrics-text; version=1.0.0"})
    t.eq(r.status, 200, "200")
    t.check(r.header("content-type", "").startswith("application/openmetrics-text"),
            "OpenMetrics when asked", detail=r.header("content-type"))
    body = r.text_body
    t.check(body.endswith("# EOF\n"), "ends with # EOF")
    t.check("# TYPE chatstream_requests counter" in body and
            "chatstream_requests_total{" in body, "a counter's family has no _total, its sample has")
    r = scrape(S["pool"])
    t.check(r.header("content-type", "").startswith("text/plain; version=0.0.4"),
            "the text format by default", detail=r.header("content-type"))
    t.eq(r.header("cache-control"), "no-cache", "never served from a cache unchecked")


def case_gauge(t):
    lt = S["pool"]
    got = {}
    started = threading.Event()

    def stop(resp, ev):
        if ev.kind == "event" and resp.deltas and not started.is_set():
            started.set()
        return False
    th = threading.Thread(target=lambda: got.update(r=lt.chat(
        "hi", tag=h.new_tag(), model=SLOW, stop=stop)))
    th.start()
    t.require(started.wait(15), "the slow stream started")
    during = total(samples(scrape(lt).text_body), "chatstream_open_streams")
    th.join()
    t.check(during >= 2, "open_streams counts the stream in flight and the scrape",
            detail=during)
    # The stream's end is counted after its access line.
    deadline = time.monotonic() + 10
    after = None
    while time.monotonic() < deadline:
        after = total(samples(scrape(lt).text_body), "chatstream_open_streams")
        if after == 1:
            break
        time.sleep(0.05)
    t.eq(after, 1.0, "after it only the scrape is open")


def case_access(t):
    off = scrape(S["off"])
    t.eq(off.status, 404, "metrics = off: 404")
    r = scrape(S["pool"], {"X-Forwarded-For": "203.0.113.9"})
    t.eq(r.status, 403, "loopback refuses a request through a proxy")
    k = S["keyed"]
    r = scrape(k)
    t.eq(r.status, 401, "key: no key is 401")
    r = scrape(k, {"Authorization": "Bearer wrong-key-0123"})
    t.eq(r.status, 401, "key: a wrong key is 401")
    r = scrape(k, {"Authorization": "Bearer " + CHATTER})
    t.eq(r.status, 403, "key: a key without the metrics permission is 403")
    r = scrape(k, {"Authorization": "Bearer " + SCRAPER})
    t.eq(r.status, 200, "key: the scraper's key reads the metrics")
    r = h.request(k.port, "POST", "/api/chat",
                  body=json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode(),
                  headers={"Content-Type": "application/json",
                           "Authorization": "Bearer " + SCRAPER})
    t.eq(r.status, 403, "a metrics-only key may not chat")
    r = h.request(k.port, "POST", "/api/chat",
                  body=json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode(),
                  headers={"Content-Type": "application/json", "Accept": "text/event-stream",
                           "Authorization": "Bearer " + CHATTER})
    t.eq(r.status, 200, "the chat key chats")


def case_no_identities(t):
    text = S["text"]
    for bad in ("127.0.0.1", "iph:", "ip:", S["stack"].key, SCRAPER, CHATTER, "tag:"):
        t.check(bad not in text, "the metrics do not hold %r" % bad[:12])
    labels = set(re.findall(r'(\w+)="', text))
    t.eq(labels - {"endpoint", "status", "outcome", "model", "upstream", "reason",
                   "type", "le", "backend", "version", "shared"}, set(),
         "only the documented labels")


CASES = [
    ("a mix of chats on three processes: every scrape sums them", case_mix),
    ("a real Prometheus scrapes it: PromQL gives the access lines' counts",
     case_prometheus),
    ("promtool check metrics passes", case_promtool),
    ("OpenMetrics when Accept asks, else the text format; no-store", case_openmetrics),
    ("open_streams counts a stream in flight", case_gauge),
    ("metrics = off / loopback / key, and key permissions", case_access),
    ("no address, identity or secret in the metrics", case_no_identities),
]

if __name__ == "__main__":
    sys.exit(h.main("metrics", CASES, setup, parallel=1))
