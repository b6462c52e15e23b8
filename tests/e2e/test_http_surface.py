#!/usr/bin/env python3
"""The HTTP surface through lighttpd (issue 11, items 9, 12, 13):

- HEAD wherever GET is answered: the same status and headers (with the GET
  body's Content-Length where GET sends one), no body; HEAD /api/chat?prompt
  validates like GET and answers the stream's head without asking the
  model; a POST-only endpoint stays 405 with Allow;
- GET /api/v1/models/{id} (openai models.retrieve), ids with '/' and ':'
  sent raw or %-encoded, OpenAI's 404 model_not_found for an unknown one,
  and OpenAI's error shape for every unknown /api/v1/... path, proven with
  the real openai npm package (tests/clients/openai_client.mjs);
- x-request-id on every response (streams, errors, 404, 405, 413, HEAD,
  204), equal to the id of its access log line, and the SDK's request_id.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402

FIX = "openai-chat-text-usage"
SLASHED = "org/gen-3:v1"            # an id with the characters aliases allow
PLUS = "a+b@c.d_e-f"
MODELS = [FIX, "gen-3", SLASHED, PLUS, "chat"]
CLIENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients")
SCRIPT = os.path.join(CLIENTS, "openai_client.mjs")
ID_RX = re.compile(r"^[0-9a-f]{16}$")
# Response headers that differ between two answers to the same request, or
# that lighttpd adds by itself (its framing, a HEAD has no body to frame).
# Server-Timing differs by request, and HEAD asks no provider (no
# upstream;dur): the timings are not part of "the same head".
VOLATILE = {"x-request-id", "date", "accept-ranges", "transfer-encoding",
            "server-timing"}
S = {}


def setup(stack):
    stack.start_replay()
    S["replay"] = stack.replay
    S["lt"] = stack.server(MODELS, name="surface", default_model=FIX)
    S["off"] = stack.server(["gen-3"], name="surface_off", chat_get="no")
    # chatstream --listen, spoken to in FastCGI directly: what chatstream
    # itself sends, before any web server frames or strips it.
    S["sa"] = stack.standalone(MODELS, name="surface_sa", default_model=FIX)


def fcgi(method, script, path_info=None, uri=None, query="", headers=None):
    e = h.cgi_env(method, script)
    e["REQUEST_URI"] = uri if uri is not None else script + (
        "?" + query if query else "")
    e["QUERY_STRING"] = query
    if path_info is not None:
        e["PATH_INFO"] = path_info
    e.update(headers or {})
    return h.fcgi_request(S["sa"].addr, e, timeout=10)


def req(method, path, srv="lt", **kw):
    return h.request(S[srv].port, method, path, **kw)


def head_of(r):
    """The response head minus what changes from one answer to the next."""
    return sorted((k.lower(), v) for k, v in r.headers
                  if k.lower() not in VOLATILE)


def no_body(t, r, what):
    t.eq(r.body, b"", what + ": no body", r.summary())
    t.check(r.error is None, what + ": read cleanly", r.error)


def not_forwarded(t, tag):
    t.eq(S["replay"].events(tag, "request"), [], "the provider was not asked")


def check_oai_error(t, r, status, code, what):
    t.eq(r.status, status, what + ": status", r.summary())
    t.check((r.header("content-type") or "").startswith("application/json"),
            what + ": JSON content type")
    e = (r.json() or {}).get("error") or {}
    t.eq(sorted(e), ["code", "message", "param", "type"], what + ": error keys",
         r.text_body)
    t.eq(e.get("type"), "invalid_request_error", what + ": error.type")
    t.eq(e.get("param"), None, what + ": error.param")
    t.eq(e.get("code"), code, what + ": error.code")
    return e


def node(t, mode, model, prompt="hello"):
    """tests/clients/openai_client.mjs against /api/v1: its JSON result."""
    if not os.path.isdir(os.path.join(CLIENTS, "node_modules", "openai")):
        t.skip("tests/clients/node_modules missing (make clients-deps)")
    return h.node_json(t, [SCRIPT, "http://127.0.0.1:%d/api/v1" % S["lt"].port,
                           mode, model, prompt])


def logged(t, rid, method, path, status, what):
    """The access log line of request id rid names this request."""
    line = S["lt"].log_line_for(rid, timeout=5) if rid else None
    t.require(line is not None, what + ": an access log line with id=%s" % rid,
              "\n".join(S["lt"].access_lines()[-5:]))
    t.check(" method=%s " % method in line and " path=%s " % path in line
            and " status=%d " % status in line,
            what + ": the line is this request's", line)


# -- item 9: HEAD ------------------------------------------------------------

def head_get_endpoints(t):
    for path in ("/api/models", "/api/v1/models", "/api/v1/models/gen-3",
                 "/api/openapi.json", "/api/info"):
        g = req("GET", path)
        hd = req("HEAD", path)
        t.eq(g.status, 200, path + ": GET status")
        t.eq(hd.status, 200, path + ": HEAD status", hd.summary())
        t.eq(head_of(hd), head_of(g), path + ": HEAD has GET's headers")
        t.eq(hd.header("content-length"), str(len(g.body)),
             path + ": Content-Length of the GET body")
        no_body(t, hd, path)


def head_backend_sends_no_body(t):
    """Over FastCGI with no web server in between: chatstream itself sends
    no body to HEAD, and GET's Content-Length."""
    for script, query in (("/api/models", ""), ("/api/v1/models", ""),
                          ("/api/v1/models/" + FIX, ""), ("/api/info", ""),
                          ("/api/openapi.json", ""), ("/api/chat", ""),
                          ("/api/v1/models/nope", ""),
                          ("/api/chat", "prompt=hi&model=gen-3"),
                          ("/api/check", "seconds=1")):
        what = script + ("?" + query if query else "")
        g = fcgi("GET", script, query=query)
        hd = fcgi("HEAD", script, query=query)
        t.eq(hd.status, g.status, what + ": HEAD status = GET status")
        t.check(hd.complete, what + ": the request ended", hd.error)
        t.eq(hd.body, b"", what + ": no body from chatstream")
        t.eq(head_of(hd), head_of(g), what + ": GET's headers")
        if not g.is_sse:
            t.eq(g.header("content-length"), str(len(g.body)),
                 what + ": GET's Content-Length is its body's")


