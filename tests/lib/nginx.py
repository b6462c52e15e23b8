#!/usr/bin/env python3
"""nginx.py — the nginx deployment for end-to-end tests: the real Debian
nginx with the SHIPPED conf/nginx.conf server block, in front of chatstream
started the way the SHIPPED conf/chatstream.service starts it.

Both shipped files are templated only for paths and the port (and, where a
test needs it, one timeout or the buffering switch); every substitution must
match exactly once, so a change of shape in a shipped file fails the tests
instead of quietly testing something else.

  * nginx_site(): conf/nginx.conf with the listen port, root and
    fastcgi_pass socket replaced
  * Unit: reads conf/chatstream.service ([Service] keys, the ExecStart
    command, the spawn-fcgi one-liner in its comments)
  * Chatstream: chatstream as the unit runs it: ExecStart (--listen on a
    unix socket), Environment=, UMask=, Group= (www-data), a stand-in for
    DynamicUser= (nobody), RuntimeDirectory= with RuntimeDirectoryMode=,
    LoadCredential= (a copy of the key owned by that user, 0400).  Or
    mode "spawn-fcgi" (the documented one-liner, plus -n to stay our child),
    or mode "fd0" (the listening socket on fd 0, as systemd's
    StandardInput=socket would pass it)
  * Nginx: `nginx -p DIR -c DIR/nginx.conf -e DIR/error.log -g 'daemon off;'`
    with a main config like Debian's /etc/nginx/nginx.conf (user www-data
    when root, pid, logs and every *_temp_path in DIR) that includes the
    templated site; Debian's own mime.types and fastcgi_params are copied
    next to it
  * Deployment: both, with the request helpers of harness.Lighttpd and one
    log_text() over chatstream's stderr and nginx's error and access logs
    (what harness.Stack's final key-leak and crash checks read)

Runs as root (nginx workers as www-data, chatstream as nobody:www-data, so
the socket permissions are the real ones) or as any user (no user switch).

Environment: NGINX (default: nginx on PATH, else /usr/sbin/nginx),
SPAWN_FCGI (default: spawn-fcgi on PATH).
"""

import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time

import harness as h

SHIPPED_NGINX = os.path.join(h.REPO, "conf", "nginx.conf")
SHIPPED_SERVICE = os.path.join(h.REPO, "conf", "chatstream.service")
SHIPPED_CS_CONF = os.path.join(h.REPO, "conf", "chatstream.conf")

# The placeholders the shipped files use.
P_BIN = "/usr/local/lib/chatstream/chatstream"
P_SOCK = "/run/chatstream/chatstream.sock"
P_RUNDIR = "/run/chatstream"
P_CONFIG = "/etc/chatstream/chatstream.conf"
P_CRED_DIR = "/run/credentials/chatstream.service"

IS_ROOT = os.geteuid() == 0
SERVICE_STANDIN_USER = "nobody"     # for DynamicUser= (no systemd here)


