#!/usr/bin/env python3
"""apache.py — the real Apache httpd for chatstream's deployment tests.

Used by tests/e2e/test_deploy_apache_*.py; everything generic (replay,
SSE client, TAP, Stack) comes from harness.py.

What is here:
  * require_apache(): the TAP "1..0 # SKIP" line when apache2 or a module is
    not installed (but a failure under CI=1, where `make test` installed it)
  * Deploy: a deployment tree under the stack's temp dir that Apache's
    children (www-data when the tests run as root) can reach: the temp dir
    made world-traversable, COPIES of the binary and www/, chatstream.conf
    and the key owned by the run user with mode 0600
  * shipped(): a conf/ file with placeholder paths substituted; every
    substitution must match, so a changed snippet fails loudly instead of
    being tested half-templated
  * Apache: `apache2 -f CONF -k start -DFOREGROUND` in its own process group
    with a generated httpd.conf (modules from /usr/lib/apache2/modules,
    everything else under the temp dir) that Includes the site snippet;
    the same log/request interface as harness.Lighttpd
  * UnixStandalone: `chatstream --listen /path/to.sock` for mod_proxy_fcgi,
    run the way conf/chatstream.service runs it (own user, group www-data,
    umask 0007)
  * the cases every mode runs (streaming, cancel, slow first token, body
    limit, concurrency, secrets, static client + CSP) and an extra final
    check for crashes only Apache's log reports

Things found out about Debian 12's Apache 2.4 that this relies on:
  * mod_unixd and mod_log_config are built in (apache2 -l): not loaded;
  * with -DFOREGROUND, start-up errors go to stderr, so stdout/stderr are
    appended to the error log like lighttpd's;
  * started as root it needs User/Group for its children (www-data); as
    another user it runs everything as that user (User/Group left out);
  * mod_fcgid spawns chatstream with only FcgidInitialEnv in its
    environment and with stderr on the MAIN server's error log (not the
    <VirtualHost>'s ErrorLog);
  * Apache notices a client that left only when a write to it fails; the
    first write after the client's FIN still succeeds (the client's kernel
    answers it with a RST), so with a silent model chatstream hears of it
    at the second keep-alive after the client left: ~2 x keepalive_seconds
    (mid-stream: the second delta, 0.2 s at a delta per 0.1 s);
  * everything Apache starts (children, mod_fcgid's process manager and
    its chatstream processes, the cgid daemon and its CGIs) stays in the
    process group of the apache2 we started, so stop() can wait for all
    of it and nothing of anyone else's is touched.
"""

import grp
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

REPO = h.REPO
CONF = os.path.join(REPO, "conf")
MODDIR = os.environ.get("APACHE_MODULES") or "/usr/lib/apache2/modules"
RUN_USER = "www-data"

# module name -> file (LoadModule NAME_module MODDIR/FILE)
MODULE_FILES = {
    "mpm_event": "mod_mpm_event.so",
    "mpm_prefork": "mod_mpm_prefork.so",
    "authz_core": "mod_authz_core.so",
    "mime": "mod_mime.so",
    "dir": "mod_dir.so",
    "alias": "mod_alias.so",
    "rewrite": "mod_rewrite.so",
    "headers": "mod_headers.so",
    "env": "mod_env.so",
    "fcgid": "mod_fcgid.so",
    "proxy": "mod_proxy.so",
    "proxy_fcgi": "mod_proxy_fcgi.so",
    "cgid": "mod_cgid.so",
    "cgi": "mod_cgi.so",
    "auth_basic": "mod_auth_basic.so",
    "authn_core": "mod_authn_core.so",
    "authn_file": "mod_authn_file.so",
    "authz_user": "mod_authz_user.so",
}
BASE_MODULES = ["mpm_event", "authz_core", "mime", "dir", "alias", "headers"]


def find_apache():
    return (os.environ.get("APACHE2") or shutil.which("apache2")
            or "/usr/sbin/apache2")


def missing(modules):
    """What is missing to run apache2 with these modules, or None."""
    exe = find_apache()
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        return "apache2 not installed (%s)" % exe
    gone = [MODULE_FILES[m] for m in modules
            if not os.path.exists(os.path.join(MODDIR, MODULE_FILES[m]))]
    if gone:
        return "Apache modules not installed: %s in %s" % (", ".join(gone), MODDIR)
    return None


