#!/usr/bin/env python3
"""test_fuzz_smoke.py — every libFuzzer target for a few seconds (TAP).

Builds and runs `make fuzz-smoke` (tests/fuzz/run prints one TAP line per
target: the parsers and each provider adapter); a crash fails the target's
line and names the reproducer in build/fuzz/artifacts/.  Skips when clang
or its libFuzzer runtime is missing, and in the SANITIZE=1 run of
`make test` (the fuzz builds are sanitized already; once per CI run is
enough).  FUZZ_SMOKE_SECONDS (default 4) is the time per target.
"""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def skip(why):
    print("1..0 # SKIP " + why)
    sys.exit(0)


def libfuzzer_works():
    """clang can link a trivial fuzz target (runtime: libclang-rt-*-dev)."""
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "t.c")
        with open(src, "w", encoding="ascii") as f:
            f.write("#include <stddef.h>\n#include <stdint.h>\n"
                    "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\n"
                    "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)\n"
                    "{ (void)d; (void)n; return 0; }\n")
        try:
            r = subprocess.run(["clang", "-fsanitize=fuzzer", "-o",
                                os.path.join(d, "t"), src],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, check=False)
        except OSError:
            return False
        return r.returncode == 0


def main():
    if "/asan/" in os.environ.get("CHATSTREAM_BIN", ""):
        skip("the SANITIZE=1 run; the plain make test runs the fuzz smoke")
    if not libfuzzer_works():
        skip("clang or its libFuzzer runtime (libclang-rt-14-dev) missing")
    secs = os.environ.get("FUZZ_SMOKE_SECONDS", "4")
    # The build's output goes to stderr: only the runner's TAP on stdout.
    sys.stdout.flush()
    r = subprocess.run(["make", "-s", "--no-print-directory", "-j2",
                        "fuzz-smoke", "FUZZ_SMOKE_SECONDS=" + secs],
                       cwd=ROOT, stdout=sys.stdout, stderr=sys.stderr,
                       check=False)
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
