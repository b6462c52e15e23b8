#!/usr/bin/env python3
"""The shipped nginx deployment, end to end: Debian's nginx with
conf/nginx.conf (templated only for paths and the port) in front of
chatstream started as conf/chatstream.service starts it (--listen on a unix
socket, its UMask/Group/RuntimeDirectory, the key as a LoadCredential copy).

Streaming is real, a client that leaves cancels the provider at once (also
while the provider is silent), keep-alives carry a slow first token over
fastcgi_read_timeout (and without them the stream is cut), oversized bodies
get chatstream's 413 JSON, 50 streams at once, no secret reachable,
X-Accel-Buffering works with fastcgi_buffering on, the spawn-fcgi one-liner
and fd-0 start, `nginx -t` in Debian's own layout, `systemd-analyze verify`
of the unit."""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402
import nginx as n  # noqa: E402

SLOW = "gen-20+delay:100"
LONG = "gen-200+delay:100"
SILENT = "gen-5+stall-first:20000"
MANY = "gen-30+delay:20"
STALL_S = 6.0
STALL = "gen-5+stall-first:%d" % int(STALL_S * 1000)
MODELS = ["gen-3", SLOW, LONG, SILENT, MANY, STALL]
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
       "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'self'")
S = {}


def setup(stack):
    if n.find_nginx() is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx)")
    stack.start_replay()
    S["stack"], S["replay"] = stack, stack.replay
    # threads >= the 50 concurrent streams; keepalive_seconds = 1 (harness)
    S["ng"] = n.deploy(stack, MODELS, "ng", threads=64)
    slow = dict(first_byte_timeout_seconds=STALL_S + 10)
    S["ka1"] = n.deploy(stack, MODELS, "ka1", site_args={"read_timeout": "3s"},
                        **slow)
    S["ka10"] = n.deploy(stack, MODELS, "ka10", site_args={"read_timeout": "3s"},
                         keepalive_seconds=10, **slow)
    S["buf"] = n.deploy(stack, MODELS, "buffered", site_args={"buffering": "on"})
    # control: buffering on and X-Accel-Buffering ignored (not shipped)
    tmp = os.path.join(stack.tmp, "nginx-ignore-xaccel.conf")
    with open(n.SHIPPED_NGINX) as f:
        text = f.read()
    text, k = re.subn(r"(\n\s*fastcgi_buffering\s+)off;",
                      lambda m: m.group(1) + "on;\n        fastcgi_ignore_headers "
                      "X-Accel-Buffering;", text)
    assert k == 1, "conf/nginx.conf: no 'fastcgi_buffering off;'"
    with open(tmp, "w") as f:
        f.write(text)
    S["ctl"] = n.deploy(stack, MODELS, "ignore-xaccel", site_args={"path": tmp})
    if n.find_spawn_fcgi() is not None:
        S["sf"] = n.deploy(stack, MODELS, "spawn-fcgi", mode="spawn-fcgi")
    S["fd0"] = n.deploy(stack, MODELS, "fd0", mode="fd0")


def streaming(t):
    h.deploy_streams(t, S["ng"], S["replay"], SLOW, 20)


def cancel_mid_stream(t):
    h.deploy_cancel(t, S["ng"], S["replay"], LONG, h.first_delta,
                    "the first delta", 0.5, "nginx, mid-stream")


def cancel_silent(t):
    # keepalive_seconds = 1: the headers and a first keep-alive arrive
    # after 1 s; the provider stays silent for 20 s.  nginx closes the
    # FastCGI connection as soon as its client leaves, so chatstream hears of
    # it at once, not at its next keep-alive write.
    h.deploy_cancel(t, S["ng"], S["replay"], SILENT, h.first_comment,
                    "the first keep-alive", 0.5, "nginx, silent provider")


def cancel_before_headers(t):
    """The client leaves before any response byte (provider silent)."""
    h.deploy_cancel_before_headers(t, S["ng"], S["replay"], SILENT, "nginx",
                                   0.5)


def slow_first_token(t):
    h.deploy_slow_first_token(t, S["ka1"], 5, STALL_S)