def require_apache(modules, packages="apache2"):
    """Exit with a TAP skip (or, under CI, a failure) unless apache2 and
    the modules exist.  `make test` installs them (Makefile PKGS)."""
    why = missing(modules)
    if why is None:
        return
    hint = "run `make deps` (or apt-get install %s)" % packages
    if os.environ.get("CI"):
        print("1..1")
        print("not ok 1 - %s: %s" % (why, hint))
        sys.exit(1)
    print("1..0 # SKIP %s: %s" % (why, hint))
    sys.exit(0)


def is_root():
    return os.geteuid() == 0


def run_ids():
    """(uid, gid) Apache's children and chatstream run as."""
    if is_root():
        pw = pwd.getpwnam(RUN_USER)
        return pw.pw_uid, pw.pw_gid
    return os.getuid(), os.getgid()


def service_ids():
    """(uid, gid) for chatstream run as its own service, the way
    conf/chatstream.service does it: a user of its own (here: nobody) in
    group www-data, so that only the web server can use its socket."""
    if is_root():
        return pwd.getpwnam("nobody").pw_uid, grp.getgrnam(RUN_USER).gr_gid
    return os.getuid(), os.getgid()


def give(path, mode, owner=None):
    """chmod, and (as root) chown to owner, default the run user."""
    os.chmod(path, mode)
    if is_root():
        uid, gid = owner or run_ids()
        os.chown(path, uid, gid)


def read_conf(name):
    with open(os.path.join(CONF, name)) as f:
        return f.read()


def shipped(name, subs, text=None):
    """conf/NAME with each (old, new) substituted.  Every old must occur on
    a line that is not a comment, so a changed snippet fails loudly instead
    of being tested half-templated."""
    if text is None:
        text = read_conf(name)
    for old, new in subs:
        live = [l for l in text.splitlines()
                if old in l and not l.lstrip().startswith("#")]
        if not live:
            raise ValueError("conf/%s has no directive containing %r any more: "
                             "update the test's substitutions together with "
                             "the snippet" % (name, old))
        text = text.replace(old, new)
    return text


def htaccess_wrapper(subs):
    """The chatstream.fcgi wrapper script documented in htaccess.example
    (the comment lines "#   #!/bin/sh" and "#   exec ..."), substituted."""
    text = read_conf("htaccess.example")
    m = re.search(r"(?m)^#\s+(#!/bin/sh)\n#\s+(exec .+)$", text)
    if not m:
        raise ValueError("conf/htaccess.example: no '#!/bin/sh' + 'exec ...' "
                         "wrapper in the comments")
    script = m.group(1) + "\n" + m.group(2) + "\n"
    for old, new in subs:
        if old not in script:
            raise ValueError("wrapper script has no %r: %r" % (old, script))
        script = script.replace(old, new)
    return script


def htaccess_host_directives():
    """The directives htaccess.example tells you to ask your host for
    (comment lines "#   FcgidXxx VALUE ...")."""
    text = read_conf("htaccess.example")
    return re.findall(r"(?m)^#\s+(Fcgid\w+ \d+)\s", text)


def directive(text, name):
    """Values of the uncommented directive NAME in an Apache config text."""
    return [m.group(1).strip() for m in
            re.finditer(r"(?mi)^[ \t]*%s[ \t]+(.+?)[ \t]*$" % re.escape(name), text)]


def chatstream_default(key):
    """The default a key has in conf/chatstream.conf (the documented
    sample lists every key with its default)."""
    with open(os.path.join(CONF, "chatstream.conf")) as f:
        m = re.search(r"(?m)^%s\s*=\s*(\S+)\s*$" % re.escape(key), f.read())
    return m.group(1) if m else None


def parse_size(v):
    m = re.fullmatch(r"(\d+)([kKmM]?)", v.strip())
    if not m:
        raise ValueError("not a size: %r" % v)
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1 << 20}[m.group(2).lower()]


# ---------------------------------------------------------------------------
# The deployment tree


