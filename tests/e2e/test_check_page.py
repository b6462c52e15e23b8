#!/usr/bin/env python3
"""The streaming self-check page (www/check.html) in real headless Chromium,
through real lighttpd + chatstream, under the strict Content-Security-Policy
the client must work with.

  * lighttpd with server.stream-response-body = 2: the page says it streams;
  * lighttpd with server.stream-response-body = 0 (buffers the whole
    answer): the page says it buffers and names server.stream-response-body;
  * self_check = no: the page says the check is turned off; "Run again"
    runs it again;
  * index.html loads without errors and links to check.html;
  * no uncaught exception, console error, failed load or CSP violation on
    any page.

lighttpd runs the shipped conf/lighttpd.conf (harness.Lighttpd templates its
paths), which sets server.stream-response-body = 2 for /api/ and the CSP
header for the static client; the buffering server runs a copy with that
one line changed to 0.  Screenshots of every verdict go to <tmp>/screens/
(kept with CHATSTREAM_KEEP_TMP=1 or on failure).
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402
import pw as cdp  # noqa: E402  (the browser, through playwright-core)

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
       "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'self'")

S = {}


def buffering_snippet(tmp):
    """The shipped conf/lighttpd.conf with one line changed:
    server.stream-response-body = 0 (lighttpd collects the whole answer)."""
    with open(h.SHIPPED_LIGHTTPD) as f:
        text = f.read()
    text, n = re.subn(r"(?m)^(\s*server\.stream-response-body\s*=\s*)2\s*$", r"\g<1>0", text)
    if n != 1:
        raise ValueError("%s: expected one 'server.stream-response-body = 2' line, found %d"
                         % (h.SHIPPED_LIGHTTPD, n))
    path = os.path.join(tmp, "lighttpd-buffering.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def setup(stack):
    def server(name, lighttpd_args=None, **over):
        settings = dict({"provider": "demo", "threads": 4, "keepalive_seconds": 15,
                         "shutdown_grace_seconds": 1}, **over)
        return stack.server([], name=name, settings=list(settings.items()),
                            lighttpd_args=lighttpd_args)

    # the shipped conf/lighttpd.conf as it is, and with buffering turned on
    S["stream"] = server("streaming")
    S["buffer"] = server("buffering", {"snippet_path": buffering_snippet(stack.tmp)})
    S["off"] = server("disabled", self_check="no")
    S["screens"] = os.path.join(stack.tmp, "screens")
    os.makedirs(S["screens"], exist_ok=True)
    S["browser"] = cdp.Browser(tmpdir=stack.tmp)


def url(lt, path):
    return "http://127.0.0.1:%d%s" % (lt.port, path)


def new_page(t, width=1000, height=900, dark=False, mobile=False):
    page = S["browser"].new_page(width, height)
    if mobile:
        page.set_viewport(width, height, mobile=True)
    page.emulate_media(dark=dark)
    t.diag("viewport %dx%d%s, %s" % (width, height, " (mobile)" if mobile else "",
                                      "dark" if dark else "light"))
    return page


# Chromium asks for /favicon.ico on its own and logs the 404; www/ has none.
IGNORE = (r"/favicon\.ico\b",)


def no_problems(t, page, what, ignore=()):
    probs = page.problems(ignore=IGNORE + tuple(ignore))
    t.check(not probs, "%s: the page reported problems" % what, "\n".join(probs))


def run_check_page(t, page, lt, shot, timeout=40):
    """Load check.html, wait for the verdict, return what the page shows."""
    page.navigate(url(lt, "/check.html"))
    page.wait_for("document.documentElement.dataset.check === 'done'", timeout)
    v = page.evaluate("""(() => {
        const q = (s) => document.querySelector(s);
        return {
          kind: q('#verdict').dataset.kind,
          role: q('#verdict').getAttribute('role'),
          title: q('#verdict .verdict-title').textContent,
          text: [...q('#verdict').children].map((e) => e.textContent).join(' '),
          fixes: q('#fix-section').hidden ? '' : q('#fix').textContent,
          numbers: [...document.querySelectorAll('#numbers dt')].map(
            (dt) => dt.textContent + ': ' + dt.nextElementSibling.textContent),
          server: q('#server').textContent,
          marks: document.querySelectorAll('#timeline svg rect.tl-got').length,
          overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
          runDisabled: q('#run').disabled,
        };
    })()""")
    path = page.screenshot(os.path.join(S["screens"], shot), full_page=True)
    t.diag("verdict: %s — %s" % (v["kind"], v["title"]))
    t.diag("text: " + " ".join(v["text"].split()))
    for n in v["numbers"]:
        t.diag("  " + n)
    t.diag("screenshot: " + path)
    t.eq(v["role"], "status", "the verdict is a role=status region")
    t.check(v["overflow"] <= 0, "no horizontal scrolling (%d px too wide)" % v["overflow"])
    t.check(not v["runDisabled"], "'Run again' is enabled after the check")
    return v


def api_sanity(t):
    for name in ("stream", "buffer"):
        lt = S[name]
        r = lt.get("/api/info")
        t.eq(r.status, 200, "%s: GET /api/info status" % name, r.summary())
        j = r.json() or {}
        t.check(str(j.get("server_software", "")).startswith("lighttpd"),
                "%s: server_software names lighttpd: %r" % (name, j.get("server_software")))
        t.eq(j.get("gateway"), "fastcgi", "%s: gateway" % name)
        r = lt.get("/check.html")
        t.eq(r.status, 200, "%s: GET /check.html" % name)
        t.eq(r.header("content-security-policy"), CSP, "%s: the CSP header is sent" % name)
    # what the page will judge, seen from Python: spread out vs. all at once
    for name, spread_ok in (("stream", lambda d: d > 0.6), ("buffer", lambda d: d < 0.2)):
        r = S[name].get("/api/check?seconds=1&interval_ms=100&pad=2048", timeout=20)
        ticks = r.named("tick")
        t.eq(len(ticks), 10, "%s: ticks in a 1 s check" % name, r.summary())
        if len(ticks) == 10:
            d = ticks[-1].t - ticks[0].t
            t.diag("%s: 10 ticks (sent over 0.9 s) arrived over %.3f s" % (name, d))
            t.check(spread_ok(d), "%s: arrival spread %.3f s" % (name, d))
    r = S["off"].get("/api/check")
    j = h.check_error_json(t, r, 404, "not_found")
    t.check("self_check" in json.dumps(j), "the 404 names self_check", r.summary())


def index_page(t):
    page = new_page(t)
    try:
        page.navigate(url(S["stream"], "/"))
        page.wait_for("document.readyState === 'complete'", 10)
        got = page.evaluate("""(async () => ({
            link: !!document.querySelector('main a[href="check.html"]'),
            linkText: document.querySelector('a[href="check.html"]')?.textContent,
            form: !!document.getElementById('form'),
            csp: (await fetch(location.href, {cache: 'no-store'}))
                   .headers.get('content-security-policy'),
        }))()""")
        t.check(got["link"], "index.html links to check.html", got)
        t.diag("link text: %r" % got["linkText"])
        t.check(got["form"], "the chat form is there (app.js page intact)")
        t.eq(got["csp"], CSP, "the browser got the strict CSP")
        # the link goes where it says
        page.evaluate("document.querySelector('a[href=\"check.html\"]').click()", False)
        page.wait_for("location.pathname.endsWith('/check.html')", 10)
        page.wait_for("document.documentElement.dataset.check === 'done'", 40)
        no_problems(t, page, "index.html and check.html")
    finally:
        page.close()


def detector_works(t):
    """The browser really enforces the CSP and page.problems() reports a
    violation, so "no problems" elsewhere means something."""
    page = new_page(t)
    try:
        page.navigate(url(S["stream"], "/"))
        page.evaluate("document.body.insertAdjacentHTML('beforeend',"
                      " '<p style=\"color: red\" onclick=\"x()\">csp probe</p>')", False)
        page.wait_for("window.__cspViolations.length >= 1", 5)
        probs = page.problems(ignore=IGNORE)
        t.diag("\n".join(probs))
        t.check(any("CSP violation: style-src-attr" in p for p in probs),
                "an inline style attribute is reported as a CSP violation", probs)
    finally:
        page.close()


def streaming(t):
    page = new_page(t)
    try:
        v = run_check_page(t, page, S["stream"], "streams-desktop-light.png")
        t.eq(v["kind"], "streams", "verdict with server.stream-response-body = 2")
        t.check("Streaming works" in v["title"], "the title says streaming works", v["title"])
        t.check("lighttpd" in v["server"], "the server section names lighttpd", v["server"])
        t.check(v["marks"] >= 30, "the timeline shows the ticks (%d marks)" % v["marks"])
        no_problems(t, page, "check.html (streaming)")
    finally:
        page.close()


def buffering(t):
    # a phone-sized screen in dark mode, to see those too
    page = new_page(t, 390, 844, dark=True, mobile=True)
    try:
        v = run_check_page(t, page, S["buffer"], "buffers-phone-dark.png")
        t.eq(v["kind"], "buffers", "verdict with server.stream-response-body = 0")
        t.check("server.stream-response-body = 2" in v["fixes"],
                "the fix names server.stream-response-body = 2", v["fixes"])
        t.check("held back" in v["text"], "the summary says the answer is held back", v["text"])
        no_problems(t, page, "check.html (buffering)")
    finally:
        page.close()


def buffering_desktop(t):
    page = new_page(t)
    try:
        v = run_check_page(t, page, S["buffer"], "buffers-desktop-light.png")
        t.eq(v["kind"], "buffers", "verdict with server.stream-response-body = 0")
        no_problems(t, page, "check.html (buffering, desktop)")
    finally:
        page.close()


def disabled(t):
    page = new_page(t, 1000, 700, dark=True)
    try:
        v = run_check_page(t, page, S["off"], "disabled-desktop-dark.png")
        t.eq(v["kind"], "error", "verdict with self_check = no")
        t.check("turned off" in v["title"], "the title says the check is off", v["title"])
        t.check("self_check = yes" in v["fixes"], "it says how to turn it on", v["fixes"])
        page.evaluate("document.getElementById('run').click()", False)
        page.wait_for("document.documentElement.dataset.runs === '2'"
                      " && document.documentElement.dataset.check === 'done'", 20)
        t.eq(page.evaluate("document.getElementById('verdict').dataset.kind"), "error",
             "Run again gives the same verdict")
        # the 404s of api/info and api/check are the point here: Chromium
        # logs them, the page may not
        no_problems(t, page, "check.html (self_check = no)",
                    ignore=(r"status of 404 .*/api/(check\?|info)",))
    finally:
        page.close()


def browser_closes(t):
    b = S.pop("browser", None)
    t.require(b is not None, "no browser")
    pid, cpg = b.proc.pid, b.chromium_pgid
    b.close()
    t.check(not h.group_pids(pid), "the driver's process group is gone")
    t.check(cpg is not None and not h.group_pids(cpg), "chromium's process group is gone")


CASES = [
    ("api/info, api/check and the CSP header through lighttpd", api_sanity),
    ("index.html: no error under the strict CSP, links to check.html, the link works",
     index_page),
    ("the CSP is enforced and a violation would be caught", detector_works),
    ("check.html, lighttpd server.stream-response-body = 2: says it streams", streaming),
    ("check.html, lighttpd server.stream-response-body = 0 (phone, dark): says it buffers "
     "and names server.stream-response-body", buffering),
    ("check.html, buffering, desktop light (screenshot)", buffering_desktop),
    ("check.html, self_check = no: says the check is off; Run again", disabled),
]
AFTER = [("chromium closes and leaves no process behind", browser_closes)]


def main():
    if not os.access(os.environ.get("CHROMIUM") or cdp.DEFAULT_CHROMIUM, os.X_OK):
        print("1..0 # SKIP chromium not installed")
        return 0
    try:
        return h.main("check-page", CASES, setup, after=AFTER)
    finally:
        b = S.pop("browser", None)
        if b is not None:
            b.close()


if __name__ == "__main__":
    sys.exit(main())