def find_nginx():
    n = os.environ.get("NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"
    return n if os.path.isfile(n) and os.access(n, os.X_OK) else None


def find_spawn_fcgi():
    return os.environ.get("SPAWN_FCGI") or shutil.which("spawn-fcgi")


def nginx_version():
    b = find_nginx()
    if not b:
        return None
    p = subprocess.run([b, "-v"], capture_output=True, text=True)
    return (p.stderr or p.stdout).strip()


def _subn(text, pattern, repl, what, path=SHIPPED_NGINX, count=1):
    out, n = re.subn(pattern, repl, text)
    if n != count:
        raise ValueError("%s: expected %d %s, found %d" % (path, count, what, n))
    return out


def nginx_quote(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def nginx_site(*, port, docroot, socket_path, bind="127.0.0.1",
               read_timeout=None, buffering=None, path=SHIPPED_NGINX):
    """The shipped server block with its listen port, root and socket
    replaced.  read_timeout ("3s") / buffering ("on") change
    fastcgi_read_timeout / fastcgi_buffering for tests that need to."""
    with open(path) as f:
        text = f.read()
    text = _subn(text, r"(\n\s*listen\s+)80;",
                 lambda m: m.group(1) + "%s:%d;" % (bind, port), "'listen 80;'", path)
    text = _subn(text, r"\n\s*listen\s+\[::\]:80;", "", "'listen [::]:80;'", path)
    text = _subn(text, r"(\n\s*root\s+)[^;\s]+;",
                 lambda m: m.group(1) + nginx_quote(docroot) + ";", "'root'", path)
    text = _subn(text, r"(\n\s*fastcgi_pass\s+)unix:[^;\s]+;",
                 lambda m: m.group(1) + "unix:" + socket_path + ";",
                 "'fastcgi_pass unix:...'", path)
    if read_timeout is not None:
        text = _subn(text, r"(\n\s*fastcgi_read_timeout\s+)[^;\s]+;",
                     lambda m: m.group(1) + read_timeout + ";",
                     "'fastcgi_read_timeout'", path)
    if buffering is not None:
        text = _subn(text, r"(\n\s*fastcgi_buffering\s+)off;",
                     lambda m: m.group(1) + buffering + ";",
                     "'fastcgi_buffering off'", path)
    return text


def parse_size(s):
    """nginx / chatstream sizes: 1024, 64k, 1m (also K, M)."""
    m = re.fullmatch(r"(\d+)([kKmM]?)", s.strip())
    if not m:
        raise ValueError("not a size: %r" % s)
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2).lower()]


def shipped_client_max_body_size(path=SHIPPED_NGINX):
    with open(path) as f:
        vals = re.findall(r"(?m)^\s*client_max_body_size\s+(\S+);", f.read())
    if len(vals) != 1:
        raise ValueError("%s: %d client_max_body_size lines" % (path, len(vals)))
    return parse_size(vals[0])


def shipped_max_body_bytes(path=SHIPPED_CS_CONF):
    with open(path) as f:
        vals = re.findall(r"(?m)^\s*max_body_bytes\s*=\s*(\S+)\s*$", f.read())
    if len(vals) != 1:
        raise ValueError("%s: %d max_body_bytes lines" % (path, len(vals)))
    return parse_size(vals[0])


# ---------------------------------------------------------------------------
# conf/chatstream.service


class Unit:
    """The [Service] section and comments of a systemd unit file."""

    def __init__(self, path=SHIPPED_SERVICE):
        self.path = path
        with open(path) as f:
            self.text = f.read()
        self.service = {}
        section = None
        for line in self.text.splitlines():
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            k, _, v = line.partition("=")
            if section == "Service":
                self.service.setdefault(k.strip(), []).append(v.strip())

    def get(self, key, default=None):
        v = self.service.get(key)
        return v[-1] if v else default

    def environment(self):
        env = {}
        for v in self.service.get("Environment", []):
            for item in v.split():
                k, _, val = item.partition("=")
                env[k] = val
        return env

    def exec_start(self):
        return self.get("ExecStart").split()

    def spawn_fcgi_line(self):
        """The documented spawn-fcgi one-liner (a '#   spawn-fcgi ...'
        comment line) as a list of words."""
        lines = re.findall(r"(?m)^#\s+(spawn-fcgi\s.*)$", self.text)
        if len(lines) != 1:
            raise ValueError("%s: %d spawn-fcgi lines" % (self.path, len(lines)))
        return lines[0].split()


def _ids():
    """(uid, gid) the service runs as here: the DynamicUser stand-in and
    the unit's Group= (www-data), when root; else our own."""
    if not IS_ROOT:
        return os.getuid(), os.getgid()
    unit = Unit()
    return (pwd.getpwnam(SERVICE_STANDIN_USER).pw_uid,
            grp.getgrnam(unit.get("Group", "www-data")).gr_gid)


def _become(uid, gid, umask):
    """preexec_fn: umask, then drop to uid:gid (no supplementary groups),
    then the parent-death signal (a credential change clears it)."""
    def run():
        os.umask(umask)
        if IS_ROOT:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        h._die_with_parent()
    return run


