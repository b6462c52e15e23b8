#!/usr/bin/env python3
"""chatstream as plain CGI under the real Apache (mpm_event + mod_cgid,
Debian's default pairing; no mod_fcgid loaded), deployed the shared-hosting
way: conf/htaccess.example as .htaccess and its chatstream.fcgi wrapper,
in the worst-case layout where the binary, chatstream.conf and the key sit
in the web directory itself.  The host allows only the AllowOverride
classes the file says it needs.  Real streaming, cancellation reaching the
provider, keep-alives outliving the server's Timeout, the body limit, 50
streams at once (50 processes), and the deny-by-default guard: nothing in
the directory is served but the static client and the wrapper, so editor
and backup copies of the key and the config next to them are refused."""

import os
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402
import apache as A  # noqa: E402

LABEL = "apache-cgi"
MODULES = A.BASE_MODULES + ["rewrite", "cgid"]
IO_TIMEOUT = 3          # core Timeout (mod_cgid's default script timeout)
S = {}
# What editors and people leave next to the files they edit (Emacs ~ and
# #...#, vim .swp, nano .save, .bak/.orig/.old copies, logrotate-like .1,
# dpkg, a ".txt" for sending it on): each holds the key and the config.
BACKUPS = ["api-key~", "api-key.bak", "api-key.save", "chatstream.conf~",
           ".chatstream.conf.swp", "chatstream.conf.orig", "#api-key#",
           ".api-key.swp", "api-key.old", "api-key.txt", "chatstream.conf.bak",
           "chatstream.conf.save", "chatstream.conf.1", "chatstream.conf.dpkg-old",
           "#chatstream.conf#", "chatstream~", "chatstream.fcgi~",
           "chatstream.fcgi.bak", "index.html~", "js/app.js.orig"]


def setup(stack):
    A.add_apache_finals(stack)
    S["stack"] = stack
    S["replay"] = stack.start_replay()
    home = os.path.join(stack.tmp, "home", "user")
    web = os.path.join(home, "public_html", "chat")
    d = A.Deploy(stack, "home", bin_path=os.path.join(web, "chatstream"),
                 docroot=web, conf_path=os.path.join(web, "chatstream.conf"),
                 key_path=os.path.join(web, "api-key"))
    d.write_conf(A.MODELS, default_model="gen-3")
    S["deploy"] = d
    with open(os.path.join(web, ".htaccess"), "w") as f:
        f.write(A.read_conf("htaccess.example"))
    os.chmod(os.path.join(web, ".htaccess"), 0o644)
    wrapper = os.path.join(web, "chatstream.fcgi")
    with open(wrapper, "w") as f:
        # everything in the web directory: the documented fallback layout
        f.write(A.htaccess_wrapper([("/home/USER/chatstream/", web + "/")]))
    os.chmod(wrapper, 0o755)
    with open(d.conf) as f:
        secret = stack.key + "\n" + f.read()
    for name in BACKUPS:
        with open(os.path.join(web, name), "w") as f:
            f.write(secret)
        os.chmod(os.path.join(web, name), 0o644)
    ap_dir = os.path.join(stack.tmp, "apache")
    site = "\n".join([
        "# what the hosting company configures",
        "<VirtualHost *:@PORT@>",
        "    DocumentRoot %s/public_html" % home,
        "    <Directory %s/public_html>" % home,
        "        Options FollowSymLinks",
        "        AllowOverride FileInfo Options AuthConfig",
        "        Require all granted",
        "    </Directory>",
        "</VirtualHost>", ""])
    ap = A.Apache(stack.tmp, site, MODULES, name="apache", timeout=IO_TIMEOUT,
                  extra="ScriptSock %s/run/cgisock" % ap_dir)
    stack.servers.append(ap)
    ap.start()
    S["srv"] = S["logs"] = ap
    S["chat_path"] = "/chat/api/chat"


def cgi_mode(t):
    """It really ran as CGI (no mod_fcgid loaded, so the .htaccess picked
    cgi-script): no FastCGI worker ever started, and once the streams are
    over no chatstream process is left (one process per request)."""
    t.check("ready:" not in S["logs"].log_text(),
            "no FastCGI 'ready:' line in the error log")
    t.check(len(S["logs"].access_lines()) >= 50, "chatstream's log lines reach "
            "the error log (%d)" % len(S["logs"].access_lines()))
    left = A.group_processes(S["srv"], S["deploy"].bin, settle=5.0)
    t.eq(left, [], "chatstream processes still running after the streams ended")


