#!/usr/bin/env python3
"""Runs the JavaScript unit tests (tests/unit-js/*.test.mjs: www/js/sse.js
and the self-check's verdict()) with Node's built-in runner and turns its
output into flat TAP lines for tests/run: one line per test, nested
describe()/file levels joined with " > ".

    node --test --test-reporter=tap tests/unit-js/*.test.mjs

Works with node 18 (Debian 12's nodejs; there each file is a test of its
own wrapping the file's tests) and node 20+ (tests at the top level).
Without node: "1..0 # SKIP node not installed".
"""

import glob
import os
import re
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEST_DIR = os.path.join(REPO, "tests", "unit-js")
TIMEOUT = 180

POINT = re.compile(r"^( *)(not ok|ok)\b(?: \d+)?(?: - (.*?))?"
                   r"(?: # ((?:SKIP|TODO)\b.*))?$", re.I)
SUBTEST = re.compile(r"^( *)# Subtest: (.*)$")


def find_node():
    return shutil.which("node") or shutil.which("nodejs")


def node_major(node):
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True,
                             timeout=20).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None, ""
    m = re.match(r"v(\d+)", out)
    return (int(m.group(1)) if m else None), out


def unescape(name):
    return name.replace("\\#", "#").replace("\\\\", "\\")


def parse(text):
    """Leaf test points of node's TAP output, in order:
    [(ok, name, directive, yaml_lines)].  A test point is a leaf unless the
    test point before it was deeper (its subtests come first)."""
    results = []
    names = {}            # indent -> the "# Subtest:" name announced there
    last_indent = None    # indent of the previous test point
    entry = None          # the last test point (leaf or not)
    yaml, yaml_indent = None, 0
    for line in text.splitlines():
        if yaml is not None:                 # inside a --- ... block
            if line.strip() == "..." and len(line) - len(line.lstrip()) == yaml_indent:
                yaml = None
            else:
                yaml.append(line[yaml_indent:] if not line[:yaml_indent].strip() else line)
            continue
        m = SUBTEST.match(line)
        if m:
            ind = len(m.group(1))
            names = {k: v for k, v in names.items() if k < ind}
            names[ind] = unescape(m.group(2))
            continue
        m = POINT.match(line)
        if m:
            ind = len(m.group(1))
            is_leaf = last_indent is None or last_indent <= ind
            last_indent = ind
            own = unescape(m.group(3) or names.get(ind, ""))
            path = [names[k] for k in sorted(names) if k < ind] + [own]
            path = [os.path.basename(x) if x.startswith("/") else x for x in path]
            entry = (m.group(2).lower() == "ok", " > ".join(x for x in path if x),
                     m.group(4), [])
            if is_leaf:
                results.append(entry)
            names = {k: v for k, v in names.items() if k < ind}
            continue
        if line.strip() == "---" and entry is not None:
            yaml_indent = len(line) - len(line.lstrip())
            yaml = entry[3]
    return results


def main():
    node = find_node()
    if node is None:
        print("1..0 # SKIP node not installed")
        return 0
    major, version = node_major(node)
    if major is None or major < 18:
        print("1..0 # SKIP node %s is too old (need 18 or later)" % (version or "?"))
        return 0
    files = sorted(glob.glob(os.path.join(TEST_DIR, "*.test.mjs")) +
                   glob.glob(os.path.join(TEST_DIR, "*.test.js")))
    if not files:
        print("1..1\nnot ok 1 - no tests in %s" % TEST_DIR)
        return 1
    env = dict(os.environ, NO_COLOR="1", FORCE_COLOR="0")
    env.pop("NODE_OPTIONS", None)
    cmd = [node, "--test", "--test-reporter=tap"] + files
    try:
        p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=TIMEOUT)
        if p.returncode != 0 and "--test-reporter" in p.stderr and "bad option" in p.stderr:
            cmd.remove("--test-reporter=tap")     # an early node 18: TAP is the default
            p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                               timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        print("1..1\nnot ok 1 - node --test did not finish within %d s" % TIMEOUT)
        return 1
    results = parse(p.stdout)
    extra = []
    if not results:
        extra.append((False, "node --test produced test results", None, []))
    elif p.returncode != 0 and all(ok or d for ok, _, d, _ in results):
        extra.append((False, "node --test exited with status %d" % p.returncode, None, []))
    results += extra
    print("# %s: %s" % (version, " ".join(os.path.relpath(f, REPO) for f in files)))
    print("1..%d" % len(results))
    for i, (ok, name, directive, yaml) in enumerate(results, 1):
        line = "%s %d - %s" % ("ok" if ok else "not ok", i, name.replace("#", "\\#"))
        if directive:
            line += " # " + directive
        print(line)
        if not ok and not directive:
            for y in yaml:
                print("# " + y)
    if extra:
        for l in (p.stdout.splitlines()[-30:] + p.stderr.splitlines()[-30:]):
            print("# " + l)
    return 0 if all(ok or d for ok, _, d, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
