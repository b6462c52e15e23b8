#!/usr/bin/env python3
"""The portable build (issue 18, item 1): `make portable` makes a static
binary (file: statically linked; ldd: not a dynamic executable) and the
tarball with it, www/, conf/ and INSTALL-shared-hosting.txt.  The binary
runs in an empty chroot (only itself, /etc/hosts, /etc/resolv.conf, its
config, key and a CA file) as plain CGI and as a FastCGI listener that
the real lighttpd outside reaches over TCP, and streams a reply from the
replay provider over HTTPS: the provider's name resolved by DNS (Debian's
dnsmasq on a loopback address; the chroot's /etc/hosts does not know it),
its certificate from a test CA given as ca_file.  Without ca_file the
binary falls back to its embedded bundle (--check-config says so), which
refuses that certificate: the chat ends in an error naming it.
--version names the build and the libraries.

The binary is built once: the test reuses build/portable/chatstream when
it is newer than every source file, else runs make portable (about a
minute; the curl source is cached under build/cache/).  It runs in the
plain make test only: the SANITIZE=1 run would test the same binary."""

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

S = {}
BIN = os.path.join(h.REPO, "build", "portable", "chatstream")
NAME = "replay.test"
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"


def newest_source():
    files = glob.glob(os.path.join(h.REPO, "src", "*", "*.[ch]")) + [
        os.path.join(h.REPO, "Makefile")]
    return max(os.path.getmtime(f) for f in files)


def build():
    if os.path.exists(BIN) and os.path.getmtime(BIN) >= newest_source():
        return "reused"
    t0 = time.monotonic()
    p = subprocess.run(["make", "-C", h.REPO, "portable"], capture_output=True,
                       timeout=1200)
    if p.returncode != 0:
        raise RuntimeError("make portable failed:\n" +
                           (p.stdout + p.stderr).decode(errors="replace")[-4000:])
    return "built in %.0f s" % (time.monotonic() - t0)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, timeout=60, **kw)


def make_ca(d):
    """A test CA and a certificate for NAME and 127.0.0.1 signed by it."""
    ca, key = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
    srv, skey = os.path.join(d, "srv.pem"), os.path.join(d, "srv.key")
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:%s,IP:127.0.0.1\n" % NAME)
    for cmd in (
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
             "-out", ca, "-days", "2", "-subj", "/CN=chatstream test CA"],
            ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", skey,
             "-out", srv + ".csr", "-subj", "/CN=" + NAME],
            ["openssl", "x509", "-req", "-in", srv + ".csr", "-CA", ca, "-CAkey", key,
             "-CAcreateserial", "-out", srv, "-days", "2", "-extfile", ext]):
        p = run(cmd)
        if p.returncode != 0:
            raise RuntimeError("%s: %s" % (" ".join(cmd[:3]), p.stderr.decode()))
    return ca, srv, skey


def start_dns(d):
    """dnsmasq answering NAME with 127.0.0.1 on the first free loopback
    address of 127.0.0.53.. (port 53: resolv.conf names no port)."""
    exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if not os.path.exists(exe):
        return None, None
    for last in range(53, 63):
        addr = "127.0.0.%d" % last
        log = open(os.path.join(d, "dnsmasq.log"), "ab")
        p = subprocess.Popen(
            [exe, "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
             "--listen-address=" + addr, "--bind-interfaces", "--port=53",
             "--address=/%s/127.0.0.1" % NAME, "--pid-file=", "--user=root",
             "--log-facility=-"], stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and p.poll() is None:
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.settimeout(0.3)
                # A query for NAME, type A.
                qname = b"".join(bytes([len(x)]) + x.encode() for x in NAME.split(".")) + b"\0"
                s.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + qname +
                         b"\x00\x01\x00\x01", (addr, 53))
                data, _ = s.recvfrom(512)
                s.close()
                if data[:2] == b"\x12\x34":
                    return p, addr
            except OSError:
                time.sleep(0.1)
        p.kill()
        p.wait()
    return None, None


def chroot_tree(root, conf_lines, ca=None, dns=None):
    os.makedirs(os.path.join(root, "etc"), exist_ok=True)
    shutil.copy(BIN, os.path.join(root, "chatstream"))
    with open(os.path.join(root, "etc", "hosts"), "w") as f:
        f.write("127.0.0.1 localhost\n")
    with open(os.path.join(root, "etc", "resolv.conf"), "w") as f:
        f.write("nameserver %s\n" % (dns or "127.0.0.1"))
    h.write_key(os.path.join(root, "key"), S["stack"].key)
    if ca:
        shutil.copy(ca, os.path.join(root, "ca.pem"))
    h.write_chatstream_conf(os.path.join(root, "chatstream.conf"), conf_lines)


def settings(ca):
    d = dict(h.BASE_SETTINGS)
    d.update({"base_url": S["replay"].base_url, "api_key_file": "/key",
              "model": ["gen-3"], "state": "memory"})
    if ca:
        d["ca_file"] = "/ca.pem"
    return list(d.items())