def head_chat_get(t):
    """HEAD /api/chat?prompt: the checks a GET gets, then the stream's head;
    the model is never asked (a HEAD must not cost tokens)."""
    tag = h.new_tag()
    q = "/api/chat?prompt=tag:%s+hi&model=gen-3" % tag
    hd = req("HEAD", q)
    t.eq(hd.status, 200, "status", hd.summary())
    t.eq(hd.header("content-type"), "text/event-stream; charset=utf-8",
         "the stream's Content-Type")
    t.eq(hd.header("x-accel-buffering"), "no", "the stream's headers")
    no_body(t, hd, "HEAD ?prompt")
    not_forwarded(t, tag)
    gtag = h.new_tag()
    g = req("GET", "/api/chat?prompt=tag:%s+hi&model=gen-3" % gtag)
    t.eq(g.status, 200, "GET streams")
    # lighttpd may hold a short stream whole and frame it with a length.
    t.eq([kv for kv in head_of(hd) if kv[0] != "content-length"],
         [kv for kv in head_of(g) if kv[0] != "content-length"],
         "HEAD has the GET stream's headers")
    hd = req("HEAD", "/api/chat?prompt=tag:%s+hi&format=text" % tag)
    t.eq((hd.status, hd.header("content-type")),
         (200, "text/plain; charset=utf-8"), "?format=text: the text head")
    no_body(t, hd, "HEAD ?format=text")
    for path, status in (("/api/chat", 400),
                         ("/api/chat?prompt=tag:%s+hi&model=nope" % tag, 400),
                         ("/api/chat?prompt=tag:%s+hi&bogus=1" % tag, 400)):
        g, hd = req("GET", path), req("HEAD", path)
        t.eq((g.status, hd.status), (status, status), path + ": GET, HEAD status")
        t.eq(head_of(hd), head_of(g), path + ": HEAD has GET's headers")
        t.eq(hd.header("content-length"), str(len(g.body)),
             path + ": Content-Length of GET's error body")
        no_body(t, hd, path)
    hd = req("HEAD", "/api/chat?prompt=tag:%s+hi" % tag,
             headers={"Last-Event-ID": "0123456789abcdef:3"})
    t.eq(hd.status, 204, "an EventSource reconnect: 204 as for GET")
    not_forwarded(t, tag)


