#!/usr/bin/env python3
"""CORS for /api/v1 (issue 15, item 4), through lighttpd: cors_origins
lists the origins whose pages may call the API.  A listed origin's
preflight gets 204 with the route's methods, the SDK headers it asked
for and Max-Age; its answers carry Access-Control-Allow-Origin with that
origin (never "*"), Expose-Headers and Vary: Origin.  Another origin's
preflight, or one asking for a header no SDK sends, gets 403 saying what
to set; with no cors_origins (the default) every preflight does.  A
plain OPTIONS gets 204 with Allow; /api/chat stays same-origin.  Then a
real Chromium page on another origin calls the API: allowed from a
listed origin, blocked from an unlisted one."""

import http.server
import json
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402
import pw as cdp  # noqa: E402

V1 = "/api/v1/chat/completions"
APP = "https://app.example"
S = {}


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def setup(stack):
    stack.start_replay()
    # The page's origin: a plain static server on another port.
    site = os.path.join(stack.tmp, "site")
    os.makedirs(site)
    with open(os.path.join(site, "index.html"), "w") as f:
        f.write("<!doctype html><title>other origin</title><p>app</p>\n")
    handler = lambda *a, **k: Quiet(*a, directory=site, **k)  # noqa: E731
    S["site"] = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=S["site"].serve_forever, daemon=True).start()
    S["page_origin"] = "http://127.0.0.1:%d" % S["site"].server_address[1]
    S["cors"] = stack.server(["gen-3"], name="cors",
                             cors_origins="%s, %s" % (APP, S["page_origin"]))
    S["default"] = stack.server(["gen-3"], name="default")
    if os.access(os.environ.get("CHROMIUM") or cdp.DEFAULT_CHROMIUM, os.X_OK):
        S["browser"] = cdp.Browser(tmpdir=stack.tmp)


def preflight(lt, origin, method="POST", headers=None, path=V1):
    hd = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        hd["Access-Control-Request-Headers"] = headers
    return h.request(lt.port, "OPTIONS", path, headers=hd)


def chat(lt, origin=None):
    hd = {"Content-Type": "application/json"}
    if origin:
        hd["Origin"] = origin
    body = {"model": "gen-3", "messages": [{"role": "user", "content": "hi"}]}
    return h.request(lt.port, "POST", V1, body=json.dumps(body).encode(), headers=hd)


def case_preflight_allowed(t):
    r = preflight(S["cors"], APP, headers="Authorization, Content-Type, "
                  "x-stainless-os, X-Stainless-Retry-Count")
    t.eq(r.status, 204, "a listed origin's preflight: 204", r.summary())
    t.eq(r.header("Access-Control-Allow-Origin"), APP, "the origin, echoed")
    t.eq(r.header("Access-Control-Allow-Methods"), "POST", "the route's methods")
    t.eq(r.header("Access-Control-Allow-Headers"),
         "authorization, content-type, x-stainless-os, x-stainless-retry-count",
         "the headers asked for, each one an SDK sends")
    t.eq(r.header("Access-Control-Max-Age"), "600", "Max-Age")
    t.check("Origin" in (r.header("Vary") or ""), "Vary: Origin", r.header("Vary"))
    t.eq(r.header("Access-Control-Allow-Credentials"), None, "no credentials")
    r = preflight(S["cors"], APP, method="GET", path="/api/v1/models")
    t.eq((r.status, r.header("Access-Control-Allow-Methods")), (204, "GET, HEAD"),
         "GET /api/v1/models: its own methods")


def case_preflight_refused(t):
    for lt, origin, what in ((S["cors"], "https://evil.example", "an unlisted origin"),
                             (S["default"], APP, "no cors_origins (the default)")):
        r = preflight(lt, origin, headers="content-type")
        t.eq(r.status, 403, "%s: 403" % what, r.summary())
        t.eq(r.header("Access-Control-Allow-Origin"), None, "%s: no Allow-Origin" % what)
        e = (r.json() or {}).get("error") or {}
        t.check("cors_origins" in (e.get("message") or ""),
                "%s: OpenAI's error shape, saying what to set" % what, r.body[:300])
    r = preflight(S["cors"], APP, headers="content-type, x-evil")
    t.eq(r.status, 403, "a header no SDK sends: 403", r.summary())
    t.check("x-evil" in r.body.decode(errors="replace"), "naming it", r.body[:300])
    r = preflight(S["cors"], APP, headers="a" * 2000)
    t.eq(r.status, 403, "2,000 bytes of header names: 403", r.summary())


