#!/usr/bin/env python3
"""replay.py — the simulated model provider ("replay upstream") for e2e tests.

    tests/replay.py --port 0 --fixtures tests/fixtures/upstream [--verbose]

prints "READY <port>" on stdout once it listens on 127.0.0.1:<port>.

It answers POST .../chat/completions (any prefix) the way an
OpenAI-compatible provider streams: HTTP/1.1, Transfer-Encoding: chunked,
one chunk per SSE event, each written to the socket at once.

Scenario = the request's "model" field (so concurrent tests never share
state):  BASE[+MOD[+MOD...]]

  BASE  a fixture name (FIXTURES/BASE.sse, e.g. openai-chat-text-usage), or
        gen-N: N deltas "w1 ", "w2 ", ... "wN ", a finish chunk, a usage
        chunk ({"prompt_tokens":7,"completion_tokens":N,...}) and [DONE], or
        esc: the deltas of ESC_DELTAS below (quotes, backslashes, control
        characters, multi-byte UTF-8, surrogate pairs; every other chunk
        JSON-escaped to ASCII), finish, usage, [DONE].
        badutf8: the deltas of BAD_UTF8_DELTAS (raw invalid UTF-8 inside
        the JSON strings), finish, usage, [DONE].

  MOD  key:value or a flag.  chatstream model names allow only
       [A-Za-z0-9._:/@+-] (no "_" and no "="), so keys are written with
       "-"; "_" and "key=value" are accepted too (stall_first = stall-first):
    delay:MS          wait MS before every event after the first
    stall-first:MS    wait MS before sending anything (not even the status)
    status:CODE       answer CODE with an OpenAI-style JSON error body
                      (401/403 bodies echo the received key, as OpenAI does)
    retry-after-ms:N  add "retry-after-ms: N" to an error answer
    retry-after:S     add "retry-after: S" to an error answer
    fail-times:K      with status: fail only the first K requests that carry
                      the same tag (and model), then stream normally
    stall-mid:N:MS    after N events, wait MS
    drop:N            after N events close the connection (FIN) without the
                      terminating chunk
    reset:N           after N events reset the connection (RST)
    no-done           leave out "data: [DONE]" (clean end of the body)
    no-usage          leave out the usage chunk
    repeat:N          play the fixture's content events N times
    split:B           cut the body into chunks of B bytes (not per event)
    crlf              use CRLF line ends in the SSE body
    err-pad:N         with status: pad the JSON error body with N bytes
                      (sent in 64 KiB writes; "err_body" records how many
                      bytes went out, and whether the peer hung up first)
    big-header:N      add an "x-pad" header line of N bytes to the answer
    wide:B            with gen-N: delta i is "wi" + B-1 "x"s + " " (a lot of
                      text fast, to fill a client that does not read)
    ctx               with status:400: the refusal is OpenAI's
                      context_length_exceeded (the prompt is too long)
    key-echo:masked   with status: the message quotes the received key
                      masked as providers print it (first 8 and last 4
                      characters around asterisks); key-echo:cut quotes
                      only its first 12 characters; key-echo:late puts the
                      whole key at byte 387 of a long message

Tags: the test puts "tag:SOMETHING" in the last user message; every
request and what happened to it is recorded under that tag, with
time.monotonic() timestamps (CLOCK_MONOTONIC, comparable across processes):

  request        {"n", "path", "headers", "body"}    (n counts from 1 per tag)
  first_byte     the status line went out
  event_sent     {"n"} after each SSE event (chunk) was written
  last_event_sent
  completed      the terminating chunk went out
  peer_closed    the client closed/reset the connection before the response
                 was complete (noticed while waiting too)
  dropped        we closed it on purpose (drop/reset)

Control endpoints (GET):
  /_events?tag=T                         -> JSON list of T's events
  /_wait?tag=T&event=E&timeout=S[&count=N]
        -> 200 + the N-th (default 1st) event E of T once it exists,
           408 {"timeout":true,"events":[...]} after S seconds
  /_health                               -> 200 "ok"
"""

