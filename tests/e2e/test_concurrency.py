#!/usr/bin/env python3
"""20 parallel streams all complete with the right text, in order, with
distinct stream ids.  (threads = 24: past its threads a process now answers
503 at once, test_overload.py, instead of queueing the extra streams.)"""

import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

MODEL = "gen-30+delay:20"
N = 20
S = {}


def setup(stack):
    stack.start_replay()
    S["replay"] = stack.replay
    S["lt"] = stack.server([MODEL, "openai-chat-text-usage+delay:10"],
                           threads=24)


def parallel(t):
    res = {}

    def one(i, tag):
        res[i] = (tag, S["lt"].chat("stream %d" % i, tag=tag, model=MODEL, timeout=60))
    ths = [threading.Thread(target=one, args=(i, h.new_tag())) for i in range(N)]
    t0 = h.mono()
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    t.diag("%d streams in %.2f s" % (N, h.mono() - t0))
    want = h.gen_text(30)
    ids = set()
    for i, (tag, r) in sorted(res.items()):
        ok = (r.status == 200 and r.text == want and len(r.done_events) == 1
              and r.events and r.events[-1].data == "[DONE]" and r.complete
              and [e.id for e in r.events]
              == ["%s:%d" % (r.stream_id, k) for k in range(1, len(r.events) + 1)])
        t.check(ok, "stream %d complete with the right text and ids" % i, r.summary(4))
        ids.add(r.stream_id)
        reqs = S["replay"].events(tag, "request")
        t.check(len(reqs) == 1, "stream %d: one upstream request (%d)" % (i, len(reqs)))
    t.eq(len(ids), N, "distinct stream ids")


def mixed(t):
    """Different scenarios at once do not mix their texts."""
    exp = h.load_expect("openai-chat-text-usage")["text"]
    res = {}

    def one(i):
        m = MODEL if i % 2 else "openai-chat-text-usage+delay:10"
        res[i] = (m, S["lt"].chat("x", tag=h.new_tag(), model=m, timeout=60))
    ths = [threading.Thread(target=one, args=(i,)) for i in range(10)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    for i, (m, r) in sorted(res.items()):
        want = h.gen_text(30) if m == MODEL else exp
        t.check(r.status == 200 and r.text == want, "stream %d (%s) text" % (i, m),
                r.summary(4))


CASES = [
    ("%d parallel streams (%s) all complete with correct text" % (N, MODEL), parallel),
    ("10 parallel streams of two scenarios keep their texts apart", mixed),
]

if __name__ == "__main__":
    sys.exit(h.main("concurrency", CASES, setup))
