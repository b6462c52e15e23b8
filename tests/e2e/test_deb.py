#!/usr/bin/env python3
"""The Debian package (issue 18, item 3): `make deb` builds
build/deb/chatstream_VERSION_ARCH.deb from conf/debian/, and the package
holds what it should.

Reuses a .deb in build/deb/ that is newer than every tracked file (and
conf/debian/), else runs `make deb` (about 10 s on 2 cores).  Checks:
`dpkg-deb -c` lists the binary, the unit, both man pages, www/, the
examples and /etc/chatstream/chatstream.conf; Depends names Debian's
libfcgi, libcurl, json-c, SQLite and hiredis packages; conffiles is
/etc/chatstream/chatstream.conf; the packaged unit runs /usr/sbin/chatstream
as User=chatstream with StateDirectory=chatstream; the maintainer scripts
create and, on purge, remove the chatstream system user; the packaged
binary accepts the packaged config; lintian reports no error (E:).
Skips in the SANITIZE=1 run of make test (once per CI run is enough) and
when dpkg-buildpackage, debhelper or lintian are missing."""

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

DEB_DIR = os.path.join(h.REPO, "build", "deb")
DEB = None          # the package's path, set by setup()
FILES = []          # dpkg-deb -c: the paths it holds


def skip(why):
    print("1..0 # SKIP " + why)
    sys.exit(0)


def cs_version():
    with open(os.path.join(h.REPO, "src", "lib", "cs.h"), encoding="utf-8") as f:
        return re.search(r'^#define CS_VERSION "([^"]+)"', f.read(), re.M).group(1)


def newest_source():
    """The newest mtime of the files make deb copies, and conf/debian."""
    p = subprocess.run(["git", "ls-files", "--cached", "--others",
                        "--exclude-standard"], cwd=h.REPO,
                       capture_output=True, text=True, check=True)
    newest = 0.0
    for name in p.stdout.splitlines():
        try:
            newest = max(newest, os.stat(os.path.join(h.REPO, name)).st_mtime)
        except OSError:
            pass
    return newest


def find_deb():
    debs = [d for d in glob.glob(os.path.join(
        DEB_DIR, "chatstream_%s_*.deb" % cs_version()))]
    return debs[0] if len(debs) == 1 else None


def setup(stack):
    global DEB, FILES
    DEB = find_deb()
    if DEB is None or os.stat(DEB).st_mtime < newest_source():
        # The build's output goes to stderr: only TAP on stdout.
        sys.stdout.flush()
        subprocess.run(["make", "-s", "--no-print-directory", "deb"],
                       cwd=h.REPO, stdout=sys.stderr, stderr=sys.stderr,
                       check=True, timeout=600)
        DEB = find_deb()
    assert DEB is not None, "no chatstream_%s_*.deb in %s" % (cs_version(), DEB_DIR)
    p = subprocess.run(["dpkg-deb", "-c", DEB], capture_output=True,
                       text=True, check=True)
    FILES = [line.split()[-1].lstrip(".") for line in p.stdout.splitlines()]


def field(name):
    return subprocess.run(["dpkg-deb", "-f", DEB, name], capture_output=True,
                          text=True, check=True).stdout.strip()


def contents(t):
    t.check(os.path.basename(DEB).startswith("chatstream_%s_" % cs_version()),
            "the .deb is named for CS_VERSION", DEB)
    want = ["/usr/sbin/chatstream", "/lib/systemd/system/chatstream.service",
            "/usr/share/man/man8/chatstream.8.gz",
            "/usr/share/man/man5/chatstream.conf.5.gz",
            "/etc/chatstream/chatstream.conf",
            "/usr/share/doc/chatstream/copyright",
            "/usr/share/doc/chatstream/changelog.gz",
            "/usr/share/doc/chatstream/README.Debian",
            "/usr/share/doc/chatstream/examples/chatstream.conf",
            "/usr/share/doc/chatstream/examples/nginx.conf",
            "/usr/share/doc/chatstream/examples/htaccess.example"]
    for d, _, names in os.walk(os.path.join(h.REPO, "www")):
        want += ["/usr/share/chatstream/" + os.path.relpath(
            os.path.join(d, n), h.REPO) for n in names]
    for path in want:
        t.check(path in FILES, "the package holds " + path)
    t.check(not [f for f in FILES if f.startswith("/usr/local")],
            "nothing under /usr/local")


