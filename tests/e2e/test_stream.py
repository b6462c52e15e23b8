#!/usr/bin/env python3
"""Streaming through lighttpd: recorded OpenAI streams end to end, the
upstream request chatstream makes, real (unbuffered) streaming, keep-alives
and the access-log line."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

FIXTURES = h.openai_fixtures()
SLOW = "gen-20+delay:100"
SLOW_KA = "gen-3+stall-mid:2:1500"  # w1, 1.5 s silence (> keepalive 1 s, < idle 2 s), w2, w3
LONG = "openai-chat-text-usage+repeat:4"
SPLITS = ["openai-chat-text-usage+split:7", "openai-compat-openrouter-comment+crlf+split:3"]
ESC = ["esc", "esc+split:1"]
NO_USAGE = "gen-3+no-usage"
MODELS = ["gen-3"] + FIXTURES + [SLOW, SLOW_KA, LONG, NO_USAGE] + SPLITS + ESC

S = {}  # the stack's servers


def setup(stack):
    stack.start_replay()
    S["lt"] = stack.server(MODELS, default_model="gen-3")
    S["replay"] = stack.replay
    S["stack"] = stack


def fixture_case(name, model=None):
    model = model or name

    def run(t):
        exp = h.load_expect(name)
        tag = h.new_tag()
        r = S["lt"].chat("Hello", tag=tag, model=model)
        h.check_stream_shape(t, r, end="finish")
        t.eq(r.text, exp["text"], "concatenated content")
        fin = r.finish
        t.require(fin is not None, "finish event", r.summary())
        t.eq(fin.get("finish_reason"), exp["finish_reason"], "finish_reason")
        t.eq(fin.get("usage"), h.native_usage(exp["usage"]), "usage")
        if exp.get("refusal"):
            t.eq(r.refusal, exp["refusal"], "concatenated refusal deltas")
        if exp.get("tool_calls"):
            calls = [e.json() for e in r.named("tool_call")]
            got = [{k: (c or {}).get(k) for k in ("id", "name", "arguments")}
                   for c in calls]
            t.eq(got, exp["tool_calls"], "tool_call events")
        t.eq(len(S["replay"].events(tag, "request")), 1, "upstream requests")
    return run


def upstream_request(t):
    tag = h.new_tag()
    msgs = [{"role": "user", "content": "Say hi"},
            {"role": "assistant", "content": "Hi."},
            {"role": "user", "content": "tag:%s again" % tag}]
    r = S["lt"].chat(messages=msgs, model="gen-3",
                     extra={"instructions": "Be terse.", "temperature": 0.5,
                            "max_tokens": 50})
    t.eq(r.status, 200, "status", r.summary())
    t.eq(r.text, h.gen_text(3), "text")
    reqs = S["replay"].events(tag, "request")
    t.require(len(reqs) == 1, "one upstream request, got %d" % len(reqs))
    q = reqs[0]
    t.eq(q["path"], "/v1/chat/completions", "upstream path")
    hd = {k.lower(): v for k, v in q["headers"]}
    t.eq(hd.get("authorization"), "Bearer " + S["stack"].key, "Authorization header")
    t.check((hd.get("content-type") or "").startswith("application/json"),
            "upstream Content-Type is application/json: %r" % hd.get("content-type"))
    t.check("text/event-stream" in (hd.get("accept") or ""),
            "upstream Accept has text/event-stream: %r" % hd.get("accept"))
    b = q["body"]
    t.require(isinstance(b, dict), "upstream body is a JSON object", b)
    t.eq(b.get("model"), "gen-3", "model (verbatim)")
    t.eq(b.get("stream"), True, "stream")
    t.eq(b.get("stream_options"), {"include_usage": True}, "stream_options")
    t.eq(b.get("temperature"), 0.5, "temperature")
    t.check(b.get("max_tokens") == 50 or b.get("max_completion_tokens") == 50,
            "max_tokens (or max_completion_tokens) 50 forwarded", b)
    want = [{"role": "system", "content": "Be terse."}] + msgs
    got = [{k: m.get(k) for k in ("role", "content")} for m in b.get("messages") or []]
    t.eq(got, want, "upstream messages (instructions first, then the history)")


def default_model(t):
    tag = h.new_tag()
    r = S["lt"].chat("hi", tag=tag)
    t.eq(r.status, 200, "status", r.summary())
    t.eq(r.text, h.gen_text(3), "text")
    reqs = S["replay"].events(tag, "request")
    t.check(reqs and reqs[0]["body"].get("model") == "gen-3",
            "upstream model is default_model gen-3",
            reqs and reqs[0]["body"].get("model"))


def streaming_is_real(t):
    tag = h.new_tag()
    r = S["lt"].chat("hi", tag=tag, model=SLOW)
    h.check_stream_shape(t, r)
    t.eq(r.text, h.gen_text(20), "text")
    deltas = [e for e, j in r.data_events() if "content" in j]
    t.require(deltas, "deltas received")
    last = S["replay"].events(tag, "last_event_sent")
    t.require(last, "replay recorded last_event_sent")
    lead = last[0]["t"] - deltas[0].t
    t.diag("first delta arrived %.3f s before the replay sent its last event" % lead)
    t.check(lead >= 1.0, "first delta arrived >= 1 s before the upstream finished "
            "(got %.3f s): the response is buffered" % lead)
    spread = deltas[-1].t - deltas[0].t
    t.check(spread >= 1.5, "deltas spread over >= 1.5 s (got %.3f s)" % spread)
    # every delta reaches the client soon after the replay wrote it
    sent = {e["n"]: e["t"] for e in S["replay"].events(tag, "event_sent")}
    # replay event 1 is the role chunk, event k+1 carries "w<k>"
    lags = [deltas[k].t - sent[k + 2] for k in range(len(deltas)) if (k + 2) in sent]
    t.diag("upstream->client lag per delta: max %.1f ms, mean %.1f ms"
           % (1000 * max(lags), 1000 * sum(lags) / len(lags)))
    t.check(max(lags) < 0.5, "every delta reaches the client < 0.5 s after the "
            "upstream sent it (max %.3f s)" % max(lags))
    S["slow"] = (r, tag)


def access_log_line(t):
    if "slow" not in S:
        t.skip("needs the streaming case")
    r, tag = S["slow"]
    sid = r.stream_id
    line = S["lt"].log_line_for(sid)
    t.require(line is not None, "error.log has a chatstream: line with id=%s" % sid,
              "\n".join(S["lt"].log_text().splitlines()[-10:]))
    t.diag(line)
    f = dict(re.findall(r"\b([a-z_]+)=(\S*)", line.split("chatstream:", 1)[1]))
    t.eq(f.get("outcome"), "done", "outcome")
    t.eq(f.get("status"), "200", "status")
    t.eq(f.get("model"), SLOW, "model")
    t.eq(f.get("deltas"), str(len(r.deltas)), "deltas= equals deltas received")
    t.eq(f.get("client"), "127.0.0.1", "client")
    for k in ("ttfd_ms", "duration_ms", "bytes_out", "prompt_tokens",
              "completion_tokens"):
        t.check(k in f, "field %s present" % k)
    t.eq(f.get("completion_tokens"), "20", "completion_tokens from usage")
    t.eq(f.get("prompt_tokens"), "7", "prompt_tokens from usage")
    if f.get("duration_ms", "").isdigit():
        t.check(int(f["duration_ms"]) >= 1500, "duration_ms >= 1500 for a 2 s stream")


def keepalive_between_deltas(t):
    tag = h.new_tag()
    r = S["lt"].chat("hi", tag=tag, model=SLOW_KA)
    h.check_stream_shape(t, r)
    t.eq(r.text, h.gen_text(3), "text")
    idx = [i for i, e in enumerate(r.items) if e.kind == "event"]
    between = [e for e in r.items[idx[0]:idx[1]] if e.kind == "comment"] if len(idx) > 1 else []
    t.check(between and all(c.data.startswith("keep-alive") for c in between),
            "': keep-alive' comments between deltas 1.5 s apart (keepalive 1 s)",
            r.summary(30))
    cs = [c.t for c in r.comments]
    gaps = [b - a for a, b in zip(cs, cs[1:])]
    t.check(all(g > 0.5 for g in gaps),
            "keep-alives are not sent more often than keepalive_seconds: %s"
            % ["%.2f" % g for g in gaps])


def long_stream(t):
    exp = h.load_expect("openai-chat-text-usage")
    r = S["lt"].chat("hi", tag=h.new_tag(), model=LONG)
    evs = h.check_stream_shape(t, r)
    t.eq(r.text, exp["text"] * 4, "text of 4 repetitions")
    t.check(len(r.deltas) >= 100, "over 100 deltas (%d)" % len(r.deltas))
    t.check(len(evs) == len(r.deltas) + 2, "events = deltas + finish + [DONE]")


def split_case(model, name):
    def run(t):
        exp = h.load_expect(name)
        r = S["lt"].chat("hi", tag=h.new_tag(), model=model)
        h.check_stream_shape(t, r)
        t.eq(r.text, exp["text"], "text")
        t.eq((r.finish or {}).get("usage"), h.native_usage(exp["usage"]), "usage")
    return run


def escapes(model):
    def run(t):
        r = S["lt"].chat("hi", tag=h.new_tag(), model=model)
        h.check_stream_shape(t, r)
        t.eq(r.text, h.esc_text(), "text with quotes, backslashes, control "
             "characters, multi-byte UTF-8, U+2028, fake SSE syntax")
        for e in r.events:
            t.check("\r" not in e.raw, "no raw CR inside an event: %r" % e.raw)
    return run


def no_usage(t):
    r = S["lt"].chat("hi", tag=h.new_tag(), model=NO_USAGE)
    h.check_stream_shape(t, r)
    t.eq(r.text, h.gen_text(3), "text")
    fin = r.finish or {}
    t.check("usage" in fin and fin["usage"] is None,
            "finish has \"usage\": null when the provider sent none", fin)
    t.eq(fin.get("finish_reason"), "stop", "finish_reason")


def http10(t):
    r = S["lt"].chat("hi", tag=h.new_tag(), model="gen-3", http10=True)
    t.eq(r.status, 200, "status", r.summary())
    t.eq(r.text, h.gen_text(3), "text")
    t.check(r.complete and r.events and r.events[-1].data == "[DONE]",
            "complete stream ending in [DONE]", r.summary())


def static_files(t):
    r = S["lt"].get("/")
    t.eq(r.status, 200, "GET / status")
    t.check((r.header("content-type") or "").startswith("text/html"),
            "GET / is text/html: %r" % r.header("content-type"))
    with open(os.path.join(h.WWW, "index.html"), "rb") as f:
        t.eq(r.body, f.read(), "GET / serves www/index.html")


CASES = (
    [("fixture %s streams end to end (text, finish_reason, usage, ids, [DONE], headers)" % n,
      fixture_case(n)) for n in FIXTURES]
    + [("upstream request: path, auth, accept, model verbatim, stream_options, "
        "instructions, temperature, max_tokens", upstream_request),
       ("no model in the request -> default_model upstream", default_model),
       ("streaming is real: first delta >= 1 s before upstream's last event (%s)" % SLOW,
        streaming_is_real),
       ("access log: outcome=done and deltas= matches the deltas received",
        access_log_line),
       ("keep-alive comments while the model is slow (%s)" % SLOW_KA,
        keepalive_between_deltas),
       ("long stream (%s) complete and in order" % LONG, long_stream)]
    + [("upstream chunks cut mid-line (%s)" % m, split_case(m, m.split("+")[0]))
       for m in SPLITS]
    + [("JSON escaping and UTF-8 survive (%s)" % m, escapes(m)) for m in ESC]
    + [("provider sent no usage -> finish usage null", no_usage),
       ("an HTTP/1.0 client gets the stream", http10),
       ("lighttpd serves www/ at /", static_files)]
)

if __name__ == "__main__":
    sys.exit(h.main("stream", CASES, setup))
