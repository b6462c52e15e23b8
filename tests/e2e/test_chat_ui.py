#!/usr/bin/env python3
"""The chat client (www/index.html + www/js/*.js) in real headless Chromium,
through real lighttpd + chatstream + the replay upstream, under the strict
Content-Security-Policy of the shipped conf/lighttpd.conf.

  * a reply streams: the answer grows while it streams (sampled several
    times), then equals the replay's text; cursor, Stop button and a
    disabled input while streaming; usage shown afterwards;
  * Stop mid-stream keeps the partial answer, marks it "stopped", gives the
    input back, and the provider connection is closed (replay peer_closed);
  * hostile model output (HTML, javascript: links, fake markup in code)
    renders inert; Markdown (heading, list, table, code block) renders;
  * an upstream 500, a mid-stream drop and an HTTP 413 show readable
    messages inline with Retry; Retry of a request that fails once works;
  * a "length" finish says "cut off: length limit";
  * conversations: reload keeps them, switching, renaming, edit-and-resend,
    regenerate, history trimming (said in the UI, and what was sent);
  * phone width and dark theme: no horizontal overflow;
  * a chat refused by admission (requests_per_minute = 1: 429 rate_limited;
    tokens_per_day: 429 budget_exceeded) shows the server's message and
    when to try again (a countdown that goes down; "after 00:00 UTC"),
    Send is disabled with a title saying why and the draft stays; a 503
    overloaded with Retry-After: 2 gives Send back by itself.
No uncaught exception, console error, failed load or CSP violation on any
page.  Screenshots go to <tmp>/screens/ (kept with CHATSTREAM_KEEP_TMP=1 or
on failure).
"""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402
import pw as cdp  # noqa: E402  (the browser, through playwright-core)

M = {
    "stream": "gen-40+delay:100",
    "long": "gen-300+delay:100",
    "quick3": "gen-3",
    "quick5": "gen-5",
    "hostile": "hostile-markdown+delay:10",
    "esc": "esc",
    "err500": "gen-3+status:500",
    "drop": "gen-20+delay:50+drop:5",
    "once": "gen-5+status:500+fail-times:1",
    "length": "openai-chat-finish-length",
    "refusal": "openai-chat-refusal",
    "tool": "openai-chat-tool-call",
}
MAX_MESSAGE_BYTES = 1000

S = {}
IGNORE = (r"/favicon\.ico\b",)


def setup(stack):
    stack.start_replay()
    S["replay"] = stack.replay
    S["lt"] = stack.server(sorted(M.values()), name="chat", default_model=M["quick3"],
                           max_retries=0, max_message_bytes=MAX_MESSAGE_BYTES)
    S["noinstr"] = stack.server([M["quick3"]], name="noinstr", client_instructions="no")
    S["rpm"] = stack.server([M["quick3"]], name="rpm", requests_per_minute=1)
    S["budget"] = stack.server([M["quick3"]], name="budget", tokens_per_day=1)
    S["screens"] = os.path.join(stack.tmp, "screens")
    os.makedirs(S["screens"], exist_ok=True)
    S["browser"] = cdp.Browser(tmpdir=stack.tmp)


def url(path="/", lt=None):
    return "http://127.0.0.1:%d%s" % ((lt or S["lt"]).port, path)


# --- page helpers ------------------------------------------------------------

def open_app(t, width=1100, height=800, dark=False, mobile=False, clear=True, lt=None):
    page = S["browser"].new_page(width, height)
    if mobile:
        page.set_viewport(width, height, mobile=True)
    page.emulate_media(dark=dark)
    page.navigate(url("/", lt))
    if clear:
        page.evaluate("localStorage.clear()")
        page.navigate(url("/", lt))
    wait_ready(page)
    return page


def wait_ready(page):
    page.wait_for("document.documentElement.dataset.ready === '1'", 10)


def no_problems(t, page, what, ignore=()):
    probs = page.problems(ignore=IGNORE + tuple(ignore))
    t.check(not probs, "%s: the page reported problems" % what, "\n".join(probs))
    t.eq(page.evaluate("window.__pwned"), None, "%s: window.__pwned is unset" % what)


def shot(t, page, name, full=False):
    path = page.screenshot(os.path.join(S["screens"], name), full_page=full)
    t.diag("screenshot: " + path)
    return path


def choose_model(page, model):
    ok = page.evaluate("""((m) => {
        const s = document.getElementById('model');
        if (![...s.options].some((o) => o.value === m)) return false;
        s.value = m;
        s.dispatchEvent(new Event('change', {bubbles: true}));
        return true;
    })(%s)""" % json.dumps(model))
    if not ok:
        raise AssertionError("model %r is not in the picker" % model)


KEY = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13,
       "nativeVirtualKeyCode": 13}


def press_enter(page, shift=False):
    mods = 8 if shift else 0
    page.send("Input.dispatchKeyEvent", dict(KEY, type="keyDown", text="\r", modifiers=mods))
    page.send("Input.dispatchKeyEvent", dict(KEY, type="keyUp", modifiers=mods))


def type_text(page, text):
    page.evaluate("document.getElementById('prompt').focus()")
    page.send("Input.insertText", {"text": text})


def send(page, text):
    """Type text into the composer and press Enter (as a user would)."""
    type_text(page, text)
    press_enter(page)
    page.wait_for("document.documentElement.dataset.busy === '1' || "
                  "document.querySelectorAll('#messages article.assistant').length > 0", 5)