import argparse
import errno
import json
import os
import re
import select
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

VERBOSE = False
FIXTURES = "."
TAG_RE = re.compile(r"tag:(\S+)")


def vlog(fmt, *args):
    if VERBOSE:
        sys.stderr.write("replay: " + (fmt % args if args else fmt) + "\n")
        sys.stderr.flush()


# ---------------------------------------------------------------------------
# Event store


class Store:
    def __init__(self):
        self.cond = threading.Condition()
        self.events = {}     # tag -> [event dict]
        self.counts = {}     # (tag, model) -> requests seen

    def add(self, tag, name, **fields):
        ev = {"event": name, "t": time.monotonic()}
        ev.update(fields)
        with self.cond:
            self.events.setdefault(tag, []).append(ev)
            self.cond.notify_all()
        vlog("tag=%s %s %s", tag, name,
             json.dumps({k: v for k, v in fields.items()
                         if k not in ("headers", "body")}))
        return ev

    def count_request(self, tag, model):
        with self.cond:
            k = (tag, model)
            self.counts[k] = self.counts.get(k, 0) + 1
            return self.counts[k], sum(
                1 for e in self.events.get(tag, ()) if e["event"] == "request") + 1

    def list(self, tag):
        with self.cond:
            return list(self.events.get(tag, ()))

    def wait(self, tag, name, timeout, count=1):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [e for e in self.events.get(tag, ())
                         if e["event"] == name]
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


STORE = Store()


# ---------------------------------------------------------------------------
# Scenarios


def parse_scenario(model):
    parts = model.split("+")
    base, mods = parts[0], {}
    for p in parts[1:]:
        if not p:
            continue
        if "=" in p:
            k, v = p.split("=", 1)
        elif ":" in p:
            k, v = p.split(":", 1)
        else:
            k, v = p, ""
        mods[k.replace("-", "_")] = v
    return base, mods


def split_events(raw):
    """Split an SSE body into event blocks (each without its blank line).
    Lines keep their content; the terminator is normalised to \\n."""
    text = raw.decode("utf-8")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks, cur = [], []
    for line in text.split("\n"):
        if line == "":
            if cur:
                blocks.append("\n".join(cur))
                cur = []
        else:
            cur.append(line)
    if cur:
        blocks.append("\n".join(cur))
    return blocks


def is_done(block):
    return any(l.strip() == "data: [DONE]" or l.strip() == "data:[DONE]"
               for l in block.split("\n"))


def is_usage(block):
    """A chunk that only carries usage (choices: [])."""
    for line in block.split("\n"):
        if line.startswith("data:"):
            try:
                obj = json.loads(line[5:])
            except ValueError:
                return False
            return (isinstance(obj, dict) and obj.get("usage") is not None
                    and not obj.get("choices"))
    return False


def is_content(block):
    for line in block.split("\n"):
        if not line.startswith("data:"):
            continue
        try:
            obj = json.loads(line[5:])
        except ValueError:
            continue
        for ch in obj.get("choices") or ():
            d = ch.get("delta") or {}
            if d.get("content") or d.get("refusal") or d.get("tool_calls"):
                return True
    return False


# The text of the "esc" scenario: what a JSON/SSE encoder must get right.
ESC_DELTAS = [
    'He said "hi"', " back\\slash \\n", " line1\nline2\n\n", "\ttab\r\n",
    " </script><b>&amp;", " \u0001\u001f ctl", " caf\u00e9 \u00fc\u00df",
    " \u65e5\u672c\u8a9e", " \U0001f642\U0001f44d\U0001f3fd",
    " \u2028sep\u2029", " data: [DONE]", " : not a comment", " end",
]


