#!/usr/bin/env python3
"""Other client protocols on the chat endpoint, through lighttpd against the
replay provider:

  * plain text (Accept: text/plain, or ?format=text): only the answer's
    text, chunked as it arrives (checked with real `curl -N`), a failure
    after the start appended as one marked line, errors before it as the
    usual HTTP status + JSON;
  * GET /api/chat?prompt=... for EventSource: the native SSE stream, the
    same validation and limits as POST, refused cross-site (Sec-Fetch-Site,
    Origin), 204 to an EventSource reconnect (Last-Event-ID) so the model is
    never asked twice, and chat_get = no turns it off; in headless Chromium
    a real EventSource gets the answer, and one that never closes itself
    ends CLOSED after one request instead of reconnecting.
"""

import json
import os
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402
import pw as cdp  # noqa: E402

FIX = "openai-chat-text-usage"
SLOW = "gen-20+delay:100"          # 20 deltas "w1 " .. "w20 ", 100 ms apart
DROP = "gen-10+drop:5"             # the connection drops after 5 deltas
S = {}


def setup(stack):
    stack.start_replay()
    S["replay"] = stack.replay
    # max_message_bytes small enough that a too-long prompt still fits in
    # the web server's URL limit (lighttpd answers 431 itself past ~8 KiB).
    S["lt"] = stack.server([FIX, SLOW, DROP], name="protocols",
                           max_message_bytes="2k")
    S["off"] = stack.server([FIX], name="getoff", chat_get="no")
    S["browser"] = cdp.Browser(tmpdir=stack.tmp)


def post(lt, tag, model, accept=None, query=""):
    body = json.dumps({"model": model, "messages": [
        {"role": "user", "content": "tag:%s hello" % tag}]}).encode()
    hdr = {"Content-Type": "application/json"}
    if accept is not None:
        hdr["Accept"] = accept
    return h.request(lt.port, "POST", "/api/chat" + query, body=body, headers=hdr)


def get(lt, query, headers=None):
    return h.request(lt.port, "GET", "/api/chat?" + query, headers=headers or {})


def q(**kw):
    return urllib.parse.urlencode(kw)


# -- plain text ---------------------------------------------------------------

def case_text_accept(t):
    r = post(S["lt"], h.new_tag(), FIX, accept="text/plain")
    t.eq(r.status, 200, "status", r.text_body[:300])
    t.eq(r.header("content-type"), "text/plain; charset=utf-8", "content type")
    t.eq(r.header("x-content-type-options"), "nosniff", "nosniff")
    t.eq(r.text_body, h.load_expect(FIX)["text"], "the body is exactly the answer")


def case_text_format_param(t):
    r = post(S["lt"], h.new_tag(), FIX, accept="*/*", query="?format=text")
    t.eq(r.header("content-type"), "text/plain; charset=utf-8", "content type")
    t.eq(r.text_body, h.load_expect(FIX)["text"], "text")
    r = post(S["lt"], h.new_tag(), FIX, accept="text/plain", query="?format=sse")
    t.check(r.is_sse, "?format=sse wins over Accept", r.header("content-type"))
    r = post(S["lt"], h.new_tag(), FIX, accept="text/event-stream, text/plain")
    t.check(r.is_sse, "a client that accepts SSE gets SSE")


def case_text_curl_types(t):
    """curl -N: the answer arrives piece by piece, not at the end."""
    tag = h.new_tag()
    body = json.dumps({"model": SLOW, "messages": [
        {"role": "user", "content": "tag:%s hi" % tag}]})
    p = subprocess.Popen(["curl", "-sN", "-H", "Accept: text/plain", "-H",
                          "Content-Type: application/json", "--data-binary", body,
                          "http://127.0.0.1:%d/api/chat" % S["lt"].port],
                         stdout=subprocess.PIPE)
    arrivals, out = [], b""
    try:
        while True:
            chunk = os.read(p.stdout.fileno(), 4096)
            if not chunk:
                break
            arrivals.append(h.mono())
            out += chunk
    finally:
        p.wait(30)
    want = "".join("w%d " % i for i in range(1, 21))
    t.eq(out.decode(), want, "curl printed the whole answer")
    t.check(len(arrivals) >= 5, "curl got the answer in %d pieces" % len(arrivals))
    if len(arrivals) >= 2:
        span = arrivals[-1] - arrivals[0]
        t.diag("first piece %.2f s before the last" % span)
        t.check(span >= 1.0, "the first text arrived over a second before the last")