ANSWER_JS = """(() => {
  const all = [...document.querySelectorAll('#messages article.assistant')];
  const a = all[all.length - 1];
  if (!a) return null;
  const q = (s) => a.querySelector(s);
  return {
    count: all.length,
    state: a.dataset.state,
    text: q('.content').textContent,
    cursor: !!q('.content .cursor'),
    status: q('.status') && !q('.status').hidden ? q('.status').textContent : '',
    error: q('.error-text') ? q('.error-text').textContent : '',
    retry: !!q('.retry'),
    notice: q('.notice') ? q('.notice').textContent : '',
    meta: q('.meta') ? q('.meta').textContent : '',
    busy: document.documentElement.dataset.busy,
    promptDisabled: document.getElementById('prompt').disabled,
    stopVisible: !document.getElementById('stop').hidden,
    sendVisible: !document.getElementById('send').hidden,
  };
})()"""


def answer(page):
    return page.evaluate(ANSWER_JS)


def wait_idle(page, timeout=20):
    page.wait_for("document.documentElement.dataset.busy === '0' && "
                  "document.querySelectorAll('#messages article.assistant').length > 0",
                  timeout)
    return answer(page)


def click(page, selector_js):
    """Click the element the JS expression returns (raises if none)."""
    ok = page.evaluate("(() => { const e = %s; if (!e) return false; e.click(); return true; })()"
                       % selector_js)
    if not ok:
        raise AssertionError("nothing to click: " + selector_js)


def button_named(name):
    return ("[...document.querySelectorAll('button')].find((b) => !b.hidden && "
            "!b.disabled && (b.getAttribute('aria-label') || b.textContent).trim() === %s)"
            % json.dumps(name))


def overflow(page):
    return page.evaluate("document.documentElement.scrollWidth - "
                         "document.documentElement.clientWidth")


# --- cases ---------------------------------------------------------------------

def streams(t):
    page = open_app(t)
    try:
        t.check(page.evaluate("!!document.querySelector('main a[href=\"check.html\"]')"),
                "the page links to check.html")
        t.check(page.evaluate("document.getElementById('model').options.length") == len(M),
                "the model picker lists the server's models")
        t.eq(page.evaluate("document.getElementById('model').value"), M["quick3"],
             "the picker starts on the server's default model")
        t.check(not page.evaluate("document.getElementById('instructions-field').hidden"),
                "the instructions field is shown (instructions_allowed)")
        choose_model(page, M["stream"])
        # Shift+Enter is a newline, not a send
        type_text(page, "first line")
        press_enter(page, shift=True)
        t.check(page.evaluate("document.getElementById('prompt').value.includes('\\n')"),
                "Shift+Enter inserts a newline")
        t.eq(page.evaluate("document.querySelectorAll('#messages article').length"), 0,
             "Shift+Enter did not send")
        page.evaluate("document.getElementById('prompt').value = ''")
        tag = h.new_tag()
        send(page, "Stream please tag:%s" % tag)
        samples = []
        shot_taken = False
        want = h.gen_text(40).strip()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            a = answer(page)
            if a["busy"] != "1":
                break
            samples.append(len(a["text"]))
            if a["text"] and not shot_taken and len(a["text"]) > 60:
                t.check(a["cursor"], "a cursor shows while streaming")
                t.check(a["promptDisabled"], "the input is disabled while streaming")
                t.check(a["stopVisible"] and not a["sendVisible"],
                        "Stop replaces Send while streaming")
                t.eq(a["state"], "streaming", "state while streaming")
                shot(t, page, "streaming-light.png")
                shot_taken = True
            time.sleep(0.25)
        a = wait_idle(page)
        grew = sorted(set(s for s in samples if 0 < s < len(want)))
        t.diag("text lengths sampled while streaming: %s" % grew)
        t.check(len(grew) >= 3, "the answer grew while streaming (%d distinct samples)" % len(grew))
        t.check(grew == sorted(grew), "the answer only grew")
        t.eq(a["state"], "done", "state at the end")
        t.eq(a["text"].strip(), want, "the complete answer")
        t.check(not a["cursor"], "no cursor after the end")
        t.check(not a["promptDisabled"], "the input is back")
        t.check("40 completion" in a["meta"], "usage shown: %r" % a["meta"])
        reqs = S["replay"].events(tag, "request")
        t.eq(len(reqs), 1, "one upstream request")
        if reqs:
            body = reqs[0]["body"]
            if isinstance(body, str):
                body = json.loads(body)
            t.eq(body.get("model"), M["stream"], "the picked model was asked")
            t.eq([m["role"] for m in body.get("messages", [])], ["user"],
                 "upstream messages: one user message")
        no_problems(t, page, "streaming")
    finally:
        page.close()


def stop(t):
    page = open_app(t)
    try:
        choose_model(page, M["long"])
        tag = h.new_tag()
        send(page, "A long one tag:%s" % tag)
        page.wait_for("(() => { const a = [...document.querySelectorAll("
                      "'#messages article.assistant')].pop();"
                      " return a && a.querySelector('.content').textContent.includes('w5 '); })()",
                      10)
        click(page, button_named("Stop"))
        a = wait_idle(page, 5)
        t.eq(a["state"], "stopped", "the answer is marked stopped")
        t.check("stopped" in a["status"], "it says stopped: %r" % a["status"])
        t.check(a["text"].startswith("w1 w2 w3 w4 w5"), "the partial answer stays",
                a["text"][:80])
        t.check(len(a["text"]) < len(h.gen_text(300)), "it is partial")
        t.check(not a["promptDisabled"] and a["sendVisible"] and not a["stopVisible"],
                "the input and Send are back")
        t.check(page.evaluate("document.activeElement === document.getElementById('prompt')"),
                "focus is back in the input")
        ev = S["replay"].wait(tag, "peer_closed", 10)
        t.check(ev is not None, "the provider connection was closed (replay peer_closed)",
                S["replay"].events(tag))
        time.sleep(0.4)
        t.eq(answer(page)["text"], a["text"], "the text does not change after Stop")
        # reload: the stopped partial answer is still there
        page.navigate(url("/"))
        wait_ready(page)
        b = answer(page)
        t.eq((b["state"], b["text"]), ("stopped", a["text"]),
             "after reload: the stopped answer is kept")
        shot(t, page, "stopped-light.png")
        no_problems(t, page, "stop")
    finally:
        page.close()


