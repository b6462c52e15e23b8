#!/usr/bin/env python3
"""chatstream under the real Apache with mod_fcgid, configured by the
shipped conf/apache-fcgid.conf (only paths, the port and, for the slow
first token, FcgidIOTimeout substituted): real streaming, cancellation
reaching the provider, keep-alives outliving FcgidIOTimeout, the body
limits agreeing, 50 streams at once, no way to fetch the key.  Then the
shared-hosting route: conf/htaccess.example with its wrapper script and
the directives it tells you to ask your host for."""

import os
import shutil
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness as h  # noqa: E402
import apache as A  # noqa: E402

LABEL = "apache-fcgid"
MODULES = A.BASE_MODULES + ["fcgid"]
SHARED_MODULES = A.BASE_MODULES + ["fcgid", "rewrite"]
IO_TIMEOUT = 3          # FcgidIOTimeout in the test (shipped: 60)
S = {}
SH = {}                 # the shared-hosting (.htaccess) site
# copies of the key and the config a user left in the chat directory
SH_BACKUPS = ["api-key", "api-key~", "api-key.bak", "chatstream.conf.save",
              ".chatstream.conf.swp", "#api-key#"]


def setup(stack):
    A.add_apache_finals(stack)
    S["stack"] = stack
    S["replay"] = stack.start_replay()
    SH["stack"], SH["replay"] = stack, stack.replay

    # -- the vhost of conf/apache-fcgid.conf
    d = A.Deploy(stack, "site")
    d.write_conf(A.MODELS, default_model="gen-3", threads=1)
    S["deploy"] = d
    ap_dir = os.path.join(stack.tmp, "apache")
    site = A.shipped("apache-fcgid.conf", [
        ("<VirtualHost *:80>", "<VirtualHost *:@PORT@>"),
        ("/usr/local/lib/chatstream", os.path.dirname(d.bin)),
        ("/var/www/chat", d.docroot),
        ("/etc/chatstream/chatstream.conf", d.conf),
        ("${APACHE_LOG_DIR}", ap_dir),
        ("FcgidIOTimeout 60", "FcgidIOTimeout %d" % IO_TIMEOUT),
    ])
    ap = A.Apache(stack.tmp, site, MODULES, name="apache",
                  extra="FcgidIPCDir %s/run/fcgidsock\nFcgidProcessTableFile %s/run/fcgid_shm"
                  % (ap_dir, ap_dir))
    ap.extra_logs.append(os.path.join(ap_dir, "chat-error.log"))
    stack.servers.append(ap)
    ap.start()
    S["srv"] = S["logs"] = ap

    # -- shared hosting: .htaccess + wrapper, host sets what the file asks for
    home = os.path.join(stack.tmp, "home", "user")
    priv = os.path.join(home, "chatstream")
    web = os.path.join(home, "public_html", "chat")
    sd = A.Deploy(stack, "home", bin_path=os.path.join(priv, "chatstream"),
                  docroot=web, conf_path=os.path.join(priv, "chatstream.conf"),
                  key_path=os.path.join(priv, "api-key"))
    sd.write_conf(A.MODELS, default_model="gen-3", threads=1)
    SH["deploy"] = sd
    with open(os.path.join(web, ".htaccess"), "w") as f:
        f.write(A.read_conf("htaccess.example"))
    os.chmod(os.path.join(web, ".htaccess"), 0o644)
    wrapper = os.path.join(web, "chatstream.fcgi")
    with open(wrapper, "w") as f:
        f.write(A.htaccess_wrapper([("/home/USER", home)]))
    os.chmod(wrapper, 0o755)
    for name in SH_BACKUPS:   # copies as a user makes them, readable by all
        copy = os.path.join(web, name)
        shutil.copyfile(sd.key_path if "api-key" in name else sd.conf, copy)
        os.chmod(copy, 0o644)
    sh_dir = os.path.join(stack.tmp, "apache-shared")
    host = A.htaccess_host_directives()
    SH["host"] = host
    shared_site = "\n".join([
        "# what the hosting company configures",
        "<VirtualHost *:@PORT@>",
        "    DocumentRoot %s/public_html" % home,
        "    <Directory %s/public_html>" % home,
        "        Options FollowSymLinks",
        "        AllowOverride FileInfo Options AuthConfig",
        "        Require all granted",
        "    </Directory>",
        "    # asked for by conf/htaccess.example:",
    ] + ["    " + x for x in host] + ["</VirtualHost>", ""])
    sh = A.Apache(stack.tmp, shared_site, SHARED_MODULES, name="apache-shared",
                  extra="FcgidIPCDir %s/run/fcgidsock\nFcgidProcessTableFile %s/run/fcgid_shm"
                  % (sh_dir, sh_dir))
    stack.servers.append(sh)
    sh.start()
    SH["srv"] = SH["logs"] = sh
    SH["chat_path"] = "/chat/api/chat"