def case_text_error_line(t):
    r = post(S["lt"], h.new_tag(), DROP, accept="text/plain")
    t.eq(r.status, 200, "status (the stream had started)")
    body = r.text_body
    text, sep, tail = body.partition("\n\n[error] ")
    t.check(sep != "", "a marked error line", body)
    t.check(text.startswith("w1 w2 ") and "w10" not in text,
            "the text that arrived before the failure", text)
    t.check(tail.startswith("upstream_") and tail.endswith("\n")
            and tail.count("\n") == 1, "one line, at the end", repr(tail))


def case_text_errors_before_start(t):
    r = h.request(S["lt"].port, "POST", "/api/chat", body=b"{not json",
                  headers={"Content-Type": "application/json", "Accept": "text/plain"})
    t.eq(r.status, 400, "status")
    t.check((r.json() or {}).get("error", {}).get("type") == "invalid_request",
            "the usual JSON error body", r.text_body)
    r = post(S["lt"], h.new_tag(), FIX, query="?format=html")
    t.eq(r.status, 400, "an unknown format is refused")


# -- GET for EventSource -------------------------------------------------------

def case_get_streams(t):
    tag = h.new_tag()
    r = get(S["lt"], q(prompt="tag:%s hello there" % tag, model=FIX))
    h.check_stream_shape(t, r)
    t.eq(r.text, h.load_expect(FIX)["text"], "text")
    seen = S["replay"].events(tag, "request")
    t.eq(len(seen), 1, "one provider request")
    if seen:
        msgs = seen[0]["body"].get("messages")
        t.eq(msgs, [{"role": "user", "content": "tag:%s hello there" % tag}],
             "the prompt became one user message, decoded")
        t.eq(seen[0]["body"].get("model"), FIX, "the model parameter")


def case_get_default_model_and_format(t):
    tag = h.new_tag()
    r = get(S["lt"], q(prompt="tag:%s hi" % tag, format="text"))
    t.eq(r.header("content-type"), "text/plain; charset=utf-8", "?format=text works on GET")
    t.eq(r.text_body, h.load_expect(FIX)["text"], "the default model (the first)")


def case_get_validation(t):
    lt = S["lt"]
    checks = [
        ("", 400, "prompt: missing"),
        (q(prompt=""), 400, "prompt: missing or empty"),
        (q(prompt="a", colour="red"), 400, "colour"),
        ("prompt=a&prompt=b", 400, "prompt"),
        (q(prompt="a", model="gpt-9"), 400, "not available on this server"),
        (q(prompt="x" * 3000), 413, "prompt: longer than 2048 bytes"),
    ]
    for query, status, text in checks:
        r = get(lt, query)
        t.eq(r.status, status, "GET ?%s: status" % query[:40])
        msg = ((r.json() or {}).get("error") or {}).get("message", "")
        t.check(text in msg, "GET ?%s: says %r" % (query[:40], text), msg)


def case_get_cross_site(t):
    tag = h.new_tag()
    base = q(prompt="tag:%s hi" % tag, model=FIX)
    r = get(S["lt"], base, {"Sec-Fetch-Site": "cross-site"})
    t.eq(r.status, 403, "Sec-Fetch-Site: cross-site")
    r = get(S["lt"], base, {"Sec-Fetch-Site": "same-site"})
    t.eq(r.status, 403, "Sec-Fetch-Site: same-site (another subdomain)")
    r = get(S["lt"], base, {"Origin": "http://evil.example"})
    t.eq(r.status, 403, "a foreign Origin")
    t.eq(S["replay"].events(tag, "request"), [], "none reached the provider")
    r = get(S["lt"], base, {"Origin": "http://127.0.0.1:%d" % S["lt"].port,
                            "Sec-Fetch-Site": "same-origin"})
    t.eq(r.status, 200, "same origin is fine")