def hostile(t):
    page = open_app(t)
    try:
        choose_model(page, M["hostile"])
        send(page, "Show me something nasty tag:%s" % h.new_tag())
        a = wait_idle(page)
        t.eq(a["state"], "done", "state")
        got = page.evaluate("""(() => {
          const a = [...document.querySelectorAll('#messages article.assistant')].pop();
          const c = a.querySelector('.content');
          return {
            pwned: typeof window.__pwned,
            img: c.querySelectorAll('img').length,
            script: c.querySelectorAll('script').length,
            iframes: document.querySelectorAll('iframe, object, embed').length,
            elems: [...new Set([...c.querySelectorAll('*')].map((e) => e.tagName))].sort(),
            hrefs: [...c.querySelectorAll('a')].map((x) => [x.getAttribute('href'),
                      x.rel, x.target]),
            onattrs: [...c.querySelectorAll('*')].flatMap((e) =>
                      [...e.attributes].map((x) => x.name)).filter((n) => n.startsWith('on')),
            code: [...c.querySelectorAll('.code-block pre code')].map((x) => x.textContent),
            codeLang: c.querySelector('.code-block .code-lang')?.textContent,
            copyBtn: !!c.querySelector('.code-block button.copy-code'),
            text: c.textContent,
            h: c.querySelector('h2')?.textContent,
            lis: c.querySelectorAll('ul > li').length,
            rows: c.querySelectorAll('table tbody tr').length,
            right: c.querySelectorAll('td.align-right').length,
            strong: c.querySelector('strong')?.textContent,
            em: c.querySelector('em')?.textContent,
            inlineCode: c.querySelector('p code')?.textContent,
          };
        })()""")
        t.diag("elements: %s" % got["elems"])
        t.eq(got["pwned"], "undefined", "window.__pwned is undefined")
        t.eq(got["img"], 0, "no <img> in the answer")
        t.eq(got["script"], 0, "no <script> in the answer")
        t.eq(got["iframes"], 0, "no iframe/object/embed anywhere")
        t.eq(got["onattrs"], [], "no on* attributes")
        t.eq(got["hrefs"], [["https://example.com/docs", "noopener noreferrer", "_blank"]],
             "only the https link is a link, with rel and target")
        t.check("[bad link](javascript:window.__pwned=1)" in got["text"],
                "the javascript: link is shown as text")
        t.check("<img src=x onerror=window.__pwned=1>" in got["text"],
                "the raw <img> tag is visible as text")
        t.check("<script>window.__pwned=1</script>" in got["text"],
                "the raw <script> tag is visible as text")
        t.eq(len(got["code"]), 1, "one code block")
        if got["code"]:
            t.check("<img src=x onerror=window.__pwned=1>\n<script>" in got["code"][0],
                    "the code block shows the HTML as text", got["code"])
        t.eq(got["codeLang"], "html", "the code block's language label")
        t.check(got["copyBtn"], "the code block has a Copy button")
        t.eq(got["h"], "Hostile output", "the heading")
        t.eq(got["lis"], 2, "the list items")
        t.eq(got["rows"], 2, "the table rows")
        t.eq(got["right"], 2, "right-aligned table column")
        t.eq(got["strong"], "bold", "strong")
        t.eq(got["em"], "emphasis", "em")
        t.eq(got["inlineCode"], "inline <b>code</b>", "inline code as text")
        shot(t, page, "finished-code-light.png")
        # the esc scenario: quotes, control characters, fake SSE syntax
        choose_model(page, M["esc"])
        send(page, "escapes tag:%s" % h.new_tag())
        a = wait_idle(page)
        t.eq(a["state"], "done", "esc: state")
        t.check(len(a["text"]) > 10, "esc: some text rendered")
        t.eq(page.evaluate("document.querySelectorAll('#messages img, #messages script').length"),
             0, "esc: no img/script")
        no_problems(t, page, "hostile output")
    finally:
        page.close()


