#!/usr/bin/env python3
"""GET /api/openapi.json through lighttpd: the document chatstream serves
is docs/openapi.json byte for byte (embedded at build time), it is a valid
OpenAPI 3.1 document for a real validator from npm
(@seriousme/openapi-schema-validator, tests/browser/validate_openapi.mjs),
every path it documents is answered by the live server (not 404), and the
documented paths and methods are exactly the route table's
(`chatstream --list-routes`, src/ingress/routes.c)."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

DOC = os.path.join(h.REPO, "docs", "openapi.json")
VALIDATE = os.path.join(h.REPO, "tests", "browser", "validate_openapi.mjs")
# A value for each path parameter: a configured model.
PATH_PARAMS = {"{model}": "openai-chat-text-usage"}
S = {}


def setup(stack):
    stack.start_replay()
    S["lt"] = stack.server(["openai-chat-text-usage"], name="openapi",
                           admin="key", metrics="key")  # 401, not 404


def served(t):
    r = S["lt"].get("/api/openapi.json")
    t.eq(r.status, 200, "status")
    t.eq(r.header("content-type"), "application/json", "content type")
    with open(DOC, "rb") as f:
        t.eq(r.body, f.read(), "the body is docs/openapi.json")


def valid(t):
    url = "http://127.0.0.1:%d/api/openapi.json" % S["lt"].port
    p = subprocess.run(["node", VALIDATE, url], capture_output=True, text=True,
                       timeout=60, cwd=os.path.dirname(VALIDATE))
    try:
        res = json.loads(p.stdout)
    except ValueError:
        res = {}
    t.eq(p.returncode, 0, "the validator's exit status", p.stdout + p.stderr)
    t.eq(res.get("valid"), True, "valid", res.get("errors"))
    t.eq(res.get("version"), "3.1", "OpenAPI version")


def routed():
    """(method, path) for every endpoint of the route table, as mounted
    under /api: `chatstream --list-routes`."""
    p = subprocess.run([h.chatstream_bin(), "--list-routes"],
                       capture_output=True, text=True, timeout=30)
    rows = [tuple(line.split(" ", 1)) for line in p.stdout.splitlines()]
    return p.returncode, sorted((m.lower(), path) for m, path in rows)


def documented_paths_answer(t):
    with open(DOC) as f:
        doc = json.load(f)
    for path, ops in doc["paths"].items():
        templ = path
        for k, v in PATH_PARAMS.items():
            path = path.replace(k, v)
        for method in ops:
            if method == "post":
                r = S["lt"].post("/api" + path, "{}")
            else:
                r = h.request(S["lt"].port, method.upper(), "/api" + path)
            t.check(r.status not in (None, 404), "%s %s is answered (%s)"
                    % (method.upper(), templ, r.status))
    rc, table = routed()
    t.eq(rc, 0, "chatstream --list-routes")
    t.check(len(table) > 0, "the route table lists endpoints")
    t.eq(sorted(doc["paths"]), sorted({p for _, p in table}),
         "documented paths = routed endpoints")
    t.eq(sorted((m, p) for p, ops in doc["paths"].items() for m in ops
                if m in ("get", "put", "post", "delete", "options", "head",
                         "patch", "trace")),
         table, "documented methods = the route table's")


def errors_as_documented(t):
    with open(DOC) as f:
        schema = json.load(f)["components"]["schemas"]["Error"]
    r = S["lt"].post("/api/chat", "{}")
    j = r.json() or {}
    t.eq(r.status, 400, "status")
    t.eq(sorted(j), schema["required"], "top-level keys")
    t.eq(sorted(j.get("error", {})), sorted(schema["properties"]["error"]["required"]),
         "error keys")


CASES = [
    ("GET /api/openapi.json serves docs/openapi.json", served),
    ("it is a valid OpenAPI 3.1 document (npm validator)", valid),
    ("every documented path is answered; every endpoint is documented",
     documented_paths_answer),
    ("an error body has the documented shape", errors_as_documented),
]

if __name__ == "__main__":
    sys.exit(h.main("openapi", CASES, setup))