def head_check_stream(t):
    hd = req("HEAD", "/api/check?seconds=5&interval_ms=1000", timeout=4)
    t.eq(hd.status, 200, "status", hd.summary())
    t.eq(hd.header("content-type"), "text/event-stream; charset=utf-8",
         "the stream's Content-Type")
    no_body(t, hd, "HEAD /api/check")
    t.check(hd.complete, "the response ended (the 5 s check did not run)")


def head_post_only(t):
    hd = req("HEAD", "/api/v1/chat/completions")
    t.eq(hd.status, 405, "HEAD on POST-only chat/completions", hd.summary())
    t.eq(hd.header("allow"), "POST", "Allow")
    no_body(t, hd, "405")
    hd = req("HEAD", "/api/chat?prompt=hi", srv="off")
    t.eq(hd.status, 405, "HEAD /api/chat with chat_get = no")
    t.eq(hd.header("allow"), "POST", "Allow: POST")
    no_body(t, hd, "chat_get = no")
    for path in ("/api/models", "/api/v1/models", "/api/v1/models/gen-3"):
        r = req("POST", path, body=b"{}",
                headers={"Content-Type": "application/json"})
        t.eq(r.status, 405, path + ": POST")
        t.eq(r.header("allow"), "GET, HEAD", path + ": Allow names HEAD")
    r = req("PUT", "/api/chat", body=b"{}")
    t.eq(r.header("allow"), "GET, HEAD, POST", "/api/chat: Allow")


# -- item 12: /api/v1/models/{id} and unknown /api/v1 paths -----------------

def retrieve_raw(t):
    listed = {m["id"]: m for m in (req("GET", "/api/v1/models").json() or {})
              .get("data", [])}
    for name, path in ((FIX, FIX), ("chat", "chat"), (PLUS, PLUS),
                       (SLASHED, "org%2Fgen-3%3Av1"), (SLASHED, "org%2fgen-3:v1"),
                       (SLASHED, SLASHED), ("gen-3", "gen-3/"),
                       ("gen-3", "gen-3?x=1")):
        r = req("GET", "/api/v1/models/" + path)
        t.eq(r.status, 200, path + ": status", r.summary())
        t.eq(r.json(), listed.get(name), path + ": the list's entry")
    e = check_oai_error(t, req("GET", "/api/v1/models/nope"), 404,
                        "model_not_found", "unknown model")
    t.eq(e.get("message"), "The model `nope` does not exist or you do not "
         "have access to it.", "OpenAI's message")
    for path in ("gen-", "org", "org%2F", "%zz", "gen-3%2", "org/gen-3",
                 "x" * 600):
        check_oai_error(t, req("GET", "/api/v1/models/" + path), 404,
                        "model_not_found", path[:20])