def errors(t):
    page = open_app(t)
    try:
        # upstream 500, max_retries = 0: an HTTP 502 before the stream
        choose_model(page, M["err500"])
        send(page, "fail tag:%s" % h.new_tag())
        a = wait_idle(page)
        t.diag("500: %r" % a["error"])
        t.eq(a["state"], "error", "500: state")
        t.check(len(a["error"]) > 10 and "{" not in a["error"] and "undefined" not in a["error"],
                "500: a readable message", a["error"])
        t.check(a["retry"], "500: a Retry button")
        t.check(not a["promptDisabled"], "500: the input is back")
        shot(t, page, "error-light.png")

        # a provider connection dropped mid-stream: an error event
        choose_model(page, M["drop"])
        send(page, "drop tag:%s" % h.new_tag())
        a = wait_idle(page)
        t.diag("drop: %r, text %r" % (a["error"], a["text"]))
        t.eq(a["state"], "error", "drop: state")
        t.check(a["text"].startswith("w1 w2 w3"), "drop: the partial text stays", a["text"])
        t.check(len(a["error"]) > 10 and "{" not in a["error"], "drop: a readable message",
                a["error"])
        t.check(a["retry"], "drop: a Retry button")

        # HTTP 413: one message over max_message_bytes
        choose_model(page, M["quick3"])
        send(page, "x" * (MAX_MESSAGE_BYTES + 200) + " tag:%s" % h.new_tag())
        a = wait_idle(page)
        t.diag("413: %r" % a["error"])
        t.eq(a["state"], "error", "413: state")
        t.check("exceeds the limit of %d bytes" % MAX_MESSAGE_BYTES in a["error"],
                "413: the server's message is shown", a["error"])
        t.check(a["retry"], "413: a Retry button")
        # the refused message is not sent again with the next question
        tag = h.new_tag()
        send(page, "after the refusal tag:%s" % tag)
        a = wait_idle(page)
        t.eq(a["state"], "done", "after a 413 the conversation goes on")
        reqs = S["replay"].events(tag, "request")
        if reqs:
            body = reqs[0]["body"]
            if isinstance(body, str):
                body = json.loads(body)
            t.check(all(len(m["content"]) < MAX_MESSAGE_BYTES for m in body["messages"]),
                    "the refused message was left out of the history")

        # the connection breaks (the body ends without [DONE]): a stubbed
        # fetch for one request, then Retry goes to the real server
        page.evaluate("""(() => {
          const real = window.fetch;
          window.fetch = (url, opts) => {
            if (!String(url).endsWith('api/chat')) return real(url, opts);
            window.fetch = real;
            const enc = new TextEncoder();
            const body = new ReadableStream({ start(c) {
              c.enqueue(enc.encode('id: x:1\\ndata: {"content":"half an "}\\n\\n'));
              c.enqueue(enc.encode('id: x:2\\ndata: {"content":"answer"}\\n\\ndata: {"con'));
              c.close();
            }});
            return Promise.resolve(new Response(body, {status: 200,
              headers: {'Content-Type': 'text/event-stream; charset=utf-8'}}));
          };
        })()""")
        choose_model(page, M["quick3"])
        tag = h.new_tag()
        send(page, "cut tag:%s" % tag)
        a = wait_idle(page)
        t.eq(a["state"], "dropped", "no [DONE]: marked as a lost connection")
        t.eq(a["text"].strip(), "half an answer", "no [DONE]: the partial text stays")
        t.check("connection was lost" in a["error"], "no [DONE]: says so: %r" % a["error"])
        t.check(a["retry"], "no [DONE]: a Retry button")
        click(page, button_named("Retry"))
        a = wait_idle(page)
        t.eq(a["state"], "done", "no [DONE]: Retry works")
        t.eq(a["text"].strip(), h.gen_text(3).strip(), "no [DONE]: Retry's answer")

        # fails once, then Retry succeeds
        page.evaluate("document.getElementById('new-chat').click()")
        choose_model(page, M["once"])
        tag = h.new_tag()
        send(page, "retry me tag:%s" % tag)
        a = wait_idle(page)
        t.eq(a["state"], "error", "fail-once: first attempt fails")
        click(page, button_named("Retry"))
        page.wait_for("document.documentElement.dataset.busy === '0' && "
                      "[...document.querySelectorAll('#messages article.assistant')].pop()"
                      ".dataset.state !== 'error'", 10)
        a = answer(page)
        t.eq(a["state"], "done", "Retry: the answer arrives")
        t.eq(a["text"].strip(), h.gen_text(5).strip(), "Retry: the text")
        t.eq(a["count"], 1, "Retry replaced the failed answer")
        t.eq(len(S["replay"].events(tag, "request")), 2, "two upstream requests")

        # finish_reason length
        choose_model(page, M["length"])
        send(page, "long tag:%s" % h.new_tag())
        a = wait_idle(page)
        t.eq(a["state"], "done", "length: state")
        t.check("cut off: length limit" in a["status"], "length: says cut off",
                a["status"])

        # a refusal and a tool call are shown for what they are
        choose_model(page, M["refusal"])
        send(page, "refuse tag:%s" % h.new_tag())
        a = wait_idle(page)
        t.eq(page.evaluate("[...document.querySelectorAll('#messages article.assistant')]"
                           ".pop().querySelector('.refusal')?.textContent"),
             h.load_expect("openai-chat-refusal")["refusal"], "refusal: shown")
        choose_model(page, M["tool"])
        send(page, "tool tag:%s" % h.new_tag())
        a = wait_idle(page)
        got = page.evaluate("""(() => { const a = [...document.querySelectorAll(
            '#messages article.assistant')].pop(); const d = a.querySelector('.tool-call');
            return d && [d.querySelector('summary').textContent,
                         d.querySelector('pre').textContent]; })()""")
        tc = h.load_expect("openai-chat-tool-call")["tool_calls"][0]
        t.eq(got, ["Tool call: " + tc["name"], tc["arguments"]], "tool call: shown")
        t.check("tool" in a["status"], "tool call: the finish reason is said: %r" % a["status"])
        shot(t, page, "refusal-tool-light.png")
        no_problems(t, page, "errors", ignore=(r"status of (502|413) ",))
    finally:
        page.close()


CONV_LIST_JS = """[...document.querySelectorAll('#conversations li')].map((li) =>
    [li.querySelector('.conv-open')?.textContent, li.classList.contains('current')])"""


