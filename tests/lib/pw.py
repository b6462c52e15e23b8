#!/usr/bin/env python3
"""pw.py — drive headless Debian Chromium through playwright-core (npm) from
the Python e2e tests: Browser, Page (navigate, evaluate, wait_for,
screenshot, set_viewport, emulate_media, send, problems), CDPError, JSError.

The work is done by tests/browser/driver.mjs (Node, playwright-core), which
this module starts as a child in its own process group and talks to over
its stdin/stdout, one JSON object a line:

    -> {"id": 3, "cmd": "navigate", "args": {"page": 1, "url": "…"}}
    <- {"id": 3, "ok": true, "result": 200}

It needs `npm ci` in tests/browser (playwright-core; no browser download:
it launches /usr/bin/chromium, headless, --no-sandbox).

    with pw.Browser() as b:
        page = b.new_page()               # own browser context
        page.navigate("http://127.0.0.1:8080/check.html")
        page.wait_for("document.documentElement.dataset.check === 'done'", 30)
        print(page.evaluate("document.title"))
        page.screenshot("/tmp/check.png")
        assert not page.problems()        # uncaught errors, console errors,
                                          # CSP violations, failed loads

Browser(chromium=None, tmpdir=None, extra_args=(), timeout=30)
Browser.new_page(width=1000, height=800) -> Page
Browser.close()  asks the driver to close the browser, then SIGTERM/SIGKILL
    to the driver's process group and to the process group playwright
    started Chromium in (it spawns the browser detached); only those.
Browser.proc     the driver's Popen (leader of its process group)
Browser.chromium_pgid   the process group of Chromium (None if not found)

Page.navigate(url, timeout), Page.evaluate(expr, await_promise=True,
timeout), Page.wait_for(js, timeout, interval), Page.screenshot(path,
full_page=False), Page.set_viewport(width, height, mobile=False),
Page.emulate_media(dark=None), Page.send(method, params) (any CDP command
in the page's target; Browser.grantPermissions maps to the context's
grantPermissions), Page.problems(ignore=()), Page.clear_problems(),
Page.close(), Page.console, Page.exceptions, Page.csp_violations,
Page.failed_requests.

A page's browser context is made on its first use, so a set_viewport(…,
mobile=True) or emulate_media() right after new_page() become options of
the context (isMobile, colorScheme), as playwright wants them.

Every read has a deadline; nothing here blocks forever.
"""

import json
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time

DEFAULT_CHROMIUM = "/usr/bin/chromium"
HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER_DIR = os.path.normpath(os.path.join(HERE, "..", "browser"))
DRIVER = os.path.join(BROWSER_DIR, "driver.mjs")

NAVIGATION_ERRORS = ("Execution context was destroyed",
                     "Inspected target navigated or closed",
                     "Cannot find context with specified id")

# CDP permission names -> playwright's
_PERMISSIONS = {"clipboardReadWrite": "clipboard-read",
                "clipboardSanitizedWrite": "clipboard-write"}


class CDPError(Exception):
    """A command failed, or the browser (driver) went away."""


class JSError(Exception):
    """The evaluated expression threw."""


def _die_with_parent():
    """preexec_fn: SIGKILL the driver if the test process dies."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    except Exception:  # noqa: BLE001
        pass


def _stat(pid):
    """(ppid, pgrp, state) of pid, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return None
    fields = st[st.rfind(")") + 2:].split()
    return int(fields[1]), int(fields[2]), fields[0]


def _children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            s = _stat(int(d))
            if s and s[0] == pid:
                out.append(int(d))
    return out


def _group_alive(pgid):
    for d in os.listdir("/proc"):
        if d.isdigit():
            s = _stat(int(d))
            if s and s[1] == pgid and s[2] != "Z":
                return True
    return False