class Deploy:
    """Files as a site would have them, under stack.tmp/ROOT:
    lib/chatstream/chatstream (a copy of the binary), www/chat/ (a copy of
    www/), etc/chatstream/{chatstream.conf,api-key}.  Paths can be moved
    with the keyword arguments (e.g. all in the web directory for the
    shared-hosting layout); owner is who owns conf and key (default: the
    user Apache's children run as)."""

    def __init__(self, stack, root="site", bin_path=None, docroot=None,
                 conf_path=None, key_path=None, owner=None):
        os.chmod(stack.tmp, 0o755)   # mkdtemp makes it 0700
        self.stack = stack
        self.root = os.path.join(stack.tmp, root)
        self.bin = bin_path or os.path.join(self.root, "lib", "chatstream", "chatstream")
        self.docroot = docroot or os.path.join(self.root, "www", "chat")
        self.conf = conf_path or os.path.join(self.root, "etc", "chatstream",
                                             "chatstream.conf")
        self.key_path = key_path or os.path.join(os.path.dirname(self.conf), "api-key")
        for d in (self.root, os.path.dirname(self.bin), self.docroot,
                  os.path.dirname(self.conf), os.path.dirname(self.key_path)):
            self.mkdirs(d)
        # static client
        shutil.copytree(h.WWW, self.docroot, dirs_exist_ok=True)
        for dp, dns, fns in os.walk(self.docroot):
            os.chmod(dp, 0o755)
            for fn in fns:
                os.chmod(os.path.join(dp, fn), 0o644)
        # binary (a copy: the checkout may not be traversable for www-data)
        shutil.copy2(stack.bin, self.bin)
        os.chmod(self.bin, 0o755)
        # the key: the stack's key, so its leak checks cover it
        self.owner = owner          # who reads conf and key (None: run user)
        h.write_key(self.key_path, stack.key)
        give(self.key_path, 0o600, owner)

    def mkdirs(self, d):
        """mkdir -p d, every component below the temp dir mode 0755."""
        os.makedirs(d, exist_ok=True)
        top = self.stack.tmp
        while len(d) > len(top) and d.startswith(top):
            os.chmod(d, 0o755)
            d = os.path.dirname(d)

    def write_conf(self, models, default_model=None, **over):
        """chatstream.conf from the stack's settings, api_key_file = our key."""
        # the slow-first-token case stalls 6 s: above the I/O timeouts
        # under test (3 s), below chatstream's own first-byte timeout
        over.setdefault("first_byte_timeout_seconds", 10)
        settings = self.stack.settings(models, default_model, **over)
        settings = [(k, self.key_path if k == "api_key_file" else v)
                    for k, v in settings]
        h.write_chatstream_conf(self.conf, settings)
        give(self.conf, 0o600, self.owner)
        return self.conf


# ---------------------------------------------------------------------------
# Apache


def httpd_conf(*, dir, port, modules, site_conf, timeout=60, log_level="warn",
               extra=""):
    """The main httpd.conf: what a Debian apache2.conf sets that matters
    here, everything under dir, then Include site_conf."""
    uid, gid = run_ids()
    loads = []
    for m in modules:
        loads.append("LoadModule %s_module %s" % (m, os.path.join(MODDIR, MODULE_FILES[m])))
    out = [
        "# generated by tests/lib/apache.py",
        'ServerRoot "%s"' % dir,
        "ServerName 127.0.0.1",
        "Listen 127.0.0.1:%d" % port,
        'PidFile "%s/run/httpd.pid"' % dir,
        'DefaultRuntimeDir "%s/run"' % dir,
        "Mutex file:%s/run default" % dir,
        'ErrorLog "%s/error.log"' % dir,
        "LogLevel %s" % log_level,
        'LogFormat "%h \\"%r\\" %>s %b %D" short',
        'CustomLog "%s/access.log" short' % dir,
    ] + loads
    if is_root():
        out += ["User %s" % pwd.getpwuid(uid).pw_name,
                "Group %s" % grp.getgrgid(gid).gr_name]
    out += [
        "Timeout %d" % timeout,
        "KeepAlive On",
        # Debian's mpm_event.conf
        "StartServers 2",
        "MinSpareThreads 25",
        "MaxSpareThreads 75",
        "ThreadLimit 64",
        "ThreadsPerChild 25",
        "MaxRequestWorkers 150",
        "MaxConnectionsPerChild 0",
        "TypesConfig /etc/mime.types",
        "AccessFileName .htaccess",
        "<Directory />",
        "    Options FollowSymLinks",
        "    AllowOverride None",
        "    Require all denied",
        "</Directory>",
        '<FilesMatch "^\\.ht">',
        "    Require all denied",
        "</FilesMatch>",
        extra,
        'Include "%s"' % site_conf,
    ]
    return "\n".join(out) + "\n"