def case_get_reconnect_204(t):
    tag = h.new_tag()
    r = get(S["lt"], q(prompt="tag:%s hi" % tag, model=FIX),
            {"Last-Event-ID": "0123456789abcdef:3"})
    t.eq(r.status, 204, "an EventSource reconnect gets 204")
    t.eq(r.body, b"", "no body")
    t.eq(S["replay"].events(tag, "request"), [], "the model was not asked again")


def case_get_disabled(t):
    r = get(S["off"], q(prompt="hi"))
    t.eq(r.status, 405, "chat_get = no")
    t.eq(r.header("allow"), "POST", "Allow: POST")


def case_eventsource_in_chromium(t):
    page = S["browser"].new_page()
    lt = S["lt"]
    page.navigate("http://127.0.0.1:%d/" % lt.port)
    tag = h.new_tag()
    url = "api/chat?" + q(prompt="tag:%s hi" % tag, model=FIX)
    got = page.evaluate("""new Promise((resolve) => {
        const es = new EventSource(%s);
        let text = "";
        es.onmessage = (e) => { if (e.data !== "[DONE]") text += JSON.parse(e.data).content || ""; };
        es.addEventListener("finish", () => { es.close(); resolve(text); });
    })""" % json.dumps(url), timeout=30)
    t.eq(got, h.load_expect(FIX)["text"], "EventSource assembled the answer")
    # A client that never closes: the stream ends, EventSource reconnects
    # with Last-Event-ID, gets 204 and stops for good.
    tag2 = h.new_tag()
    url2 = "api/chat?" + q(prompt="tag:%s hi" % tag2, model=FIX)
    state = page.evaluate("""new Promise((resolve) => {
        const es = new EventSource(%s);
        let finished = false;
        es.addEventListener("finish", () => { finished = true; });
        es.onerror = () => { if (es.readyState === EventSource.CLOSED) resolve({finished}); };
    })""" % json.dumps(url2), timeout=30)
    t.eq(state, {"finished": True}, "the EventSource ended CLOSED after the finish")
    t.eq(len(S["replay"].events(tag2, "request")), 1, "one provider request, no loop")
    t.eq(page.problems(ignore=("api/chat",)), [], "no page errors")
    page.close()


CASES = [
    ("text: Accept: text/plain gets only the answer, text/plain, nosniff", case_text_accept),
    ("text: ?format=text|sse and Accept negotiation", case_text_format_param),
    ("text: curl -N shows the answer arriving piece by piece", case_text_curl_types),
    ("text: a failure after the start is one marked line at the end", case_text_error_line),
    ("text: errors before the start are HTTP status + JSON", case_text_errors_before_start),
    ("GET: ?prompt streams the native SSE; prompt and model decoded", case_get_streams),
    ("GET: default model, ?format=text", case_get_default_model_and_format),
    ("GET: the same validation and limits as POST", case_get_validation),
    ("GET: refused cross-site (Sec-Fetch-Site, Origin)", case_get_cross_site),
    ("GET: an EventSource reconnect gets 204, the model is not asked again",
     case_get_reconnect_204),
    ("GET: chat_get = no turns it off (405, Allow: POST)", case_get_disabled),
    ("GET: a real EventSource in Chromium gets the answer and never loops",
     case_eventsource_in_chromium),
]


def main():
    try:
        return h.main("protocols", CASES, setup)
    finally:
        b = S.pop("browser", None)
        if b is not None:
            b.close()


if __name__ == "__main__":
    sys.exit(main())