def slow_first_token_cut(t):
    """What the docs warn about: keepalive_seconds (10) above
    fastcgi_read_timeout (3s): nginx gives up while the model is silent."""
    r = S["ka10"].chat("hi", tag=h.new_tag(), model=STALL, timeout=STALL_S + 30)
    dt = r.t_end - r.t_start
    t.diag("HTTP %s after %.2f s, %d events" % (r.status, dt, len(r.events)))
    t.check(not r.done_events and r.text != h.gen_text(5),
            "the stream was cut (no [DONE], not the full text)", r.summary())
    t.eq(r.status, 504, "nginx answers 504 (nothing was sent before it gave up)",
         r.summary())
    t.check(2.5 <= dt <= STALL_S - 0.5, "cut at fastcgi_read_timeout, ~3 s (%.2f s)"
            % dt)
    line = S["ka10"].nginx.log_text()
    t.check("upstream timed out" in line, "nginx logged 'upstream timed out'",
            line[-1500:])


def too_big(t):
    h.deploy_too_big(t, S["ng"])
    limit = n.shipped_client_max_body_size()
    default = n.shipped_max_body_bytes()
    t.diag("client_max_body_size %d >= max_body_bytes default %d" % (limit, default))
    t.check(limit > default, "conf/nginx.conf client_max_body_size (%d) is above "
            "conf/chatstream.conf max_body_bytes (%d)" % (limit, default))
    # just over chatstream's default: still chatstream's 413, not nginx's
    r = S["ng"].post("/api/chat", b"{" + b" " * (default + 10) + b"}", timeout=30)
    h.check_error_json(t, r, 413, "invalid_request")


def many(t):
    h.deploy_many(t, S["ng"], MANY, 30, 50)


def secrets(t):
    sock = S["ng"].cs.socket_path
    h.deploy_secrets(t, S["ng"], S["stack"], docroot=S["ng"].nginx.docroot,
                     extra_paths=["/run/chatstream.sock", "/credentials/api-key",
                                  "/ng/chatstream.conf", sock])


def static_headers(t):
    h.deploy_static_headers(t, S["ng"], CSP)


def x_accel_buffering(t):
    """fastcgi_buffering on: chatstream's X-Accel-Buffering: no still
    makes nginx pass each piece on at once (and nginx, having acted on the
    header, does not pass it to the client)."""
    h.deploy_streams(t, S["buf"], S["replay"], SLOW, 20)
    r = S["buf"].get("/api/models")
    t.eq(r.header_all("x-accel-buffering"), [], "X-Accel-Buffering not passed on")


def buffering_control(t):
    """Control: the same with nginx told to ignore X-Accel-Buffering does
    buffer, so the streaming checks above can tell."""
    r = S["ctl"].chat("hi", tag=h.new_tag(), model=SLOW, timeout=30)
    t.eq(r.text, h.gen_text(20), "text")
    deltas = [e for e, j in r.data_events() if "content" in j]
    spread = deltas[-1].t - deltas[0].t if deltas else 0
    t.diag("buffered: first delta %.3f s before the last" % spread)
    t.check(spread < 0.5, "with the header ignored nginx buffers (%.3f s)" % spread)


def spawn_fcgi(t):
    if "sf" not in S:
        t.skip("spawn-fcgi is not installed")
    d = S["sf"]
    t.diag(" ".join(d.cs.argv))
    h.deploy_streams(t, d, S["replay"], SLOW, 20)
    h.deploy_cancel(t, d, S["replay"], LONG, h.first_delta, "the first delta",
                    0.5, "nginx + spawn-fcgi, mid-stream")
    if n.IS_ROOT:
        st = os.stat(d.cs.socket_path)
        t.eq(oct(st.st_mode & 0o777), "0o660", "socket mode (-M 0660)")
        t.eq(st.st_uid, n.pwd.getpwnam("www-data").pw_uid, "socket owner (-U www-data)")
        out = subprocess.run(["ps", "-o", "user=", "-p", str(d.cs.proc.pid)],
                             capture_output=True, text=True).stdout.strip()
        t.eq(out, n.SERVICE_STANDIN_USER, "chatstream runs as the -u user")


def fd0(t):
    """systemd socket activation (StandardInput=socket) hands chatstream the
    listening socket on fd 0 (root:www-data 0660, as SocketGroup=/
    SocketMode= would make it); chatstream serves it."""
    h.deploy_streams(t, S["fd0"], S["replay"], SLOW, 20)


