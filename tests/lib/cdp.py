#!/usr/bin/env python3
"""cdp.py — drive headless Chromium over the Chrome DevTools Protocol.

Python 3 standard library only: a small RFC 6455 WebSocket client and a
synchronous CDP session on top of it.  For the browser tests of www/.

    with cdp.Browser() as b:              # starts /usr/bin/chromium
        page = b.new_page()               # a fresh tab (own CDP session)
        page.navigate("http://127.0.0.1:8080/check.html")
        page.wait_for("document.documentElement.dataset.check === 'done'", 30)
        print(page.evaluate("document.title"))
        page.screenshot("/tmp/check.png")
        assert not page.problems()        # uncaught errors, console errors,
                                          # CSP violations, failed loads
    # leaving the block closes the browser and kills its process group

Browser(chromium=None, tmpdir=None, extra_args=(), timeout=30)
    Starts `chromium --headless=new --no-sandbox --remote-debugging-port=0 …`
    in its own process group with a throw-away profile (flags that keep it
    off the network except for loopback), reads "DevTools listening on
    ws://…" from its stderr (which goes to <profile>/chromium.log) and
    connects to the browser endpoint.  CHROMIUM overrides the binary.
Browser.new_page(width=1000, height=800) -> Page
Browser.close()  Browser.close over CDP, then SIGTERM/SIGKILL to the whole
    process group (only the group this module started); the profile is
    removed unless it was made under a tmpdir you passed (which keeps
    chromium.log for a failed test).

Page.navigate(url, timeout)       load and wait for the load event
Page.evaluate(expr, await_promise=True, timeout)  Runtime.evaluate with
    returnByValue; raises JSError if the expression throws
Page.wait_for(js_condition, timeout, interval=0.05)  poll until truthy
Page.screenshot(path)             PNG of the viewport (full_page=True: all)
Page.set_viewport(width, height, mobile=False), Page.emulate_media(dark=)
Page.send(method, params)         any CDP command in this page's session
Page.console, Page.exceptions, Page.csp_violations, Page.log_entries
Page.problems()                   human-readable list of everything that
    should fail a test (see above)

Every read has a deadline; nothing here blocks forever.
"""

import base64
import hashlib
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.parse

DEFAULT_CHROMIUM = "/usr/bin/chromium"

CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-extensions", "--disable-default-apps",
    "--disable-breakpad", "--metrics-recording-only", "--mute-audio",
    "--password-store=basic", "--use-mock-keychain",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
    "--hide-scrollbars",
]

# Runs in every page before its own scripts: records CSP violations (the
# securitypolicyviolation event) where the test can read them.
_CSP_HOOK = """
(() => {
  const v = [];
  Object.defineProperty(window, "__cspViolations", {value: v});
  const rec = (e) => v.push({directive: e.effectiveDirective || e.violatedDirective,
    blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber,
    sample: e.sample});
  document.addEventListener("securitypolicyviolation", rec, true);
})();
"""


# Errors an evaluation gets while the page is navigating, not bugs.
NAVIGATION_ERRORS = ("Inspected target navigated or closed",
                     "Execution context was destroyed",
                     "Cannot find context with specified id")


class CDPError(Exception):
    """A CDP command answered with an error, or the browser went away."""


class JSError(Exception):
    """The evaluated expression threw."""


