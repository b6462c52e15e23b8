#!/usr/bin/env python3
"""harness.py — shared helpers for chatstream's end-to-end tests.

Imported by tests/e2e/test_*.py; also a small CLI:

    python3 tests/lib/harness.py serve      (what `make run` / tests/lib/serve do)

What is here:
  * free loopback ports, temp dirs, the API key file
  * chatstream.conf and lighttpd.conf generation: lighttpd_conf() (shared
    by the tests and by `serve`) wraps the SHIPPED conf/lighttpd.conf,
    templated only for paths (lighttpd_snippet()), in the frame Debian's
    lighttpd.conf gives it, so the shipped snippet is what every test runs
    (server.max-request-size follows a max_body_bytes that reaches it:
    lighttpd_max_request_kib())
  * Replay: starts tests/replay.py, reads its "READY <port>" line, wraps the
    /_events and /_wait control endpoints
  * Lighttpd: starts `lighttpd -D -f CONF` in its own process group, waits
    for the port to accept connections, stops it with SIGTERM
  * Standalone: `chatstream --listen 127.0.0.1:PORT`; fcgi_request(): a
    small FastCGI client; CGIStream: parses CGI output (also plain CGI mode)
  * request()/Response: a raw-socket HTTP/1.1 client that decodes chunked
    bodies and parses SSE incrementally, stamping every event and comment
    with time.monotonic() at arrival
  * Tap/Stack/main(): TAP output, case runner, teardown and the checks every
    file ends with (API key never leaked; no sanitizer report or crash in
    the error log)

Things found out about lighttpd 1.4.69 that the generated config relies on
(the shipped conf/lighttpd.conf says the rest):
  * with -D (foreground) a bin-path FastCGI child inherits lighttpd's own
    stderr, not server.errorlog: so lighttpd is started with stdout and
    stderr appended to the same error.log file;
  * bin-path children inherit lighttpd's whole environment, so tests start
    lighttpd with OPENAI_API_KEY / OPENAI_BASE_URL removed (hermetic), and
    `serve` simply lets them through (nothing secret is written to disk);
  * it runs fine as root without server.username;
  * a backend killed by a signal is logged as "child signalled: N" and
    silently respawned, so the final check greps the error log for it;
  * lighttpd only notices a client that hung up when it next writes to it,
    so chatstream learns of it at its next write (a delta or keep-alive).

Environment: CHATSTREAM_BIN (default build/chatstream), LIGHTTPD,
CHATSTREAM_KEEP_TMP=1 (keep the temp dir; it is kept anyway on failure),
REPLAY_VERBOSE=1 (replay logs to <tmp>/replay.log).
"""

import fcntl
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(REPO, "tests", "fixtures", "upstream")
REPLAY = os.path.join(REPO, "tests", "replay.py")
WWW = os.path.join(REPO, "www")


def find_lighttpd():
    return (os.environ.get("LIGHTTPD") or shutil.which("lighttpd")
            or "/usr/sbin/lighttpd")


def mono():
    return time.monotonic()


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_listening(srv, port, name, start_size, timeout):
    """Wait until srv.proc listens on port (polling the port, with a
    deadline); then srv.port = port and srv is returned.  OSError if the
    port was taken, RuntimeError if the server died or never listened."""
    deadline = mono() + timeout
    while True:
        if srv.proc.poll() is not None:
            text = srv.log_text()[start_size:]
            srv.proc = None
            if "Address already in use" in text:
                raise OSError("port %d in use" % port)
            raise RuntimeError("%s exited at start-up:\n%s" % (name, text[-3000:]))
        if port_open(port):
            srv.port = port
            return srv
        if mono() > deadline:
            kill_group(srv.proc)
            raise RuntimeError("%s did not listen on %d:\n%s"
                               % (name, port, srv.log_text()[-3000:]))
        time.sleep(0.02)


def new_tag():
    return secrets.token_hex(6)


def gen_text(n):
    """The text the replay's gen-N scenario streams."""
    return "".join("w%d " % i for i in range(1, n + 1))