def conversations(t):
    page = open_app(t)
    try:
        choose_model(page, M["quick3"])
        send(page, "Alpha question tag:%s" % h.new_tag())
        t.eq(wait_idle(page)["text"].strip(), h.gen_text(3).strip(), "A: answer")
        page.evaluate("document.getElementById('new-chat').click()")
        t.eq(page.evaluate("document.querySelectorAll('#messages article').length"), 0,
             "a new chat is empty")
        choose_model(page, M["quick5"])
        send(page, "Beta question tag:%s" % h.new_tag())
        t.eq(wait_idle(page)["text"].strip(), h.gen_text(5).strip(), "B: answer")
        convs = page.evaluate(CONV_LIST_JS)
        t.diag("conversations: %s" % convs)
        t.eq(len(convs), 2, "two conversations listed")

        # reload keeps them
        page.navigate(url("/"))
        wait_ready(page)
        t.eq(page.evaluate(CONV_LIST_JS), convs, "after reload: the same list")
        a = answer(page)
        t.eq(a and a["text"].strip(), h.gen_text(5).strip(), "after reload: B is shown")
        t.eq(page.evaluate("document.getElementById('model').value"), M["quick5"],
             "after reload: the picked model is kept")

        # switch to A
        click(page, "[...document.querySelectorAll('#conversations .conv-open')]"
                    ".find((b) => b.textContent.startsWith('Alpha'))")
        t.eq(page.evaluate("document.querySelector('#messages .msg.user .bubble').textContent")
             .split(" tag:")[0], "Alpha question", "switched: A's question")
        t.eq(answer(page)["text"].strip(), h.gen_text(3).strip(), "switched: A's answer")
        t.eq(page.evaluate("document.getElementById('conv-title').textContent")
             .split(" tag:")[0], "Alpha question", "switched: the title")

        # rename A (inline)
        click(page, "document.querySelector('#conversations li.current .conv-rename')")
        page.evaluate("""(() => { const i = document.querySelector('.conv-title-input');
            i.value = 'Renamed chat'; i.dispatchEvent(new KeyboardEvent('keydown',
            {key: 'Enter', bubbles: true})); })()""")
        t.check(page.evaluate("[...document.querySelectorAll('#conversations .conv-open')]"
                              ".some((b) => b.textContent === 'Renamed chat')"),
                "renamed in the list")

        # edit-and-resend the first question of A
        click(page, "document.querySelector('#messages .msg.user .actions button')")
        t.check(not page.evaluate("document.getElementById('editing').hidden"),
                "editing notice shown")
        tag = h.new_tag()
        page.evaluate("document.getElementById('prompt').value = ''")
        send(page, "Alpha edited tag:%s" % tag)
        wait_idle(page)
        t.eq(page.evaluate("[...document.querySelectorAll('#messages .msg.user .bubble')]"
                           ".map((b) => b.textContent.split(' tag:')[0])"),
             ["Alpha edited"], "edit replaced the question (no duplicate)")
        t.eq(answer(page)["count"], 1, "edit: one answer")

        # regenerate
        click(page, button_named("Regenerate the answer"))
        wait_idle(page)
        t.eq(answer(page)["count"], 1, "regenerate: still one answer")
        t.eq(len(S["replay"].events(tag, "request")), 2, "regenerate asked again")

        # history trimming: send at most 3 messages
        page.evaluate("""(() => { const e = document.getElementById('history-size');
            e.value = '3'; e.dispatchEvent(new Event('change')); })()""")
        tag = h.new_tag()
        send(page, "third tag:%s" % tag)   # history: u, a, u -> fits
        wait_idle(page)
        tag = h.new_tag()
        send(page, "fourth tag:%s" % tag)  # u a u a u -> 3 sent
        a = wait_idle(page)
        t.check("Only the last 3 messages were sent" in a["notice"],
                "trimming is said in the UI: %r" % a["notice"])
        reqs = S["replay"].events(tag, "request")
        if reqs:
            body = reqs[0]["body"]
            if isinstance(body, str):
                body = json.loads(body)
            t.eq([m["role"] for m in body["messages"]], ["user", "assistant", "user"],
                 "only 3 messages went upstream")

        # copy an answer (clipboard permission granted for this origin)
        try:
            page.send("Browser.grantPermissions", {
                "origin": url("").rstrip("/"),
                "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
        except cdp.CDPError as e:
            t.diag("grantPermissions: %s" % e)
        click(page, "[...document.querySelectorAll('#messages button.copy')].pop()")
        label = page.wait_for("(() => { const b = [...document.querySelectorAll("
                              "'#messages button.copy')].pop();"
                              " return b.textContent !== 'Copy' && b.textContent; })()", 5)
        t.diag("copy button says %r" % label)
        if label == "Copied":
            t.eq(page.evaluate("navigator.clipboard.readText()").strip(),
                 h.gen_text(5).strip(), "the answer was copied")
        # delete B (asks inline first; "Keep" keeps it)
        click(page, "[...document.querySelectorAll('#conversations li')].find((li) =>"
                    " li.querySelector('.conv-open').textContent.startsWith('Beta'))"
                    ".querySelector('.conv-delete')")
        click(page, button_named("Keep"))
        t.eq(len(page.evaluate(CONV_LIST_JS)), 2, "Keep keeps the conversation")
        click(page, "[...document.querySelectorAll('#conversations li')].find((li) =>"
                    " li.querySelector('.conv-open').textContent.startsWith('Beta'))"
                    ".querySelector('.conv-delete')")
        shot(t, page, "delete-ask-light.png")
        click(page, "document.querySelector('.conv-confirm-delete')")
        convs = page.evaluate(CONV_LIST_JS)
        t.eq([c[0] for c in convs], ["Renamed chat"], "Beta deleted")
        page.navigate(url("/"))
        wait_ready(page)
        t.eq(page.evaluate(CONV_LIST_JS), [["Renamed chat", True]],
             "after reload: the deletion and the rename are kept")
        no_problems(t, page, "conversations")
    finally:
        page.close()


def phone_dark(t):
    page = open_app(t, 390, 844, dark=True, mobile=True)
    try:
        choose_model(page, M["hostile"])
        send(page, "Phone check tag:%s" % h.new_tag())
        wait_idle(page)
        t.check(overflow(page) <= 0, "phone: no horizontal scrolling (%d px)" % overflow(page))
        t.eq(page.evaluate("getComputedStyle(document.body).backgroundColor"),
             "rgb(21, 24, 30)", "dark theme background")
        t.check(page.evaluate("getComputedStyle(document.getElementById('sidebar')).position")
                == "fixed", "phone: the sidebar is a drawer")
        shot(t, page, "phone-dark.png")
        click(page, "document.getElementById('open-sidebar')")
        time.sleep(0.35)
        t.check(page.evaluate("document.getElementById('sidebar').getBoundingClientRect().left")
                >= -1, "phone: the drawer opens")
        shot(t, page, "phone-dark-drawer.png")
        click(page, "document.getElementById('scrim')")
        # scrolled up during a stream: the view stays, "Jump to latest" appears
        choose_model(page, M["long"])
        send(page, "scroll test tag:%s" % h.new_tag())
        page.wait_for("(() => { const a = [...document.querySelectorAll("
                      "'#messages article.assistant')].pop();"
                      " return a.querySelector('.content').textContent.includes('w3 '); })()", 10)
        page.wait_for("document.getElementById('scroller').scrollHeight > "
                      "document.getElementById('scroller').clientHeight + 200", 5)
        page.evaluate("document.getElementById('scroller').scrollTop = 0")
        page.wait_for("!document.getElementById('jump').hidden", 3)
        time.sleep(0.6)
        top = page.evaluate("document.getElementById('scroller').scrollTop")
        t.check(top < 50, "the view stays where the user scrolled (%s)" % top)
        shot(t, page, "phone-dark-jump.png")
        click(page, "document.getElementById('jump')")
        page.wait_for("(() => { const s = document.getElementById('scroller');"
                      " return s.scrollHeight - s.scrollTop - s.clientHeight < 48; })()", 5)
        time.sleep(0.5)
        t.check(page.evaluate("document.getElementById('jump').hidden"),
                "after Jump to latest the button hides")
        t.check(page.evaluate("(() => { const s = document.getElementById('scroller');"
                              " return s.scrollHeight - s.scrollTop - s.clientHeight < 48; })()"),
                "the view follows the stream again")
        t.eq(answer(page)["busy"], "1", "(still streaming)")
        page.send("Input.dispatchKeyEvent", {"type": "keyDown", "key": "Escape",
                                             "code": "Escape", "windowsVirtualKeyCode": 27})
        page.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": "Escape",
                                             "code": "Escape", "windowsVirtualKeyCode": 27})
        t.eq(wait_idle(page, 5)["state"], "stopped", "Escape stops the stream")
        no_problems(t, page, "phone dark")
    finally:
        page.close()


