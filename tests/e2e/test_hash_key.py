#!/usr/bin/env python3
"""chatstream --hash-key: the secret on stdin (one line) in, the config's
`secret_sha256 = HEX` line out, HEX being what Python's hashlib says; a
secret that could never be sent as a Bearer token (empty, spaces, control
bytes, over 256 bytes) is refused with exit status 2 and one line on
stderr that does not echo it.  No servers: it runs the binary only."""

import hashlib
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402


def hash_key(stdin):
    return subprocess.run([h.chatstream_bin(), "--hash-key"], input=stdin,
                          capture_output=True, timeout=30)


def hashes(t):
    for secret, line_end in [(b"sk-test-0123456789", b"\n"),
                             (b"abc", b"\r\n"),
                             (b"no-newline", b""),
                             (b"~!#$%&'*+-.^_`|" + b"k" * 200, b"\n"),
                             (b"k" * 256, b"\n")]:
        p = hash_key(secret + line_end)
        want = "secret_sha256 = %s\n" % hashlib.sha256(secret).hexdigest()
        t.eq(p.returncode, 0, "exit status for %d bytes" % len(secret),
             p.stderr)
        t.eq(p.stdout.decode(), want, "the line for %r" % secret[:20])
        t.eq(p.stderr, b"", "nothing on stderr")


def refuses(t):
    for stdin in [b"", b"\n", b"two words\n", b"tab\there\n", b"bell\x07\n",
                  "caf\u00e9\n".encode(), b"k" * 257 + b"\n",
                  b"k" * 5000]:
        p = hash_key(stdin)
        t.eq(p.returncode, 2, "exit status for %r" % stdin[:20])
        t.eq(p.stdout, b"", "nothing on stdout for %r" % stdin[:20])
        err = p.stderr.decode("utf-8", "replace")
        t.check(err.startswith("chatstream: --hash-key: ") and
                err.count("\n") == 1, "one error line", err)
        if len(stdin.strip()) > 3:
            t.check(stdin.strip()[:8].decode("utf-8", "replace") not in err,
                    "the secret is not echoed", err)


def in_help(t):
    p = subprocess.run([h.chatstream_bin(), "--help"], capture_output=True,
                       text=True, timeout=30)
    t.eq(p.returncode, 0, "exit status")
    t.check("--hash-key" in p.stdout, "--help mentions --hash-key", p.stdout)


CASES = [
    ("--hash-key prints secret_sha256 = sha256(secret)", hashes),
    ("--hash-key refuses what cannot be a Bearer token", refuses),
    ("--help names --hash-key", in_help),
]

if __name__ == "__main__":
    sys.exit(h.main("hash_key", CASES, lambda stack: None))