def retrieve_split_paths(t):
    """The id is found however the server names the endpoint (SCRIPT_NAME +
    PATH_INFO, REQUEST_URI only), and taken %-encoded from REQUEST_URI
    when the server decoded %2F elsewhere."""
    enc = "org%2Fgen-3%3Av1"
    cases = [
        ("ScriptAlias /api: SCRIPT_NAME + PATH_INFO",
         fcgi("GET", "/api", "/v1/models/" + SLASHED, "/api/v1/models/" + enc)),
        ("lighttpd-style split after v1",
         fcgi("GET", "/api/v1", "/models/" + SLASHED, "/api/v1/models/" + enc)),
        ("rewrite to a .fcgi: only REQUEST_URI",
         fcgi("GET", "/site/chatstream.fcgi", "", "/site/api/v1/models/" + enc)),
        ("SCRIPT_NAME only, decoded",
         fcgi("GET", "/api/v1/models/" + SLASHED, uri="")),
    ]
    for name, r in cases:
        t.eq(r.status, 200, name, r.summary())
        t.eq((r.json() or {}).get("id"), SLASHED, name + ": the id")
    r = fcgi("GET", "/x/v1/models/" + FIX, uri="/x/v1/models/" + FIX + "?a=b")
    t.eq((r.json() or {}).get("id"), FIX, "any prefix; query not in the id")


def v1_unknown_paths(t):
    for method, path in (("GET", "/api/v1"), ("GET", "/api/v1/responses/r1"),
                         ("POST", "/api/v1/completions"),
                         ("POST", "/api/v1/embeddings"),
                         ("GET", "/api/v1/chat/completions/abc"),
                         ("DELETE", "/api/v1/files/x?y=1")):
        body = b"{}" if method == "POST" else None
        r = req(method, path, body=body,
                headers={"Content-Type": "application/json"})
        e = check_oai_error(t, r, 404, "not_found", "%s %s" % (method, path))
        t.check(path.split("?")[0] in (e.get("message") or ""),
                "%s %s: the message names the path" % (method, path), e)
    h.check_error_json(t, req("GET", "/api/nope"), 404, "not_found")
    j = req("GET", "/api/nope").json() or {}
    t.eq(sorted(j.get("error", {})), ["message", "type"],
         "a native unknown path keeps the native shape")


def sdk_retrieve(t):
    r = node(t, "retrieve", FIX)
    t.eq(r.get("error"), None, "no error")
    t.eq(r.get("model"), {"id": FIX, "object": "model", "created": 0,
                          "owned_by": "chatstream"}, "the model object")
    t.check(ID_RX.match(r.get("request_id") or ""), "_request_id",
            r.get("request_id"))
    logged(t, r.get("request_id"), "GET", "/api/v1/models/" + FIX, 200,
           "retrieve")
    r = node(t, "retrieve", SLASHED)
    t.eq((r.get("model") or {}).get("id"), SLASHED,
         "an id with '/' and ':' (the SDK sends %2F)")
    r = node(t, "retrieve", "no-such-model")
    e = r.get("error") or {}
    t.eq(e.get("class"), "NotFoundError", "the SDK's NotFoundError", r)
    t.eq(e.get("status"), 404, "status")
    t.eq(e.get("code"), "model_not_found", "code")
    t.eq(e.get("type"), "invalid_request_error", "type")
    t.eq(e.get("param"), None, "param")
    t.check(ID_RX.match(e.get("requestID") or ""), "the error's requestID", e)
    logged(t, e.get("requestID"), "GET", "/api/v1/models/no-such-model", 404,
           "retrieve unknown")


# -- item 13: x-request-id ---------------------------------------------------