def desktop_dark(t):
    page = open_app(t, 1100, 800, dark=True)
    try:
        choose_model(page, M["hostile"])
        send(page, "Dark check tag:%s" % h.new_tag())
        wait_idle(page)
        choose_model(page, M["err500"])
        send(page, "and an error tag:%s" % h.new_tag())
        wait_idle(page)
        t.check(overflow(page) <= 0, "no horizontal scrolling")
        shot(t, page, "desktop-dark.png")
        no_problems(t, page, "desktop dark", ignore=(r"status of 502 ",))
    finally:
        page.close()


def settings(t):
    page = open_app(t)
    try:
        page.evaluate("document.getElementById('settings').open = true")
        page.evaluate("""(() => {
          const set = (id, v) => { const e = document.getElementById(id); e.value = v;
                                   e.dispatchEvent(new Event('change')); };
          set('instructions', 'Answer in French.');
          set('temperature', '0.3');
        })()""")
        tag = h.new_tag()
        send(page, "bonjour tag:%s" % tag)
        t.eq(wait_idle(page)["state"], "done", "state")
        reqs = S["replay"].events(tag, "request")
        t.require(len(reqs) == 1, "one upstream request", reqs)
        body = reqs[0]["body"]
        if isinstance(body, str):
            body = json.loads(body)
        t.eq(body["messages"][0], {"role": "system", "content": "Answer in French."},
             "the instructions became the system message")
        t.eq(body.get("temperature"), 0.3, "the temperature was sent")
        shot(t, page, "settings-light.png")
        # settings survive a reload
        page.navigate(url("/"))
        wait_ready(page)
        t.eq(page.evaluate("[document.getElementById('instructions').value,"
                           " document.getElementById('temperature').value]"),
             ["Answer in French.", "0.3"], "settings kept after reload")
        no_problems(t, page, "settings")
    finally:
        page.close()
    page = open_app(t, lt=S["noinstr"])
    try:
        t.check(page.evaluate("document.getElementById('instructions-field').hidden"),
                "client_instructions = no: the instructions field is hidden")
        t.eq(page.evaluate("[...document.getElementById('model').options].map((o) => o.value)"),
             [M["quick3"]], "the picker lists that server's one model")
        no_problems(t, page, "no instructions")
    finally:
        page.close()


WAIT_JS = """(() => {
  const a = [...document.querySelectorAll('#messages article.assistant')].pop();
  const w = a && a.querySelector('.retry-when');
  const send = document.getElementById('send');
  const retry = a && a.querySelector('.retry');
  const waiting = document.getElementById('waiting');
  return {
    error: a && a.querySelector('.error-text') ? a.querySelector('.error-text').textContent : '',
    alert: a && a.querySelector('.error') ? a.querySelector('.error').getAttribute('role') : null,
    when: w ? w.textContent : null,
    sendDisabled: send.disabled, sendHidden: send.hidden, sendTitle: send.title,
    retryDisabled: retry ? retry.disabled : null,
    prompt: document.getElementById('prompt').value,
    promptDisabled: document.getElementById('prompt').disabled,
    waiting: waiting.hidden ? null : waiting.textContent,
    count: document.querySelectorAll('#messages article').length,
  };
})()"""

WHEN_JS = ("(() => { const w = [...document.querySelectorAll('#messages .retry-when')]"
           ".pop(); return w ? w.textContent : null; })()")


def seconds_in(text):
    m = re.search(r"Try again in (\d+) s", text or "")
    return int(m.group(1)) if m else None


