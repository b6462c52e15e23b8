#!/usr/bin/env python3
"""make install / make uninstall and the man pages (issue 18, item 2).

`make install DESTDIR=TMP PREFIX=/usr/local` lays out the tree the
Makefile documents (binary in sbin, www/, examples, docs, the unit, both
man pages, the sample config); the installed binary runs; the installed
unit's ExecStart, config and key paths point into that tree.  A second
install keeps an edited config; `make uninstall` removes every file but
that edited config (and, unedited, the config too).

The pages: every key of the cfg_keys table (src/config/config_keys.c)
appears as `.It Cm KEY` in chatstream.conf(5) under the section where it
applies (top level, [upstream], [model], [key]); every long option of
`chatstream --help` and `chatstream usage --help` appears in
chatstream(8); groff -ww renders both without a warning, `man -l` renders
them, and mandoc -Tlint (when installed) finds no error or warning.
No servers: make, the binary, groff and man only."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

PREFIX = "/usr/local"
MAN8 = os.path.join(h.REPO, "docs", "man", "chatstream.8")
MAN5 = os.path.join(h.REPO, "docs", "man", "chatstream.conf.5")
# The sections of chatstream.conf(5) a key's scope puts it under.
SCOPE_SECTIONS = {"TOP": ["top"], "UP": ["top", "upstream"],
                  "MOD": ["model"], "KEY": ["key"]}


def make(target, destdir, t):
    """make TARGET into destdir with the build of CHATSTREAM_BIN."""
    build = os.path.relpath(os.path.dirname(h.chatstream_bin()), h.REPO)
    args = ["make", "-s", "--no-print-directory", target, "BUILD=" + build,
            "DESTDIR=" + destdir, "PREFIX=" + PREFIX]
    if "/asan/" in h.chatstream_bin():
        args.append("SANITIZE=1")
    p = subprocess.run(args, cwd=h.REPO, capture_output=True, text=True,
                       timeout=300)
    t.require(p.returncode == 0, "make %s" % target, p.stdout + p.stderr)
    return p.stdout


def expected_files():
    """Every file install adds, relative to DESTDIR."""
    www = []
    for d, _, names in os.walk(os.path.join(h.REPO, "www")):
        www += [os.path.relpath(os.path.join(d, n), h.REPO) for n in names]
    examples = [n for n in os.listdir(os.path.join(h.REPO, "conf"))
                if n.endswith(".conf")] + ["htaccess.example"]
    files = ["sbin/chatstream", "lib/systemd/system/chatstream.service",
             "share/man/man8/chatstream.8", "share/man/man5/chatstream.conf.5",
             "etc/chatstream/chatstream.conf",
             "share/doc/chatstream/README.md",
             "share/doc/chatstream/deploy.md",
             "share/doc/chatstream/protocol.md"]
    files += ["share/chatstream/" + w for w in www]
    files += ["share/doc/chatstream/examples/" + e for e in examples]
    return sorted(PREFIX + "/" + f for f in files)


def files_under(root):
    out = []
    for d, _, names in os.walk(root):
        out += ["/" + os.path.relpath(os.path.join(d, n), root) for n in names]
    return sorted(out)


def installs(t):
    with tempfile.TemporaryDirectory() as dest:
        make("install", dest, t)
        t.eq(files_under(dest), expected_files(), "the installed files")
        binary = dest + PREFIX + "/sbin/chatstream"
        t.eq(os.stat(binary).st_mode & 0o777, 0o755, "the binary's mode")
        p = subprocess.run([binary, "--help"], capture_output=True,
                           text=True, timeout=30)
        t.check(p.returncode == 0 and "--check-config" in p.stdout,
                "the installed binary runs --help", p.stdout + p.stderr)
        p = subprocess.run([binary, "--check-config",
                            dest + PREFIX + "/etc/chatstream/chatstream.conf"],
                           capture_output=True, text=True, timeout=30,
                           cwd=dest, env=dict(os.environ, STATE_DIRECTORY=dest))
        t.check(p.returncode == 0 and ": ok (" in p.stdout,
                "it accepts the installed config", p.stdout + p.stderr)
        with open(dest + PREFIX + "/lib/systemd/system/chatstream.service",
                  encoding="utf-8") as f:
            unit = f.read()
        want = ["ExecStart=%s/sbin/chatstream --listen " % PREFIX,
                "Environment=CHATSTREAM_CONFIG=%s/etc/chatstream/chatstream.conf" % PREFIX,
                "LoadCredential=api-key:%s/etc/chatstream/api-key" % PREFIX,
                "User=chatstream", "StateDirectory=chatstream",
                "Documentation=man:chatstream(8)"]
        for line in want:
            t.check(re.search("^" + re.escape(line), unit, re.M) is not None,
                    "the unit says " + line)
        t.check(re.search(r"^[^#].*/usr/local/lib/chatstream", unit, re.M) is None,
                "no setting keeps the repository's binary path")
        with open(os.path.join(h.REPO, "conf", "chatstream.service"),
                  encoding="utf-8") as f:
            t.check("ExecStart=/usr/local/lib/chatstream/chatstream " in f.read(),
                    "conf/chatstream.service itself is unchanged")


def uninstalls(t):
    with tempfile.TemporaryDirectory() as dest:
        make("install", dest, t)
        conf = dest + PREFIX + "/etc/chatstream/chatstream.conf"
        with open(conf, "a", encoding="utf-8") as f:
            f.write("threads = 4\n")
        out = make("install", dest, t)
        t.check("left as it is" in out, "a second install says it kept the config", out)
        with open(conf, encoding="utf-8") as f:
            t.check(f.read().endswith("threads = 4\n"), "the edit survives install")
        out = make("uninstall", dest, t)
        t.eq(files_under(dest), [PREFIX + "/etc/chatstream/chatstream.conf"],
             "uninstall leaves only the edited config", out)
        make("install", dest, t)
        os.unlink(conf)
        make("install", dest, t)
        make("uninstall", dest, t)
        t.eq(files_under(dest), [], "uninstall of an unedited install leaves no file")
        t.check(not os.path.exists(dest + PREFIX + "/share/chatstream"),
                "nor share/chatstream")


def config_keys():
    """[(scope, key)] of every ROW("key", SCOPE(field), ...) of cfg_keys."""
    with open(os.path.join(h.REPO, "src", "config", "config_keys.c"),
              encoding="utf-8") as f:
        src = f.read()
    rows = re.findall(r'\bROW\("([a-z0-9_]+)",\s*(TOP|UP|MOD|KEY)\(', src)
    return [(scope, key) for key, scope in rows]


def conf5_sections():
    """The text of chatstream.conf(5) per section: top, upstream, model, key."""
    with open(MAN5, encoding="utf-8") as f:
        page = f.read()
    top = page.index(".Sh TOP-LEVEL KEYS")
    up = page.index('.Ss "[upstream')
    mod = page.index('.Ss "[model')
    key = page.index('.Ss "[key')
    end = page.index(".Sh", key)
    return {"top": page[top:up], "upstream": page[up:mod],
            "model": page[mod:key], "key": page[key:end]}


def man5_keys(t):
    keys = config_keys()
    t.require(len(keys) > 60, "the key table parsed", keys)
    secs = conf5_sections()
    for scope, key in keys:
        for sec in SCOPE_SECTIONS[scope]:
            t.check(re.search(r"^\.It Cm %s\b" % re.escape(key), secs[sec], re.M),
                    "chatstream.conf(5) documents %s in the %s section" % (key, sec))


def long_options(args):
    p = subprocess.run([h.chatstream_bin()] + args, capture_output=True,
                       text=True, timeout=30)
    return sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", p.stdout)))


def fl(option):
    """`.It Fl \\-name` for --name (Fl writes the first dash)."""
    return r"^\.It Fl %s\b" % re.escape(option[1:].replace("-", "\\-"))


def man8_options(t):
    with open(MAN8, encoding="utf-8") as f:
        page = f.read()
    opts = long_options(["--help"])
    t.require("--listen" in opts and "--hash-key" in opts, "--help parsed", opts)
    for o in opts + ["--version"]:
        t.check(re.search(fl(o), page, re.M),
                "chatstream(8) documents %s" % o)
    usage = page[page.index(".Ss The usage command"):page.index(".Sh SIGNALS")]
    for o in long_options(["usage", "--help"]):
        t.check(re.search(fl(o), usage, re.M),
                "chatstream(8) documents usage %s" % o)
    for word in ["SIGTERM", "SIGHUP", "CHATSTREAM_CONFIG", "STATE_DIRECTORY",
                 "OPENAI_API_KEY", "EXIT STATUS", "outcome="]:
        t.check(word in page, "chatstream(8) mentions " + word)


def renders(t):
    for page in (MAN8, MAN5):
        name = os.path.basename(page)
        p = subprocess.run(["groff", "-ww", "-mandoc", "-Tutf8", page],
                           capture_output=True, text=True, timeout=60)
        t.eq(p.stderr, "", "groff -ww: no warning for " + name)
        t.check(p.returncode == 0 and len(p.stdout) > 2000, "groff renders " + name)
        p = subprocess.run(["man", "-l", page], capture_output=True,
                           text=True, timeout=60,
                           env=dict(os.environ, MANWIDTH="80", MANPAGER="cat",
                                    PAGER="cat", LC_ALL="C.UTF-8"))
        t.check(p.returncode == 0 and "chatstream" in p.stdout,
                "man -l renders " + name, p.stderr)
        t.eq(p.stderr, "", "man -l: nothing on stderr for " + name)
        with open(page, "rb") as f:
            t.check(all(b < 0x80 for b in f.read()), name + " is ASCII")
        if shutil.which("mandoc"):
            p = subprocess.run(["mandoc", "-Tlint", "-Wwarning", page],
                               capture_output=True, text=True, timeout=60)
            bad = [line for line in (p.stdout + p.stderr).splitlines()
                   if "mandoc.db" not in line and "referenced manual" not in line]
            t.eq(bad, [], "mandoc -Tlint: no error or warning in " + name)


CASES = [
    ("make install lays out the tree; the unit points at it", installs),
    ("make uninstall removes it all but an edited config", uninstalls),
    ("chatstream.conf(5) documents every key where it applies", man5_keys),
    ("chatstream(8) documents every option and the usage command", man8_options),
    ("both pages render without warnings (groff -ww, man -l, mandoc)", renders),
]

if __name__ == "__main__":
    sys.exit(h.main("install", CASES, lambda stack: None))