def fd0_restart(t):
    """After a restart on the SAME socket (what `systemctl restart
    chatstream` does with a socket unit) chatstream must still serve."""
    d = S["fd0"]
    d.cs.restart_on_same_socket()
    r = d.chat("hi", tag=h.new_tag(), model="gen-3", timeout=10)
    t.diag("after the restart: HTTP %s %s" % (r.status, r.error or ""))
    t.eq(r.text, h.gen_text(3), "after a restart on the same socket: text",
         r.summary())


def nginx_t_debian_layout(t):
    """The shipped file, unchanged, in a copy of Debian's /etc/nginx as
    sites-enabled/chatstream: `nginx -t` accepts it."""
    etc = os.path.join(S["stack"].tmp, "etc-nginx")
    shutil.copytree("/etc/nginx", etc, symlinks=True)
    shutil.copyfile(n.SHIPPED_NGINX, os.path.join(etc, "sites-available", "chatstream"))
    os.symlink("../sites-available/chatstream",
               os.path.join(etc, "sites-enabled", "chatstream"))
    logs = os.path.join(S["stack"].tmp, "etc-nginx-logs")
    os.makedirs(logs)
    with open(os.path.join(etc, "nginx.conf")) as f:
        main = f.read()
    main = main.replace("/etc/nginx/", etc + "/").replace(
        "/var/log/nginx/", logs + "/").replace("/run/nginx.pid", logs + "/nginx.pid")
    with open(os.path.join(etc, "nginx.conf"), "w") as f:
        f.write(main)
    p = subprocess.run([n.find_nginx(), "-t", "-p", etc + "/", "-c",
                        os.path.join(etc, "nginx.conf"), "-e",
                        os.path.join(logs, "error.log")],
                       capture_output=True, text=True, timeout=30)
    t.diag((p.stderr or p.stdout).strip())
    t.eq(p.returncode, 0, "nginx -t exit status", p.stderr)
    t.check("[warn]" not in p.stderr and "[emerg]" not in p.stderr,
            "no warnings", p.stderr)


def unit_file(t):
    """conf/chatstream.service: systemd-analyze verify is silent (only the
    ExecStart binary path templated, it must exist), and the values agree
    with conf/nginx.conf and conf/chatstream.conf."""
    unit = n.Unit()
    exe = unit.exec_start()
    t.eq(exe, [n.P_BIN, "--listen", n.P_SOCK], "ExecStart")
    with open(n.SHIPPED_NGINX) as f:
        t.check("fastcgi_pass unix:%s;" % n.P_SOCK in f.read(),
                "conf/nginx.conf passes to the unit's socket %s" % n.P_SOCK)
    t.eq(unit.environment().get("CHATSTREAM_CONFIG"), n.P_CONFIG, "CHATSTREAM_CONFIG")
    with open(n.SHIPPED_CS_CONF) as f:
        grace = re.search(r"(?m)^shutdown_grace_seconds\s*=\s*(\d+)", f.read())
    t.require(grace, "shutdown_grace_seconds in conf/chatstream.conf")
    stop = unit.get("TimeoutStopSec", "")
    t.check(stop.isdigit() and int(stop) > int(grace.group(1)),
            "TimeoutStopSec (%s) > shutdown_grace_seconds (%s)" % (stop, grace.group(1)))
    t.eq(unit.get("KillSignal"), "SIGTERM", "KillSignal")
    t.eq(unit.get("Restart"), "on-failure", "Restart")
    t.eq(unit.get("RuntimeDirectory"), os.path.basename(n.P_RUNDIR), "RuntimeDirectory")
    t.eq(unit.get("LoadCredential"), "api-key:/etc/chatstream/api-key", "LoadCredential")
    t.check(n.P_CRED_DIR + "/api-key" in unit.text,
            "the comments name the credential path for api_key_file")
    sda = shutil.which("systemd-analyze")
    if sda is None:
        t.skip("systemd-analyze is not installed (the values were checked)")
    d = os.path.join(S["stack"].tmp, "unit")
    os.makedirs(d)
    path = os.path.join(d, "chatstream.service")
    with open(path, "w") as f:
        f.write(unit.text.replace(n.P_BIN, S["stack"].bin))
    p = subprocess.run([sda, "verify", path], capture_output=True, text=True,
                       timeout=60, cwd=d)
    out = (p.stdout + p.stderr).strip()
    t.eq(p.returncode, 0, "systemd-analyze verify exit status", out)
    t.eq(out, "", "systemd-analyze verify says nothing")
    p = subprocess.run([sda, "security", "--offline=true", path],
                       capture_output=True, text=True, timeout=60, cwd=d)
    m = re.search(r"Overall exposure level for \S+: ([\d.]+)", p.stdout + p.stderr)
    if m:
        t.diag("systemd-analyze security: exposure %s" % m.group(1))
        t.check(float(m.group(1)) <= 2.0, "exposure level <= 2.0 (%s)" % m.group(1))