def rate_limited(t):
    page = open_app(t, lt=S["rpm"])
    try:
        send(page, "first tag:%s" % h.new_tag())
        t.eq(wait_idle(page)["state"], "done", "the first chat of the minute is answered")
        tag = h.new_tag()
        send(page, "second tag:%s" % tag)
        a = wait_idle(page)
        t.eq(a["state"], "error", "the second is refused")
        t.eq(S["replay"].events(tag, "request"), [], "it never reached the provider")
        w = page.evaluate(WAIT_JS)
        t.diag("refused: %r / %r" % (w["error"], w["when"]))
        t.check(w["error"].startswith("too many requests: at most 1 a minute"),
                "the server's message is shown", w["error"])
        t.eq(w["alert"], "alert", "in the error box (role=alert)")
        first = seconds_in(w["when"])
        t.check(first is not None and 50 <= first <= 60,
                "the countdown: Try again in ~60 s", w["when"])
        t.check(w["sendDisabled"] and not w["sendHidden"], "Send is shown, disabled")
        t.check(w["sendTitle"].startswith("The server asked to wait: Try again in"),
                "Send's title says why", w["sendTitle"])
        t.eq(w["retryDisabled"], True, "Retry waits too")
        t.check(not w["promptDisabled"], "the input stays usable")
        t.eq(w["waiting"], None, "no second notice by Send while the refusal is in view")
        # Enter sends nothing while Send waits; the draft stays
        type_text(page, "my draft")
        press_enter(page)
        t.eq(page.evaluate("document.getElementById('prompt').value"), "my draft",
             "Enter while waiting keeps the draft")
        t.eq(page.evaluate(WAIT_JS)["count"], w["count"], "and sends nothing")
        t.eq(S["replay"].events(tag, "request"), [], "(still no upstream request)")
        # the countdown goes down (an event on the page, not a sleep here)
        shown = page.evaluate(WHEN_JS)
        later = page.wait_for("(() => { const s = %s; return s !== %s && s; })()"
                              % (WHEN_JS, json.dumps(shown)), 3)
        t.diag("countdown: %r -> %r" % (shown, later))
        t.check(seconds_in(later) is not None and seconds_in(later) < seconds_in(shown),
                "the countdown decreases", (shown, later))
        shot(t, page, "rate-limited-light.png")
        # another conversation: Send still waits, and says so next to it
        page.evaluate("document.getElementById('new-chat').click()")
        w = page.evaluate(WAIT_JS)
        t.check(w["sendDisabled"], "a new chat waits too (the limit is per client)")
        t.check((w["waiting"] or "").startswith("Send is paused. Try again in"),
                "the composer says why", w["waiting"])
        t.eq(w["prompt"], "my draft", "the draft is still there")
        shot(t, page, "rate-limited-other-chat-light.png")
        # a reload keeps waiting
        page.navigate(url("/", S["rpm"]))
        wait_ready(page)
        w = page.evaluate(WAIT_JS)
        t.check(w["sendDisabled"] and (w["waiting"] or "").startswith("Send is paused."),
                "after a reload Send still waits", w)
        click(page, "[...document.querySelectorAll('#conversations .conv-open')]"
                    ".find((b) => b.textContent.startsWith('first'))")
        page.emulate_media(dark=True)
        page.set_viewport(390, 844)
        # the drawer slides out of view (a transition) at phone width
        page.wait_for("document.getElementById('sidebar').getBoundingClientRect().right <= 0", 3)
        t.check(overflow(page) <= 0, "phone: no horizontal scrolling (%d px)" % overflow(page))
        shot(t, page, "rate-limited-phone-dark.png")
        no_problems(t, page, "rate limited", ignore=(r"status of 429 ",))
    finally:
        page.close()


def budget(t):
    page = open_app(t, lt=S["budget"])
    try:
        tag = h.new_tag()
        send(page, "spend it tag:%s" % tag)
        a = wait_idle(page)
        t.eq(a["state"], "error", "refused: tokens_per_day = 1")
        w = page.evaluate(WAIT_JS)
        t.diag("budget: %r / %r" % (w["error"], w["when"]))
        t.check("00:00 UTC" in w["error"], "the server's message says when it renews",
                w["error"])
        tz = page.evaluate("new Date().getTimezoneOffset()")
        t.check((w["when"] or "").startswith("Try again after 00:00 UTC"),
                "when: after 00:00 UTC (browser offset %s min)" % tz, w["when"])
        t.check(w["sendDisabled"] and "00:00 UTC" in w["sendTitle"],
                "Send is disabled, its title says until when", w["sendTitle"])
        shot(t, page, "budget-light.png")
        no_problems(t, page, "budget", ignore=(r"status of 429 ",))
    finally:
        page.close()


def wait_ends(t):
    """A 503 overloaded with Retry-After: 2 (a stubbed fetch for one
    request, as a busy server sends it): Send comes back by itself."""
    page = open_app(t)
    try:
        page.evaluate("""(() => {
          const real = window.fetch;
          window.fetch = (url, opts) => {
            if (!String(url).endsWith('api/chat')) return real(url, opts);
            window.fetch = real;
            return Promise.resolve(new Response(JSON.stringify({error: {type: 'overloaded',
              message: 'the server is busy: every stream slot is taken'}}),
              {status: 503, headers: {'Content-Type': 'application/json',
                                      'Retry-After': '2'}}));
          };
        })()""")
        send(page, "busy? tag:%s" % h.new_tag())
        wait_idle(page)
        w = page.evaluate(WAIT_JS)
        t.eq(w["error"], "the server is busy: every stream slot is taken",
             "the server's message")
        t.check(seconds_in(w["when"]) in (1, 2), "Try again in 2 s", w["when"])
        t.check(w["sendDisabled"], "Send waits")
        type_text(page, "next question")
        page.wait_for("!document.getElementById('send').disabled", 5)
        w = page.evaluate(WAIT_JS)
        t.eq(w["when"], "You can try again now.", "then it says so")
        t.eq((w["sendTitle"], w["retryDisabled"]), ("", False), "Send and Retry are back")
        t.eq(w["prompt"], "next question", "the draft stayed")
        page.wait_for("document.getElementById('announce').textContent === "
                      "'You can send again.'", 3)
        press_enter(page)
        t.eq(wait_idle(page)["state"], "done", "and the next question is answered")
        no_problems(t, page, "wait ends")
    finally:
        page.close()