def shipped_limits(t):
    """The shipped numbers agree with chatstream's defaults."""
    conf = A.read_conf("apache-fcgid.conf")
    ka = float(A.chatstream_default("keepalive_seconds"))
    total = float(A.chatstream_default("total_timeout_seconds"))
    body = A.parse_size(A.chatstream_default("max_body_bytes"))
    for where, vals in (("conf/apache-fcgid.conf", {
            k: A.directive(conf, k) for k in
            ("FcgidMaxRequestLen", "FcgidIOTimeout", "FcgidBusyTimeout",
             "FcgidOutputBufferSize", "FcgidMaxProcessesPerClass")}),
            ("conf/htaccess.example (ask your host)", {
                k: [x.split()[1] for x in SH["host"] if x.split()[0] == k]
                for k in ("FcgidMaxRequestLen", "FcgidIOTimeout",
                          "FcgidBusyTimeout", "FcgidOutputBufferSize")})):
        for k, v in vals.items():
            t.require(len(v) == 1, "%s sets %s once (%r)" % (where, k, v))
        mrl = int(vals["FcgidMaxRequestLen"][0])
        t.diag("%s: FcgidMaxRequestLen %d, chatstream max_body_bytes default %d"
               % (where, mrl, body))
        t.check(mrl > body, "%s: FcgidMaxRequestLen (%d) > chatstream's default "
                "max_body_bytes (%d), so oversized bodies get chatstream's 413"
                % (where, mrl, body))
        io = float(vals["FcgidIOTimeout"][0])
        t.check(io >= 2 * ka, "%s: FcgidIOTimeout (%s) comfortably above "
                "keepalive_seconds (%s)" % (where, io, ka))
        busy = float(vals["FcgidBusyTimeout"][0])
        t.check(busy > total, "%s: FcgidBusyTimeout (%s) above "
                "total_timeout_seconds (%s)" % (where, busy, total))
        t.eq(vals["FcgidOutputBufferSize"], ["0"], "%s: FcgidOutputBufferSize" % where)
    mpc = A.directive(conf, "FcgidMaxProcessesPerClass")
    t.check(mpc and int(mpc[0]) >= 50, "FcgidMaxProcessesPerClass >= 50: %r" % mpc)


def process_per_stream(t):
    """mod_fcgid: one chatstream process per concurrent stream (documented
    in the snippet); the log says which pid served each."""
    lines = S["logs"].access_lines()
    t.check(lines, "chatstream access lines in the error log")
    ready = [l for l in S["logs"].log_text().splitlines()
             if "ready:" in l and "worker thread" in l]
    t.diag("%d chatstream processes started by mod_fcgid" % len(ready))
    t.check(len(ready) >= 30, "50 concurrent streams ran in >= 30 processes (%d)"
            % len(ready))
    t.check(all("1 worker thread" in l for l in ready),
            "threads = 1 from chatstream.conf: %r" % ready[:2])


def shared_is_fastcgi(t):
    """The .htaccess picked mod_fcgid (it is loaded) and the wrapper found
    the configuration: persistent FastCGI processes, our models."""
    ready = [l for l in SH["logs"].log_text().splitlines() if "ready:" in l]
    t.check(ready, "chatstream started as FastCGI through chatstream.fcgi")
    left = A.group_processes(SH["srv"], SH["deploy"].bin)
    t.check(left, "the FastCGI process stays up between requests")


CASES = [
    ("the static client is served with the snippet's CSP", A.case_static(S)),
    ("streaming is real: deltas arrive as the provider sends them",
     A.case_streaming(S, LABEL)),
    ("client leaves mid-stream -> provider request cancelled",
     A.case_cancel_mid(S, LABEL)),
    ("client leaves while the provider is silent -> cancelled within "
     "keepalive_seconds + margin", A.case_cancel_silent(S, LABEL)),
    ("a first token slower than FcgidIOTimeout %d s survives on keep-alives"
     % IO_TIMEOUT, A.case_slow_first_token(S, "FcgidIOTimeout %d s" % IO_TIMEOUT)),
    ("a 100 KB body gets chatstream's 413 JSON, not Apache's 500",
     A.case_body_limit(S)),
    ("GET /api/v1/models/vendor%2Fgen-3 (a slashed id) -> the model object",
     A.case_model_slash(S)),
    ("the shipped FcgidMaxRequestLen/IOTimeout/BusyTimeout agree with "
     "chatstream's defaults", shipped_limits),
    ("50 concurrent streams all complete with the right text",
     A.case_many(S, 50, min_peak=30)),
    ("one chatstream process per concurrent stream", process_per_stream),
    ("the key and chatstream.conf cannot be fetched",
     A.case_secrets(S, ["/etc/chatstream/chatstream.conf", "/etc/chatstream/api-key",
                        "/chatstream.conf", "/api-key", "/api/api-key",
                        "/api/../etc/chatstream/api-key",
                        "/%2e%2e/etc/chatstream/api-key", "/api/chatstream.conf",
                        "/api%2fchatstream.conf"])),
    ("shared hosting (.htaccess + wrapper, mod_fcgid): the page and its CSP",
     A.case_static(SH, "/chat/", error_pages=False)),
    ("shared hosting (.htaccess + wrapper, mod_fcgid): streaming is real",
     A.case_streaming(SH, LABEL + " .htaccess")),
    ("shared hosting (.htaccess + wrapper): it runs as FastCGI under mod_fcgid",
     shared_is_fastcgi),
    ("shared hosting (.htaccess + wrapper, mod_fcgid): 100 KB body -> 413 JSON",
     A.case_body_limit(SH)),
    ("shared hosting (.htaccess + wrapper, mod_fcgid): key, config and binary "
     "cannot be fetched",
     A.case_secrets(SH, ["/chat/.htaccess", "/chatstream/api-key",
                         "/chat/api-key", "/chat/chatstream.conf",
                         "/chat/api/../../chatstream/api-key"])),
    ("shared hosting (.htaccess + wrapper, mod_fcgid): copies of the key and "
     "config left in the chat directory are refused (deny by default)",
     A.case_secrets(SH, ["/chat/" + urllib.parse.quote(n) for n in SH_BACKUPS],
                    must_deny=["/chat/" + urllib.parse.quote(n) for n in SH_BACKUPS])),
]

if __name__ == "__main__":
    A.require_apache(MODULES + ["rewrite"], "apache2 libapache2-mod-fcgid")
    sys.exit(h.main("apache-fcgid", CASES, setup))