def socket_permissions(t):
    """What chatstream.service's Group=www-data, UMask=0007 and
    RuntimeDirectoryMode=0750 make: nginx's workers (www-data) connect (every
    case above), another local user cannot."""
    if not n.IS_ROOT:
        t.skip("not root: no user switch, permissions not comparable")
    cs = S["ng"].cs
    st = os.stat(cs.run_dir)
    t.eq(oct(st.st_mode & 0o777), "0o750", "RuntimeDirectory mode")
    st = os.stat(cs.socket_path)
    t.eq(oct(st.st_mode & 0o777), "0o770", "socket mode (0777 & ~UMask)")
    t.eq(st.st_gid, n.grp.getgrnam("www-data").gr_gid, "socket group")
    t.eq(st.st_uid, n.pwd.getpwnam(n.SERVICE_STANDIN_USER).pw_uid, "socket owner")
    other = n.pwd.getpwnam("daemon")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:     # child: become "daemon", try to connect, report errno
        try:
            os.setgroups([])
            os.setgid(other.pw_gid)
            os.setuid(other.pw_uid)
            s = n.socket.socket(n.socket.AF_UNIX, n.socket.SOCK_STREAM)
            try:
                s.connect(cs.socket_path)
                os.write(w, b"connected")
            except OSError as e:
                os.write(w, str(e.errno).encode())
        finally:
            os._exit(0)
    os.close(w)
    got = os.read(r, 100).decode()
    os.close(r)
    os.waitpid(pid, 0)
    t.eq(got, "13", "user daemon cannot connect (EACCES)")


CASES = [
    ("a 6 s silent provider survives fastcgi_read_timeout 3s thanks to 1 s "
     "keep-alives", slow_first_token),
    ("keepalive_seconds 10 > fastcgi_read_timeout 3s: the stream is cut (504)",
     slow_first_token_cut),
    ("streaming is real through nginx (%s)" % SLOW, streaming),
    ("fastcgi_buffering on: X-Accel-Buffering: no still streams", x_accel_buffering),
    ("control: with X-Accel-Buffering ignored nginx buffers", buffering_control),
    ("client leaves mid-stream -> provider cancelled at once", cancel_mid_stream),
    ("client leaves while the provider is silent -> cancelled at once",
     cancel_silent),
    ("client leaves before the headers -> cancelled at once", cancel_before_headers),
    ("100 KB body -> chatstream's 413 JSON; client_max_body_size > max_body_bytes",
     too_big),
    ("50 concurrent streams complete", many),
    ("neither the key nor chatstream.conf is reachable over HTTP", secrets),
    ("static client: CSP and nosniff; API headers not doubled", static_headers),
    ("spawn-fcgi one-liner from chatstream.service (socket on fd 0)", spawn_fcgi),
    ("nginx -t accepts conf/nginx.conf in Debian's /etc/nginx layout",
     nginx_t_debian_layout),
    ("conf/chatstream.service: systemd-analyze verify, values agree", unit_file),
    ("the unit's socket: www-data may connect, other users may not",
     socket_permissions),
]

AFTER = [
    ("socket activation: a listening socket on fd 0 streams", fd0),
    ("socket activation: restart on the same inherited socket", fd0_restart),
]

if __name__ == "__main__":
    sys.exit(h.main("deploy-nginx", CASES, setup, parallel=4, after=AFTER))