def request_id_everywhere(t):
    big = json.dumps({"messages": [{"role": "user",
                                    "content": "x" * 70000}]}).encode()
    jh = {"Content-Type": "application/json"}
    chat = json.dumps({"model": "gen-3", "messages": [
        {"role": "user", "content": "tag:%s hi" % h.new_tag()}]}).encode()
    v1 = json.dumps({"model": "gen-3", "stream": True, "messages": [
        {"role": "user", "content": "hi"}]}).encode()
    v1j = json.dumps({"model": "gen-3", "messages": [
        {"role": "user", "content": "hi"}]}).encode()
    samples = [
        ("POST", "/api/chat", chat, jh, 200, "native stream"),
        ("POST", "/api/chat", b"{", jh, 400, "400"),
        ("POST", "/api/chat", big, jh, 413, "413"),
        ("POST", "/api/chat", chat, {"Content-Type": "text/plain"}, 415, "415"),
        ("GET", "/api/nope", None, {}, 404, "native 404"),
        ("GET", "/api/v1/nope", None, {}, 404, "v1 404"),
        ("GET", "/api/v1/models/nope", None, {}, 404, "model_not_found"),
        ("PUT", "/api/chat", b"", {}, 405, "405"),
        ("HEAD", "/api/v1/chat/completions", None, {}, 405, "HEAD 405"),
        ("HEAD", "/api/models", None, {}, 200, "HEAD"),
        ("HEAD", "/api/chat?prompt=hi", None, {}, 200, "HEAD stream"),
        ("GET", "/api/chat?prompt=hi", None, {"Last-Event-ID": "x:1"}, 204,
         "204"),
        ("GET", "/api/models", None, {}, 200, "JSON"),
        ("POST", "/api/v1/chat/completions", v1, jh, 200, "v1 stream"),
        ("POST", "/api/v1/chat/completions", v1j, jh, 200, "v1 JSON"),
        ("GET", "/api/check?seconds=1&interval_ms=500", None, {}, 200,
         "self-check stream"),
    ]
    for method, path, body, hdrs, status, what in samples:
        r = req(method, path, body=body, headers=hdrs)
        t.eq(r.status, status, what + ": status", r.summary())
        rid = r.header("x-request-id")
        t.check(rid is not None and ID_RX.match(rid), what + ": x-request-id",
                r.headers)
        t.eq(len(r.header_all("x-request-id")), 1, what + ": sent once")
        logged(t, rid, method, path.split("?")[0], status, what)
        if r.is_sse and r.stream_id is not None:
            t.eq(r.stream_id, rid, what + ": the SSE ids' stream id")


def sdk_request_id(t):
    r = node(t, "create", FIX)
    t.eq(r.get("error"), None, "create: no error")
    rid = r.get("request_id")
    t.check(ID_RX.match(rid or ""), "create: the SDK's _request_id", r)
    t.eq(r.get("id"), "chatcmpl-%s" % rid, "create: the completion id names it")
    logged(t, rid, "POST", "/api/v1/chat/completions", 200, "create")
    r = node(t, "stream_request_id", FIX)
    t.eq(r.get("text"), h.load_expect(FIX)["text"], "stream: the text")
    t.check(ID_RX.match(r.get("request_id") or ""), "stream: request_id", r)
    logged(t, r.get("request_id"), "POST", "/api/v1/chat/completions", 200,
           "stream")


CASES = [
    ("HEAD on every GET endpoint: GET's status and headers, no body",
     head_get_endpoints),
    ("HEAD over FastCGI: chatstream sends no body, GET's headers",
     head_backend_sends_no_body),
    ("HEAD /api/chat?prompt: validated like GET, the stream's head, no model "
     "request", head_chat_get),
    ("HEAD /api/check: the stream's head at once, no ticks", head_check_stream),
    ("HEAD on a POST-only endpoint: 405 + Allow; Allow lists HEAD",
     head_post_only),
    ("GET /api/v1/models/{id}: the list's entry; raw or %-encoded ids; "
     "OpenAI's 404 model_not_found", retrieve_raw),
    ("/api/v1/models/{id} over FastCGI: split paths, encoded ids",
     retrieve_split_paths),
    ("unknown /api/v1/... paths: 404 in OpenAI's shape; native stays native",
     v1_unknown_paths),
    ("openai SDK models.retrieve: known, '/' in the id, NotFoundError",
     sdk_retrieve),
    ("x-request-id on every kind of response = the access log id",
     request_id_everywhere),
    ("openai SDK: _request_id / withResponse().request_id = the log id",
     sdk_request_id),
]

if __name__ == "__main__":
    sys.exit(h.main("http_surface", CASES, setup))