def esc_text():
    """The text of the replay's "esc" scenario."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("replay", REPLAY)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return "".join(mod.ESC_DELTAS)


def load_expect(name):
    with open(os.path.join(FIXTURES, name + ".expect.json")) as f:
        return json.load(f)


def native_usage(raw):
    """The native finish.usage for a provider's usage object `raw`, by the
    mapping docs/protocol.md ("finish") gives: OpenAI's, Anthropic's and
    Ollama's spellings onto prompt/completion/total, plus cached and
    reasoning when the provider counted them."""
    if not isinstance(raw, dict):
        return None

    def first(*keys, sub=None):
        o = raw.get(sub) if sub else raw
        for k in keys:
            v = o.get(k) if isinstance(o, dict) else None
            if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
                return v
        return None

    p = first("prompt_tokens", "input_tokens", "prompt_eval_count")
    c = first("completion_tokens", "output_tokens", "eval_count")
    if p is None and c is None:
        return None
    cache_read = first("cache_read_input_tokens")
    cache_write = first("cache_creation_input_tokens")
    if p is not None:
        p += (cache_read or 0) + (cache_write or 0)
    cached = first("cached_tokens", sub="prompt_tokens_details")
    if cached is None:
        cached = first("cached_tokens", sub="input_tokens_details")
    if cache_read is not None:
        cached = cache_read
    reasoning = first("reasoning_tokens", sub="completion_tokens_details")
    if reasoning is None:
        reasoning = first("reasoning_tokens", sub="output_tokens_details")
    total = first("total_tokens")
    if total is None and p is not None and c is not None:
        total = p + c
    u = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": total}
    if cached is not None:
        u["cached_tokens"] = cached
    if reasoning is not None:
        u["reasoning_tokens"] = reasoning
    return u


def openai_fixtures(prefixes=("openai-chat-", "openai-compat-")):
    names = []
    for fn in sorted(os.listdir(FIXTURES)):
        if fn.endswith(".sse") and fn.startswith(prefixes):
            base = fn[:-4]
            if os.path.exists(os.path.join(FIXTURES, base + ".expect.json")):
                names.append(base)
    return names


def chatstream_bin():
    """CHATSTREAM_BIN as an absolute path, or None if it is not runnable."""
    b = os.environ.get("CHATSTREAM_BIN") or os.path.join(REPO, "build", "chatstream")
    if not os.path.isabs(b):
        b = os.path.join(REPO, b)
    if os.path.isfile(b) and os.access(b, os.X_OK):
        return b
    return None


def _die_with_parent():
    """preexec_fn: SIGTERM this child when the test process dies, so a
    killed test leaves no server behind (Linux PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    except Exception:  # noqa: BLE001
        pass


def group_pids(pgid):
    """Live (non-zombie) processes of process group pgid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may contain spaces/parens
        fields = st[st.rfind(")") + 2:].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(d))
    return out


def kill_group(proc, sig=signal.SIGTERM, timeout=5.0):
    """Signal proc (leader of its own process group), wait for it, give the
    rest of the group (FastCGI children) until timeout to exit by itself
    (e.g. to write a sanitizer report), then SIGKILL what is left."""
    if proc is None:
        return
    pgid = proc.pid   # started with start_new_session=True
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    deadline = mono() + timeout
    while group_pids(pgid) and mono() < deadline:
        time.sleep(0.05)
    for pid in group_pids(pgid):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if proc.poll() is None:
        try:
            proc.kill()
        except ProcessLookupError:
            pass
    proc.wait()


# ---------------------------------------------------------------------------
# Configuration files


def conf_value(v):
    v = str(v)
    if v == "" or re.search(r'[\s#"\\]', v):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return v


def write_chatstream_conf(path, settings):
    """settings: list of (key, value) pairs or a dict; a list value writes
    the key once per element (e.g. "model"); a key starting with "[" is a
    section header, written as is (its value is ignored)."""
    items = settings.items() if isinstance(settings, dict) else settings
    lines = ["# generated by tests/lib/harness.py"]
    for k, v in items:
        if k.startswith("["):
            lines.append(k)
            continue
        if v is None:
            continue
        for one in (v if isinstance(v, (list, tuple)) else [v]):
            lines.append("%s = %s" % (k, conf_value(one)))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def write_key(path, key=None):
    key = key or "sk-test-SECRET-" + secrets.token_hex(12)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    os.chmod(path, 0o600)
    return key


def lt_str(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


SHIPPED_LIGHTTPD = os.path.join(REPO, "conf", "lighttpd.conf")


def _sub_once(text, pattern, repl, what, path):
    """re.sub that must match exactly once: a shipped config whose shape
    changed fails loudly instead of being tested half-templated."""
    out, n = re.subn(pattern, lambda m: m.group(1) + repl, text)
    if n != 1:
        raise ValueError("%s: expected exactly one %s, found %d" % (path, what, n))
    return out


def shipped_max_request_kib(path=SHIPPED_LIGHTTPD):
    """server.max-request-size (KiB) of the shipped snippet (set once)."""
    with open(path) as f:
        vals = re.findall(r"(?m)^\s*server\.max-request-size\s*=\s*(\d+)\s*$",
                          f.read())
    if len(vals) != 1:
        raise ValueError("%s: %d server.max-request-size lines" % (path, len(vals)))
    return int(vals[0])


def conf_max_body_bytes(cs_config):
    """max_body_bytes of a chatstream.conf (bytes), None when the file does
    not set it (or cannot be read: chatstream will say why)."""
    try:
        with open(cs_config) as f:
            m = re.search(r'(?m)^[ \t]*max_body_bytes[ \t]*=[ \t]*"?(\d+)([kKmM]?)"?[ \t]*$',
                          f.read())
    except (OSError, TypeError):
        return None
    if not m:
        return None
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20}[m.group(2).lower()]


def lighttpd_max_request_kib(cs_config, path=SHIPPED_LIGHTTPD):
    """The server.max-request-size a generated lighttpd.conf carries for
    chatstream at cs_config: the shipped value, or, for a max_body_bytes
    that reaches it, twice max_body_bytes, so lighttpd always takes a body
    a little over max_body_bytes and chatstream answers it with its 413
    JSON (as the snippet says: keep it above max_body_bytes)."""
    kib = shipped_max_request_kib(path)
    body = conf_max_body_bytes(cs_config) if cs_config else None
    if kib and body is not None and body >= kib << 10:   # 0: no limit
        kib = 2 * ((body + 1023) >> 10)
    return kib


def lighttpd_snippet(*, bin_path, socket_path, docroot=WWW, cs_config=None,
                     bin_env=None, max_procs=None, read_timeout=None,
                     max_request_kib=None, path=SHIPPED_LIGHTTPD):
    """The shipped conf/lighttpd.conf with its paths replaced: bin-path,
    socket, document root, bin-environment (CHATSTREAM_CONFIG = cs_config,
    plus bin_env).  max_procs / read_timeout / max_request_kib
    (server.max-request-size; None = as shipped) are for configs that
    need another value."""
    with open(path) as f:
        text = f.read()
    env = dict(bin_env or {})
    if cs_config:
        env["CHATSTREAM_CONFIG"] = cs_config
    env_s = "( %s )" % ", ".join("%s => %s" % (lt_str(k), lt_str(v))
                                 for k, v in env.items())
    text = _sub_once(text, r'(\n\s*"bin-path"\s*=>\s*)"[^"\n]*"',
                     lt_str(bin_path), '"bin-path"', path)
    text = _sub_once(text, r'(\n\s*"socket"\s*=>\s*)"[^"\n]*"',
                     lt_str(socket_path), '"socket"', path)
    text = _sub_once(text, r'(\nserver\.document-root\s*:?=\s*)"[^"\n]*"',
                     lt_str(docroot), "server.document-root", path)
    text = _sub_once(text, r'(\n\s*"bin-environment"\s*=>\s*)\([^)\n]*\)',
                     env_s, '"bin-environment"', path)
    if max_procs is not None:
        text = _sub_once(text, r'(\n\s*"max-procs"\s*=>\s*)\d+',
                         str(int(max_procs)), '"max-procs"', path)
    if read_timeout is not None:
        text = _sub_once(text, r'(\n\s*"read-timeout"\s*=>\s*)\d+',
                         str(int(read_timeout)), '"read-timeout"', path)
    if max_request_kib is not None:
        text = _sub_once(text, r'(\n\s*server\.max-request-size\s*=\s*)\d+',
                         str(int(max_request_kib)), "server.max-request-size", path)
    return text


def lighttpd_conf(*, port, bin_path, socket_path, pid_file, errorlog=None,
                  cs_config=None, docroot=WWW, bind="127.0.0.1",
                  bin_env=None, max_procs=None, accesslog=None,
                  read_timeout=None, max_request_kib=None,
                  snippet_path=SHIPPED_LIGHTTPD, extra_modules=(),
                  extra_conf=None):
    """A complete lighttpd.conf that serves docroot at / and chatstream at
    /api/: what Debian's /etc/lighttpd/lighttpd.conf provides around a
    conf-enabled snippet (port, pid file, logs, MIME types), then the
    shipped conf/lighttpd.conf with only its paths replaced.  max_procs and
    read_timeout None = the shipped values; max_request_kib None = the
    shipped server.max-request-size unless cs_config's max_body_bytes
    reaches it (lighttpd_max_request_kib()).  errorlog None = lighttpd's
    stderr.  extra_modules: more server.modules, loaded before the
    snippet's (mod_auth must come before mod_fastcgi); extra_conf: lines
    appended after the snippet (auth.require, say)."""
    if max_request_kib is None:
        want = lighttpd_max_request_kib(cs_config, snippet_path)
        if want != shipped_max_request_kib(snippet_path):
            max_request_kib = want
    mods = ["mod_indexfile", "mod_access"] + list(extra_modules)
    if accesslog:
        mods.append("mod_accesslog")
    out = [
        "# generated by tests/lib/harness.py: the frame Debian's lighttpd.conf",
        "# gives a conf-enabled snippet, then %s" % os.path.relpath(snippet_path, REPO),
        "server.modules = ( %s )" % ", ".join(lt_str(m) for m in mods),
        "server.bind = %s" % lt_str(bind),
        "server.port = %d" % port,
        "server.document-root = %s" % lt_str(WWW),
        "server.pid-file = %s" % lt_str(pid_file),
        "server.tag = \"lighttpd\"",
        "index-file.names = ( \"index.html\" )",
        "mimetype.assign = (",
        "  \".html\" => \"text/html; charset=utf-8\",",
        "  \".js\" => \"text/javascript; charset=utf-8\",",
        "  \".mjs\" => \"text/javascript; charset=utf-8\",",
        "  \".css\" => \"text/css; charset=utf-8\",",
        "  \".json\" => \"application/json\",",
        "  \".svg\" => \"image/svg+xml\",",
        "  \".png\" => \"image/png\",",
        "  \".ico\" => \"image/x-icon\",",
        "  \".txt\" => \"text/plain; charset=utf-8\",",
        ")",
    ]
    if errorlog:
        out.append("server.errorlog = %s" % lt_str(errorlog))
    if accesslog:
        out.append("accesslog.filename = %s" % lt_str(accesslog))
    out.append("")
    out.append("# ---- %s (paths templated) ----" % os.path.relpath(snippet_path, REPO))
    out.append(lighttpd_snippet(
        bin_path=bin_path, socket_path=socket_path, docroot=docroot,
        cs_config=cs_config, bin_env=bin_env, max_procs=max_procs,
        read_timeout=read_timeout, max_request_kib=max_request_kib,
        path=snippet_path).rstrip("\n"))
    out.append("# ---- end of %s ----" % os.path.relpath(snippet_path, REPO))
    out.append("")
    if extra_conf:
        out.append(extra_conf.rstrip("\n"))
        out.append("")
    out.append("server.modules += ( \"mod_staticfile\" )   # last, as in Debian's")
    return "\n".join(out) + "\n"


# Variables that must not leak from the developer's shell into a test
# server (they would change chatstream's provider/key).
HERMETIC_DROP = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CHATSTREAM_CONFIG",
                 "STATE_DIRECTORY",
                 "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
                 "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT")


# ---------------------------------------------------------------------------
# Processes


class Replay:
    def __init__(self, tmpdir, fixtures=FIXTURES, verbose=False, tls=None,
                 host_name="127.0.0.1"):
        """tls: (cert.pem, key.pem) to serve HTTPS; host_name: the name
        base_url gives (one the certificate names)."""
        self.tmpdir = tmpdir
        self.tls = tls
        self.host_name = host_name
        self.fixtures = fixtures
        self.verbose = verbose or bool(os.environ.get("REPLAY_VERBOSE"))
        self.proc = None
        self.port = None
        self.log_path = os.path.join(tmpdir, "replay.log")

    def start(self, timeout=10.0):
        cmd = [sys.executable, REPLAY, "--port", "0", "--fixtures", self.fixtures]
        if self.tls:
            cmd += ["--tls-cert", self.tls[0], "--tls-key", self.tls[1]]
        if self.verbose:
            cmd.append("--verbose")
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=self._log, stdin=subprocess.DEVNULL,
                                     start_new_session=True,
                                     preexec_fn=_die_with_parent)
        deadline = mono() + timeout
        buf = b""
        while b"\n" not in buf:
            left = deadline - mono()
            if left <= 0 or self.proc.poll() is not None:
                raise RuntimeError("replay did not print READY (log: %s)"
                                   % self.log_path)
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                d = os.read(self.proc.stdout.fileno(), 256)
                if not d:
                    continue
                buf += d
        line = buf.split(b"\n")[0].decode()
        m = re.fullmatch(r"READY (\d+)", line.strip())
        if not m:
            raise RuntimeError("replay printed %r" % line)
        self.port = int(m.group(1))
        return self

    @property
    def base_url(self):
        return "%s://%s:%d/v1" % ("https" if self.tls else "http",
                                  self.host_name, self.port)

    def _get(self, path, timeout=30.0):
        r = request(self.port, "GET", path, timeout=timeout, record=False)
        return r.status, r.json()

    def events(self, tag, name=None):
        _, evs = self._get("/_events?tag=" + urllib.parse.quote(tag))
        return [e for e in evs if name is None or e["event"] == name]

    def wait(self, tag, event, timeout=10.0, count=1):
        """The event dict once it exists (long poll), or None on timeout."""
        st, ev = self._get("/_wait?" + urllib.parse.urlencode(
            {"tag": tag, "event": event, "timeout": timeout, "count": count}),
            timeout=timeout + 10)
        return ev if st == 200 else None

    def stop(self):
        kill_group(self.proc)
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None


class Lighttpd:
    """lighttpd + chatstream (FastCGI bin-path) under tmpdir/name/."""

    def __init__(self, tmpdir, bin_path, cs_config, name="lt", port=None,
                 env=None, conf_args=None):
        self.dir = os.path.join(tmpdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.bin_path = bin_path
        self.cs_config = cs_config
        self.port = port
        self.env = env
        self.conf_args = dict(conf_args or {})   # more lighttpd_conf() args
        self.proc = None
        self.errorlog = os.path.join(self.dir, "error.log")
        self.conf_path = os.path.join(self.dir, "lighttpd.conf")

    def start(self, timeout=20.0):
        last = None
        for _ in range(3):  # a free port may be taken between probe and bind
            port = self.port or free_port()
            try:
                return self._start(port, timeout)
            except OSError as e:
                last = e
                if self.port:
                    break
        raise last

    def _start(self, port, timeout):
        conf = lighttpd_conf(
            port=port, bin_path=self.bin_path,
            socket_path=os.path.join(self.dir, "cs.sock"),
            pid_file=os.path.join(self.dir, "lighttpd.pid"),
            errorlog=self.errorlog, cs_config=self.cs_config,
            **self.conf_args)
        with open(self.conf_path, "w") as f:
            f.write(conf)
        env = dict(self.env if self.env is not None else os.environ)
        for k in HERMETIC_DROP:
            env.pop(k, None)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        log = open(self.errorlog, "ab")
        start_size = os.path.getsize(self.errorlog)
        self.proc = subprocess.Popen(
            [find_lighttpd(), "-D", "-f", self.conf_path],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
            cwd=self.dir, start_new_session=True, preexec_fn=_die_with_parent)
        log.close()
        return wait_listening(self, port, "lighttpd", start_size, timeout)

    def stop(self):
        if self.proc is not None and self.proc.poll() is not None:
            self.died_early = self.proc.returncode
        kill_group(self.proc, timeout=8.0)
        self.proc = None

    died_early = None   # exit status if it was gone before stop()

    def log_text(self):
        try:
            with open(self.errorlog, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def access_lines(self):
        return [l for l in self.log_text().splitlines() if "chatstream:" in l]

    def wait_log(self, pattern, timeout=10.0):
        """First error-log line matching the regex, polling until timeout."""
        rx = re.compile(pattern)
        deadline = mono() + timeout
        while True:
            for line in self.log_text().splitlines():
                if rx.search(line):
                    return line
            if mono() > deadline:
                return None
            time.sleep(0.05)

    def log_line_for(self, stream_id, timeout=10.0):
        return self.wait_log(r"chatstream:.*\bid=%s\b" % re.escape(stream_id),
                             timeout)

    # -- requests -------------------------------------------------------

    def chat(self, content="hello", tag=None, model=None, messages=None,
             extra=None, **kw):
        """POST /api/chat; the tag goes into the last user message."""
        if messages is None:
            text = ("tag:%s %s" % (tag, content)) if tag else content
            messages = [{"role": "user", "content": text}]
        body = {"messages": messages}
        if model is not None:
            body["model"] = model
        if extra:
            body.update(extra)
        return request(self.port, "POST", "/api/chat",
                       body=json.dumps(body).encode(),
                       headers={"Content-Type": "application/json",
                                "Accept": "text/event-stream"}, **kw)

    def get(self, path, **kw):
        return request(self.port, "GET", path, **kw)

    def post(self, path, body, content_type="application/json", **kw):
        if isinstance(body, str):
            body = body.encode()
        return request(self.port, "POST", path, body=body,
                       headers={"Content-Type": content_type}, **kw)


class Standalone:
    """chatstream --listen 127.0.0.1:PORT (FastCGI over TCP), stderr to
    DIR/error.log.  Same log interface as Lighttpd."""

    def __init__(self, tmpdir, bin_path, cs_config, name="standalone"):
        self.dir = os.path.join(tmpdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.bin_path, self.cs_config = bin_path, cs_config
        self.errorlog = os.path.join(self.dir, "error.log")
        self.proc = None
        self.port = None

    def start(self, timeout=20.0):
        self.port = free_port()
        env = dict(os.environ)
        for k in HERMETIC_DROP:
            env.pop(k, None)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        log = open(self.errorlog, "ab")
        self.proc = subprocess.Popen(
            [self.bin_path, "--config", self.cs_config,
             "--listen", "127.0.0.1:%d" % self.port],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
            cwd=self.dir, start_new_session=True, preexec_fn=_die_with_parent)
        log.close()
        deadline = mono() + timeout
        while not port_open(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError("chatstream --listen exited (%s):\n%s"
                                   % (self.proc.returncode, self.log_text()[-3000:]))
            if mono() > deadline:
                raise RuntimeError("chatstream --listen did not listen")
            time.sleep(0.02)
        return self

    @property
    def addr(self):
        return ("127.0.0.1", self.port)

    def chat(self, content="hello", tag=None, model=None, **kw):
        text = ("tag:%s %s" % (tag, content)) if tag else content
        b = {"messages": [{"role": "user", "content": text}]}
        if model:
            b["model"] = model
        body = json.dumps(b).encode()
        return fcgi_request(self.addr, cgi_env(body=body), body, **kw)

    def stop(self):
        kill_group(self.proc, timeout=8.0)
        self.proc = None

    log_text = Lighttpd.log_text
    access_lines = Lighttpd.access_lines
    wait_log = Lighttpd.wait_log
    log_line_for = Lighttpd.log_line_for


# ---------------------------------------------------------------------------
# HTTP + SSE client


class Ev:
    """One SSE item: kind "event" (dispatched block) or "comment"."""
    __slots__ = ("kind", "t", "id", "event", "data", "raw")

    def __init__(self, kind, t, id=None, event=None, data=None, raw=""):
        self.kind, self.t, self.id, self.event = kind, t, id, event
        self.data, self.raw = data, raw

    def json(self):
        try:
            return json.loads(self.data)
        except (TypeError, ValueError):
            return None

    def __repr__(self):
        if self.kind == "comment":
            return "<comment %r @%.3f>" % (self.data, self.t)
        return "<event id=%s event=%s data=%.80r @%.3f>" % (
            self.id, self.event, self.data, self.t)


class SSEParser:
    """Incremental WHATWG event-stream parser over decoded text."""

    def __init__(self):
        self.buf = ""
        self.data, self.event, self.id, self.raw = None, None, None, []
        self.items = []

    def feed(self, text, t, final=False):
        self.buf += text
        out = []
        while True:
            i = -1
            for j, ch in enumerate(self.buf):
                if ch in "\r\n":
                    i = j
                    break
            if i < 0:
                break
            if self.buf[i] == "\r" and i + 1 == len(self.buf) and not final:
                break  # a CR at the end: wait to see whether LF follows
            line = self.buf[:i]
            skip = 2 if self.buf[i:i + 2] == "\r\n" else 1
            self.buf = self.buf[i + skip:]
            ev = self.line(line, t)
            if ev is not None:
                out.append(ev)
        self.items += out
        return out

    def line(self, line, t):
        if line == "":
            if not self.raw:
                return None
            ev = Ev("event", t, self.id, self.event,
                    None if self.data is None else self.data,
                    "\n".join(self.raw))
            self.data, self.event, self.raw = None, None, []
            # (the spec keeps the last event id across events; we record the
            # id only on the event that carried it)
            self.id = None
            return ev
        if line.startswith(":"):
            return Ev("comment", t, data=line[1:].lstrip(" "), raw=line)
        self.raw.append(line)
        field, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self.data = value if self.data is None else self.data + "\n" + value
        elif field == "event":
            self.event = value
        elif field == "id":
            self.id = value
        return None


class Response:
    def __init__(self):
        self.status = None
        self.reason = ""
        self.headers = []        # [(name, value)]
        self.body = b""          # decoded (de-chunked) body
        self.items = []          # Ev, events and comments in arrival order
        self.t_start = None      # request sent
        self.t_headers = None    # response head parsed
        self.t_first_byte = None
        self.t_end = None        # body complete / connection closed / we closed
        self.complete = False    # the body ended properly (0-chunk / length)
        self.closed_by_us = False
        self.error = None        # exception text if the read failed

    def header(self, name, default=None):
        n = name.lower()
        for k, v in self.headers:
            if k.lower() == n:
                return v
        return default

    def header_all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    @property
    def is_sse(self):
        return (self.header("content-type") or "").startswith("text/event-stream")

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None

    @property
    def text_body(self):
        return self.body.decode("utf-8", "replace")

    @property
    def events(self):
        return [e for e in self.items if e.kind == "event"]

    @property
    def comments(self):
        return [e for e in self.items if e.kind == "comment"]

    def data_events(self):
        """Default-type events whose data is a JSON object."""
        out = []
        for e in self.events:
            if e.event in (None, "", "message") and e.data not in (None, "[DONE]"):
                j = e.json()
                if isinstance(j, dict):
                    out.append((e, j))
        return out

    @property
    def deltas(self):
        return [j["content"] for e, j in self.data_events() if "content" in j]

    @property
    def text(self):
        return "".join(d for d in self.deltas if isinstance(d, str))

    @property
    def refusal(self):
        return "".join(j["refusal"] for e, j in self.data_events()
                       if isinstance(j.get("refusal"), str))

    def named(self, name):
        return [e for e in self.events if e.event == name]

    @property
    def finish(self):
        f = self.named("finish")
        return f[-1].json() if f else None

    @property
    def error_event(self):
        f = self.named("error")
        return f[-1].json() if f else None

    @property
    def done_events(self):
        return [e for e in self.events if e.data == "[DONE]"]

    @property
    def stream_id(self):
        for e in self.events:
            if e.id and ":" in e.id:
                return e.id.rsplit(":", 1)[0]
        return None

    def summary(self, n=12):
        s = "HTTP %s %s; %d events, %d comments, complete=%s" % (
            self.status, self.reason, len(self.events), len(self.comments),
            self.complete)
        if self.error:
            s += "; error=%s" % self.error
        if not self.is_sse:
            s += "; body=%.300r" % self.body
        else:
            evs = self.events
            for e in evs[:n]:
                s += "\n  %r" % e
            if len(evs) > n:
                s += "\n  ... (%d more)\n  %r" % (len(evs) - n - 1, evs[-1])
        return s


# Every response body any test saw (for the "key never leaks" check).
_SEEN_LOCK = threading.Lock()
SEEN_BODIES = []


class ChunkDecoder:
    def __init__(self):
        self.buf = b""
        self.state = "size"
        self.left = 0
        self.done = False

    def feed(self, data):
        self.buf += data
        out = b""
        while not self.done:
            if self.state == "size":
                i = self.buf.find(b"\r\n")
                if i < 0:
                    break
                line = self.buf[:i].split(b";")[0].strip()
                self.buf = self.buf[i + 2:]
                self.left = int(line, 16)
                self.state = "data" if self.left else "trailer"
            elif self.state == "data":
                if not self.buf:
                    break
                take = self.buf[:self.left]
                self.buf = self.buf[len(take):]
                out += take
                self.left -= len(take)
                if not self.left:
                    self.state = "crlf"
            elif self.state == "crlf":
                if len(self.buf) < 2:
                    break
                self.buf = self.buf[2:]
                self.state = "size"
            elif self.state == "trailer":
                i = self.buf.find(b"\r\n")
                if i < 0:
                    break
                line = self.buf[:i]
                self.buf = self.buf[i + 2:]
                if line == b"":
                    self.done = True
        return out


def request(port, method, path, body=None, headers=None, timeout=30.0,
            stop=None, host="127.0.0.1", http10=False, record=True,
            raw_request=None):
    """One HTTP request on a fresh connection.

    stop(resp, ev) is called after every SSE item; returning True closes the
    socket at once (resp.closed_by_us, resp.t_end = the close time).
    Never raises for network trouble: resp.error says what happened.
    """
    resp = Response()
    deadline = mono() + timeout
    sock = None
    try:
        sock = socket.create_connection((host, port), timeout=min(timeout, 10))
        if raw_request is not None:
            req = raw_request
        else:
            hdrs = {"Host": "%s:%d" % (host, port), "Connection": "close",
                    "User-Agent": "chatstream-e2e"}
            if body is not None:
                hdrs["Content-Length"] = str(len(body))
            hdrs.update(headers or {})
            req = ("%s %s HTTP/%s\r\n" % (method, path, "1.0" if http10 else "1.1")
                   + "".join("%s: %s\r\n" % kv for kv in hdrs.items())
                   + "\r\n").encode("latin-1") + (body or b"")
        resp.t_start = mono()
        sock.sendall(req)
        _read_response(sock, resp, deadline, stop, method)
    except Exception as e:  # noqa: BLE001 - reported in resp.error
        resp.error = "%s: %s" % (type(e).__name__, e)
    finally:
        if sock is not None:
            if resp.closed_by_us:
                pass
            else:
                try:
                    sock.close()
                except OSError:
                    pass
        if resp.t_end is None:
            resp.t_end = mono()
        if record:
            with _SEEN_LOCK:
                SEEN_BODIES.append(b"".join(
                    "%s: %s\n".encode("utf-8", "replace") % (k.encode("utf-8", "replace"),
                                                           v.encode("utf-8", "replace"))
                    for k, v in resp.headers) + resp.body)
    return resp


def _read_response(sock, resp, deadline, stop, method):
    head = b""
    body_bytes = bytearray()
    parser = None
    decoder = None
    length = None
    dec = None
    import codecs

    def recv():
        left = deadline - mono()
        if left <= 0:
            raise TimeoutError("no complete response before the deadline")
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            raise TimeoutError("no complete response before the deadline")
        try:
            d = sock.recv(65536)
        except ConnectionResetError:
            d = b""
            resp.error = "connection reset"
        t = mono()
        if d and resp.t_first_byte is None:
            resp.t_first_byte = t
        return d, t

    # -- head
    while b"\r\n\r\n" not in head:
        d, t = recv()
        if not d:
            raise ConnectionError("connection closed before the response head "
                                  "(got %r)" % head[:200])
        head += d
    raw_head, rest = head.split(b"\r\n\r\n", 1)
    lines = raw_head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/\d\.\d (\d{3}) ?(.*)", lines[0])
    if not m:
        raise ValueError("bad status line %r" % lines[0])
    resp.status, resp.reason = int(m.group(1)), m.group(2)
    for l in lines[1:]:
        k, _, v = l.partition(":")
        resp.headers.append((k.strip(), v.strip()))
    resp.t_headers = t
    te = (resp.header("transfer-encoding") or "").lower()
    if "chunked" in te:
        decoder = ChunkDecoder()
    elif resp.header("content-length") is not None:
        length = int(resp.header("content-length"))
    if method == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200:
        length = 0
    if resp.is_sse:
        parser = SSEParser()
        dec = codecs.getincrementaldecoder("utf-8")("replace")

    def consume(data, t, final=False):
        if decoder is not None:
            data = decoder.feed(data)
        body_bytes.extend(data)
        if parser is not None:
            for ev in parser.feed(dec.decode(data, final), t, final):
                resp.items.append(ev)
                if stop is not None and stop(resp, ev):
                    return True
        return False

    def finished():
        if decoder is not None:
            return decoder.done
        if length is not None:
            return len(body_bytes) >= length
        return False

    try:
        stopped = consume(rest, t)
        while not stopped and not finished():
            d, t = recv()
            if not d:
                if decoder is None and length is None:
                    resp.complete = True   # close-delimited body
                resp.t_end = t
                consume(b"", t, final=True)
                break
            stopped = consume(d, t)
        else:
            if stopped:
                resp.closed_by_us = True
                resp.t_end = mono()
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
                resp.t_end = mono()
            else:
                resp.complete = True
                resp.t_end = t
                if parser is not None:
                    consume(b"", t, final=True)
    finally:
        resp.body = bytes(body_bytes)


# ---------------------------------------------------------------------------
# FastCGI client (for chatstream --listen) and CGI response parsing


def _fcgi_record(rtype, rid, content=b""):
    out = b""
    while True:
        part, content = content[:65535], content[65535:]
        pad = (8 - len(part) % 8) % 8
        out += bytes([1, rtype, rid >> 8, rid & 255, len(part) >> 8,
                      len(part) & 255, pad, 0]) + part + b"\0" * pad
        if not content:
            return out


def _fcgi_params(env):
    out = b""
    for k, v in env.items():
        k, v = k.encode(), str(v).encode()
        for n in (len(k), len(v)):
            out += bytes([n]) if n < 128 else (n | 0x80000000).to_bytes(4, "big")
        out += k + v
    return out


def http_post_bytes(path, body, sse=False, close=False, with_body=True):
    """The bytes of an HTTP/1.1 JSON POST of body to path, for tests that
    drive a socket by hand: sse adds Accept: text/event-stream, close adds
    Connection: close; with_body False gives the head alone (the body to
    be sent later)."""
    head = (b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\n" % path.encode()
            + (b"Accept: text/event-stream\r\n" if sse else b"")
            + (b"Connection: close\r\n" if close else b"")
            + b"Content-Length: %d\r\n\r\n" % len(body))
    return head + body if with_body else head


FCGI_BEGIN_RESPONDER = _fcgi_record(1, 1, bytes([0, 1, 0, 0, 0, 0, 0, 0]))


def fcgi_request_bytes(env, body=b"", end=True):
    """What a web server sends for one responder request (id 1): begin,
    the params stream, body as one FCGI_STDIN record, and (end) the empty
    record that ends FCGI_STDIN.  CONTENT_LENGTH defaults to len(body)."""
    env = dict(env)
    env.setdefault("CONTENT_LENGTH", str(len(body)))
    return (FCGI_BEGIN_RESPONDER + _fcgi_record(4, 1, _fcgi_params(env))
            + _fcgi_record(4, 1) + (_fcgi_record(5, 1, body) if body else b"")
            + (_fcgi_record(5, 1) if end else b""))


class CGIStream:
    """Feeds CGI output (Status:/headers, blank line, body) into a Response."""

    def __init__(self, resp, stop=None):
        self.resp, self.stop = resp, stop
        self.head = b""
        self.in_body = False
        self.parser = SSEParser()
        import codecs
        self.dec = codecs.getincrementaldecoder("utf-8")("replace")
        self.body = bytearray()

    def feed(self, data, t, final=False):
        r = self.resp
        if not self.in_body:
            self.head += data
            i = self.head.find(b"\r\n\r\n")
            j = self.head.find(b"\n\n")
            if i < 0 and j < 0:
                return False
            if i >= 0 and (j < 0 or i < j):
                raw, data = self.head[:i], self.head[i + 4:]
            else:
                raw, data = self.head[:j], self.head[j + 2:]
            self.in_body = True
            r.t_headers = t
            r.status = 200
            for line in raw.decode("latin-1").replace("\r", "").split("\n"):
                k, _, v = line.partition(":")
                if k.lower() == "status":
                    r.status = int(v.strip().split()[0])
                    r.reason = v.strip()[4:]
                else:
                    r.headers.append((k.strip(), v.strip()))
        self.body.extend(data)
        r.body = bytes(self.body)
        if r.is_sse:
            for ev in self.parser.feed(self.dec.decode(data, final), t, final):
                r.items.append(ev)
                if self.stop is not None and self.stop(r, ev):
                    return True
        return False


def fcgi_request(addr, env, body=b"", timeout=30.0, stop=None, on_open=None):
    """One FastCGI responder request to addr ((host, port) or a unix socket
    path).  Returns a Response built from the CGI output; resp.complete is
    True once FCGI_END_REQUEST arrived.  stop(resp, ev) as in request();
    on_open(resp) runs after the request was sent."""
    resp = Response()
    deadline = mono() + timeout
    fam = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
    sock = socket.socket(fam, socket.SOCK_STREAM)
    cgi = CGIStream(resp, stop)
    try:
        sock.settimeout(min(timeout, 10))
        sock.connect(addr)
        req = fcgi_request_bytes(env, body)
        resp.t_start = mono()
        sock.sendall(req)
        if on_open:
            on_open(resp)
        buf = b""
        while True:
            left = deadline - mono()
            if left <= 0:
                raise TimeoutError("no FCGI_END_REQUEST before the deadline")
            rd, _, _ = select.select([sock], [], [], left)
            if not rd:
                continue
            d = sock.recv(65536)
            t = mono()
            if not d:
                resp.error = "connection closed before FCGI_END_REQUEST"
                break
            buf += d
            while len(buf) >= 8:
                clen = (buf[4] << 8) | buf[5]
                n = 8 + clen + buf[6]
                if len(buf) < n:
                    break
                rtype, content, buf = buf[1], buf[8:8 + clen], buf[n:]
                if rtype == 6 and content:
                    if cgi.feed(content, t):
                        resp.closed_by_us = True
                        resp.t_end = mono()
                        return resp
                elif rtype == 7:
                    resp.stderr = getattr(resp, "stderr", b"") + content
                elif rtype == 3:
                    resp.complete = True
                    resp.t_end = t
                    cgi.feed(b"", t, final=True)
                    return resp
    except Exception as e:  # noqa: BLE001
        resp.error = resp.error or "%s: %s" % (type(e).__name__, e)
    finally:
        sock.close()
        if resp.t_end is None:
            resp.t_end = mono()
        with _SEEN_LOCK:
            SEEN_BODIES.append(resp.body)
    return resp


def parse_fcgi_output(raw):
    """The CGI answer in the FastCGI records of raw (what a responder sent
    back), as a Response; resp.complete once FCGI_END_REQUEST is in."""
    resp = Response()
    cgi = CGIStream(resp)
    while len(raw) >= 8:
        clen = (raw[4] << 8) | raw[5]
        n = 8 + clen + raw[6]
        rtype, content, raw = raw[1], raw[8:8 + clen], raw[n:]
        if rtype == 6 and content:
            cgi.feed(content, mono())
        elif rtype == 3:
            resp.complete = True
    cgi.feed(b"", mono(), final=True)
    return resp


def cgi_env(method="POST", path="/api/chat", content_type="application/json",
            body=b""):
    env = {"GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1",
           "REQUEST_METHOD": method, "SCRIPT_NAME": path, "REQUEST_URI": path,
           "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40000",
           "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
           "SERVER_SOFTWARE": "chatstream-e2e", "QUERY_STRING": ""}
    if body:
        env["CONTENT_TYPE"] = content_type
        env["CONTENT_LENGTH"] = str(len(body))
    return env


# ---------------------------------------------------------------------------
# TAP


class Skip(Exception):
    pass


class Case:
    def __init__(self, name):
        self.name = name
        self.failures = []
        self.diags = []
        self.skipped = None
        self.todo_reason = None

    def diag(self, msg):
        self.diags.append(str(msg))

    def check(self, cond, msg, detail=None):
        if not cond:
            self.failures.append(str(msg) + ("" if detail is None else
                                              "\n" + str(detail)))
        return bool(cond)

    def eq(self, got, want, msg, detail=None):
        ok = got == want
        if not ok:
            self.failures.append("%s: got %s, want %s%s" % (
                msg, _short(got), _short(want),
                "" if detail is None else "\n" + str(detail)))
        return ok

    def require(self, cond, msg, detail=None):
        if not self.check(cond, msg, detail):
            raise AssertionError("(stopping this case)")

    def skip(self, reason):
        raise Skip(reason)

    def todo(self, reason):
        """Mark the case TODO: a failure is reported but does not count
        (TAP "not ok N - desc # TODO reason")."""
        self.todo_reason = reason


def _short(v, n=400):
    try:
        s = repr(v) if isinstance(v, (str, bytes)) else json.dumps(v)
    except (TypeError, ValueError):     # a value JSON cannot show
        s = repr(v)
    return s if len(s) <= n else s[:n] + "..."


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0
        self.lock = threading.Lock()

    def plan(self, n):
        print("1..%d" % n, flush=True)

    def emit(self, case):
        with self.lock:
            self.n += 1
            desc = case.name.replace("#", "\\#")
            if case.skipped is not None:
                print("ok %d - %s # SKIP %s" % (self.n, desc, case.skipped))
            elif case.todo_reason is not None:
                print("%sok %d - %s # TODO %s" % ("not " if case.failures else "",
                                                 self.n, desc, case.todo_reason))
            elif case.failures:
                self.failed += 1
                print("not ok %d - %s" % (self.n, desc))
            else:
                print("ok %d - %s" % (self.n, desc))
            for d in case.diags + case.failures:
                for line in str(d).splitlines() or [""]:
                    print("# " + line)
            sys.stdout.flush()


def run_case(name, fn, *args):
    c = Case(name)
    t0 = mono()
    try:
        fn(c, *args)
    except Skip as e:
        c.skipped = str(e)
    except AssertionError as e:
        if str(e) != "(stopping this case)":
            c.failures.append("assertion: %s" % e)
    except Exception:  # noqa: BLE001
        c.failures.append("exception:\n" + traceback.format_exc())
    dt = mono() - t0
    if dt > 5:
        c.diag("took %.1f s" % dt)
    return c


def run_cases(tap, cases, parallel=1):
    """cases: [(name, fn)] with fn(case).  parallel > 1 runs them in
    threads (output stays in order)."""
    if parallel <= 1:
        for name, fn in cases:
            tap.emit(run_case(name, fn))
        return
    with ThreadPoolExecutor(max_workers=parallel) as ex:
        futs = [ex.submit(run_case, name, fn) for name, fn in cases]
        for f in futs:
            tap.emit(f.result())


# ---------------------------------------------------------------------------
# A test file's world: tmp dir, key, replay, lighttpd+chatstream servers


BASE_SETTINGS = [
    ("threads", 16),
    ("provider", "openai-chat"),
    ("keepalive_seconds", 1),
    ("connect_timeout_seconds", 2),
    ("first_byte_timeout_seconds", 5),
    ("idle_timeout_seconds", 2),
    ("total_timeout_seconds", 60),
    ("max_retries", 2),
    ("max_body_bytes", 65536),
    ("shutdown_grace_seconds", 1),
    # The tests call /api/v1 without keys unless they test the keys, and
    # count nothing unless they test the limits (the defaults would
    # refuse the fourth concurrent stream from 127.0.0.1).
    ("api_v1_auth", "open"),
    ("requests_per_minute", 0),
    ("concurrent_streams", 0),
    ("tokens_per_day", 0),
    ("global_tokens_per_day", 0),
]

SANITIZER_RX = re.compile(
    r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
    r"SUMMARY: (Address|Undefined|Leak)Sanitizer|"
    r"AddressSanitizer:DEADLYSIGNAL|"
    r"child (signaled|signalled)|child exited: [1-9]|"
    r"Segmentation fault|double free|stack smashing")


class Stack:
    def __init__(self, name):
        self.name = name
        self.bin = chatstream_bin()
        self.tmp = tempfile.mkdtemp(prefix="chatstream-%s-" % name)
        self.key_path = os.path.join(self.tmp, "key")
        self.key = write_key(self.key_path)
        self.replay = None
        self.servers = []
        self.keep = bool(os.environ.get("CHATSTREAM_KEEP_TMP"))

    def start_replay(self):
        self.replay = Replay(self.tmp).start()
        return self.replay

    def settings(self, models, default_model=None, **over):
        """BASE_SETTINGS + base_url/api_key_file/models, then overrides
        (a value of None removes the key)."""
        d = dict(BASE_SETTINGS)
        if self.replay is not None:
            d["base_url"] = self.replay.base_url
        d["api_key_file"] = self.key_path
        d["model"] = list(models)
        if default_model:
            d["default_model"] = default_model
        d.update(over)
        return [(k, v) for k, v in d.items() if v is not None]

    def server(self, models, name=None, settings=None, default_model=None,
               lighttpd_args=None, **over):
        """Write a chatstream.conf and start lighttpd+chatstream on it.
        lighttpd_args: more lighttpd_conf() arguments (read_timeout=...)."""
        name = name or "lt%d" % (len(self.servers) + 1)
        if settings is None:
            settings = self.settings(models, default_model, **over)
        os.makedirs(os.path.join(self.tmp, name), exist_ok=True)
        conf = write_chatstream_conf(os.path.join(self.tmp, name, "chatstream.conf"),
                                     settings)
        lt = Lighttpd(self.tmp, self.bin, conf, name=name, conf_args=lighttpd_args)
        self.servers.append(lt)
        lt.start()
        return lt

    def standalone(self, models, name=None, default_model=None, **over):
        """Write a chatstream.conf and start chatstream --listen on it."""
        name = name or "sa%d" % (len(self.servers) + 1)
        os.makedirs(os.path.join(self.tmp, name), exist_ok=True)
        conf = write_chatstream_conf(os.path.join(self.tmp, name, "chatstream.conf"),
                                     self.settings(models, default_model, **over))
        sa = Standalone(self.tmp, self.bin, conf, name=name)
        self.servers.append(sa)
        sa.start()
        return sa

    def stop(self):
        for lt in self.servers:
            try:
                lt.stop()
            except Exception:  # noqa: BLE001
                traceback.print_exc()
        if self.replay is not None:
            try:
                self.replay.stop()
            except Exception:  # noqa: BLE001
                traceback.print_exc()

    def final_cases(self):
        """Checks run after stop(): key leak and sanitizer/crash reports."""
        def key_never_leaks(t):
            with _SEEN_LOCK:
                bodies = list(SEEN_BODIES)
            needle = self.key.encode()
            tail = self.key.split("-")[-1].encode()
            hits = sum(1 for b in bodies if needle in b or tail in b)
            t.eq(hits, 0, "responses containing the API key (of %d)" % len(bodies))
            for lt in self.servers:
                txt = lt.log_text()
                t.check(self.key not in txt and tail.decode() not in txt,
                        "%s: the API key appears in error.log" % lt.errorlog)

        def no_crash(t):
            for lt in self.servers:
                bad = [l for l in lt.log_text().splitlines() if SANITIZER_RX.search(l)]
                t.check(not bad, "%s: sanitizer report or crash in error.log"
                        % lt.errorlog, "\n".join(bad[:20]))
                if bad:
                    txt = lt.log_text()
                    i = txt.find(bad[0])
                    t.diag(txt[max(0, i - 2000):i + 6000])

        def stayed_up(t):
            for lt in self.servers:
                if getattr(lt, "died_early", None) is None:
                    continue
                why = [l for l in lt.log_text().splitlines()
                       if "server stopped by" in l or "signal" in l]
                t.check(False, "%s exited (status %s) before the test stopped it%s"
                        % (lt.dir, lt.died_early,
                           " -- a signal from a process outside this test "
                           "(another session's pkill/killall?)" if why else ""),
                        "\n".join(why[-5:]))

        return [("API key never appears in any response or error.log",
                 key_never_leaks),
                ("no sanitizer report or crash in the error logs", no_crash),
                ("every server stayed up until teardown", stayed_up)]

    def cleanup(self, failed):
        if self.keep or failed:
            print("# test files kept in %s" % self.tmp, flush=True)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def main(name, cases, setup, parallel=1, after=()):
    """Run a test file and return its exit status.

    setup(stack) starts the servers (cases reach them through module
    globals).  cases: [(name, fn(case))], run `parallel` at a time (TAP
    output stays in order); then `after` cases one by one; then, with every
    server stopped, the stack's final checks (key leak, sanitizer reports).
    """
    if chatstream_bin() is None:
        print("1..0 # SKIP chatstream not built (CHATSTREAM_BIN=%s)"
              % os.environ.get("CHATSTREAM_BIN", ""))
        return 0
    def on_term(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)   # tear down when killed (timeout)
    tap = Tap()
    stack = Stack(name)
    started = False
    finals = []
    try:
        try:
            setup(stack)
        except Exception:  # noqa: BLE001
            print("1..1")
            print("not ok 1 - set up replay + lighttpd + chatstream")
            for line in traceback.format_exc().splitlines():
                print("# " + line)
            for lt in stack.servers:
                for line in lt.log_text().splitlines()[-40:]:
                    print("# error.log: " + line)
            tap.failed += 1
            return 1
        started = True
        finals = stack.final_cases()
        tap.plan(len(cases) + len(after) + len(finals))
        run_cases(tap, cases, parallel)
        run_cases(tap, list(after), 1)
    finally:
        stack.stop()
        if started:
            run_cases(tap, finals)
        stack.cleanup(tap.failed > 0)
    return 1 if tap.failed else 0


# ---------------------------------------------------------------------------
# Common assertions


SSE_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
    "x-content-type-options": "nosniff",
}


def check_sse_headers(t, r, skip=()):
    """skip: header names a server in between legitimately removes (nginx
    consumes X-Accel-Buffering)."""
    for k, v in SSE_HEADERS.items():
        if k in skip:
            continue
        got = r.header(k)
        if k == "content-type":
            t.check(got is not None and got.replace(" ", "").lower()
                    == v.replace(" ", "").lower(),
                    "header %s: got %r, want %r" % (k, got, v))
        else:
            t.eq(got, v, "header " + k)


def check_stream_shape(t, r, end="finish", skip_headers=()):
    """ids S:1..S:n, exactly one [DONE] and it is last, one finish or error
    event right before it, and a leading keep-alive comment."""
    t.eq(r.status, 200, "status", r.summary())
    t.check(r.is_sse, "content type is text/event-stream", r.summary())
    check_sse_headers(t, r, skip_headers)
    evs = r.events
    t.require(evs, "no events", r.summary())
    t.check(r.items and r.items[0].kind == "comment"
            and r.items[0].data.startswith("keep-alive"),
            "the body starts with a ': keep-alive' comment", r.summary())
    sid = r.stream_id
    t.check(sid is not None and re.fullmatch(r"[0-9a-f]{16}", sid or ""),
            "stream id is 16 hex digits: %r" % sid)
    want_ids = ["%s:%d" % (sid, i) for i in range(1, len(evs) + 1)]
    got_ids = [e.id for e in evs]
    t.eq(got_ids, want_ids, "event ids count up from 1")
    dones = r.done_events
    t.eq(len(dones), 1, "number of [DONE] events", r.summary())
    t.check(evs[-1].data == "[DONE]", "[DONE] is the last event", r.summary())
    t.check(r.complete, "the response body ended properly", r.summary())
    if len(evs) >= 2:
        t.eq(evs[-2].event, end, "event before [DONE]", r.summary())
    t.eq(len(r.named("finish")) + len(r.named("error")), 1,
         "exactly one finish or error event", r.summary())
    for e in evs:
        if e.data != "[DONE]":
            t.check(e.json() is not None, "event data is JSON: %r" % e.data)
    return evs


def check_error_json(t, r, status, etype=None):
    """An HTTP error answer: status, JSON content type, {"error":{type,message}}."""
    if not t.eq(r.status, status, "status", r.summary()):
        return r.json()
    ct = (r.header("content-type") or "")
    t.check(ct.startswith("application/json"), "error Content-Type is JSON: %r" % ct)
    j = r.json()
    ok = (isinstance(j, dict) and isinstance(j.get("error"), dict)
          and isinstance(j["error"].get("type"), str)
          and isinstance(j["error"].get("message"), str)
          and j["error"]["message"] != "")
    t.check(ok, "body is {\"error\":{\"type\",\"message\"}}", r.summary())
    if ok and etype is not None:
        t.eq(j["error"]["type"], etype, "error.type", r.summary())
    return j


def check_error_event(t, r, etype):
    """Stream that ended with event: error of etype, then [DONE]."""
    t.eq(r.status, 200, "status (headers went out first)", r.summary())
    ee = r.error_event
    t.require(ee is not None, "an error event", r.summary())
    t.check(isinstance(ee.get("error"), dict)
            and isinstance(ee["error"].get("message"), str),
            "error event data is {\"error\":{\"type\",\"message\"}}", ee)
    t.eq((ee.get("error") or {}).get("type"), etype, "error event type", r.summary())
    evs = r.events
    t.check(len(evs) >= 2 and evs[-1].data == "[DONE]" and evs[-2].event == "error",
            "error event is followed by [DONE], the last event", r.summary())
    t.eq(len(r.done_events), 1, "number of [DONE] events")
    t.check(not r.named("finish"), "no finish event after a failure")
    sid = r.stream_id
    t.eq([e.id for e in evs], ["%s:%d" % (sid, i) for i in range(1, len(evs) + 1)],
         "event ids count up from 1")
    t.check(r.complete, "the response body ended properly")
    return ee


def tagged(text="hello"):
    """A new tag and a prompt carrying it ("tag:T text"): the replay
    provider records the request and what befell it under T."""
    tag = new_tag()
    return tag, "tag:%s %s" % (tag, text)


def upstream_bodies(t, replay, tag, n=1):
    """The bodies of the requests replay saw under tag; there must be n."""
    seen = replay.events(tag, "request")
    t.eq(len(seen), n, "the provider saw %d request(s)" % n)
    return [(s.get("body") or {}) for s in seen]


def upstream_body(t, replay, tag):
    """The body of the one request replay saw under tag ({} if none)."""
    bodies = upstream_bodies(t, replay, tag)
    return bodies[0] if bodies else {}


def anthropic_upstream(stack, models, name="anthropic"):
    """Config lines for an [upstream NAME] of provider anthropic on the
    replay provider (its own key file), and a [model ALIAS] on it for each
    (alias, fixture) of models."""
    key = os.path.join(stack.tmp, name + ".key")
    # Nothing of the key may stand in an answer: it is random hex only.
    write_key(key, "sk-ant-test-" + new_tag() * 2)
    out = [("[upstream %s]" % name, None), ("provider", "anthropic"),
           ("base_url", stack.replay.base_url), ("api_key_file", key)]
    for alias, fixture in models:
        out += [("[model %s]" % alias, None), ("upstream", name),
                ("upstream_model", fixture)]
    return out


def node_json(t, argv, cwd=None, timeout=60):
    """Run a Node client script (tests/clients*/): node argv...; the JSON
    object its last stdout line holds (the case fails otherwise)."""
    p = subprocess.run(["node"] + list(argv), cwd=cwd, capture_output=True,
                       text=True, timeout=timeout)
    t.require(p.returncode == 0, "node exited 0", p.stderr)
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        t.require(False, "node printed JSON", p.stdout + p.stderr)


# ---------------------------------------------------------------------------
# Deployment checks shared by tests/e2e/test_deploy_*.py: srv is anything
# with chat()/get()/post()/log_text() (Lighttpd, nginx.Deployment).


def _hidden(srv):
    return getattr(srv, "hidden_headers", ())


def first_delta(resp, ev):
    """stop= for request(): close after the first text delta."""
    return ev.kind == "event" and "content" in (ev.json() or {})


def first_comment(resp, ev):
    """stop= for request(): close after the first comment (keep-alive)."""
    return ev.kind == "comment"


def deploy_streams(t, srv, replay, model, n):
    """gen-N+delay: the first delta reaches the client >= 1 s before the
    last one and before the provider sent its last event."""
    tag = new_tag()
    r = srv.chat("hi", tag=tag, model=model, timeout=30)
    check_stream_shape(t, r, skip_headers=_hidden(srv))
    t.eq(r.text, gen_text(n), "text")
    deltas = [e for e, j in r.data_events() if "content" in j]
    t.require(len(deltas) == n, "%d deltas" % n, r.summary())
    spread = deltas[-1].t - deltas[0].t
    t.diag("first delta %.3f s before the last" % spread)
    t.check(spread >= 1.0, "first delta >= 1 s before the last (%.3f s): "
            "the response is buffered" % spread)
    last = replay.events(tag, "last_event_sent")
    t.require(last, "replay recorded last_event_sent")
    t.check(last[0]["t"] - deltas[0].t >= 1.0,
            "first delta arrived >= 1 s before the provider's last event")
    return spread


def deploy_cancel_before_headers(t, srv, replay, model, label, bound):
    """The client sends a request and leaves before any response byte while
    the provider stays silent; the provider connection must close within
    bound seconds.  Prints the measured time; returns it."""
    tag = new_tag()
    body = ('{"model":"%s","messages":[{"role":"user","content":"tag:%s hi"}]}'
            % (model, tag)).encode()
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(http_post_bytes("/api/chat", body))
    t.require(replay.wait(tag, "request", timeout=10) is not None,
              "the request reached the provider")
    s.close()
    closed = mono()
    ev = replay.wait(tag, "peer_closed", timeout=10)
    t.require(ev is not None, "the provider connection was closed")
    dt = ev["t"] - closed
    t.diag("cancel propagation (%s, before headers): %.3f s" % (label, dt))
    t.check(dt < bound, "within %.1f s (%.3f s)" % (bound, dt))
    return dt


def deploy_cancel(t, srv, replay, model, stop, what, max_s, label):
    """The client closes (stop=) mid-request; the provider connection must
    close within max_s.  Returns the measured seconds."""
    tag = new_tag()
    r = srv.chat("hi", tag=tag, model=model, stop=stop, timeout=30)
    t.require(r.closed_by_us, "the client read %s and closed" % what, r.summary())
    ev = replay.wait(tag, "peer_closed", timeout=max(10, 2 * max_s))
    t.require(ev is not None, "the provider connection was closed within %.0f s "
              "of the client leaving" % max(10, 2 * max_s), replay.events(tag)[-3:])
    dt = ev["t"] - r.t_end
    t.diag("cancel propagation (%s): %.3f s" % (label, dt))
    t.check(dt < max_s, "provider connection closed within %.2f s (%.3f s)"
            % (max_s, dt))
    t.check(not replay.events(tag, "completed"), "the provider never completed")
    sid = r.stream_id
    if sid:
        line = srv.log_line_for(sid, timeout=10)
        t.check(line is not None and "outcome=client_gone" in line,
                "logged outcome=client_gone: %r" % line)
    return dt


def deploy_slow_first_token(t, srv, n, stall_s):
    """gen-N+stall-first: the provider is silent for stall_s before its first
    byte; keep-alive comments carry the stream over the server's timeout."""
    r = srv.chat("hi", tag=new_tag(), model="gen-%d+stall-first:%d"
                 % (n, int(stall_s * 1000)), timeout=stall_s + 30)
    check_stream_shape(t, r, skip_headers=_hidden(srv))
    t.eq(r.text, gen_text(n), "the full reply arrived")
    deltas = [e for e, j in r.data_events() if "content" in j]
    t.require(deltas, "deltas", r.summary())
    wait = deltas[0].t - r.t_start
    ka = [c for c in r.comments if c.t < deltas[0].t]
    t.diag("first delta after %.2f s, %d keep-alive comments before it"
           % (wait, len(ka)))
    t.check(wait >= stall_s - 0.5, "the provider really stalled (%.2f s)" % wait)
    t.check(len(ka) >= int(stall_s) - 2, "keep-alive comments while silent (%d)"
            % len(ka))


def deploy_too_big(t, srv, size=100 * 1024):
    """A body over chatstream's max_body_bytes gets chatstream's 413 JSON,
    not the web server's HTML page."""
    body = json.dumps({"messages": [{"role": "user",
                                     "content": "x" * size}]}).encode()
    r = srv.post("/api/chat", body, timeout=30)
    j = check_error_json(t, r, 413, "invalid_request")
    t.check(b"<html" not in r.body.lower(), "not the server's HTML error page",
            r.summary())
    return j


def deploy_many(t, srv, model, n_tokens, count):
    """count concurrent streams, distinct tags, all complete and correct."""
    res = {}

    def one(i):
        res[i] = srv.chat("stream %d" % i, tag=new_tag(), model=model, timeout=60)
    t0 = mono()
    with ThreadPoolExecutor(max_workers=count) as ex:
        list(ex.map(one, range(count)))
    t.diag("%d concurrent streams in %.2f s" % (count, mono() - t0))
    want = gen_text(n_tokens)
    bad = [i for i, r in sorted(res.items())
           if not (r.status == 200 and r.text == want and r.complete
                   and len(r.done_events) == 1 and r.events[-1].data == "[DONE]")]
    t.eq(bad, [], "streams that did not complete with the right text",
         "\n".join(res[i].summary(4) for i in bad[:3]))
    t.eq(len({r.stream_id for r in res.values()}), count, "distinct stream ids")


SECRET_PATHS = ["/chatstream.conf", "/key", "/api-key", "/conf/chatstream.conf",
                "/etc/chatstream/chatstream.conf", "/etc/chatstream/api-key",
                "/../key", "/%2e%2e/key", "/..%2fkey", "/api/../key",
                "/api/chatstream.conf", "/api/key", "/.env", "/.git/config"]


def deploy_secrets(t, srv, stack, extra_paths=(), docroot=None):
    """Neither the key nor chatstream.conf is reachable over HTTP."""
    for path in SECRET_PATHS + list(extra_paths):
        r = srv.get(path, timeout=10)
        t.check(r.status in (400, 403, 404), "GET %s -> %s (want 400/403/404)"
                % (path, r.status), r.summary())
        t.check(stack.key.encode() not in r.body, "GET %s shows the key" % path)
        t.check(b"api_key_file" not in r.body and b"max_body_bytes" not in r.body,
                "GET %s shows chatstream.conf" % path)
    if docroot:
        found = [os.path.join(d, f) for d, _, fs in os.walk(docroot) for f in fs
                 if f.endswith((".conf", ".key")) or f in ("key", "api-key")]
        t.eq(found, [], "config or key files under the document root")


def deploy_static_headers(t, srv, csp):
    """The static client carries the CSP and nosniff; API answers carry
    chatstream's own headers, each once."""
    r = srv.get("/")
    t.eq(r.status, 200, "GET / status", r.summary())
    with open(os.path.join(WWW, "index.html"), "rb") as f:
        t.eq(r.body, f.read(), "GET / serves www/index.html")
    t.eq(r.header_all("content-security-policy"), [csp], "CSP on /")
    t.eq(r.header_all("x-content-type-options"), ["nosniff"], "nosniff on /")
    r = srv.get("/js/app.js")
    t.eq(r.status, 200, "GET /js/app.js status")
    t.check((r.header("content-type") or "").startswith(
        ("text/javascript", "application/javascript")),
        "app.js content type: %r" % r.header("content-type"))
    t.eq(r.header_all("content-security-policy"), [csp], "CSP on app.js")
    r = srv.get("/api/models")
    t.eq(r.status, 200, "GET /api/models", r.summary())
    t.eq(r.header_all("x-content-type-options"), ["nosniff"],
         "one nosniff header on an API answer")
    r = srv.chat("hi", tag=new_tag(), model="gen-3")
    check_stream_shape(t, r, skip_headers=_hidden(srv))
    t.eq(r.header_all("x-content-type-options"), ["nosniff"],
         "one nosniff header on the stream")


# ---------------------------------------------------------------------------
# CLI: serve (make run)


def serve(argv):
    port = int(os.environ.get("PORT") or 8080)
    build = os.environ.get("BUILD") or "build"
    bin_path = os.path.join(REPO, build, "chatstream") if not os.path.isabs(build) \
        else os.path.join(build, "chatstream")
    if not (os.path.isfile(bin_path) and os.access(bin_path, os.X_OK)):
        sys.stderr.write("serve: %s is missing; run make first\n" % bin_path)
        return 1
    # Everything of one run lives in build/run/PORT/: two `make run` with
    # different PORTs in one checkout must not share the backend socket
    # (lighttpd would hand one server's requests to the other's chatstream).
    run_dir = os.path.join(REPO, "build", "run", str(port))
    os.makedirs(run_dir, exist_ok=True)
    # Held until we exit (not inherited by lighttpd): a second run on the
    # same PORT fails here, before it touches the first one's files.
    lock = open(os.path.join(run_dir, "serve.lock"), "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        sys.stderr.write("serve: another `make run` already serves PORT=%d "
                         "from this checkout; stop it or choose another "
                         "port: make run PORT=%d\n" % (port, port + 1))
        return 1
    if port_open(port):
        sys.stderr.write("serve: 127.0.0.1:%d is already in use by another "
                         "program; choose another port: make run PORT=%d\n"
                         % (port, port + 1))
        return 1
    cfg = os.environ.get("CHATSTREAM_CONFIG") or "conf/chatstream.conf"
    if not os.path.isabs(cfg):
        cfg = os.path.join(REPO, cfg)
    if not os.path.exists(cfg):
        if os.environ.get("CHATSTREAM_CONFIG"):
            sys.stderr.write("serve: CHATSTREAM_CONFIG=%s does not exist\n" % cfg)
            return 1
        sys.stderr.write("serve: %s not found, using built-in defaults\n" % cfg)
        cfg = None
    # The limits' store goes in the run's folder, as a service manager's
    # StateDirectory= would put it, not beside conf/chatstream.conf in
    # the checkout (a config that sets state keeps its own).
    conf = lighttpd_conf(port=port, bin_path=bin_path,
                         socket_path=os.path.join(run_dir, "chatstream.sock"),
                         pid_file=os.path.join(run_dir, "lighttpd.pid"),
                         errorlog=None, cs_config=cfg,
                         bin_env={"STATE_DIRECTORY": run_dir})
    conf_path = os.path.join(run_dir, "lighttpd.conf")
    with open(conf_path, "w") as f:
        f.write(conf)
    # lighttpd's environment (OPENAI_API_KEY, OPENAI_BASE_URL if set) is
    # inherited by the chatstream child; nothing secret is written to disk.
    proc = subprocess.Popen([find_lighttpd(), "-D", "-f", conf_path],
                            stdin=subprocess.DEVNULL, start_new_session=True)

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)   # even if started with it ignored
    try:
        deadline = mono() + 20
        while not port_open(port):
            if proc.poll() is not None:
                sys.stderr.write("serve: lighttpd exited (config %s)\n" % conf_path)
                return proc.returncode or 1
            if mono() > deadline:
                sys.stderr.write("serve: lighttpd did not start listening\n")
                return 1
            time.sleep(0.05)
        key = "OPENAI_API_KEY set" if os.environ.get("OPENAI_API_KEY") else \
            "no OPENAI_API_KEY"
        print("\nchatstream is serving on http://127.0.0.1:%d/  (%s; config %s)\n"
              % (port, key, cfg or "built-in defaults"))
        print("Try it:\n\n  curl -N -X POST http://127.0.0.1:%d/api/chat \\\n"
              "    -H 'Content-Type: application/json' \\\n"
              "    -d '{\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'\n"
              % port)
        print("lighttpd config: %s\nCtrl-C stops it.\n" % conf_path, flush=True)
        proc.wait()
        return proc.returncode
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
        return 0
    finally:
        kill_group(proc)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "serve":
        sys.exit(serve(sys.argv[2:]))
    sys.stderr.write("usage: harness.py serve\n")
    sys.exit(2)