def setup(stack):
    S["stack"] = stack
    S["built"] = build()
    if os.geteuid() != 0:
        S["skip"] = "not root: chroot and port 53 need root"
        return
    d = os.path.join(stack.tmp, "tls")
    os.makedirs(d)
    S["ca"], srv, key = make_ca(d)
    S["dns"], S["dns_addr"] = start_dns(d)
    if S["dns"] is None:
        S["skip"] = "no dnsmasq (make deps installs dnsmasq-base)"
        return
    S["replay"] = h.Replay(stack.tmp, tls=(srv, key), host_name=NAME).start()
    stack.replay = S["replay"]   # stopped with the stack
    S["good"] = os.path.join(stack.tmp, "root-good")
    chroot_tree(S["good"], settings(True), S["ca"], S["dns_addr"])
    S["bad"] = os.path.join(stack.tmp, "root-bad")
    chroot_tree(S["bad"], settings(False), None, S["dns_addr"])
    # A RHEL-family host: its bundle (here holding the test CA) in
    # /etc/pki/tls/certs, no ca_file.
    S["rhel"] = os.path.join(stack.tmp, "root-rhel")
    chroot_tree(S["rhel"], settings(False), None, S["dns_addr"])
    os.makedirs(os.path.join(S["rhel"], "etc", "pki", "tls", "certs"))
    shutil.copy(S["ca"], os.path.join(S["rhel"], "etc", "pki", "tls", "certs",
                                      "ca-bundle.crt"))


def need_root(t):
    if S.get("skip"):
        t.skip(S["skip"])


def case_static(t):
    t.diag("portable binary: %s" % S["built"])
    f = run(["file", BIN]).stdout.decode()
    t.check("statically linked" in f, "file says statically linked", detail=f)
    l = run(["ldd", BIN])
    t.check(b"not a dynamic executable" in l.stdout + l.stderr, "ldd: not a dynamic executable",
            detail=(l.stdout + l.stderr).decode())
    v = run([BIN, "--version"]).stdout.decode()
    for want in ("chatstream ", "portable: static x86_64", "libcurl 7.", "OpenSSL/3",
                 "json-c ", "libfcgi ", "SQLite ", "hiredis "):
        t.check(want in v, "--version names %r" % want, detail=v)
    tars = glob.glob(os.path.join(h.REPO, "build", "dist", "chatstream-*-linux-x86_64.tar.gz"))
    t.require(len(tars) == 1, "one tarball in build/dist", detail=tars)
    with tarfile.open(tars[0]) as tf:
        names = tf.getnames()
    top = names[0].split("/")[0]
    for want in ("chatstream", "INSTALL-shared-hosting.txt", "www/index.html",
                 "conf/chatstream.conf", "conf/htaccess.example"):
        t.check("%s/%s" % (top, want) in names, "the tarball holds %s" % want)


def cgi(root, tag):
    body = json.dumps({"messages": [{"role": "user", "content": "tag:%s hi" % tag}],
                       "model": "gen-3"}).encode()
    env = h.cgi_env(body=body)
    env["HTTP_ACCEPT"] = "text/event-stream"
    env["CHATSTREAM_CONFIG"] = "/chatstream.conf"
    p = subprocess.run([CHROOT, root, "/chatstream"], input=body, capture_output=True,
                       env=env, timeout=30)
    r = h.Response()
    h.CGIStream(r).feed(p.stdout, h.mono(), final=True)
    r.complete = True
    with h._SEEN_LOCK:
        h.SEEN_BODIES.append(p.stdout + p.stderr)
    return p, r


def case_cgi_https(t):
    need_root(t)
    p, r = cgi(S["good"], h.new_tag())
    t.eq(p.returncode, 0, "exit status", detail=p.stderr.decode(errors="replace")[-2000:])
    t.eq(r.text, h.gen_text(3), "the reply streamed over HTTPS, by name through DNS",
         detail=p.stderr.decode(errors="replace")[-2000:])
    c = run([CHROOT, S["good"], "/chatstream", "--check-config", "/chatstream.conf"])
    t.check(b"TLS trust ca_file /ca.pem" in c.stdout, "--check-config: ca_file",
            detail=c.stdout.decode())


def case_embedded_refuses(t):
    need_root(t)
    c = run([CHROOT, S["bad"], "/chatstream", "--check-config", "/chatstream.conf"])
    t.check(b"TLS trust embedded" in c.stdout, "--check-config: the embedded bundle",
            detail=c.stdout.decode())
    p, r = cgi(S["bad"], h.new_tag())
    t.eq(r.status, 502, "502 upstream_error", detail=r.body[:400])
    t.eq(r.text, "", "no text from an untrusted provider")
    t.check(b"certificate" in r.body.lower(), "the error names the certificate",
            detail=r.body[:400])