def backups_refused(t):
    """Deny by default: every backup copy of the key, the config, the
    binary or the wrapper (present, world-readable, holding the key and the
    config) is refused, while every file of the static client is served
    as is and the chat answers through chatstream.fcgi."""
    key = S["stack"].key
    with open(S["deploy"].conf) as f:
        conf_line = [l for l in f.read().splitlines() if l.startswith("base_url")][0]
    for name in BACKUPS:
        path = "/chat/" + urllib.parse.quote(name)
        t.require(os.path.exists(os.path.join(S["deploy"].docroot, name)), name)
        r = h.request(S["srv"].port, "GET", path)
        got = r.body.decode("utf-8", "replace")
        t.check(r.status in (403, 404), "GET %s -> 403/404, got %s"
                % (path, r.status), r.summary())
        t.check(key not in got and conf_line not in got,
                "GET %s returned the key or the config" % path)
    for dp, _, fns in os.walk(h.WWW):
        for fn in fns:
            rel = os.path.relpath(os.path.join(dp, fn), h.WWW)
            r = h.request(S["srv"].port, "GET", "/chat/" + rel)
            with open(os.path.join(dp, fn), "rb") as f:
                t.check(r.status == 200 and r.body == f.read(),
                        "GET /chat/%s serves www/%s (%s)" % (rel, rel, r.status))
    r = h.request(S["srv"].port, "GET", "/chat")
    t.eq(r.status, 301, "GET /chat redirects to /chat/", r.summary())
    r = h.request(S["srv"].port, "GET", "/chat/")
    t.eq(r.status, 200, "GET /chat/ (the index)", r.summary())
    r = h.request(S["srv"].port, "GET", "/chat/js/")
    t.check(r.status in (403, 404) and b"app.js" not in r.body,
            "GET /chat/js/ lists no files (%s)" % r.status, r.summary())
    r = S["srv"].chat("hi", tag=h.new_tag(), model="gen-3", path=S["chat_path"])
    h.check_stream_shape(t, r)
    t.eq(r.text, h.gen_text(3), "the chat answers through chatstream.fcgi")


CASES = [
    ("the static client is served with the .htaccess CSP", A.case_static(S, "/chat/", error_pages=False)),
    ("streaming is real: deltas arrive as the provider sends them",
     A.case_streaming(S, LABEL)),
    ("client leaves mid-stream -> provider request cancelled",
     A.case_cancel_mid(S, LABEL)),
    ("client leaves while the provider is silent -> cancelled within "
     "keepalive_seconds + margin", A.case_cancel_silent(S, LABEL)),
    ("a first token slower than Timeout %d s survives on keep-alives" % IO_TIMEOUT,
     A.case_slow_first_token(S, "Timeout %d s" % IO_TIMEOUT)),
    ("a 100 KB body gets chatstream's 413 JSON (never Apache's error page)",
     A.case_body_limit(S, tries=20)),
    # mod_cgid gives a CGI one socket as stdin and stdout: an answer sent
    # with the body unread used to be reset (AH00574) now and then.
    ("every one of 20 oversized POSTs gets its 413", A.case_body_limit_all(S)),
    # Each stream lasts about a second; under ASan on 2 cores starting 50
    # CGI processes takes long enough that the first finish before the
    # last start (a peak of 44 was seen), while serving them one at a time
    # would give 1: 35 still proves they run side by side.
    ("50 concurrent streams (50 CGI processes) all complete with the right text",
     A.case_many(S, 50, min_peak=35)),
    ("it ran as plain CGI", cgi_mode),
    ("the key, chatstream.conf and the binary in the web directory cannot be "
     "fetched",
     A.case_secrets(S, ["/chat/api-key", "/chat/chatstream.conf", "/chat/chatstream",
                        "/chat/.htaccess", "/chat/api/../api-key",
                        "/chat/API-KEY", "/chat/chatstream.conf/",
                        "/chat/chatstream.fcgi/../chatstream.conf",
                        "/chat/api/chatstream.conf", "/chat/chatstream.fcgi"],
                    must_deny=["/chat/api-key", "/chat/chatstream.conf",
                               "/chat/chatstream", "/chat/.htaccess"])),
    ("backup copies of the key, config, binary and wrapper in the web "
     "directory are refused; the client and the chat still work",
     backups_refused),
]

if __name__ == "__main__":
    A.require_apache(MODULES)
    sys.exit(h.main("apache-cgi", CASES, setup))