def _die_with_parent():
    """preexec_fn: SIGKILL the browser if the test process dies."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    except Exception:  # noqa: BLE001
        pass


# ---------------------------------------------------------------------------
# RFC 6455 client


class WebSocket:
    """A minimal blocking WebSocket client: text messages, masked frames,
    fragmentation, ping/pong and close.  recv() takes a deadline."""

    GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def __init__(self, url, timeout=10.0):
        u = urllib.parse.urlsplit(url)
        if u.scheme != "ws":
            raise ValueError("only ws:// URLs: %r" % url)
        self.sock = socket.create_connection((u.hostname, u.port or 80), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.closed = False
        key = base64.b64encode(os.urandom(16)).decode()
        path = (u.path or "/") + ("?" + u.query if u.query else "")
        req = ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n" % (path, u.netloc, key))
        self.sock.sendall(req.encode("ascii"))
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            self._fill(deadline)
        i = self.buf.index(b"\r\n\r\n")
        head = bytes(self.buf[:i])
        del self.buf[:i + 4]
        lines = head.decode("latin-1").split("\r\n")
        if not re.match(r"HTTP/1\.1 101\b", lines[0]):
            raise CDPError("WebSocket handshake refused: %s" % lines[0])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        want = base64.b64encode(hashlib.sha1((key + self.GUID).encode()).digest()).decode()
        if hdrs.get("sec-websocket-accept") != want:
            raise CDPError("bad Sec-WebSocket-Accept in the handshake")

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("WebSocket read timed out")
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            raise TimeoutError("WebSocket read timed out")
        d = self.sock.recv(1 << 20)
        if not d:
            self.closed = True
            raise CDPError("the browser closed the DevTools connection")
        self.buf += d

    def _take(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _send_frame(self, opcode, payload):
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        # XOR with the mask via big integers: fast enough for any size
        m = (mask * (n // 4 + 1))[:n]
        body = (int.from_bytes(payload, "big") ^ int.from_bytes(m, "big")).to_bytes(n, "big") \
            if n else b""
        self.sock.sendall(head + mask + body)

    def send_text(self, text):
        if self.closed:
            raise CDPError("WebSocket is closed")
        self._send_frame(0x1, text.encode("utf-8"))

    def recv_text(self, deadline):
        """The next complete text (or binary) message; answers pings."""
        parts, msg_op = [], None
        while True:
            b0, b1 = self._take(2, deadline)
            fin, op = b0 & 0x80, b0 & 0x0F
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._take(2, deadline))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._take(8, deadline))[0]
            mask = self._take(4, deadline) if b1 & 0x80 else None
            data = self._take(n, deadline)
            if mask:
                m = (mask * (n // 4 + 1))[:n]
                data = (int.from_bytes(data, "big") ^ int.from_bytes(m, "big")).to_bytes(n, "big")
            if op == 0x9:                       # ping -> pong
                self._send_frame(0xA, data)
                continue
            if op == 0xA:                       # pong
                continue
            if op == 0x8:                       # close: answer and stop
                if not self.closed:
                    try:
                        self._send_frame(0x8, data[:2])
                    except OSError:
                        pass
                self.closed = True
                raise CDPError("the browser closed the DevTools connection")
            if op in (0x1, 0x2):
                parts, msg_op = [data], op
            elif op == 0x0 and msg_op is not None:
                parts.append(data)
            else:
                raise CDPError("unexpected WebSocket frame opcode %d" % op)
            if fin:
                out = b"".join(parts)
                return out.decode("utf-8") if msg_op == 0x1 else out

    def close(self):
        if not self.closed:
            try:
                self._send_frame(0x8, struct.pack("!H", 1000))
            except OSError:
                pass
            self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------
# CDP


class Browser:
    def __init__(self, chromium=None, tmpdir=None, extra_args=(), timeout=30.0):
        self.chromium = chromium or os.environ.get("CHROMIUM") or DEFAULT_CHROMIUM
        if not (os.path.isfile(self.chromium) and os.access(self.chromium, os.X_OK)):
            raise FileNotFoundError("chromium not found at %s" % self.chromium)
        self._own_tmp = tmpdir is None
        self.dir = tempfile.mkdtemp(prefix="chromium-", dir=tmpdir)
        self.log_path = os.path.join(self.dir, "chromium.log")
        self.proc = None
        self.ws = None
        self._next_id = 0
        self._pending = []          # events read while waiting for something else
        self.pages = {}             # sessionId -> Page
        self._start(extra_args, timeout)

    # -- process ---------------------------------------------------------

    def _start(self, extra_args, timeout):
        profile = os.path.join(self.dir, "profile")
        args = [self.chromium] + CHROMIUM_FLAGS + list(extra_args) + [
            "--user-data-dir=" + profile, "--remote-debugging-port=0", "about:blank"]
        env = dict(os.environ)
        env.setdefault("HOME", self.dir)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, env=env, cwd=self.dir,
                                         start_new_session=True,
                                         preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        url = None
        try:
            while url is None:
                m = re.search(r"DevTools listening on (ws://\S+)", self.log_text())
                if m:
                    url = m.group(1)
                    break
                if self.proc.poll() is not None:
                    raise CDPError("chromium exited (%s) at start-up:\n%s"
                                   % (self.proc.returncode, self.log_text()[-3000:]))
                if time.monotonic() > deadline:
                    raise CDPError("chromium did not print its DevTools URL:\n%s"
                                   % self.log_text()[-3000:])
                time.sleep(0.05)
            self.ws = WebSocket(url, timeout=max(1.0, deadline - time.monotonic()))
        except BaseException:
            self.close()
            raise

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def close(self):
        """Close the browser and kill what is left of its process group."""
        if self.ws is not None:
            try:
                self.send("Browser.close", timeout=3)
            except Exception:  # noqa: BLE001 - it may be gone already
                pass
            self.ws.close()
            self.ws = None
        p, self.proc = self.proc, None
        if p is not None:
            pgid = p.pid                     # start_new_session: leader == group
            deadline = time.monotonic() + 5
            sig = signal.SIGTERM
            # The leader is not reaped (WNOWAIT) before the group is killed,
            # so the group id cannot have been reused by anything else.
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
                sig = 0                      # just probe after the first signal
                time.sleep(0.05)
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if self._own_tmp and self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- protocol --------------------------------------------------------

    def send(self, method, params=None, session=None, timeout=30.0):
        """Send one command and return its result, dispatching the events
        that arrive meanwhile to their pages."""
        if self.ws is None:
            raise CDPError("browser is closed")
        self._next_id += 1
        mid = self._next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send_text(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while True:
            m = self._read(deadline, "%s (id %d)" % (method, mid))
            if m.get("id") == mid:
                if "error" in m:
                    raise CDPError("%s: %s" % (method, m["error"].get("message", m["error"])))
                return m.get("result", {})
            if "method" in m:
                self._dispatch(m)

    def _read(self, deadline, what):
        try:
            return json.loads(self.ws.recv_text(deadline))
        except TimeoutError:
            raise TimeoutError("no answer from chromium for %s" % what) from None

    def _dispatch(self, m):
        page = self.pages.get(m.get("sessionId"))
        if page is not None:
            page._event(m["method"], m.get("params", {}))

    def pump(self, until, timeout, what="an event"):
        """Read events until until() is true or timeout; raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while not until():
            m = self._read(deadline, what)
            if "method" in m:
                self._dispatch(m)

    def new_page(self, width=1000, height=800):
        tid = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = self.send("Target.attachToTarget", {"targetId": tid, "flatten": True})["sessionId"]
        page = Page(self, tid, sid)
        self.pages[sid] = page
        page._setup(width, height)
        return page


