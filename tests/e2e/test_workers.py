#!/usr/bin/env python3
"""Threads start as they are needed: a process that gets one request at a
time (as under mod_fcgid, which sends each process one) keeps a single
worker and a single event loop whatever `threads` and `loops` say, and
concurrent provider streams hold no worker: they go to the event loops,
which start as streams arrive, up to `loops`, without turning anyone
away.  (Before the event loops, each stream held a worker thread of its
own: this test then checked that workers grew with the streams.)"""

import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

THREADS = 8
LOOPS = 2
SLOW = "gen-20+delay:100"        # 2 s
S = {}


def setup(stack):
    stack.start_replay()
    S["sa"] = stack.standalone(["gen-3", SLOW], name="listen",
                               default_model="gen-3", threads=THREADS,
                               loops=LOOPS)


def tasks(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def named(pid, name):
    """Threads of pid named name (chatstream names its threads)."""
    n = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                n += f.read().strip() == name
        except OSError:
            pass        # ended meanwhile
    return n


def memory(pid):
    out = {}
    for line in open("/proc/%d/status" % pid):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "RssAnon", "Threads"):
            out[k] = v.strip()
    return out


def one_at_a_time(t):
    sa = S["sa"]
    pid = sa.proc.pid
    for i in range(5):
        r = sa.chat("hi", tag=h.new_tag(), model="gen-3", timeout=10)
        t.eq(r.text, h.gen_text(3), "sequential chat %d" % i, r.summary())
    n = tasks(pid)
    t.diag("threads after 5 sequential chats: %d (%s)" % (n, memory(pid)))
    # main, watchdog, intake, overflow, one worker and one event loop
    t.check(n <= 6, "one worker and one loop serve requests that come one "
            "at a time (%d threads in all, threads = %d, loops = %d)"
            % (n, THREADS, LOOPS))


def grows_with_load(t):
    sa = S["sa"]
    pid = sa.proc.pid
    res, started = [None] * 4, threading.Barrier(5)
    peak, loops = [0], [0]

    def one(i):
        started.wait()
        res[i] = sa.chat("hi", tag=h.new_tag(), model=SLOW, timeout=20)
    ths = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for th in ths:
        th.start()
    started.wait()
    # While the four streams run (each 2 s), sample the threads until
    # they are all done.
    while any(th.is_alive() for th in ths):
        peak[0] = max(peak[0], tasks(pid))
        loops[0] = max(loops[0], named(pid, "cs-loop"))
        for th in ths:
            th.join(0.05)
    for i, r in enumerate(res):
        t.check(r is not None and r.text == h.gen_text(20),
                "concurrent stream %d: the whole text" % i,
                r.summary() if r else None)
        t.check(r is not None and r.status == 200, "stream %d: not refused"
                % i)
    t.diag("while 4 streams ran: %d threads, %d event loops"
           % (peak[0], loops[0]))
    t.eq(loops[0], LOOPS, "the streams ran on the %d event loops: a second "
         "started for concurrent streams, no more than loops" % LOOPS)
    # main, watchdog, intake, overflow, LOOPS loops, and the workers that
    # read the requests (one per request arriving at the same moment at
    # most): never a thread per stream held for the stream
    t.check(peak[0] <= 4 + LOOPS + 4, "no more threads than that (%d)"
            % peak[0])


CASES = [
    ("requests one at a time: a single worker thread", one_at_a_time),
    ("four concurrent streams: they run on the event loops, none is "
     "refused",
     grows_with_load),
]

if __name__ == "__main__":
    sys.exit(h.main("workers", CASES, setup))