def case_answers(t):
    r = chat(S["cors"], APP)
    t.eq(r.status, 200, "a listed origin's chat", r.summary())
    t.eq((((r.json() or {}).get("choices") or [{}])[0].get("message") or {}).get("content"),
         h.gen_text(3), "the answer")
    t.eq(r.header("Access-Control-Allow-Origin"), APP, "Allow-Origin: the origin")
    t.check("X-Request-Id" in (r.header("Access-Control-Expose-Headers") or ""),
            "Expose-Headers names X-Request-Id", r.header("Access-Control-Expose-Headers"))
    t.eq(r.header("Vary"), "Origin", "Vary: Origin")
    r = chat(S["cors"], "https://evil.example")
    t.eq(r.status, 200, "an unlisted origin's request is answered (the browser "
         "keeps it from the page)")
    t.eq(r.header("Access-Control-Allow-Origin"), None, "without Allow-Origin")
    r = chat(S["cors"])
    t.eq(r.header("Access-Control-Allow-Origin"), None, "no Origin: no Allow-Origin")
    r = chat(S["default"], APP)
    t.eq((r.header("Access-Control-Allow-Origin"), r.header("Vary")), (None, None),
         "default: no CORS header at all")
    # An unknown path under /api/v1: its 404 is readable by a listed page.
    r = h.request(S["cors"].port, "GET", "/api/v1/nope", headers={"Origin": APP})
    t.eq((r.status, r.header("Access-Control-Allow-Origin")), (404, APP),
         "an unknown /api/v1 path: 404 with Allow-Origin", r.summary())
    t.check("error" in (r.json() or {}), "in OpenAI's error shape", r.body[:200])


def case_plain_options(t):
    r = h.request(S["default"].port, "OPTIONS", V1)
    t.eq(r.status, 204, "OPTIONS without a preflight's headers: 204", r.summary())
    t.eq(r.header("Allow"), "POST, OPTIONS", "with Allow")
    r = h.request(S["cors"].port, "OPTIONS", "/api/chat",
                  headers={"Origin": APP, "Access-Control-Request-Method": "POST"})
    t.eq(r.status, 405, "/api/chat stays same-origin: 405 as before", r.summary())
    t.eq(r.header("Access-Control-Allow-Origin"), None, "no Allow-Origin there")


def browser_fetch(t, origin_url):
    page = S["browser"].new_page()
    try:
        page.navigate(origin_url + "/index.html")
        return page.evaluate("""(async () => {
          try {
            const r = await fetch(%s, {method: 'POST', headers: {
                'Content-Type': 'application/json',
                'Authorization': 'Bearer sk-anything'},
              body: JSON.stringify({model: 'gen-3', stream: false,
                messages: [{role: 'user', content: 'hi'}]})});
            const j = await r.json();
            return {status: r.status, text: j.choices[0].message.content,
                    requestId: r.headers.get('x-request-id')};
          } catch (e) { return {error: String(e)}; }
        })()""" % json.dumps("http://127.0.0.1:%d%s" % (S["cors"].port, V1)))
    finally:
        page.close()


def case_browser(t):
    if "browser" not in S:
        t.skip("chromium not installed")
    got = browser_fetch(t, S["page_origin"])
    t.eq(got.get("status"), 200, "a page on a listed origin calls the API", got)
    t.eq(got.get("text"), h.gen_text(3), "and reads the answer")
    t.check(got.get("requestId"), "and an exposed header", got)
    # localhost is another origin than 127.0.0.1: not listed.
    got = browser_fetch(t, S["page_origin"].replace("127.0.0.1", "localhost"))
    t.check("error" in got and "Failed to fetch" in got["error"],
            "a page on an unlisted origin is refused by the browser", got)
    t.check(S["cors"].wait_log(r"method=OPTIONS path=/api/v1/chat/completions "
                               r"model=- upstream=- tried=0 status=403") is not None,
            "after a preflight refused with 403")


def browser_closes(t):
    b = S.pop("browser", None)
    if b is None:
        t.skip("chromium not installed")
    pid = b.proc.pid
    b.close()
    t.check(not h.group_pids(pid), "the driver's process group is gone")


CASES = [
    ("a listed origin's preflight: 204, its methods, the SDK headers, Max-Age",
     case_preflight_allowed),
    ("an unlisted origin, no cors_origins, a header no SDK sends: 403 saying why",
     case_preflight_refused),
    ("answers: Allow-Origin and Expose-Headers for a listed origin only, Vary: Origin",
     case_answers),
    ("a plain OPTIONS: 204 with Allow; /api/chat stays same-origin", case_plain_options),
    ("Chromium: a page on a listed origin reads the API; an unlisted one is blocked",
     case_browser),
]
AFTER = [("chromium closes and leaves no process behind", browser_closes)]


def main():
    try:
        return h.main("cors", CASES, setup, after=AFTER)
    finally:
        b = S.pop("browser", None)
        if b is not None:
            b.close()
        if "site" in S:
            S["site"].shutdown()


if __name__ == "__main__":
    sys.exit(main())