class Page:
    def __init__(self, browser, target_id, session_id):
        self.browser = browser
        self.target_id = target_id
        self.session = session_id
        self.console = []         # {"type", "text", "url", "line"}
        self.exceptions = []      # text of uncaught exceptions
        self.log_entries = []     # Log.entryAdded: {"level", "source", "text", "url"}
        self._loads = 0

    def send(self, method, params=None, timeout=30.0):
        return self.browser.send(method, params, session=self.session, timeout=timeout)

    def _setup(self, width, height):
        for domain in ("Page", "Runtime", "Log"):
            self.send(domain + ".enable")
        self.send("Page.addScriptToEvaluateOnNewDocument", {"source": _CSP_HOOK})
        self.set_viewport(width, height)

    # -- events ----------------------------------------------------------

    def _event(self, method, p):
        if method == "Page.loadEventFired":
            self._loads += 1
        elif method == "Runtime.consoleAPICalled":
            args = p.get("args", [])
            text = " ".join(str(a.get("value", a.get("description", a.get("type", ""))))
                            for a in args)
            top = (p.get("stackTrace") or {}).get("callFrames") or [{}]
            self.console.append({"type": p.get("type"), "text": text,
                                 "url": top[0].get("url"), "line": top[0].get("lineNumber")})
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            exc = d.get("exception") or {}
            self.exceptions.append("%s (%s:%s)" % (
                exc.get("description") or d.get("text"), d.get("url", "?"),
                d.get("lineNumber", "?")))
        elif method == "Log.entryAdded":
            e = p.get("entry", {})
            self.log_entries.append({"level": e.get("level"), "source": e.get("source"),
                                     "text": e.get("text"), "url": e.get("url")})

    # -- actions ---------------------------------------------------------

    def navigate(self, url, timeout=30.0):
        before = self._loads
        r = self.send("Page.navigate", {"url": url}, timeout=timeout)
        if r.get("errorText"):
            raise CDPError("navigation to %s failed: %s" % (url, r["errorText"]))
        self.browser.pump(lambda: self._loads > before, timeout, "the load event of " + url)

    def evaluate(self, expr, await_promise=True, timeout=30.0):
        r = self.send("Runtime.evaluate", {
            "expression": expr, "returnByValue": True, "awaitPromise": await_promise,
            "userGesture": True}, timeout=timeout)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise JSError((d.get("exception") or {}).get("description") or d.get("text"))
        return r.get("result", {}).get("value")

    def wait_for(self, js_condition, timeout=10.0, interval=0.05):
        """Poll js_condition until it is truthy; returns its value, raises
        TimeoutError after timeout seconds.  Events keep being recorded."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                v = self.evaluate(js_condition,
                                  timeout=max(1.0, deadline - time.monotonic()))
            except CDPError as e:
                # A navigation in progress tears the old document down
                # under the evaluation; the new one answers next time.
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
        self.send("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile})

    def emulate_media(self, dark=None):
        feats = [] if dark is None else [
            {"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]
        self.send("Emulation.setEmulatedMedia", {"features": feats})

    def screenshot(self, path, full_page=False):
        params = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            m = self.send("Page.getLayoutMetrics")
            size = m.get("cssContentSize") or m.get("contentSize")
            params["clip"] = {"x": 0, "y": 0, "width": size["width"],
                              "height": size["height"], "scale": 1}
        data = self.send("Page.captureScreenshot", params)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    # -- what went wrong -------------------------------------------------

    @property
    def csp_violations(self):
        try:
            return self.evaluate("window.__cspViolations || []", await_promise=False) or []
        except (JSError, CDPError):
            return []

    def problems(self, ignore=()):
        """Everything that should fail a browser test: uncaught exceptions,
        console.error/assert, error-level log entries (CSP violations,
        failed loads, …) and securitypolicyviolation events on the current
        document.  ignore: regexes for texts to leave out."""
        rx = [re.compile(i) for i in ignore]
        out = ["uncaught exception: " + e for e in self.exceptions]
        out += ["console.%s: %s (%s:%s)" % (c["type"], c["text"], c["url"], c["line"])
                for c in self.console if c["type"] in ("error", "assert")]
        out += ["%s %s: %s (%s)" % (e["source"], e["level"], e["text"], e["url"])
                for e in self.log_entries if e["level"] == "error"]
        out += ["CSP violation: %s blocked %s (%s:%s)" % (
            v.get("directive"), v.get("blocked"), v.get("source"), v.get("line"))
            for v in self.csp_violations]
        return [p for p in out if not any(r.search(p) for r in rx)]

    def clear_problems(self):
        self.console.clear()
        self.exceptions.clear()
        self.log_entries.clear()

    def close(self):
        self.browser.send("Target.closeTarget", {"targetId": self.target_id})
        self.browser.pages.pop(self.session, None)