# Raw bytes no UTF-8 decoder accepts, and what chatstream must pass on
# instead (each maximal invalid subsequence -> one U+FFFD).
BAD_UTF8_DELTAS = [
    (b"ok \xff end", "ok \ufffd end"),
    (b"cut \xe6\x97", "cut \ufffd"),
    (b"over \xc0\xaf long", "over \ufffd\ufffd long"),
    (b"sur \xed\xa0\x80 gate", "sur \ufffd\ufffd\ufffd gate"),
    (b"big \xf5\x80 \xf4\x90\x80\x80", "big \ufffd\ufffd \ufffd\ufffd\ufffd\ufffd"),
    (b" fine \xc3\xa9", " fine \u00e9"),
]


def gen_events(n, deltas=None):
    base = {"id": "chatcmpl-replay", "object": "chat.completion.chunk",
            "created": 1700000000, "model": "replay-gen"}
    out = []

    def chunk(choices, usage=None):
        o = dict(base, choices=choices)
        if usage is not None:
            o["usage"] = usage
        return "data: " + json.dumps(o, separators=(",", ":"))

    out.append(chunk([{"index": 0, "delta": {"role": "assistant", "content": ""},
                       "finish_reason": None}]))
    texts = deltas if deltas is not None else ["w%d " % i for i in range(1, n + 1)]
    for i, text in enumerate(texts):
        o = dict(base, choices=[{"index": 0, "delta": {"content": text},
                                 "finish_reason": None}])
        out.append("data: " + json.dumps(o, separators=(",", ":"),
                                         ensure_ascii=bool(i % 2)))
    out.append(chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    out.append(chunk([], {"prompt_tokens": 7, "completion_tokens": n,
                          "total_tokens": 7 + n}))
    out.append("data: [DONE]")
    return out


def load_events(base, mods):
    m = re.fullmatch(r"gen-(\d+)", base)
    if m and "wide" in mods:
        pad = "x" * max(0, int(mods["wide"]) - 1)
        n = int(m.group(1))
        blocks = gen_events(n, ["w%d%s " % (i, pad) for i in range(1, n + 1)])
    elif m:
        blocks = gen_events(int(m.group(1)))
    elif base == "esc":
        blocks = gen_events(len(ESC_DELTAS), ESC_DELTAS)
    elif base == "badutf8":
        blocks = gen_events(len(BAD_UTF8_DELTAS), [
            "@@BAD%d@@" % i for i in range(len(BAD_UTF8_DELTAS))])
    else:
        if not re.fullmatch(r"[A-Za-z0-9._-]+", base):
            return None
        path = os.path.join(FIXTURES, base + ".sse")
        try:
            if not os.path.exists(path) and os.path.exists(
                    os.path.join(FIXTURES, base + ".ndjson")):
                # Ollama: one JSON object per line, no SSE framing.
                with open(os.path.join(FIXTURES, base + ".ndjson"), "rb") as f:
                    blocks = [l for l in f.read().decode("utf-8").split("\n") if l]
                mods["_ndjson"] = True
            else:
                with open(path, "rb") as f:
                    blocks = split_events(f.read())
        except OSError:
            return None
    if "repeat" in mods:
        n = int(mods["repeat"] or 1)
        idx = [i for i, b in enumerate(blocks) if is_content(b)]
        if idx:
            a, b = idx[0], idx[-1] + 1
            blocks = blocks[:a] + blocks[a:b] * n + blocks[b:]
    if "no_done" in mods:
        blocks = [b for b in blocks if not is_done(b)]
    if "no_usage" in mods:
        blocks = [b for b in blocks if not is_usage(b)]
    return blocks


ERROR_BODIES = {
    400: ("invalid_request_error", None, "Invalid request (replay)."),
    401: ("invalid_request_error", "invalid_api_key",
          "Incorrect API key provided: {key}. You can find your API key at "
          "https://platform.openai.com/account/api-keys."),
    403: ("invalid_request_error", "unsupported_country_region_territory",
          "Forbidden for key {key}."),
    404: ("invalid_request_error", "model_not_found",
          "The model `{model}` does not exist or you do not have access to it."),
    408: ("server_error", None, "Request timed out."),
    409: ("server_error", None, "Conflict."),
    429: ("requests", "rate_limit_exceeded",
          "Rate limit reached for requests. Please try again in 20ms."),
    500: ("server_error", None,
          "The server had an error while processing your request. Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded."),
}


# ---------------------------------------------------------------------------
# HTTP


class PeerClosed(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "replay/1"
    sys_version = ""

    def version_string(self):
        return "replay/1"

    def log_message(self, fmt, *args):
        vlog("%s " + fmt, self.address_string(), *args)

    # -- helpers --------------------------------------------------------

    def send_json(self, code, obj, extra=()):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def peer_gone(self):
        """True if the peer closed or reset the connection (non-blocking)."""
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if not r:
                return False
            data = self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            return data == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def wait_ms(self, ms):
        """Sleep ms, raising PeerClosed as soon as the peer goes away."""
        deadline = time.monotonic() + ms / 1000.0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                r, _, _ = select.select([self.connection], [], [], left)
            except (OSError, ValueError):
                raise PeerClosed()
            if r:
                try:
                    data = self.connection.recv(
                        1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                except BlockingIOError:
                    continue
                except OSError:
                    raise PeerClosed()
                if data == b"":
                    raise PeerClosed()
                # The client sent more bytes (pipelining?): ignore them and
                # just sleep the rest; we cannot watch for EOF behind them.
                time.sleep(max(0.0, deadline - time.monotonic()))
                return

    def write(self, data):
        try:
            self.connection.sendall(data)
        except OSError as e:
            if e.errno in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN,
                           errno.EBADF, errno.ESHUTDOWN) or isinstance(
                               e, (BrokenPipeError, ConnectionResetError)):
                raise PeerClosed()
            raise

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    break
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers
                        l2 = self.rfile.readline(65537)
                        if l2 in (b"\r\n", b"\n", b""):
                            break
                    break
                out += self.rfile.read(size)
                self.rfile.readline(3)
            return bytes(out)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    # -- control --------------------------------------------------------

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        if u.path == "/_health":
            data = b"ok\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif u.path == "/_events":
            if "tag" in q:
                self.send_json(200, STORE.list(q["tag"]))
            else:
                with STORE.cond:
                    self.send_json(200, {k: list(v)
                                         for k, v in STORE.events.items()})
        elif u.path == "/_wait":
            tag, name = q.get("tag", ""), q.get("event", "")
            timeout = float(q.get("timeout", "10"))
            count = int(q.get("count", "1"))
            ev = STORE.wait(tag, name, timeout, count)
            if ev is None:
                self.send_json(408, {"timeout": True,
                                     "events": STORE.list(tag)})
            else:
                self.send_json(200, ev)
        else:
            self.send_json(404, {"error": {"message": "no such path",
                                           "type": "invalid_request_error",
                                           "param": None, "code": None}})

    # -- the provider ---------------------------------------------------

    def do_POST(self):
        body = self.read_body()
        u = urllib.parse.urlsplit(self.path)
        try:
            req = json.loads(body.decode("utf-8"))
        except ValueError:
            req = None
        tag = "-"
        if isinstance(req, dict):
            for m in reversed(req.get("messages") or []):
                if not isinstance(m, dict) or m.get("role") != "user":
                    continue
                c = m.get("content")
                if isinstance(c, list):
                    c = " ".join(p.get("text", "") for p in c
                                 if isinstance(p, dict))
                mt = TAG_RE.search(c if isinstance(c, str) else "")
                if mt:
                    tag = mt.group(1)
                break
        if tag == "-":
            mt = TAG_RE.search(body.decode("utf-8", "replace"))
            if mt:
                tag = mt.group(1).strip('"\\,}]')
        model = req.get("model") if isinstance(req, dict) else None
        model = model if isinstance(model, str) else ""
        per_model, n = STORE.count_request(tag, model)
        STORE.add(tag, "request", n=n, method="POST", path=self.path,
                  headers=[[k, v] for k, v in self.headers.items()],
                  body=req if req is not None else body.decode("utf-8", "replace"))

        # Every wire format chatstream speaks; the scenario (model) decides
        # what is served.
        if not u.path.endswith(("/chat/completions", "/responses",
                                "/completions", "/messages", "/api/chat")):
            self.send_json(404, {"error": {"message": "Unknown path " + u.path,
                                           "type": "invalid_request_error",
                                           "param": None, "code": None}})
            return
        if req is None:
            self.send_json(400, {"error": {"message": "We could not parse the "
                                           "JSON body of your request.",
                                           "type": "invalid_request_error",
                                           "param": None, "code": None}})
            return

        base, mods = parse_scenario(model)
        try:
            self.serve_scenario(tag, model, base, mods, per_model)
        except PeerClosed:
            STORE.add(tag, "peer_closed")
            self.close_connection = True
        except (ConnectionError, OSError) as e:
            STORE.add(tag, "peer_closed", error=str(e))
            self.close_connection = True

    def serve_scenario(self, tag, model, base, mods, per_model):
        if "stall_first" in mods:
            self.wait_ms(float(mods["stall_first"]))

        status = int(mods.get("status") or 200)
        if status != 200 and "fail_times" in mods:
            if per_model > int(mods["fail_times"]):
                status = 200

        blocks = None
        if status == 200:
            blocks = load_events(base, mods)
            if blocks is None:
                status = 404

        if status != 200:
            etype, code, msg = ERROR_BODIES.get(
                status, ("server_error", None, "Error %d (replay)." % status))
            if "ctx" in mods and status == 400:
                etype, code = "invalid_request_error", "context_length_exceeded"
                msg = ("This model's maximum context length is 8192 tokens. "
                       "However, your messages resulted in 9100 tokens. "
                       "Please reduce the length of the messages.")
            auth = self.headers.get("Authorization") or ""
            key = auth[7:] if auth.lower().startswith("bearer ") else auth
            if mods.get("key_echo") == "masked":
                key = key[:8] + "*" * max(len(key) - 12, 3) + key[-4:]
            elif mods.get("key_echo") == "cut":
                key = key[:12]
            if mods.get("key_echo") == "late":
                # The key starts 10 bytes before chatstream's 400-byte cut.
                msg = "A" * 386 + " " + key
            elif "key_echo" in mods:
                msg = "Incorrect API key provided: %s. You can find your " \
                      "API key in your dashboard." % key
            msg = msg.format(key=key, model=model)
            extra = []
            if "big_header" in mods:
                extra.append(("x-pad", "a" * int(mods["big_header"])))
            if "retry_after_ms" in mods:
                extra.append(("retry-after-ms", mods["retry_after_ms"]))
            if "retry_after" in mods:
                extra.append(("retry-after", mods["retry_after"]))
            STORE.add(tag, "first_byte", status=status)
            err = {"error": {"message": msg, "type": etype,
                             "param": None, "code": code}}
            if "err_pad" in mods:
                return self.send_padded_error(tag, status, err, extra,
                                              int(mods["err_pad"]))
            self.send_json(status, err, extra)
            STORE.add(tag, "completed", status=status)
            return

        eol = "\r\n" if "crlf" in mods else "\n"
        if mods.get("_ndjson"):
            payloads = [(b + "\n").encode("utf-8") for b in blocks]
        else:
            payloads = [(b.replace("\n", eol) + eol + eol).encode("utf-8")
                        for b in blocks]
        if base == "badutf8":
            for i, (raw, _) in enumerate(BAD_UTF8_DELTAS):
                payloads = [p.replace(b"@@BAD%d@@" % i, raw) for p in payloads]
        delay = float(mods.get("delay") or 0)
        stall_mid = None
        if "stall_mid" in mods:
            a, _, b = mods["stall_mid"].partition(":")
            stall_mid = (int(a), float(b or 0))
        drop = int(mods["drop"]) if "drop" in mods else None
        reset = int(mods["reset"]) if "reset" in mods else None
        split = int(mods["split"]) if mods.get("split") else 0

        ctype = ("application/x-ndjson" if mods.get("_ndjson")
                 else "text/event-stream; charset=utf-8")
        head = ("HTTP/1.1 200 OK\r\n"
                "Content-Type: %s\r\n"
                "Cache-Control: no-cache\r\n"
                "Transfer-Encoding: chunked\r\n"
                "x-request-id: req_replay_%s\r\n"
                "%s"
                "\r\n" % (ctype, re.sub(r"[^A-Za-z0-9]", "", tag)[:32],
                           "x-pad: %s\r\n" % ("a" * int(mods["big_header"]))
                           if "big_header" in mods else ""))
        self.write(head.encode())
        STORE.add(tag, "first_byte", status=200)

        def chunk(data):
            return b"%x\r\n%s\r\n" % (len(data), data)

        if split:
            # One body, cut into split-byte chunks; events counted by bytes.
            whole = b"".join(payloads)
            ends, acc = [], 0
            for p in payloads:
                acc += len(p)
                ends.append(acc)
            sent, ev_n = 0, 0
            while sent < len(whole):
                if sent and delay:
                    self.wait_ms(delay)
                piece = whole[sent:sent + split]
                self.write(chunk(piece))
                sent += len(piece)
                while ev_n < len(ends) and ends[ev_n] <= sent:
                    ev_n += 1
                    STORE.add(tag, "event_sent", n=ev_n)
        else:
            for i, p in enumerate(payloads):
                if i and delay:
                    self.wait_ms(delay)
                if stall_mid and i == stall_mid[0]:
                    self.wait_ms(stall_mid[1])
                if drop is not None and i == drop:
                    return self.drop_conn(tag, rst=False, after=i)
                if reset is not None and i == reset:
                    return self.drop_conn(tag, rst=True, after=i)
                self.write(chunk(p))
                STORE.add(tag, "event_sent", n=i + 1)
            if drop is not None and drop >= len(payloads):
                return self.drop_conn(tag, rst=False, after=len(payloads))
        STORE.add(tag, "last_event_sent", n=len(payloads))
        self.write(b"0\r\n\r\n")
        STORE.add(tag, "completed", status=200)

    def send_padded_error(self, tag, status, err, extra, pad):
        """The JSON error err with a "padding" member of pad bytes, written
        64 KiB at a time; records err_body {sent, total, peer_closed}."""
        head = json.dumps(err)[:-1].encode() + b', "padding": "'
        tail = b'"}'
        total = len(head) + pad + len(tail)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(total))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        sent, piece = 0, b"x" * 65536
        try:
            self.write(head)
            sent += len(head)
            left = pad
            while left > 0:
                n = min(left, len(piece))
                self.write(piece[:n])
                sent += n
                left -= n
            self.write(tail)
            sent += len(tail)
        except PeerClosed:
            STORE.add(tag, "err_body", sent=sent, total=total, peer_closed=True)
            raise
        STORE.add(tag, "err_body", sent=sent, total=total, peer_closed=False)
        STORE.add(tag, "completed", status=status)

    def drop_conn(self, tag, rst, after):
        STORE.add(tag, "dropped", after=after, rst=rst)
        self.close_connection = True
        try:
            if rst:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            else:
                self.connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024   # test_thousand: 1,000 connects at once

    def handle_error(self, request, client_address):
        if VERBOSE:
            import traceback
            traceback.print_exc(file=sys.stderr)


def main():
    global VERBOSE, FIXTURES
    ap = argparse.ArgumentParser(description="Replay upstream for chatstream tests")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--fixtures", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "fixtures", "upstream"))
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--tls-cert", help="serve HTTPS with this PEM chain")
    ap.add_argument("--tls-key", help="... and this PEM key")
    args = ap.parse_args()
    VERBOSE, FIXTURES = args.verbose, args.fixtures
    srv = Server((args.host, args.port), Handler)
    if args.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    sys.stdout.write("READY %d\n" % srv.server_address[1])
    sys.stdout.flush()
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
