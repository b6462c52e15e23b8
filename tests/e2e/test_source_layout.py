#!/usr/bin/env python3
"""test_source_layout.py — the shape docs/hacking.md promises (TAP).

Reads src/ and checks what a reviewer would otherwise check by hand:
  - every quoted #include names a header of src/ (or tests/ for tests),
    and the include graph has no cycle (the cycle is printed if it has);
  - every header opens with a comment that names it, has an include
    guard, and fits on a screen or two (HEADER_MAX lines);
  - every header compiles on its own (it includes what it uses);
  - no .c is included anywhere.
No servers: it reads files only.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "src")
HEADER_MAX = 210
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources():
    out = []
    for d, _, files in os.walk(SRC):
        for f in files:
            if f.endswith((".c", ".h")):
                out.append(os.path.join(d, f))
    return sorted(out)


def resolve(name, from_file, headers):
    """The header a quoted include names: beside the includer, else by
    its path under one of src/'s folders (the Makefile's -I list)."""
    here = os.path.join(os.path.dirname(from_file), name)
    if os.path.exists(here):
        return os.path.normpath(here)
    hits = [h for h in headers if h.endswith("/" + name)]
    return hits[0] if len(hits) == 1 else None


def read(p):
    with open(p, encoding="utf-8") as f:
        return f.read()


def find_cycle(graph):
    """One cycle in graph (a list of nodes), or None."""
    state = {}
    stack = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in graph.get(n, ()):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                c = visit(m)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            c = visit(n)
            if c:
                return c
    return None


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def case(self, ok, name, details=()):
        self.n += 1
        print("%s %d - %s" % ("ok" if ok else "not ok", self.n, name))
        for d in details[:40]:
            print("# " + d)
        if not ok:
            self.failed += 1


def rel(p):
    return os.path.relpath(p, ROOT)


def main():
    files = sources()
    headers = [f for f in files if f.endswith(".h")]
    tap = Tap()
    print("1..5")

    graph, unresolved, dotc = {}, [], []
    for f in files:
        deps = []
        for name in INCLUDE.findall(read(f)):
            if name.endswith(".c"):
                dotc.append("%s includes %s" % (rel(f), name))
            t = resolve(name, f, headers)
            if t is None:
                if not name.startswith("gen/") and "openapi" not in name:
                    unresolved.append("%s: \"%s\"" % (rel(f), name))
            else:
                deps.append(t)
        graph[f] = deps
    tap.case(not unresolved, "every quoted include names one header of src/",
             unresolved)
    cycle = find_cycle(graph)
    tap.case(cycle is None, "the include graph of src/ has no cycle",
             [" -> ".join(rel(p) for p in cycle)] if cycle else [])
    tap.case(not dotc, "no .c file is included", dotc)

    bad = []
    for h in headers:
        text = read(h)
        base = os.path.basename(h)
        lines = text.count("\n")
        if not text.startswith("/*") or base not in text.split("*/", 1)[0]:
            bad.append("%s: no opening comment naming %s" % (rel(h), base))
        if not re.search(r"#ifndef\s+\w+\s*\n\s*#define\s+\w+", text):
            bad.append("%s: no include guard" % rel(h))
        if lines > HEADER_MAX:
            bad.append("%s: %d lines (at most %d)" % (rel(h), lines,
                                                      HEADER_MAX))
    tap.case(not bad, "every header names itself, is guarded and is at "
             "most %d lines" % HEADER_MAX, bad)

    alone = []
    dirs = sorted({os.path.dirname(h) for h in headers})
    cflags = ["-std=gnu11", "-D_GNU_SOURCE", "-fsyntax-only", "-Wall",
              "-Werror", "-I/usr/include/json-c"]
    cflags += ["-I" + d for d in dirs]
    for h in headers:
        p = subprocess.run([os.environ.get("CC", "cc")] + cflags +
                           ["-x", "c", "-"],
                           input='#include "%s"\n' % h, text=True,
                           capture_output=True)
        if p.returncode != 0:
            alone.append("%s: %s" % (rel(h), p.stderr.strip()
                                     .splitlines()[0]))
    tap.case(not alone, "every header compiles on its own", alone)
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