def _unix_connectable(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(0.5)
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


class Chatstream:
    """chatstream on a unix socket, started as conf/chatstream.service
    (mode "listen"), as its spawn-fcgi one-liner ("spawn-fcgi"), or with a
    listening socket we made on fd 0 ("fd0", systemd StandardInput=socket).
    stdout+stderr go to DIR/chatstream.log."""

    def __init__(self, dirpath, bin_path, cs_config, mode="listen"):
        self.dir = dirpath
        self.bin_path, self.cs_config, self.mode = bin_path, cs_config, mode
        self.unit = Unit()
        self.run_dir = os.path.join(self.dir, "run")
        self.socket_path = os.path.join(self.run_dir, "chatstream.sock")
        self.errorlog = os.path.join(self.dir, "chatstream.log")
        self.proc = None
        self.lsock = None
        self.argv = None
        self.uid, self.gid = _ids()

    def _env(self):
        env = dict(os.environ)
        for k in h.HERMETIC_DROP:
            env.pop(k, None)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        if self.mode == "listen":
            for k, v in self.unit.environment().items():
                env[k] = v.replace(P_CONFIG, self.cs_config)
        return env

    def _prepare_run_dir(self):
        os.makedirs(self.run_dir, exist_ok=True)
        if self.mode == "listen":
            # RuntimeDirectory=: owned by the service's user and group
            if IS_ROOT:
                os.chown(self.run_dir, self.uid, self.gid)
            os.chmod(self.run_dir, int(self.unit.get("RuntimeDirectoryMode", "0755"), 8))
        else:
            # `install -d /run/chatstream`, or the directory systemd makes
            # for a socket unit's ListenStream= (root, 0755)
            os.chmod(self.run_dir, 0o755)

    def start(self, timeout=20.0):
        self._prepare_run_dir()
        umask = int(self.unit.get("UMask", "0022"), 8)
        stdin = subprocess.DEVNULL
        if self.mode == "listen":
            argv = [w.replace(P_BIN, self.bin_path).replace(P_SOCK, self.socket_path)
                    for w in self.unit.exec_start()]
            if argv[1:] != ["--listen", self.socket_path]:
                raise ValueError("ExecStart changed shape: %r" % argv)
            preexec = _become(self.uid, self.gid, umask)
        elif self.mode == "spawn-fcgi":
            argv = self._spawn_fcgi_argv()
            preexec = h._die_with_parent     # spawn-fcgi switches user itself
        elif self.mode == "fd0":
            argv = [self.bin_path, "--config", self.cs_config]
            self.lsock = self.make_listen_socket()
            stdin = self.lsock.fileno()
            preexec = _become(self.uid, self.gid, umask)
        else:
            raise ValueError(self.mode)
        self.argv = argv
        self._spawn(argv, stdin, preexec)
        deadline = h.mono() + timeout
        while not _unix_connectable(self.socket_path):
            if self.proc.poll() is not None:
                raise RuntimeError("chatstream (%s) exited (%s):\n%s" % (
                    self.mode, self.proc.returncode, self.log_text()[-3000:]))
            if h.mono() > deadline:
                raise RuntimeError("chatstream (%s) did not listen on %s:\n%s" % (
                    self.mode, self.socket_path, self.log_text()[-3000:]))
            time.sleep(0.02)
        if self.mode == "fd0":
            # connectable before chatstream runs; wait for its "ready" line
            if h.Lighttpd.wait_log(self, r"ready: \d+ worker", timeout) is None:
                raise RuntimeError("chatstream (fd0) never said ready:\n"
                                   + self.log_text()[-3000:])
        return self

    def _spawn(self, argv, stdin, preexec):
        log = open(self.errorlog, "ab")
        try:
            self.proc = subprocess.Popen(
                argv, stdin=stdin, stdout=log, stderr=log, env=self._env(),
                cwd=self.dir, start_new_session=True, preexec_fn=preexec)
        finally:
            log.close()

    def make_listen_socket(self):
        """What systemd's chatstream.socket would hold: ListenStream=,
        SocketGroup=www-data, SocketMode=0660."""
        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.socket_path)
        s.listen(128)
        if IS_ROOT:
            os.chown(self.socket_path, 0, grp.getgrnam("www-data").gr_gid)
        os.chmod(self.socket_path, 0o660)
        return s

    def restart_on_same_socket(self, timeout=20.0):
        """fd0 mode: SIGTERM chatstream and start a new one on the socket we
        kept, as `systemctl restart` does with a socket-activated service.
        Returns once the new process said "ready" (or exited)."""
        h.kill_group(self.proc, timeout=8.0)
        before = self.log_text().count("ready: ")
        self._spawn(self.argv, self.lsock.fileno(),
                    _become(self.uid, self.gid, int(self.unit.get("UMask", "0022"), 8)))
        deadline = h.mono() + timeout
        while self.log_text().count("ready: ") <= before and \
                self.proc.poll() is None and h.mono() < deadline:
            time.sleep(0.02)
        return self

    def _spawn_fcgi_argv(self):
        words = self.unit.spawn_fcgi_line()
        sf = find_spawn_fcgi()
        if sf is None:
            raise RuntimeError("spawn-fcgi is not installed")
        out = [sf, "-n"]             # -n: stay in the foreground, our child
        subst = {P_SOCK: self.socket_path, P_BIN: self.bin_path,
                 P_CONFIG: self.cs_config,
                 P_RUNDIR + "/chatstream.pid": os.path.join(self.dir, "spawn-fcgi.pid")}
        i = 1
        while i < len(words):
            w = words[i]
            if w in ("-u", "-U", "-G", "-g"):
                if IS_ROOT:
                    v = words[i + 1]
                    if w == "-u":
                        v = SERVICE_STANDIN_USER      # no "chatstream" user here
                    out += [w, v]
                i += 2
                continue
            if w == "-P":            # ignored with -n
                i += 2
                continue
            out.append(subst.get(w, w))
            i += 1
        for p in (P_SOCK, P_BIN, P_CONFIG):
            if p not in words:
                raise ValueError("the spawn-fcgi line lost %s: %r" % (p, words))
        return out

    def stop(self):
        if self.proc is not None and self.proc.poll() is not None:
            self.died_early = self.proc.returncode
        h.kill_group(self.proc, timeout=8.0)
        self.proc = None
        if self.lsock is not None:
            self.lsock.close()
            self.lsock = None

    died_early = None

    def log_text(self):
        try:
            with open(self.errorlog, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


def install_credential(key_path, dirpath, uid):
    """LoadCredential=api-key:KEY: a copy in a 0500 directory, the file
    0400, both owned by the service's user."""
    cred_dir = os.path.join(dirpath, "credentials")
    os.makedirs(cred_dir, exist_ok=True)
    dst = os.path.join(cred_dir, "api-key")
    shutil.copyfile(key_path, dst)
    if IS_ROOT:
        os.chown(dst, uid, -1)
        os.chown(cred_dir, uid, -1)
    os.chmod(dst, 0o400)
    os.chmod(cred_dir, 0o500)
    return dst


# ---------------------------------------------------------------------------
# nginx


MAIN_CONF = """\
# generated by tests/lib/nginx.py: Debian's /etc/nginx/nginx.conf, with
# every path in {dir}, around the shipped server block (site.conf)
{user}worker_processes 2;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;

events {{
    worker_connections 1024;
}}

http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include mime.types;
    default_type application/octet-stream;
    access_log {dir}/access.log;
    gzip on;
    client_body_temp_path {dir}/tmp/body;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    proxy_temp_path {dir}/tmp/proxy;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;

    include site.conf;
}}
"""


class Nginx:
    def __init__(self, dirpath, socket_path, docroot, site_args=None):
        self.dir = dirpath
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        self.socket_path, self.docroot = socket_path, docroot
        self.site_args = dict(site_args or {})
        self.errorlog = os.path.join(self.dir, "error.log")
        self.accesslog = os.path.join(self.dir, "access.log")
        self.conf_path = os.path.join(self.dir, "nginx.conf")
        self.proc = None
        self.port = None

    def write_conf(self, port):
        for f in ("mime.types", "fastcgi_params"):
            shutil.copyfile(os.path.join("/etc/nginx", f), os.path.join(self.dir, f))
        with open(os.path.join(self.dir, "site.conf"), "w") as f:
            f.write(nginx_site(port=port, docroot=self.docroot,
                               socket_path=self.socket_path, **self.site_args))
        with open(self.conf_path, "w") as f:
            f.write(MAIN_CONF.format(dir=self.dir,
                                     user="user www-data www-data;\n" if IS_ROOT else ""))

    def start(self, timeout=20.0):
        last = None
        for _ in range(3):
            try:
                return self._start(h.free_port(), timeout)
            except OSError as e:
                last = e
        raise last

    def _start(self, port, timeout):
        self.write_conf(port)
        start_size = len(self.log_text())
        self.proc = subprocess.Popen(
            [find_nginx(), "-p", self.dir + "/", "-c", self.conf_path,
             "-e", self.errorlog, "-g", "daemon off;"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.dir, "stderr.log"), "ab"),
            cwd=self.dir, start_new_session=True, preexec_fn=h._die_with_parent)
        return h.wait_listening(self, port, "nginx", start_size, timeout)

    def stop(self):
        if self.proc is not None and self.proc.poll() is not None:
            self.died_early = self.proc.returncode
        h.kill_group(self.proc, sig=signal.SIGTERM, timeout=8.0)
        self.proc = None

    died_early = None

    def log_text(self):
        out = []
        for p in (self.errorlog, os.path.join(self.dir, "stderr.log")):
            try:
                with open(p, "rb") as f:
                    out.append(f.read().decode("utf-8", "replace"))
            except OSError:
                pass
        return "".join(out)

    def access_log_text(self):
        try:
            with open(self.accesslog, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


class Deployment:
    """nginx + chatstream: what a test talks to (port = nginx's)."""

    # nginx acts on X-Accel-* response headers and does not pass them on
    hidden_headers = ("x-accel-buffering",)

    def __init__(self, name, cs, ngx):
        self.name, self.cs, self.nginx = name, cs, ngx
        self.dir = cs.dir
        self.errorlog = "%s (+ %s, %s)" % (cs.errorlog, ngx.errorlog, ngx.accesslog)

    @property
    def port(self):
        return self.nginx.port

    @property
    def died_early(self):
        for p in (self.cs, self.nginx):
            if p.died_early is not None:
                return p.died_early
        return None

    def stop(self):
        for p in (self.nginx, self.cs):
            try:
                p.stop()
            except Exception:  # noqa: BLE001
                import traceback
                traceback.print_exc()

    def log_text(self):
        return self.cs.log_text() + self.nginx.log_text() + \
            self.nginx.access_log_text()

    chat = h.Lighttpd.chat
    get = h.Lighttpd.get
    post = h.Lighttpd.post
    wait_log = h.Lighttpd.wait_log
    log_line_for = h.Lighttpd.log_line_for
    access_lines = h.Lighttpd.access_lines


def copy_www(dst):
    """The static client under dst, readable by nginx's workers."""
    if not os.path.isdir(dst):
        shutil.copytree(h.WWW, dst)
    for root, dirs, files in os.walk(dst):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    return dst


def deploy(stack, models, name, site_args=None, mode="listen",
           default_model=None, **over):
    """Write chatstream.conf (key via the LoadCredential stand-in), start
    chatstream as the unit does (or `mode`), then nginx with the shipped
    site; register both with the stack (teardown + final checks).

    Call it from the main thread (setup, or `after` cases): the children
    get SIGTERM when the thread that started them ends (PR_SET_PDEATHSIG),
    and parallel cases run in pool threads."""
    import threading
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("nginx.deploy() from a worker thread: its servers "
                           "would die with the thread; deploy in setup()")
    os.chmod(stack.tmp, 0o711)   # workers and the service user traverse it
    d = os.path.join(stack.tmp, name)
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    uid, _ = _ids()
    key = install_credential(stack.key_path, d, uid)
    over.setdefault("api_key_file", key)
    conf = h.write_chatstream_conf(os.path.join(d, "chatstream.conf"),
                                   stack.settings(models, default_model, **over))
    os.chmod(conf, 0o644)
    cs = Chatstream(d, stack.bin, conf, mode=mode)
    docroot = copy_www(os.path.join(stack.tmp, "www"))
    ngx = Nginx(os.path.join(d, "nginx"), cs.socket_path, docroot, site_args)
    dep = Deployment(name, cs, ngx)
    stack.servers.append(dep)
    cs.start()
    ngx.start()
    return dep