class Apache:
    """apache2 in the foreground under tmpdir/name/, serving site_text (a
    config fragment, usually a templated conf/ snippet: "@PORT@" in it is
    replaced by the port chosen at start)."""

    def __init__(self, tmpdir, site_text, modules, name="apache", timeout=60,
                 log_level="warn", extra="", env=None):
        self.dir = os.path.join(tmpdir, name)
        os.makedirs(os.path.join(self.dir, "run"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "logs"), exist_ok=True)
        for d in (self.dir, os.path.join(self.dir, "run"), os.path.join(self.dir, "logs")):
            os.chmod(d, 0o755)
        self.site_text = site_text
        self.modules = list(modules)
        self.timeout = timeout
        self.log_level = log_level
        self.extra = extra
        self.env = env
        self.proc = None
        self.port = None
        self.errorlog = os.path.join(self.dir, "error.log")
        self.conf_path = os.path.join(self.dir, "httpd.conf")
        self.site_path = os.path.join(self.dir, "site.conf")
        self.extra_logs = []     # more error logs to read (vhost ErrorLog)

    def start(self, timeout=20.0):
        last = None
        for _ in range(3):  # a free port may be taken between probe and bind
            try:
                return self._start(h.free_port(), timeout)
            except OSError as e:
                last = e
        raise last

    def _start(self, port, timeout):
        with open(self.site_path, "w") as f:
            f.write(self.site_text.replace("@PORT@", str(port)))
        with open(self.conf_path, "w") as f:
            f.write(httpd_conf(dir=self.dir, port=port, modules=self.modules,
                               site_conf=self.site_path, timeout=self.timeout,
                               log_level=self.log_level, extra=self.extra))
        env = dict(self.env if self.env is not None else os.environ)
        for k in h.HERMETIC_DROP:
            env.pop(k, None)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        log = open(self.errorlog, "ab")
        start_size = os.path.getsize(self.errorlog)
        self.proc = subprocess.Popen(
            [find_apache(), "-f", self.conf_path, "-k", "start", "-DFOREGROUND"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
            cwd=self.dir, start_new_session=True, preexec_fn=h._die_with_parent)
        log.close()
        return h.wait_listening(self, port, "apache2", start_size, timeout)

    died_early = None

    def stop(self):
        if self.proc is not None and self.proc.poll() is not None:
            self.died_early = self.proc.returncode
        # SIGTERM: Apache stops its children; mod_fcgid SIGTERMs chatstream
        # (shutdown_grace_seconds = 1 in the tests), then kill_group cleans up
        h.kill_group(self.proc, timeout=8.0)
        self.proc = None

    def log_text(self):
        parts = []
        for p in [self.errorlog] + self.extra_logs:
            try:
                with open(p, "rb") as f:
                    parts.append(f.read().decode("utf-8", "replace"))
            except OSError:
                pass
        return "".join(parts)

    access_lines = h.Lighttpd.access_lines
    wait_log = h.Lighttpd.wait_log
    log_line_for = h.Lighttpd.log_line_for

    def chat(self, content="hello", tag=None, model=None, path="/api/chat", **kw):
        text = ("tag:%s %s" % (tag, content)) if tag else content
        body = {"messages": [{"role": "user", "content": text}]}
        if model is not None:
            body["model"] = model
        return h.request(self.port, "POST", path,
                         body=json.dumps(body).encode(),
                         headers={"Content-Type": "application/json",
                                  "Accept": "text/event-stream"}, **kw)

    get = h.Lighttpd.get
    post = h.Lighttpd.post


class UnixStandalone:
    """chatstream --listen SOCKET_PATH as its own service, set up the way
    conf/chatstream.service does: as root, user nobody (standing in for
    the unit's DynamicUser) in group www-data with umask 0007, the socket's
    directory SERVICE_USER:www-data 0750, so Apache's children (www-data)
    may connect and nobody else may.  stderr to DIR/error.log; the same
    log interface as harness.Standalone."""

    def __init__(self, tmpdir, bin_path, cs_config, sock_path, name="chatstream"):
        self.dir = os.path.join(tmpdir, name)
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.bin_path, self.cs_config, self.sock_path = bin_path, cs_config, sock_path
        self.errorlog = os.path.join(self.dir, "error.log")
        self.proc = None

    def start(self, timeout=20.0):
        env = dict(os.environ)
        for k in h.HERMETIC_DROP:
            env.pop(k, None)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        d = os.path.dirname(self.sock_path)
        os.makedirs(d, exist_ok=True)
        give(d, 0o750, service_ids())   # RuntimeDirectory=, RuntimeDirectoryMode=0750
        log = open(self.errorlog, "ab")
        kw = {"umask": 0o007}
        if is_root():
            uid, gid = service_ids()
            kw.update(user=uid, group=gid, extra_groups=[])
        # (subprocess drops privileges before preexec_fn, so the
        # parent-death signal survives the uid change)
        self.proc = subprocess.Popen(
            [self.bin_path, "--config", self.cs_config, "--listen", self.sock_path],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
            cwd=self.dir, start_new_session=True, preexec_fn=h._die_with_parent,
            **kw)
        log.close()
        deadline = h.mono() + timeout
        while not self._connectable():
            if self.proc.poll() is not None:
                raise RuntimeError("chatstream --listen exited (%s):\n%s"
                                   % (self.proc.returncode, self.log_text()[-3000:]))
            if h.mono() > deadline:
                raise RuntimeError("chatstream --listen %s: no socket" % self.sock_path)
            time.sleep(0.02)
        return self

    def _connectable(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.sock_path)
            return True
        except OSError:
            return False
        finally:
            s.close()

    died_early = None

    def stop(self):
        if self.proc is not None and self.proc.poll() is not None:
            self.died_early = self.proc.returncode
        h.kill_group(self.proc, timeout=8.0)
        self.proc = None

    log_text = h.Lighttpd.log_text
    access_lines = h.Lighttpd.access_lines
    wait_log = h.Lighttpd.wait_log
    log_line_for = h.Lighttpd.log_line_for


def group_processes(srv, exe, settle=0.0):
    """pids in srv's process group (Apache and everything it started)
    running exe; with settle, wait up to that long for the list to empty."""
    want = os.path.realpath(exe)
    deadline = h.mono() + settle
    while True:
        pids = []
        for pid in h.group_pids(srv.proc.pid):
            try:
                if os.path.realpath("/proc/%d/exe" % pid) == want:
                    pids.append(pid)
            except OSError:
                pass
        if not pids or h.mono() >= deadline:
            return pids
        time.sleep(0.1)


# Apache's ways of saying a child or a FastCGI/CGI process crashed.
APACHE_CRASH_RX = re.compile(
    r"exit signal (Segmentation|Aborted|Bus|Illegal|Floating)|"
    r"get unexpected signal|"
    r"AH00052|"                 # child pid N exit signal ...
    r"AH00060|"                 # seg fault or similar nasty error detected
    r"terminated by calling exit\(\), return code: [1-9]")


def add_apache_finals(stack):
    """Append a final check for Apache-level crash reports to the stack's
    (harness.main calls stack.final_cases() after setup)."""
    orig = stack.final_cases

    def finals():
        def apache_no_crash(t):
            for srv in stack.servers:
                bad = [l for l in srv.log_text().splitlines() if APACHE_CRASH_RX.search(l)]
                t.check(not bad, "%s: Apache reports a crashed process"
                        % srv.errorlog, "\n".join(bad[:20]))
        return orig() + [("no crashed process reported by Apache", apache_no_crash)]
    stack.final_cases = finals


PROXY_FCGI_MODULES = BASE_MODULES + ["proxy", "proxy_fcgi"]


def proxy_fcgi_site(stack, subs=(), **conf):
    """chatstream --listen on a unix socket (run as its own user, as a
    systemd service would be) behind the real Apache with mod_proxy_fcgi
    and the shipped conf/apache-proxy-fcgi.conf, paths and port
    substituted, plus subs.  conf: chatstream.conf settings.  Returns
    (deploy, chatstream, apache), both servers started."""
    add_apache_finals(stack)
    # conf and key belong to chatstream's own user, not to www-data
    d = Deploy(stack, "site", owner=service_ids())
    d.write_conf(MODELS, default_model="gen-3", **conf)
    sock = os.path.join(d.root, "run", "chatstream", "chatstream.sock")
    cs = UnixStandalone(stack.tmp, d.bin, d.conf, sock, name="chatstream")
    stack.servers.append(cs)
    cs.start()
    ap_dir = os.path.join(stack.tmp, "apache")
    site = shipped("apache-proxy-fcgi.conf", [
        ("<VirtualHost *:80>", "<VirtualHost *:@PORT@>"),
        ("/var/www/chat", d.docroot),
        ("/run/chatstream/chatstream.sock", sock),
        ("${APACHE_LOG_DIR}", ap_dir),
    ] + list(subs))
    ap = Apache(stack.tmp, site, PROXY_FCGI_MODULES, name="apache")
    ap.extra_logs.append(os.path.join(ap_dir, "chat-error.log"))
    stack.servers.append(ap)
    ap.start()
    return d, cs, ap


# ---------------------------------------------------------------------------
# The cases every deployment mode runs

SLOW = "gen-20+delay:100"            # 2 s
LONG = "gen-200+delay:100"           # 20 s unless cancelled
SILENT = "gen-5+stall-first:20000"   # 20 s of silence
SLOW_FIRST = "gen-5+stall-first:6000"
MANY = "gen-30+delay:20"             # 0.6 s
# A model id with a slash, listed (never asked for): case_model_slash.
SLASH_MODEL = "vendor/gen-3"
MODELS = ["gen-3", SLOW, LONG, SILENT, SLOW_FIRST, MANY, SLASH_MODEL]
KEEPALIVE = 1.0
MAX_CANCEL_MID = 2.0                 # a delta every 0.1 s: Apache notices at once
# silent provider: the client leaves after the first keep-alive; the next one
# (keepalive_seconds later) may still be accepted by the kernel, the one
# after that fails -> 2 x keepalive + margin
MAX_CANCEL_SILENT = 2 * KEEPALIVE + 1.5


def _chat(S, *a, **kw):
    """POST a chat to the site under test (S["chat_path"], default /api/chat)."""
    kw.setdefault("path", S.get("chat_path", "/api/chat"))
    return S["srv"].chat(*a, **kw)


def first_delta(resp, ev):
    return ev.kind == "event" and "content" in (ev.json() or {})


def first_comment(resp, ev):
    return ev.kind == "comment"


def case_streaming(S, label):
    def run(t):
        tag = h.new_tag()
        r = _chat(S, "hi", tag=tag, model=SLOW)
        h.check_stream_shape(t, r)
        t.eq(r.text, h.gen_text(20), "text")
        t.eq(len(r.header_all("x-content-type-options")), 1,
             "exactly one X-Content-Type-Options header",
             r.header_all("x-content-type-options"))
        deltas = [e for e, j in r.data_events() if "content" in j]
        t.require(len(deltas) == 20, "20 deltas", r.summary())
        spread = deltas[-1].t - deltas[0].t
        t.diag("first delta -> last delta at the client (%s): %.2f s" % (label, spread))
        t.check(spread >= 1.0, "the first delta arrived >= 1 s before the last "
                "(%.3f s): the response is buffered" % spread)
        last = S["replay"].events(tag, "last_event_sent")
        t.require(last, "replay recorded last_event_sent")
        lead = last[0]["t"] - deltas[0].t
        t.diag("first delta arrived %.2f s before the provider sent its last event"
               % lead)
        t.check(lead >= 1.0, "first delta >= 1 s before the provider finished "
                "(%.3f s)" % lead)
        sent = {e["n"]: e["t"] for e in S["replay"].events(tag, "event_sent")}
        lags = [deltas[k].t - sent[k + 2] for k in range(len(deltas)) if (k + 2) in sent]
        t.diag("provider -> client lag per delta: max %.1f ms" % (1000 * max(lags)))
        t.check(max(lags) < 0.5, "every delta reaches the client < 0.5 s after the "
                "provider sent it (max %.3f s)" % max(lags))
        line = S["logs"].log_line_for(r.stream_id or "?", timeout=5)
        t.check(line is not None and "outcome=done" in line,
                "chatstream logged outcome=done: %r" % line)
    return run


def _measure_cancel(t, S, tag, r, label, what, bound):
    t.require(r.closed_by_us, "the client read %s and closed" % what, r.summary())
    ev = S["replay"].wait(tag, "peer_closed", timeout=15)
    t.require(ev is not None, "the provider connection was closed within 15 s "
              "of the client leaving", S["replay"].events(tag)[-3:])
    dt = ev["t"] - r.t_end
    t.diag("cancel propagation (%s, %s): %.2f s" % (label, what, dt))
    t.check(dt < bound, "provider connection closed within %.1f s (%.3f s)" % (bound, dt))
    sid = r.stream_id
    if sid:
        line = S["logs"].log_line_for(sid, timeout=10)
        t.check(line is not None and "outcome=client_gone" in line,
                "chatstream logged outcome=client_gone: %r" % line)
    return dt


def case_cancel_mid(S, label):
    def run(t):
        tag = h.new_tag()
        r = _chat(S, "hi", tag=tag, model=LONG, stop=first_delta)
        t.eq(r.status, 200, "status", r.summary())
        _measure_cancel(t, S, tag, r, label, "mid-stream", MAX_CANCEL_MID)
        sent = S["replay"].events(tag, "event_sent")
        t.check(len(sent) < 100, "the provider stopped early (%d of 203 events)"
                % len(sent))
    return run


def case_cancel_silent(S, label):
    def run(t):
        tag = h.new_tag()
        r = _chat(S, "hi", tag=tag, model=SILENT, stop=first_comment)
        t.eq(r.status, 200, "status (headers at keepalive time)", r.summary())
        _measure_cancel(t, S, tag, r, label, "silent provider", MAX_CANCEL_SILENT)
    return run


def case_slow_first_token(S, what):
    def run(t):
        tag = h.new_tag()
        r = _chat(S, "hi", tag=tag, model=SLOW_FIRST, timeout=30)
        h.check_stream_shape(t, r)
        t.eq(r.text, h.gen_text(5), "the whole reply arrived")
        first = S["replay"].events(tag, "first_byte")
        t.require(first, "replay recorded first_byte")
        wait = first[0]["t"] - r.t_start
        t.diag("provider silent for %.1f s (%s)" % (wait, what))
        t.check(wait > 5.0, "the provider was silent longer than the server's "
                "I/O timeout (%.1f s)" % wait)
        kas = [c for c in r.comments if c.t < first[0]["t"]]
        t.check(len(kas) >= 4, "keep-alive comments while the provider was silent "
                "(%d)" % len(kas))
    return run


def case_model_slash(S):
    """GET /api/v1/models/vendor%2Fgen-3, as the openai SDK sends a slashed
    id, reaches chatstream through the shipped snippet (AllowEncodedSlashes
    NoDecode) and gets the model object; an unknown id gets OpenAI's 404."""
    def run(t):
        r = h.request(S["srv"].port, "GET", "/api/v1/models/vendor%2Fgen-3")
        t.eq(r.status, 200, "status", r.summary())
        t.eq((r.json() or {}).get("id"), SLASH_MODEL, "the model object")
        r = h.request(S["srv"].port, "GET", "/api/v1/models/vendor%2Fnone")
        t.eq(r.status, 404, "unknown id", r.summary())
        t.eq(((r.json() or {}).get("error") or {}).get("code"),
             "model_not_found", "OpenAI's error code")
    return run


def case_body_limit(S, tries=1):
    """A 100 KB body (chatstream max_body_bytes 64 KiB in the tests) gets
    chatstream's 413 JSON, never the server's HTML error.  With tries > 1:
    every response that arrives must be that, at least one must arrive,
    and S["413_dropped"] counts connections closed without any response
    (see case_body_limit_all)."""
    def run(t):
        path = S.get("chat_path", "/api/chat")
        pad = "x" * 100000
        body = json.dumps({"messages": [{"role": "user", "content": pad}]}).encode()
        dropped = 0
        for i in range(tries):
            r = h.request(S["srv"].port, "POST", path, body=body,
                          headers={"Content-Type": "application/json"})
            if tries > 1 and r.status is None:
                dropped += 1
                continue
            j = h.check_error_json(t, r, 413, "invalid_request")
            if i == 0:
                t.diag("100 KB body -> HTTP %s %s" % (r.status, (j or {}).get("error")))
        if tries > 1:
            S["413_dropped"] = (dropped, tries)
            t.diag("%d of %d oversized POSTs got no response at all" % (dropped, tries))
            t.check(dropped < tries, "at least one 413 arrived")
    return run


def case_body_limit_all(S):
    """Every oversized POST of case_body_limit(S, tries) got its 413."""
    def run(t):
        t.require("413_dropped" in S, "case_body_limit ran")
        dropped, tries = S["413_dropped"]
        t.eq(dropped, 0, "oversized POSTs answered with no response at all "
             "(of %d)" % tries)
    return run


def case_many(S, n=50, min_peak=None):
    def run(t):
        res = {}

        def one(i, tag):
            res[i] = (tag, _chat(S, "stream %d" % i, tag=tag, model=MANY,
                                         timeout=60))
        ths = [threading.Thread(target=one, args=(i, h.new_tag())) for i in range(n)]
        t0 = h.mono()
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        took = h.mono() - t0
        want = h.gen_text(30)
        bad = []
        spans = []
        ids = set()
        for i, (tag, r) in sorted(res.items()):
            if not (r.status == 200 and r.text == want and len(r.done_events) == 1
                    and r.events and r.events[-1].data == "[DONE]" and r.complete):
                bad.append("stream %d: %s" % (i, r.summary(3)))
            ids.add(r.stream_id)
            req = S["replay"].events(tag, "request")
            done = S["replay"].events(tag, "completed")
            if req and done:
                spans.append((req[0]["t"], done[0]["t"]))
        t.check(not bad, "%d of %d streams incomplete or wrong" % (len(bad), n),
                "\n".join(bad[:5]))
        t.eq(len(ids), n, "distinct stream ids")
        # peak number of provider requests in flight at once
        marks = sorted([(a, 1) for a, b in spans] + [(b, -1) for a, b in spans])
        cur = peak = 0
        for _, d in marks:
            cur += d
            peak = max(peak, cur)
        t.diag("%d streams in %.2f s, at most %d at once" % (n, took, peak))
        if min_peak:
            t.check(peak >= min_peak, "at least %d streams ran at the same time (%d)"
                    % (min_peak, peak))
    return run


def case_secrets(S, paths, must_deny=()):
    """GET each path: never 200 and never the key or the config; paths in
    must_deny must be 403 exactly (proves the deny rule, not just absence)."""
    def run(t):
        key = S["stack"].key
        with open(S["deploy"].conf) as f:
            conf_line = [l for l in f.read().splitlines() if l.startswith("base_url")][0]
        for p in paths:
            r = h.request(S["srv"].port, "GET", p)
            got = r.body.decode("utf-8", "replace")
            t.check(r.status in (400, 403, 404), "GET %s -> 400/403/404, got %s"
                    % (p, r.status), r.summary())
            t.check(key not in got and conf_line not in got,
                    "GET %s returned the key or the config" % p)
            if p in must_deny:
                t.eq(r.status, 403, "GET %s is refused by the deny rule" % p)
        # and no response ever carried it (SEEN_BODIES is checked at the end)
    return run


def case_static(S, path="/", error_pages=True):
    """The static client is served, with the CSP from the snippet (and,
    with error_pages, on Apache's own 404 page too: "Header always")."""
    def run(t):
        if error_pages:
            r = h.request(S["srv"].port, "GET", path + "no-such-page.html")
            t.eq(r.status, 404, "GET a missing page", r.summary())
            t.eq(len(r.header_all("content-security-policy")), 1,
                 "the 404 page has the CSP", r.headers)
        r = h.request(S["srv"].port, "GET", path)
        t.eq(r.status, 200, "GET %s" % path, r.summary())
        t.check(b"<html" in r.body.lower() or b"<!doctype" in r.body.lower(),
                "the page is index.html", r.summary())
        csp = r.header_all("content-security-policy")
        t.eq(len(csp), 1, "one Content-Security-Policy header", csp)
        t.check(csp and "default-src 'self'" in csp[0] and
                "frame-ancestors 'none'" in csp[0], "CSP: %r" % csp)
        t.eq(r.header_all("x-content-type-options"), ["nosniff"],
             "X-Content-Type-Options")
        p2 = path.rstrip("/") + "/js/app.js"
        r2 = h.request(S["srv"].port, "GET", p2)
        t.eq(r2.status, 200, "GET %s" % p2, r2.summary())
        t.check("javascript" in (r2.header("content-type") or ""),
                "app.js Content-Type: %r" % r2.header("content-type"))
        r3 = h.request(S["srv"].port, "GET", path.rstrip("/") + "/api/models")
        t.eq(r3.status, 200, "GET api/models", r3.summary())
        ids = [m.get("id") for m in (r3.json() or {}).get("data") or []]
        t.eq(ids, MODELS, "models")
    return run