def check_page_still_works(t):
    page = S["browser"].new_page(1000, 800)
    try:
        page.navigate(url("/check.html"))
        page.wait_for("document.documentElement.dataset.check === 'done'", 40)
        t.eq(page.evaluate("document.getElementById('verdict').dataset.kind"), "streams",
             "check.html still says it streams")
        no_problems(t, page, "check.html")
    finally:
        page.close()


def browser_closes(t):
    b = S.pop("browser", None)
    t.require(b is not None, "no browser")
    pid, cpg = b.proc.pid, b.chromium_pgid
    b.close()
    t.check(not h.group_pids(pid), "the driver's process group is gone")
    t.check(cpg is not None and not h.group_pids(cpg), "chromium's process group is gone")


# --- chunk boundaries: a test-only server writes crafted pieces ----------------

CRAFTED_TEXT = "Grüß 😀 café"


def crafted_pieces():
    """The native stream for CRAFTED_TEXT, cut where parsers break: inside
    an event, inside a 2-byte (ü, é) and a 4-byte (😀) UTF-8 character, and
    between the CR and LF of a CRLF line end."""
    deltas = ["Grüß ", "😀 ", "café"]
    body = b": keep-alive\n"          # a comment line alone, as chatstream sends
    for i, d in enumerate(deltas, 1):
        body += ("id: c:%d\ndata: %s\n\n" % (i, json.dumps({"content": d},
                 ensure_ascii=False))).encode()
    body += (b'id: c:4\r\nevent: finish\r\ndata: {"finish_reason":"stop",'
             b'"usage":null}\r\n\r\nid: c:5\r\ndata: [DONE]\r\n\r\n')
    cuts = [body.index(b"data: ") + 3,                  # inside an event
            body.index("ü".encode()) + 1,               # inside ü
            body.index("😀".encode()) + 2,              # inside the emoji
            body.index("é".encode()) + 1,               # inside é
            body.index(b"\r\n\r\nid: c:5") + 1]       # between CR and LF
    pieces, last = [], 0
    for c in sorted(cuts):
        pieces.append(body[last:c])
        last = c
    pieces.append(body[last:])
    return pieces


def start_crafted():
    """Serve www/ and a test-only /api/chat that writes crafted_pieces()
    with a pause between pieces, so each arrives as its own read."""
    import http.server
    import threading

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=h.WWW, **kw)

        def log_message(self, *a):
            pass

        def do_GET(self):
            if self.path.startswith("/api/models"):
                body = json.dumps({"object": "list", "default": "crafted",
                                   "data": [{"id": "crafted", "object": "model"}],
                                   "instructions_allowed": True}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            for i, piece in enumerate(crafted_pieces()):
                if i:
                    time.sleep(0.15)   # pacing the pieces, not synchronising
                self.wfile.write(piece)
                self.wfile.flush()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.port = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def chunk_boundaries(t):
    pieces = crafted_pieces()
    t.require(len(pieces) == 6, "six pieces")
    srv = start_crafted()
    page = None
    try:
        page = open_app(t, lt=srv)
        send(page, "hello")
        a = wait_idle(page)
        t.eq(a["text"].strip(), CRAFTED_TEXT, "the exact text, across every cut")
        t.eq(a["error"], "", "no error shown")
        t.check(not a["retry"], "no Retry offered: the stream ended with [DONE]", a)
        no_problems(t, page, "crafted chunk boundaries")
    finally:
        if page is not None:
            page.close()
        srv.shutdown()


CASES = [
    ("a reply streams: grows while streaming, ends complete; cursor, Stop, usage", streams),
    ("Stop mid-stream: partial answer stays, marked stopped; upstream closed", stop),
    ("hostile model output renders inert; Markdown renders", hostile),
    ("upstream 500, mid-stream drop, HTTP 413: readable messages, Retry works; "
     "length finish", errors),
    ("conversations: reload keeps them, switch, rename, edit, regenerate, trimming, copy",
     conversations),
    ("settings: instructions and temperature sent, kept; hidden when the server "
     "refuses instructions", settings),
    ("phone width, dark theme: drawer, no overflow, Jump to latest", phone_dark),
    ("desktop dark theme (screenshot)", desktop_dark),
    ("check.html still works next to the new client", check_page_still_works),
    ("requests_per_minute = 1: the 2nd chat shows the server's message and a "
     "countdown that goes down; Send disabled with a title, the draft stays", rate_limited),
    ("tokens_per_day spent: the message and 'Try again after 00:00 UTC'; Send disabled",
     budget),
    ("503 overloaded with Retry-After: 2: Send comes back by itself", wait_ends),
    ("chunk boundaries inside an event, inside UTF-8 characters and a CRLF "
     "(test-only server writing crafted pieces): exact text", chunk_boundaries),
]
AFTER = [("chromium closes and leaves no process behind", browser_closes)]


def main():
    if not os.access(os.environ.get("CHROMIUM") or cdp.DEFAULT_CHROMIUM, os.X_OK):
        print("1..0 # SKIP chromium not installed")
        return 0
    try:
        return h.main("chat-ui", CASES, setup, after=AFTER)
    finally:
        b = S.pop("browser", None)
        if b is not None:
            b.close()


if __name__ == "__main__":
    sys.exit(main())