def case_probed(t):
    need_root(t)
    c = run([CHROOT, S["rhel"], "/chatstream", "--check-config", "/chatstream.conf"])
    t.check(b"TLS trust system bundle /etc/pki/tls/certs/ca-bundle.crt (probed)" in c.stdout,
            "--check-config: RHEL's bundle, probed", detail=c.stdout.decode())
    p, r = cgi(S["rhel"], h.new_tag())
    t.eq(r.text, h.gen_text(3), "the reply, trusted through the host's bundle",
         detail=p.stderr.decode(errors="replace")[-1000:])


def case_listener(t):
    need_root(t)
    port = h.free_port()
    log = open(os.path.join(S["stack"].tmp, "listener.log"), "ab")
    cs = subprocess.Popen([CHROOT, S["good"], "/chatstream", "--config", "/chatstream.conf",
                           "--listen", "127.0.0.1:%d" % port], stdout=log, stderr=log,
                          start_new_session=True)
    lt_dir = os.path.join(S["stack"].tmp, "lt-outside")
    os.makedirs(lt_dir, exist_ok=True)
    lport = h.free_port()
    conf = os.path.join(lt_dir, "lighttpd.conf")
    with open(conf, "w") as f:
        f.write('server.modules = ( "mod_fastcgi" )\n'
                'server.bind = "127.0.0.1"\nserver.port = %d\n'
                'server.document-root = "%s"\nserver.stream-response-body = 2\n'
                'server.errorlog = "%s"\n'
                'fastcgi.server = ( "/api/" => (( "host" => "127.0.0.1", "port" => %d,'
                ' "check-local" => "disable" )) )\n'
                % (lport, h.WWW, os.path.join(lt_dir, "error.log"), port))
    lt = subprocess.Popen([h.find_lighttpd(), "-D", "-f", conf], stdout=log, stderr=log,
                          start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (h.port_open(port) and h.port_open(lport)):
            time.sleep(0.05)
        t.require(h.port_open(port) and h.port_open(lport), "listener and lighttpd are up")
        body = json.dumps({"messages": [{"role": "user", "content": "tag:%s hi" % h.new_tag()}],
                           "model": "gen-3"}).encode()
        r = h.request(lport, "POST", "/api/chat", body=body,
                      headers={"Content-Type": "application/json",
                               "Accept": "text/event-stream"})
        t.eq(r.status, 200, "200 through lighttpd")
        t.eq(r.text, h.gen_text(3), "the reply streamed from the chrooted listener")
    finally:
        for p in (lt, cs):
            h.kill_group(p, timeout=5.0)
        log.close()


def case_apache_fcgid(t):
    """The binary from the tarball, where INSTALL-shared-hosting.txt puts
    it, through test_deploy_apache_fcgid (conf/apache-fcgid.conf, then
    conf/htaccess.example with its wrapper)."""
    tars = glob.glob(os.path.join(h.REPO, "build", "dist", "chatstream-*-linux-x86_64.tar.gz"))
    t.require(len(tars) == 1, "the tarball")
    d = os.path.join(S["stack"].tmp, "unpacked")
    with tarfile.open(tars[0]) as tf:
        tf.extractall(d)
    exe = glob.glob(os.path.join(d, "chatstream-*", "chatstream"))
    t.require(len(exe) == 1 and os.access(exe[0], os.X_OK), "an executable in the tarball")
    env = dict(os.environ, CHATSTREAM_BIN=exe[0])
    p = subprocess.run([sys.executable, os.path.join(h.REPO, "tests", "e2e",
                                                     "test_deploy_apache_fcgid.py")],
                       capture_output=True, env=env, timeout=600)
    out = p.stdout.decode(errors="replace")
    bad = [l for l in out.splitlines() if l.startswith("not ok")]
    if "1..0 # SKIP" in out:
        t.skip(out.strip().splitlines()[0])
    t.eq((p.returncode, bad), (0, []), "test_deploy_apache_fcgid passes on the portable binary",
         detail=out[-3000:])


CASES = [
    ("make portable: a static binary, --version, the tarball", case_static),
    ("in an empty chroot as CGI: HTTPS by DNS name, ca_file", case_cgi_https),
    ("without ca_file the embedded bundle refuses the test CA", case_embedded_refuses),
    ("a RHEL host's bundle in /etc/pki/tls/certs is found and used", case_probed),
    ("in an empty chroot as a FastCGI listener behind lighttpd", case_listener),
    ("behind Apache mod_fcgid and .htaccess, from the tarball", case_apache_fcgid),
]


def stop_dns():
    p = S.get("dns")
    if p is not None:
        p.kill()
        p.wait()


if __name__ == "__main__":
    if "/asan/" in os.environ.get("CHATSTREAM_BIN", ""):
        # The portable binary is the same in both runs of make test.
        print("1..0 # SKIP the SANITIZE=1 run; the plain make test tests "
              "the portable binary")
        sys.exit(0)
    try:
        rc = h.main("portable", CASES, setup)
    finally:
        stop_dns()
    sys.exit(rc)
