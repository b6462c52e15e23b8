#!/usr/bin/env python3
"""test_bench_smoke.py — `bench/run --quick` end to end (TAP), no timing
assertions: the load tools build (`make bench-tools`), the quick bench
(1 and 50 streams; direct, nginx proxy_pass, chatstream behind lighttpd,
the Node.js peer; strace, no valgrind) runs into a temp dir and exits 0,
and its results.md has every table row filled in.  Skips when the bench
tools cannot be built, when chatstream is not built, and in the SANITIZE=1
run of `make test` (a benchmark of a sanitized build measures nothing)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

ROOT = h.REPO
TOOLS = os.path.join(ROOT, "build", "bench")
RUN = {}


def skip(why):
    print("1..0 # SKIP " + why)
    sys.exit(0)


def table_rows(md):
    """(section title, cells) for every data row of every table."""
    section, out = None, []
    for line in md.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        elif line.startswith("|") and not re.match(r"^\|[-| ]+\|$", line):
            out.append((section, [c.strip() for c in line.strip("|").split("|")]))
    return out


def case_runs(t):
    t.require(RUN["rc"] == 0, "bench/run --quick exited %s" % RUN["rc"],
              RUN["output"][-4000:])
    t.require(os.path.isfile(os.path.join(RUN["out"], "results.md")), "no results.md")


def case_rows_filled(t):
    with open(os.path.join(RUN["out"], "results.md"), encoding="utf-8") as f:
        md = f.read()
    rows = table_rows(md)
    t.require(rows, "results.md has no tables", md[:2000])
    for section, cells in rows:
        if cells[0].startswith("↳"):         # a failure-reason line
            continue
        if cells[0] in ("", "path", "scenario", "measure", "target", "Ir incl.", "Ir self"):
            continue                          # header rows
        for c in cells:
            t.check(c != "", "%s: empty cell in %r" % (section, cells))
    for scn in ("1 stream × bench-50x50", "50 streams × bench-100x50"):
        sec = [c for s, c in rows if s and s.startswith(scn)]
        names = [c[0] for c in sec if c[0] != "path"]
        for label in ("direct to upstream", "nginx proxy_pass", "chatstream + lighttpd",
                      "Node.js proxy (fetch)"):
            t.check(label in names, "%s: no row for %s" % (scn, label), names)
    res = [c for s, c in rows if s and s.startswith("Resources")]
    t.check(any("chatstream + lighttpd" in c for c in res),
            "no resource row for chatstream + lighttpd", res)
    targets = [c for s, c in rows if s and s.startswith("Targets") and c[0] != "target"]
    t.check(targets, "no targets table")
    for c in targets:
        t.check(c[-1] in ("**met**", "**missed**"), "target without met/missed: %r" % c)
    t.check("syscalls per delta" in md, "no syscalls-per-delta row")


def case_svg(t):
    if not shutil.which("gnuplot"):
        t.skip("gnuplot not installed (make deps-bench)")
    p = os.path.join(RUN["out"], "latency.svg")
    t.require(os.path.isfile(p), "no latency.svg")
    with open(p, encoding="utf-8", errors="replace") as f:
        t.check("<svg" in f.read(4000), "latency.svg is not an SVG")


def main():
    if "/asan/" in os.environ.get("CHATSTREAM_BIN", ""):
        skip("the SANITIZE=1 run; the plain make test runs the bench smoke")
    if h.chatstream_bin() is None:
        skip("chatstream not built (CHATSTREAM_BIN=%s)" % os.environ.get("CHATSTREAM_BIN", ""))
    sys.stdout.flush()
    r = subprocess.run(["make", "-s", "--no-print-directory", "bench-tools"], cwd=ROOT,
                       stdout=sys.stderr, stderr=sys.stderr, check=False)
    if r.returncode != 0 or not all(os.access(os.path.join(TOOLS, x), os.X_OK)
                                    for x in ("upstream", "loadgen")):
        skip("the bench tools could not be built (make bench-tools)")
    out = tempfile.mkdtemp(prefix="chatstream-bench-smoke-")
    p = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "run"), "--quick",
                        "--out", out, "--tools", TOOLS, "--chatstream", h.chatstream_bin()],
                       cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    RUN.update(rc=p.returncode, out=out, output=p.stdout + p.stderr)
    tap = h.Tap()
    cases = [("bench/run --quick completes and writes results.md", case_runs),
             ("results.md: every row filled, every path and target present", case_rows_filled),
             ("latency.svg written", case_svg)]
    tap.plan(len(cases))
    h.run_cases(tap, cases)
    if tap.failed:
        print("# bench output kept in %s" % out)
        for line in RUN["output"].splitlines()[-30:]:
            print("# " + line)
    else:
        shutil.rmtree(out, ignore_errors=True)
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