def depends(t):
    dep = field("Depends")
    for lib in ["libfcgi0ldbl", "libcurl4", "libjson-c5", "libsqlite3-0",
                "libhiredis", "adduser"]:
        t.check(re.search(r"(^|, )%s[\w.]*( |,|$)" % re.escape(lib), dep),
                "Depends names " + lib, dep)
    t.eq(field("Package"), "chatstream", "Package")
    t.eq(field("Version"), cs_version(), "Version")


def control_files(t):
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["dpkg-deb", "-e", DEB, d], check=True)
        with open(os.path.join(d, "conffiles"), encoding="utf-8") as f:
            t.eq(f.read().split(), ["/etc/chatstream/chatstream.conf"], "conffiles")
        with open(os.path.join(d, "postinst"), encoding="utf-8") as f:
            post = f.read()
        t.check("adduser --system" in post and "chatstream" in post,
                "postinst creates the chatstream system user")
        t.check("deb-systemd-helper enable 'chatstream.service'" in post,
                "postinst enables the unit (dh_installsystemd)")
        with open(os.path.join(d, "postrm"), encoding="utf-8") as f:
            t.check("deluser --system" in f.read(), "postrm removes the user on purge")


def unpacked(t):
    with tempfile.TemporaryDirectory() as root:
        subprocess.run(["dpkg-deb", "-x", DEB, root], check=True)
        with open(root + "/lib/systemd/system/chatstream.service",
                  encoding="utf-8") as f:
            unit = f.read()
        for line in ["ExecStart=/usr/sbin/chatstream --listen ",
                     "Environment=CHATSTREAM_CONFIG=/etc/chatstream/chatstream.conf",
                     "LoadCredential=api-key:/etc/chatstream/api-key",
                     "User=chatstream", "StateDirectory=chatstream"]:
            t.check(re.search("^" + re.escape(line), unit, re.M),
                    "the unit says " + line)
        with open(os.path.join(h.REPO, "conf", "chatstream.conf"), "rb") as a, \
             open(root + "/etc/chatstream/chatstream.conf", "rb") as b:
            t.check(a.read() == b.read(), "the conffile is the sample")
        p = subprocess.run([root + "/usr/sbin/chatstream", "--check-config",
                            root + "/etc/chatstream/chatstream.conf"],
                           capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, STATE_DIRECTORY=root))
        t.check(p.returncode == 0 and ": ok (" in p.stdout,
                "the packaged binary accepts the packaged config",
                p.stdout + p.stderr)


def lintian(t):
    p = subprocess.run(["lintian", "--display-info", "--no-tag-display-limit", DEB],
                       capture_output=True, text=True, timeout=300)
    tags = [line for line in p.stdout.splitlines() if re.match(r"[EWIPXON]: ", line)]
    errors = [line for line in tags if line.startswith("E: ")]
    t.eq(errors, [], "lintian: no error", p.stdout + p.stderr)
    for line in tags:
        t.diag("lintian " + line)


CASES = [
    ("dpkg-deb -c: the binary, unit, man pages, www, examples, config", contents),
    ("Depends: Debian's libfcgi, libcurl, json-c, SQLite, hiredis", depends),
    ("conffiles and maintainer scripts: the config, the user, the unit", control_files),
    ("the unpacked package: the unit's paths, the config, the binary runs", unpacked),
    ("lintian reports no error", lintian),
]

if __name__ == "__main__":
    if "/asan/" in os.environ.get("CHATSTREAM_BIN", ""):
        skip("the SANITIZE=1 run; the plain make test builds the package")
    for tool in ["dpkg-buildpackage", "dh", "lintian", "fakeroot"]:
        if shutil.which(tool) is None:
            skip(tool + " missing (make deps installs debhelper, dpkg-dev, "
                 "fakeroot, lintian)")
    sys.exit(h.main("deb", CASES, setup))