class Browser:
    def __init__(self, chromium=None, tmpdir=None, extra_args=(), timeout=30.0):
        self.chromium = chromium or os.environ.get("CHROMIUM") or DEFAULT_CHROMIUM
        if not (os.path.isfile(self.chromium) and os.access(self.chromium, os.X_OK)):
            raise FileNotFoundError("chromium not found at %s" % self.chromium)
        if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
            raise FileNotFoundError("playwright-core is not installed: "
                                    "cd %s && npm ci" % BROWSER_DIR)
        if extra_args:
            raise ValueError("extra_args are not supported by the playwright driver")
        self._own_tmp = tmpdir is None
        self.dir = tempfile.mkdtemp(prefix="playwright-", dir=tmpdir)
        self.log_path = os.path.join(self.dir, "driver.log")
        self.proc = None
        self.chromium_pgid = None
        self._next_id = 0
        self._buf = b""
        self._start(timeout)

    # -- process ---------------------------------------------------------

    def _start(self, timeout):
        env = dict(os.environ)
        env["CHROMIUM"] = self.chromium
        env.setdefault("HOME", self.dir)
        env["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(["node", DRIVER], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=log, env=env,
                                         cwd=self.dir, start_new_session=True,
                                         preexec_fn=_die_with_parent)
        try:
            m = self._read(time.monotonic() + timeout, "the driver to start chromium", 0)
            if not m.get("ok"):
                raise CDPError("the driver could not start chromium: %s\n%s"
                               % (m.get("error"), self.log_text()[-3000:]))
            self.version = (m.get("result") or {}).get("version")
            # playwright spawns chromium detached: its own process group,
            # led by the driver's child
            for c in _children(self.proc.pid):
                s = _stat(c)
                if s and s[1] == c:
                    self.chromium_pgid = c
        except BaseException:
            self.close()
            raise

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _read(self, deadline, what, want_id):
        """Read lines until the answer with id want_id; others are late
        answers of commands that timed out, dropped."""
        fd = self.proc.stdout.fileno()
        while True:
            while b"\n" in self._buf:
                line, self._buf = self._buf.split(b"\n", 1)
                if not line.strip():
                    continue
                try:
                    m = json.loads(line)
                except ValueError:
                    continue
                if m.get("id") == want_id:
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from the driver for %s" % what)
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                raise TimeoutError("no answer from the driver for %s" % what)
            d = os.read(fd, 1 << 20)
            if not d:
                raise CDPError("the driver exited (%s) waiting for %s:\n%s"
                               % (self.proc.poll(), what, self.log_text()[-3000:]))
            self._buf += d

    def call(self, cmd, timeout=30.0, **args):
        if self.proc is None or self.proc.stdin is None:
            raise CDPError("browser is closed")
        self._next_id += 1
        mid = self._next_id
        try:
            self.proc.stdin.write((json.dumps({"id": mid, "cmd": cmd, "args": args}) + "\n")
                                  .encode("utf-8"))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise CDPError("the driver went away: %s" % e) from None
        # the driver has its own timeouts; allow it a little more
        m = self._read(time.monotonic() + timeout + 5, "%s (id %d)" % (cmd, mid), mid)
        if m.get("ok"):
            return m.get("result")
        if m.get("kind") == "js":
            raise JSError(m.get("error"))
        raise CDPError("%s: %s" % (cmd, m.get("error")))

    def close(self):
        """Close the browser and kill what is left of the driver's and
        chromium's process groups."""
        p, self.proc = self.proc, None
        if p is not None:
            try:
                if p.poll() is None and p.stdin is not None:
                    p.stdin.write(b'{"id": -1, "cmd": "quit", "args": {}}\n')
                    p.stdin.flush()
                    p.stdin.close()
                    p.wait(12)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
            pgid = p.pid                     # start_new_session: leader == group
            deadline = time.monotonic() + 5
            sig = signal.SIGTERM
            # the leader is not reaped (WNOWAIT) before its group is killed,
            # so the group id cannot have been reused by anything else
            while time.monotonic() < deadline:
                try:
                    if os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
                        break
                except ChildProcessError:
                    break
                try:
                    os.killpg(pgid, sig)
                except ProcessLookupError:
                    break
                sig = 0
                time.sleep(0.05)
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            # chromium's own group (playwright normally closes it; this is
            # for a driver that died): only the group the driver's child led
            if self.chromium_pgid is not None and _group_alive(self.chromium_pgid):
                try:
                    os.killpg(self.chromium_pgid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                end = time.monotonic() + 5
                while _group_alive(self.chromium_pgid) and time.monotonic() < end:
                    time.sleep(0.05)
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            for f in (p.stdin, p.stdout):
                try:
                    if f:
                        f.close()
                except OSError:
                    pass
        if self._own_tmp and self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def new_page(self, width=1000, height=800):
        return Page(self, width, height)


class Page:
    def __init__(self, browser, width, height):
        self.browser = browser
        self.id = None
        self._opts = {"width": width, "height": height, "mobile": False, "dark": None}

    def _page(self):
        """The driver's page id, making the context on first use."""
        if self.id is None:
            self.id = self.browser.call("new_page", **self._opts)
        return self.id

    def _call(self, cmd, timeout=30.0, **args):
        return self.browser.call(cmd, timeout=timeout, page=self._page(), **args)

    # -- actions ---------------------------------------------------------

    def navigate(self, url, timeout=30.0):
        try:
            self._call("navigate", timeout, url=url, ms=int(timeout * 1000))
        except CDPError as e:
            raise CDPError("navigation to %s failed: %s" % (url, e)) from None

    def evaluate(self, expr, await_promise=True, timeout=30.0):
        # playwright always awaits a returned promise; await_promise=False
        # is only used for expressions that return none
        return self._call("evaluate", timeout, expr=expr, ms=int(timeout * 1000))

    def wait_for(self, js_condition, timeout=10.0, interval=0.05):
        """Poll js_condition until it is truthy; returns its value, raises
        TimeoutError after timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                v = self.evaluate(js_condition,
                                  timeout=max(1.0, deadline - time.monotonic()))
            except CDPError as e:
                if not any(m in str(e) for m in NAVIGATION_ERRORS):
                    raise
                v = None
            if v:
                return v
            if time.monotonic() > deadline:
                raise TimeoutError("timed out after %.1f s waiting for %s"
                                   % (timeout, js_condition))
            time.sleep(interval)

    def set_viewport(self, width, height, mobile=False, scale=1):
        if self.id is None:
            self._opts.update(width=width, height=height, mobile=bool(mobile))
            return
        if bool(mobile) != self._opts["mobile"]:
            raise CDPError("set_viewport: mobile can only change before the page is used")
        self._opts.update(width=width, height=height)
        self._call("set_viewport", width=width, height=height)

    def emulate_media(self, dark=None):
        if self.id is None:
            self._opts["dark"] = dark
            return
        self._call("emulate_media", dark=dark)

    def screenshot(self, path, full_page=False):
        path = os.path.abspath(path)
        self._call("screenshot", path=path, full_page=bool(full_page))
        return path

    def send(self, method, params=None, timeout=30.0):
        params = params or {}
        if method == "Browser.grantPermissions":
            perms = [_PERMISSIONS.get(x, x) for x in params.get("permissions", [])]
            return self._call("grant_permissions", timeout, permissions=perms,
                              origin=params.get("origin"))
        return self._call("send", timeout, method=method, params=params)

    # -- what went wrong -------------------------------------------------

    def _records(self):
        if self.id is None:
            return {"console": [], "exceptions": [], "failed": []}
        return self._call("records")

    @property
    def console(self):
        return self._records()["console"]

    @property
    def exceptions(self):
        return self._records()["exceptions"]

    @property
    def failed_requests(self):
        return self._records()["failed"]

    @property
    def csp_violations(self):
        try:
            return self.evaluate("window.__cspViolations || []", await_promise=False) or []
        except (JSError, CDPError):
            return []

    def problems(self, ignore=()):
        """Everything that should fail a browser test: uncaught exceptions,
        console.error/assert (Chromium's error log entries — CSP violations,
        failed loads, HTTP errors of resources — come as console errors),
        failed requests (not ones the page aborted) and
        securitypolicyviolation events on the current document.
        ignore: regexes for texts to leave out."""
        rx = [re.compile(i) for i in ignore]
        r = self._records()
        out = ["uncaught exception: " + e for e in r["exceptions"]]
        out += ["console.%s: %s (%s:%s)" % (c["type"], c["text"], c["url"], c["line"])
                for c in r["console"] if c["type"] in ("error", "assert")]
        out += ["network error: %s %s failed: %s" % (f["method"], f["url"], f["error"])
                for f in r["failed"]]
        out += ["CSP violation: %s blocked %s (%s:%s)" % (
            v.get("directive"), v.get("blocked"), v.get("source"), v.get("line"))
            for v in self.csp_violations]
        return [p for p in out if not any(x.search(p) for x in rx)]

    def clear_problems(self):
        if self.id is not None:
            self._call("clear")

    def close(self):
        if self.id is not None:
            self.browser.call("close_page", page=self.id)
            self.id = None
