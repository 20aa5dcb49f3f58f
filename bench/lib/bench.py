#!/usr/bin/env python3
"""Helpers for bench/run.sh, scale.sh, idle-memory.sh and instructions.sh.

The shell scripts own the processes (start, pin, kill by PID); this file owns
everything that is easier in Python: generating the helmgate, nginx, HAProxy
and Caddy configurations from one description of the policy, checking that
the gateways really answer alike before anything is measured (and, for the
peers, where they cannot), turning wrk output and /proc readings into one
JSON line per run, the small clients of idle-memory.sh and instructions.sh,
and the final tables.

Standard library only.
"""

import argparse
import http.client
import json
import os
import re
import resource
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import time

# ---------------------------------------------------------------------------
# The policy both gateways enforce. These mirror helmgate's production
# defaults (src/policy/headers/, src/policy/cors/, src/config/); `check` compares
# helmgate's real responses with them, so a change there fails loudly here
# instead of silently benchmarking two different jobs.

ALLOWED_ORIGIN = "https://app.example.com"
DISALLOWED_ORIGIN = "https://evil.example.net"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: https:; connect-src 'self'; font-src 'self'; "
    "object-src 'none'; media-src 'self'; frame-src 'none'"
)
SECURITY_HEADERS = [
    ("Content-Security-Policy", CSP),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Cross-Origin-Embedder-Policy", "require-corp"),
]
# helmgate's `[headers] preset = "hardened"` in production (src/headers.rs):
# the seed set with helmet 8's CSP additions and eight more headers.
CSP_HARDENED = CSP + (
    "; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; "
    "script-src-attr 'none'; upgrade-insecure-requests"
)
HARDENED_HEADERS = [
    ("Content-Security-Policy", CSP_HARDENED),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Cross-Origin-Embedder-Policy", "require-corp"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
    ("Origin-Agent-Cluster", "?1"),
    ("X-DNS-Prefetch-Control", "off"),
    ("X-Download-Options", "noopen"),
    ("X-Permitted-Cross-Domain-Policies", "none"),
    ("X-XSS-Protection", "0"),
]
PRESETS = {"seed": SECURITY_HEADERS, "hardened": HARDENED_HEADERS}
# Sent by the upstream; both gateways must drop it (and HSTS over plain HTTP).
HIDDEN_HEADERS = ["X-Powered-By", "Strict-Transport-Security"]
ALLOW_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = "Content-Type, Authorization, x-admin-api-key, x-user-id, x-request-id"
MAX_AGE = "600"
VARY_ACTUAL = "Origin"
VARY_PREFLIGHT = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
REJECTED_BODY = "Forbidden: origin not allowed\n"
# helmgate's HttpServerOptions.keepalive_request_limit (src/server.rs).
KEEPALIVE_REQUESTS = 10000
KEEPALIVE_TIMEOUT_S = 60
# What a client whose X-Request-Id helmgate keeps may send (src/request_id.rs).
REQUEST_ID_RE = r"^[A-Za-z0-9._:+=/-]{1,128}$"
# The upstream's answer to a proxied request.
UPSTREAM_BODY = "ok"

SCENARIOS = {
    "a": ("keep-alive GET, allowed origin (proxied)", 200),
    "b": ("preflight answered at the gateway (204)", 204),
    "c": ("disallowed origin answered at the gateway (403)", 403),
    "d": ("new connection per request (Connection: close)", 200),
    "e": ("one connection, one request at a time (latency)", 200),
}

# The one request each scenario sends (method, headers); bench/lua/ sends the
# same, instructions.sh's client too.
SCENARIO_REQUESTS = {
    "a": ("GET", [("Origin", ALLOWED_ORIGIN)]),
    "b": ("OPTIONS", [("Origin", ALLOWED_ORIGIN), ("Access-Control-Request-Method", "POST"),
                      ("Access-Control-Request-Headers", "content-type")]),
    "c": ("GET", [("Origin", DISALLOWED_ORIGIN)]),
    "d": ("GET", [("Origin", ALLOWED_ORIGIN), ("Connection", "close")]),
    "e": ("GET", [("Origin", ALLOWED_ORIGIN)]),
}

# The reference every other target is divided by, and the targets whose
# answers must match helmgate's policy exactly (else nothing is measured).
# Every other target is a peer: the check records where it differs and the
# report says so ("not the same job").
REFERENCE = "nginx"
BARE = "pingora"


def is_strict(target):
    return target == REFERENCE or target == "helmgate" or target.startswith("helmgate-")


NOTE = (
    "NOTE: this machine is shared and noisy. Absolute numbers move from run to run;\n"
    "the helmgate/nginx ratios from one run (interleaved A B A B on the same cores)\n"
    "are what count. [min-max] is the spread of the per-round ratios."
)


def die(msg):
    print(f"bench.py: {msg}", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------------------
# Configuration generators


def nginx_common(d, name, workers, worker_connections=8192, master_process=True):
    # Without a master (instructions.sh runs nginx under valgrind) one process
    # does a worker's job, so the whole cost is in one place.
    return f"""# generated by bench/lib/bench.py: {name}
worker_processes {workers};
daemon off;
master_process {"on" if master_process else "off"};
pid {d}/{name}.pid;
lock_file {d}/{name}.lock;
error_log {d}/{name}-error.log warn;
events {{ worker_connections {worker_connections}; }}
"""


def nginx_temp_paths(d, name):
    kinds = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    return "\n".join(f"    {k}_temp_path {d}/{name}-tmp/{k};" for k in kinds)


def conf_upstream(d, port, workers):
    name = "upstream"
    return nginx_common(d, name, workers) + f"""
http {{
    access_log off;
    server_tokens off;
    default_type text/plain;
    keepalive_timeout {KEEPALIVE_TIMEOUT_S}s;
    # Never close a gateway's pooled connection: both gateways keep theirs.
    keepalive_requests 1000000;
{nginx_temp_paths(d, name)}

    server {{
        listen 127.0.0.1:{port} backlog=4096;
        # Things an app leaks that the gateways must strip.
        add_header X-Powered-By Express;
        add_header Strict-Transport-Security "max-age=1";

        # What the gateway told the upstream; used by `bench.py check` only.
        location = /echo-forwarded {{
            return 200 "xff=$http_x_forwarded_for|proto=$http_x_forwarded_proto|host=$http_x_forwarded_host|rid=$http_x_request_id|fwd=$http_forwarded|xri=$http_x_real_ip";
        }}
        location / {{
            return 200 "ok";
        }}
    }}
}}
"""


def conf_gateway(d, name, port, upstream_port, workers, worker_connections=8192,
                 master_process=True):
    """nginx doing helmgate's job, the way an nginx user would write it."""
    sec = "\n".join(f'        add_header {k} "{v}" always;' for k, v in SECURITY_HEADERS)
    hide = "\n".join(
        f"            proxy_hide_header {h};"
        for h in HIDDEN_HEADERS
        + [
            "Access-Control-Allow-Origin",
            "Access-Control-Allow-Credentials",
            "Access-Control-Allow-Methods",
            "Access-Control-Allow-Headers",
            "Access-Control-Expose-Headers",
            "Access-Control-Max-Age",
        ]
    )
    return nginx_common(d, name, workers, worker_connections, master_process) + f"""
http {{
    access_log off;            # helmgate runs with [log] access_log = false
    server_tokens off;
    default_type "text/plain; charset=utf-8";
    keepalive_timeout {KEEPALIVE_TIMEOUT_S}s;       # helmgate: keepalive_timeout_secs = 60
    keepalive_requests {KEEPALIVE_REQUESTS};     # helmgate: keepalive_request_limit
{nginx_temp_paths(d, name)}

    upstream app {{
        server 127.0.0.1:{upstream_port};
        keepalive 64;
        keepalive_requests 1000000;
        keepalive_timeout {KEEPALIVE_TIMEOUT_S}s;
    }}

    # The allowlist. map compares strings case-insensitively; helmgate also
    # treats the default port as the same origin.
    map $http_origin $cors_verdict {{
        ""                              none;
        "{ALLOWED_ORIGIN}"       allowed;
        "{ALLOWED_ORIGIN}:443"   allowed;
        default                         rejected;
    }}
    # An allowed OPTIONS with Access-Control-Request-Method is a preflight.
    map "$cors_verdict:$request_method:$http_access_control_request_method" $cors_action {{
        default                 $cors_verdict;
        "~^allowed:OPTIONS:."   preflight;
    }}
    # add_header with an empty value sends nothing.
    map $cors_action $cors_allow_origin      {{ allowed $http_origin; preflight $http_origin; default ""; }}
    map $cors_action $cors_allow_credentials {{ allowed true; preflight true; default ""; }}
    map $cors_action $cors_allow_methods     {{ preflight "{ALLOW_METHODS}"; default ""; }}
    map $cors_action $cors_allow_headers     {{ preflight "{ALLOW_HEADERS}"; default ""; }}
    map $cors_action $cors_max_age           {{ preflight {MAX_AGE}; default ""; }}
    map $cors_action $cors_vary              {{ preflight "{VARY_PREFLIGHT}"; default "{VARY_ACTUAL}"; }}
    map $cors_action $cors_cache_control     {{ rejected no-store; default ""; }}
    # Keep a sane client X-Request-Id, else make one (helmgate's rule).
    map $http_x_request_id $req_id {{
        default                              $request_id;
        "~^[A-Za-z0-9._:+=/-]{{1,128}}$"       $http_x_request_id;
    }}

    server {{
        listen 127.0.0.1:{port} backlog=4096;

{sec}
        add_header Access-Control-Allow-Origin      $cors_allow_origin always;
        add_header Access-Control-Allow-Credentials $cors_allow_credentials always;
        add_header Access-Control-Allow-Methods     $cors_allow_methods always;
        add_header Access-Control-Allow-Headers     $cors_allow_headers always;
        add_header Access-Control-Max-Age           $cors_max_age always;
        add_header Vary                             $cors_vary always;
        add_header Cache-Control                    $cors_cache_control always;
        add_header X-Request-Id                     $req_id always;

        location / {{
            if ($cors_action = preflight) {{ return 204; }}
            if ($cors_action = rejected)  {{ return 403 "{REJECTED_BODY.strip()}\\n"; }}

            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Request-Id $req_id;
            proxy_set_header Forwarded "";
            proxy_set_header X-Real-IP "";
{hide}
        }}
    }}
}}
"""


# helmgate configuration variants measured beside the seed one (run.sh's
# HELMGATE_VARIANTS): what each changes from `conf_helmgate`'s defaults.
HELMGATE_VARIANTS = {
    "routes20": {"routes": "20"},
    "routes20-match": {"routes": "20-match"},
    "hardened": {"preset": "hardened"},
    "accesslog": {"access_log": True},
    "keepcase": {"preserve_header_case": True},
}


def conf_helmgate(port, upstream_port, threads, work_stealing, preset="seed", routes="none",
                  access_log=False, preserve_header_case=False):
    ws = "" if work_stealing is None else f"work_stealing = {work_stealing}\n"
    if preserve_header_case:
        ws += "preserve_header_case = true\n"
    headers = "" if preset == "seed" else f'\n[headers]\npreset = "{preset}"\n'
    log_comment = ("  # to stderr, which the scripts send to a file in the work dir"
                   if access_log else "")
    return f"""# generated by bench/lib/bench.py
environment = "production"

[server]
listen = ["127.0.0.1:{port}"]
threads = {threads}
{ws}grace_period_secs = 0

[upstream]
address = "127.0.0.1:{upstream_port}"

[cors]
allowed_origins = ["{ALLOWED_ORIGIN}"]
{headers}
[log]
access_log = {"true" if access_log else "false"}{log_comment}
""" + routes_toml(upstream_port, routes)


def routes_toml(upstream_port, kind):
    """Twenty `[[route]]`s of the kinds a real deployment mixes: exact hosts,
    wildcard hosts, host + path prefix, path prefixes on any host, some with
    their own upstream, CORS or headers. With kind "20" none takes the
    benchmark's request (Host 127.0.0.1:PORT, path /), which falls through to
    the top-level policy after the router's lookups; with "20-match" the last
    one (an exact host, inheriting everything) takes it."""
    if kind == "none":
        return ""
    routes = [
        # name, hosts, path_prefix, upstream, extra TOML
        ("api", ["api.example.com"], None, "api",
         '[route.cors]\nallowed_origins = ["https://app.example.com", "https://admin.example.com"]\n'
         'expose_headers = ["X-Request-Id"]\n'),
        ("admin", ["admin.example.com"], None, "admin",
         '[route.headers]\ncross_origin_opener_policy = "same-origin"\n'),
        ("www", ["www.example.com", "example.com"], None, None, ""),
        ("shop", ["shop.example.com"], None, None, ""),
        ("auth", ["auth.example.com"], "/oauth", "api", ""),
        ("embed", ["app.example.com"], "/embed", None,
         '[route.headers]\nx_frame_options = ""\n'
         "content_security_policy = \"default-src 'self'; frame-ancestors 'self' https://partner.example.org; object-src 'none'\"\n"),
        ("app-v2", ["app.example.com"], "/api/v2", "api", ""),
        ("tenants", ["*.tenant.example.com"], None, None,
         '[route.cors]\nallowed_origins = ["https://*.tenant.example.com"]\nallow_credentials = false\n'),
        ("previews", ["*.preview.example.dev"], None, None, ""),
        ("cdn", ["*.cdn.example.net"], "/img", None,
         '[route.cors]\nallow_any_origin = true\nallow_credentials = false\n'),
        ("internal", ["*.internal.example.org"], None, "admin", ""),
        ("eu", ["*.eu.example.com"], "/v1", "api", ""),
        ("assets", None, "/assets", None,
         '[route.cors]\nallow_any_origin = true\nallow_credentials = false\n'
         '[route.headers]\ncross_origin_resource_policy = "cross-origin"\n'),
        ("static", None, "/static", None, ""),
        ("health", None, "/healthz", None, ""),
        ("api-v1", None, "/api/v1", "api", ""),
        ("uploads", None, "/uploads", None, ""),
        ("acme", None, "/.well-known/acme-challenge", None, ""),
        ("docs", ["docs.example.com"], "/v3", None, ""),
        ("status", ["status.example.com"], None, None, ""),
    ]
    if kind == "20-match":
        # The benchmark's host: matched by exact host, whatever the port.
        routes[-1] = ("bench", ["127.0.0.1"], None, None, "")
    assert len(routes) == 20
    out = [f"""
# 20 routes ({"the last takes the benchmark's requests" if kind == "20-match" else "none takes the benchmark's requests"})
[upstreams.api]
address = "127.0.0.1:{upstream_port}"

[upstreams.admin]
address = "127.0.0.1:{upstream_port}"
"""]
    for name, hosts, prefix, upstream, extra in routes:
        out.append(f'\n[[route]]\nname = "{name}"\n')
        if hosts:
            out.append("hosts = [" + ", ".join(f'"{h}"' for h in hosts) + "]\n")
        if prefix:
            out.append(f'path_prefix = "{prefix}"\n')
        if upstream:
            out.append(f'upstream = "{upstream}"\n')
        out.append(extra)
    return "".join(out)


def conf_haproxy(port, upstream_port, maxconn=4096):
    """HAProxy doing helmgate's job as far as its configuration language can.
    http-after-response rules also apply to the answers HAProxy makes itself
    (http-request return), like helmgate's headers on its own 204/403."""
    sec = "\n".join(f'    http-after-response set-header {k} "{v}"' for k, v in SECURITY_HEADERS)
    strip = "\n".join(f"    http-response del-header {h}" for h in HIDDEN_HEADERS + [
        "Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
        "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
        "Access-Control-Expose-Headers", "Access-Control-Max-Age"])
    body = REJECTED_BODY.replace("\n", "\\n")
    return f"""# generated by bench/lib/bench.py: HAProxy as the gateway
global
    nbthread 1
    maxconn {maxconn}
    # no log lines: the access log is off for every target

defaults
    mode http
    timeout connect 5s
    timeout client {KEEPALIVE_TIMEOUT_S}s
    timeout server 60s
    timeout http-request 60s
    timeout http-keep-alive {KEEPALIVE_TIMEOUT_S}s
    option http-keep-alive
    # Reuse idle upstream connections for any request, like helmgate's pool.
    http-reuse always

frontend gateway
    bind 127.0.0.1:{port} backlog 4096
    acl has_origin req.hdr(origin) -m found
    # -i: origins compare case-insensitively (helmgate also treats :443 as
    # the default port).
    acl origin_allowed req.hdr(origin) -i {ALLOWED_ORIGIN} {ALLOWED_ORIGIN}:443
    acl is_options method OPTIONS
    acl has_acrm req.hdr(access-control-request-method) -m found
    acl rid_ok req.hdr(x-request-id) -m reg {REQUEST_ID_RE}
    acl cors_preflight var(txn.cors) -m str preflight
    acl cors_allowed var(txn.cors) -m str allowed
    acl cors_rejected var(txn.cors) -m str rejected

    # Keep a sane client X-Request-Id, else make one (helmgate's rule).
    http-request set-header X-Request-Id %[uuid] unless rid_ok
    http-request set-var(txn.rid) req.hdr(x-request-id)
    http-request set-var(txn.origin) req.hdr(origin) if origin_allowed
    http-request set-var(txn.cors) str(preflight) if origin_allowed is_options has_acrm
    http-request set-var(txn.cors) str(allowed) if origin_allowed !cors_preflight
    http-request set-var(txn.cors) str(rejected) if has_origin !origin_allowed
    http-request return status 204 if cors_preflight
    http-request return status 403 content-type "text/plain; charset=utf-8" string "{body}" if cors_rejected

    # To the upstream: the peer, not what the client claims.
    http-request set-header X-Forwarded-For %[src]
    http-request set-header X-Forwarded-Proto http
    http-request set-header X-Forwarded-Host %[req.hdr(host)]
    http-request del-header Forwarded
    http-request del-header X-Real-IP

    # From the upstream: what an app leaks, and CORS it must not decide.
{strip}

    # On every answer, proxied or made here.
{sec}
    http-after-response set-header Access-Control-Allow-Origin %[var(txn.origin)] if cors_allowed || cors_preflight
    http-after-response set-header Access-Control-Allow-Credentials true if cors_allowed || cors_preflight
    http-after-response set-header Access-Control-Allow-Methods "{ALLOW_METHODS}" if cors_preflight
    http-after-response set-header Access-Control-Allow-Headers "{ALLOW_HEADERS}" if cors_preflight
    http-after-response set-header Access-Control-Max-Age {MAX_AGE} if cors_preflight
    http-after-response set-header Vary "{VARY_PREFLIGHT}" if cors_preflight
    http-after-response add-header Vary {VARY_ACTUAL} unless cors_preflight
    http-after-response set-header Cache-Control no-store if cors_rejected
    http-after-response set-header X-Request-Id %[var(txn.rid)]
    default_backend app

backend app
    server upstream 127.0.0.1:{upstream_port}
"""


def conf_caddy(port, upstream_port):
    """Caddy doing helmgate's job as far as a Caddyfile can. `route` keeps the
    directives in the order written; `header` with `defer` applies when the
    answer is written, so it covers `respond` answers and overrides whatever
    the upstream sent, like helmgate."""
    sec = "\n".join(f'\t\t\t{k} "{v}"' for k, v in SECURITY_HEADERS)
    strip = "\n".join(f"\t\t\theader_down -{h}" for h in HIDDEN_HEADERS + [
        "Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
        "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
        "Access-Control-Expose-Headers", "Access-Control-Max-Age"])
    return f"""# generated by bench/lib/bench.py: Caddy as the gateway
{{
\tadmin off
\tauto_https off
\tpersist_config off
\tservers {{
\t\ttimeouts {{
\t\t\tidle {KEEPALIVE_TIMEOUT_S}s
\t\t}}
\t\t# plain HTTP/1.1, like the other gateways here
\t\tprotocols h1
\t}}
}}

:{port} {{
\tbind 127.0.0.1
\t# no `log` directive: the access log is off for every target
\troute {{
\t\t# Keep a sane client X-Request-Id, else make one (helmgate's rule).
\t\t@rid_bad not header_regexp X-Request-Id {REQUEST_ID_RE}
\t\trequest_header @rid_bad X-Request-Id {{http.request.uuid}}

\t\t@preflight {{
\t\t\tmethod OPTIONS
\t\t\theader Origin {ALLOWED_ORIGIN}
\t\t\theader Access-Control-Request-Method *
\t\t}}
\t\t# Two values of one field in one matcher: either matches. Compared
\t\t# exactly (helmgate and nginx's map compare case-insensitively).
\t\t@allowed {{
\t\t\theader Origin {ALLOWED_ORIGIN}
\t\t\theader Origin {ALLOWED_ORIGIN}:443
\t\t}}
\t\t@rejected {{
\t\t\theader Origin *
\t\t\tnot {{
\t\t\t\theader Origin {ALLOWED_ORIGIN}
\t\t\t\theader Origin {ALLOWED_ORIGIN}:443
\t\t\t}}
\t\t}}

\t\t# Deferred: applied as the answer is written, over whatever the
\t\t# upstream sent. Of two deferred sets of one header the one written
\t\t# first wins, so the preflight's Vary comes before the general one.
\t\theader @preflight {{
\t\t\tdefer
\t\t\tAccess-Control-Allow-Methods "{ALLOW_METHODS}"
\t\t\tAccess-Control-Allow-Headers "{ALLOW_HEADERS}"
\t\t\tAccess-Control-Max-Age {MAX_AGE}
\t\t\tVary "{VARY_PREFLIGHT}"
\t\t}}
\t\theader {{
\t\t\tdefer
{sec}
\t\t\tVary {VARY_ACTUAL}
\t\t\tX-Request-Id {{http.request.header.X-Request-Id}}
\t\t}}
\t\theader @allowed {{
\t\t\tdefer
\t\t\tAccess-Control-Allow-Origin {{http.request.header.Origin}}
\t\t\tAccess-Control-Allow-Credentials true
\t\t}}
\t\theader @rejected {{
\t\t\tdefer
\t\t\tCache-Control no-store
\t\t}}
\t\trespond @preflight 204
\t\trespond @rejected `{REJECTED_BODY}` 403

\t\treverse_proxy 127.0.0.1:{upstream_port} {{
\t\t\t# X-Forwarded-For/-Proto/-Host: Caddy sets them from the peer and
\t\t\t# ignores the client's (no trusted_proxies).
\t\t\theader_up -Forwarded
\t\t\theader_up -X-Real-IP
{strip}
\t\t}}
\t}}
}}
"""


# ---------------------------------------------------------------------------
# Pre-flight check: every gateway answers every scenario as helmgate's policy
# says, or (a peer) is marked "not the same job" for that scenario.


def request(port, method, path, headers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        body = resp.read().decode("latin-1")
        return resp, body
    finally:
        conn.close()


# Which scenarios each part of the check speaks for.
PROXIED = ("a", "d", "e")


def check_gateway(port, preset="seed"):
    """What this gateway does differently from helmgate's policy, per
    scenario: {scenario: [gap, ...]}, and the status it answered each
    scenario's request with: {scenario: status}."""
    gaps = {s: [] for s in SCENARIOS}
    status = {}
    want_headers = PRESETS[preset]

    def expect(scenarios, cond, what):
        if not cond:
            for s in scenarios:
                gaps[s].append(what)

    def hdr(resp, h):
        return resp.getheader(h)

    def vary_tokens(resp):
        vals = resp.msg.get_all("Vary") or []
        return [t.strip().lower() for v in vals for t in v.split(",") if t.strip()]

    def security(scenarios, resp, label):
        missing = [h for h, _ in want_headers if hdr(resp, h) is None]
        if len(missing) == len(want_headers):
            expect(scenarios, False, f"{label}: no security headers")
        else:
            for h, v in want_headers:
                got = hdr(resp, h)
                expect(scenarios, got == v, f"{label}: {h} is {got!r}, want {v!r}")
        for h in HIDDEN_HEADERS:
            expect(scenarios, hdr(resp, h) is None,
                   f"{label}: {h} should be removed, got {hdr(resp, h)!r}")
        expect(scenarios, bool(hdr(resp, "X-Request-Id")), f"{label}: no X-Request-Id")
        expect(scenarios, "origin" in vary_tokens(resp), f"{label}: Vary lacks Origin: {vary_tokens(resp)}")

    def ask(s, path="/", extra=()):
        method, headers = SCENARIO_REQUESTS[s]
        return request(port, method, path, dict(list(headers) + list(extra)))

    def step(scenarios, label, fn):
        try:
            fn()
        except (OSError, http.client.HTTPException) as e:
            expect(scenarios, False, f"{label}: request failed: {e!r}")

    def allowed_get():
        r, body = ask("a")
        status["a"] = status["e"] = r.status
        expect(("a", "e"), r.status == 200, f"allowed GET: status {r.status}, want 200")
        expect(("a", "e"), body == UPSTREAM_BODY, f"allowed GET: body {body!r}, want 'ok' from the upstream")
        expect(("a", "e"), hdr(r, "Access-Control-Allow-Origin") == ALLOWED_ORIGIN,
               f"allowed GET: Access-Control-Allow-Origin {hdr(r, 'Access-Control-Allow-Origin')!r}")
        expect(("a", "e"), hdr(r, "Access-Control-Allow-Credentials") == "true",
               "allowed GET: Access-Control-Allow-Credentials is not 'true'")
        security(("a", "e"), r, "allowed GET")

    def preflight():
        r, body = ask("b")
        status["b"] = r.status
        if r.status == 200 and body == UPSTREAM_BODY:
            expect(("b",), False, "preflight: forwarded to the upstream (its 200), not answered 204")
        else:
            expect(("b",), r.status == 204, f"preflight: status {r.status}, want 204")
        for h, v in [
            ("Access-Control-Allow-Origin", ALLOWED_ORIGIN),
            ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Allow-Methods", ALLOW_METHODS),
            ("Access-Control-Allow-Headers", ALLOW_HEADERS),
            ("Access-Control-Max-Age", MAX_AGE),
        ]:
            expect(("b",), hdr(r, h) == v, f"preflight: {h} is {hdr(r, h)!r}, want {v!r}")
        want_vary = [t.strip().lower() for t in VARY_PREFLIGHT.split(",")]
        expect(("b",), all(t in vary_tokens(r) for t in want_vary),
               f"preflight: Vary is {vary_tokens(r)}, want {want_vary}")
        security(("b",), r, "preflight")

    def disallowed():
        r, body = ask("c")
        status["c"] = r.status
        if r.status == 200 and body == UPSTREAM_BODY:
            expect(("c",), False, "disallowed origin: forwarded to the upstream (its 200), not refused 403")
        else:
            expect(("c",), r.status == 403, f"disallowed origin: status {r.status}, want 403")
            expect(("c",), body == REJECTED_BODY, f"disallowed origin: body {body!r}")
        expect(("c",), hdr(r, "Access-Control-Allow-Origin") is None,
               "disallowed origin: sends Access-Control-Allow-Origin")
        security(("c",), r, "disallowed origin")

    def connection_close():
        # (d) a new connection per request: the gateway must close after answering.
        r, body = ask("d")
        status["d"] = r.status
        expect(("d",), r.status == 200 and body == UPSTREAM_BODY, f"Connection: close GET: status {r.status}")
        expect(("d",), r.will_close, "Connection: close GET: gateway keeps the connection open")
        security(("d",), r, "Connection: close GET")

    def forwarded():
        # What the upstream is told: spoofed client claims replaced or dropped.
        r, body = ask("a", "/echo-forwarded", [
            ("X-Forwarded-For", "203.0.113.9"),
            ("Forwarded", "for=203.0.113.9"),
            ("X-Real-IP", "203.0.113.9"),
        ])
        fields = dict(kv.split("=", 1) for kv in body.split("|") if "=" in kv)
        want = {
            "xff": "127.0.0.1",
            "proto": "http",
            "host": f"127.0.0.1:{port}",
            "rid": hdr(r, "X-Request-Id") or "<missing>",
            "fwd": "",
            "xri": "",
        }
        for k, v in want.items():
            expect(PROXIED, fields.get(k) == v, f"upstream saw {k}={fields.get(k)!r}, want {v!r}")

    step(("a", "e"), "allowed GET", allowed_get)
    step(("b",), "preflight", preflight)
    step(("c",), "disallowed origin", disallowed)
    step(("d",), "Connection: close GET", connection_close)
    step(PROXIED, "X-Forwarded-* to the upstream", forwarded)
    return gaps, status


def parse_target(spec):
    """NAME=PORT or NAME=PORT/PRESET."""
    name, rest = spec.split("=", 1)
    port, _, preset = rest.partition("/")
    return name, int(port), preset or "seed"


def cmd_check(args):
    problems = []
    result = {}
    specs = [(parse_target(g), True) for g in args.gateway] + [(parse_target(p), False) for p in args.peer]
    for (name, port, preset), strict in specs:
        gaps, status = check_gateway(port, preset)
        result[name] = {"strict": strict, "preset": preset,
                        "scenarios": {s: {"status": status.get(s), "gaps": gaps[s]} for s in SCENARIOS}}
        if strict:
            seen = set()
            for s in SCENARIOS:
                for g in gaps[s]:
                    if g not in seen:
                        seen.add(g)
                        problems.append(f"{name} (127.0.0.1:{port}): {g}")
    try:
        r, body = request(args.upstream, "GET", "/", {"Origin": ALLOWED_ORIGIN})
        if r.status != 200 or body != UPSTREAM_BODY:
            problems.append(f"direct upstream: status {r.status} body {body!r}")
    except (OSError, http.client.HTTPException) as e:
        problems.append(f"direct upstream: request failed: {e!r}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1, sort_keys=True)
    if problems:
        print("check FAILED: the gateways do not do the same job; nothing measured:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        sys.exit(1)
    strict = [n for n, r in result.items() if r["strict"]]
    print(f"check ok: {', '.join(strict)} answer (a)-(e) with the same status and headers "
          "(each with its header preset); upstream sees the same X-Forwarded-*")
    for name, r in result.items():
        if r["strict"]:
            continue
        bad = [s for s in SCENARIOS if r["scenarios"][s]["gaps"]]
        if not bad:
            print(f"check: peer {name} does the same job in every scenario")
            continue
        print(f"check: peer {name} does NOT do the same job in ({') ('.join(bad)}); "
              "measured anyway, marked in the report:")
        for line in describe_gaps(r["scenarios"], bad):
            print(f"    {line}")


def describe_gaps(scenarios, which, limit=4):
    """Short lines for the report: per scenario, the first few gaps."""
    out = []
    for s in which:
        g = scenarios[s]["gaps"]
        more = f" (+{len(g) - limit} more)" if len(g) > limit else ""
        out.append(f"({s}) " + "; ".join(g[:limit]) + more)
    return out


# ---------------------------------------------------------------------------
# Clients of idle-memory.sh and instructions.sh: raw HTTP/1.1 over sockets, so
# that every request and connection is exactly the one intended.


def raw_request(scenario, port):
    method, headers = SCENARIO_REQUESTS[scenario]
    head = f"{method} / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers)
    return (head + "\r\n").encode()


def parse_response(buf, method):
    """(status, total length, close) once buf holds a whole response, else None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        fields[k.strip().lower()] = v.strip()
    close = fields.get("connection", "").lower() == "close"
    start = end + 4
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return status, start, close
    if "content-length" in fields:
        total = start + int(fields["content-length"])
        return (status, total, close) if len(buf) >= total else None
    if "chunked" in fields.get("transfer-encoding", "").lower():
        pos = start
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None
            size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
            if size == 0:
                # "0\r\n", then trailer fields (rare), then an empty line.
                if buf[eol + 2:eol + 4] == b"\r\n":
                    return status, eol + 4, close
                trailers_end = buf.find(b"\r\n\r\n", eol + 2)
                return None if trailers_end < 0 else (status, trailers_end + 4, close)
            pos = eol + 2 + size + 2
            if len(buf) < pos:
                return None
    # Delimited by close: complete only at EOF (the caller sees it).
    return None


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    return soft


def cmd_hold_idle(args):
    """Open N keep-alive connections, send one allowed-origin GET on each and
    read its answer, then keep them all open and idle until SIGTERM or
    --hold-s. Writes {"held", "failed", "statuses"} to --ready-file once every
    connection has been served; on exit, how many the server had closed."""
    limit = raise_nofile(args.n + 64)
    if limit < args.n + 16:
        die(f"hold-idle: RLIMIT_NOFILE is {limit}, needs {args.n + 16}")
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    req = raw_request("a", args.port)
    sel = selectors.DefaultSelector()
    pending = {}
    held = []
    failed = 0
    statuses = {}
    opened = 0
    deadline = time.monotonic() + args.timeout

    def drop(sock):
        nonlocal failed
        failed += 1
        sel.unregister(sock)
        pending.pop(sock, None)
        sock.close()

    while (opened < args.n or pending) and time.monotonic() < deadline and not stop:
        while opened < args.n and len(pending) < args.concurrency:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", args.port))
            sel.register(sock, selectors.EVENT_WRITE, "connect")
            pending[sock] = bytearray()
            opened += 1
        for key, _ in sel.select(timeout=0.5):
            sock = key.fileobj
            if key.data == "connect":
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    drop(sock)
                    continue
                try:
                    sock.send(req)
                except OSError:
                    drop(sock)
                    continue
                sel.modify(sock, selectors.EVENT_READ, "read")
                continue
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                drop(sock)
                continue
            buf = pending[sock]
            buf += data
            done = parse_response(buf, "GET")
            if done:
                statuses[done[0]] = statuses.get(done[0], 0) + 1
                sel.unregister(sock)
                del pending[sock]
                if done[2]:
                    failed += 1
                    sock.close()
                else:
                    held.append(sock)
    failed += len(pending) + (args.n - opened)
    with open(args.ready_file + ".tmp", "w") as f:
        json.dump({"held": len(held), "failed": failed, "statuses": statuses}, f)
    os.rename(args.ready_file + ".tmp", args.ready_file)
    end = time.monotonic() + args.hold_s
    while not stop and time.monotonic() < end:
        time.sleep(0.1)
    # Which ones did the server close meanwhile? A closed one reads as EOF.
    for sock in held:
        sel.register(sock, selectors.EVENT_READ)
    closed = 0
    for key, _ in sel.select(timeout=0):
        try:
            if key.fileobj.recv(1, socket.MSG_PEEK) == b"":
                closed += 1
        except OSError:
            closed += 1
    if args.final_file:
        with open(args.final_file, "w") as f:
            json.dump({"held": len(held), "closed_by_server": closed}, f)


def cmd_drive(args):
    """Send exactly N requests of one scenario, one at a time, on one
    keep-alive connection (a new one only if the server closes it), reading
    every answer whole. Prints {"sent", "statuses", "connections"}."""
    req = raw_request(args.scenario, args.port)
    method = SCENARIO_REQUESTS[args.scenario][0]
    statuses = {}
    connections = 0
    sock = None
    buf = bytearray()
    try:
        for _ in range(args.n):
            if sock is None:
                sock = socket.create_connection(("127.0.0.1", args.port), timeout=args.timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                connections += 1
                buf = bytearray()
            sock.sendall(req)
            while True:
                done = parse_response(buf, method)
                if done:
                    break
                data = sock.recv(65536)
                if not data:
                    die(f"drive: connection closed before a whole answer ({len(buf)} bytes)")
                buf += data
            status, length, close = done
            statuses[status] = statuses.get(status, 0) + 1
            del buf[:length]
            if close:
                sock.close()
                sock = None
    except OSError as e:
        die(f"drive: {e!r}")
    finally:
        if sock is not None:
            sock.close()
    print(json.dumps({"sent": args.n, "statuses": statuses, "connections": connections}))


# ---------------------------------------------------------------------------
# One run -> one JSON line.


def read_cpu_lines(path, cores):
    """Per-core (busy, steal, total) jiffies from a saved /proc/stat."""
    out = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts or not parts[0].startswith("cpu") or parts[0] == "cpu":
                continue
            core = int(parts[0][3:])
            if core not in cores:
                continue
            vals = [int(x) for x in parts[1:9]]
            user, nice, system, idle, iowait, irq, softirq, steal = vals
            total = sum(vals)
            out[core] = (total - idle - iowait - steal, steal, total)
    return out


def cmd_record(args):
    result = None
    with open(args.wrk_log, errors="replace") as f:
        wrk_text = f.read()
    for line in wrk_text.splitlines():
        if line.startswith("WRK_RESULT "):
            result = json.loads(line[len("WRK_RESULT "):])
    run = {
        "scenario": args.scenario,
        "target": args.target,
        "round": args.round,
        "config": args.config,
        "wrk_rc": args.wrk_rc,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if result is None:
        run["error"] = "no WRK_RESULT line in wrk output: " + wrk_text.strip()[-500:]
        result = {}
    run.update(result)
    req = result.get("requests", 0)
    dur = result.get("duration_us", 0)
    run["rps"] = req / (dur / 1e6) if dur else 0.0
    if args.ticks_before is not None and args.ticks_after is not None and req:
        ticks = args.ticks_after - args.ticks_before
        run["cpu_ticks"] = ticks
        run["cpu_us_per_req"] = ticks * 1e6 / args.clk_tck / req
        # Share of one core the gateway got: well under 100 % at full load
        # means something else (or the load generator) held it back.
        run["gw_cpu_pct"] = 100.0 * ticks / args.clk_tck / (dur / 1e6) if dur else None
    if args.hwm_kb:
        run["peak_rss_kb"] = args.hwm_kb
    cores = [int(c) for c in args.cores.split(",") if c != ""]
    before = read_cpu_lines(args.stat_before, cores)
    after = read_cpu_lines(args.stat_after, cores)
    for c in cores:
        if c in before and c in after:
            busy = after[c][0] - before[c][0]
            steal = after[c][1] - before[c][1]
            total = after[c][2] - before[c][2]
            if total > 0:
                run[f"core{c}_busy_pct"] = 100.0 * busy / total
                run[f"core{c}_steal_pct"] = 100.0 * steal / total
    expected = SCENARIOS.get(args.scenario, ("", 200))[1]
    if args.check_file and os.path.exists(args.check_file):
        with open(args.check_file) as f:
            checked = json.load(f).get(args.target, {}).get("scenarios", {}).get(args.scenario)
        # A peer that does not do this scenario's job (bare Pingora forwards a
        # preflight): count statuses other than the one it answered the check with.
        if checked and checked["gaps"]:
            run["same_job"] = False
            if checked.get("status"):
                expected = checked["status"]
    run["expected_status"] = expected
    status_err = result.get("status_errors", 0)
    # wrk counts responses with status > 399 as status errors.
    run["unexpected_status"] = (req - status_err) if expected >= 400 else status_err
    run["socket_errors"] = sum(
        result.get(k, 0) for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
    )
    with open(args.runs, "a") as f:
        f.write(json.dumps(run, sort_keys=True) + "\n")
    cpu = run.get("cpu_us_per_req")
    line = (
        f"  ({args.scenario}) {args.target:<16} {args.config + ' ' if args.config else ''}round {args.round}: "
        f"{run['rps']:>9.0f} req/s  p50 {result.get('p50_us', 0) / 1000:.3f} ms  "
        f"p99 {result.get('p99_us', 0) / 1000:.3f} ms"
    )
    if cpu is not None:
        line += f"  cpu {cpu:.2f} us/req"
    if args.hwm_kb:
        line += f"  rss {args.hwm_kb / 1024:.1f} MiB"
    if run["socket_errors"] or run["unexpected_status"] or "error" in run:
        line += (
            f"  !! socket errors {run['socket_errors']}, unexpected status "
            f"{run['unexpected_status']}{', ' + run['error'] if 'error' in run else ''}"
        )
    print(line, flush=True)


# ---------------------------------------------------------------------------
# Reports


def load_runs(path):
    runs = []
    if os.path.exists(path):
        with open(path) as f:
            runs = [json.loads(line) for line in f if line.strip()]
    return runs


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def spread(xs):
    xs = [x for x in xs if x is not None]
    return (min(xs), max(xs)) if xs else (None, None)


METRICS = [
    # key, label, scale, fmt
    ("cpu_us_per_req", "CPU us/request", 1.0, "{:.2f}"),
    ("rps", "requests/s", 1.0, "{:.0f}"),
    ("p50_us", "p50 latency ms", 1e-3, "{:.3f}"),
    ("p99_us", "p99 latency ms", 1e-3, "{:.3f}"),
    ("peak_rss_kb", "peak RSS MiB", 1 / 1024, "{:.1f}"),
]


def fmt(v, f):
    return "-" if v is None else f.format(v)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def by_round(runs, scenario, target, config=""):
    return {
        r["round"]: r
        for r in runs
        if r["scenario"] == scenario and r["target"] == target and r.get("config", "") == config
    }


def ratio_stats(a_runs, b_runs, key):
    rounds = sorted(set(a_runs) & set(b_runs))
    rs = [ratio(a_runs[i].get(key), b_runs[i].get(key)) for i in rounds]
    lo, hi = spread(rs)
    return {"median": med(rs), "min": lo, "max": hi, "per_round": rs}


# Ratios between two targets that the issues set targets for:
# (numerator, denominator, what it says, limit, issue, scenarios with a verdict).
PAIRS = [
    ("helmgate", BARE, "helmgate (access log off) / bare Pingora", 1.05, "issue 13", ("a",)),
    ("helmgate-accesslog", BARE, "helmgate with access log / bare Pingora", 1.10, "issue 13", ("a",)),
    ("helmgate-routes20", "helmgate", "20 routes, none taken / no routes", 1.05, "issue 9", tuple(SCENARIOS)),
    ("helmgate-routes20-match", "helmgate", "20 routes, one taken / no routes", 1.05, "issue 9",
     tuple(SCENARIOS)),
    ("helmgate-hardened", "helmgate", "hardened preset / seed preset", 1.05, "issue 10", tuple(SCENARIOS)),
    # No target: what keeping header-name case costs.
    ("helmgate-keepcase", "helmgate", "header case kept / canonical", None, "", ()),
]

# How the targets are named in tables meant for people.
DISPLAY = {"pingora": "bare Pingora", "haproxy": "HAProxy", "caddy": "Caddy",
           "direct": "direct upstream"}


def targets_in(runs, s):
    """The targets of scenario s, in the order the rounds ran them."""
    out = []
    for r in runs:
        if r["scenario"] == s and r["target"] not in out:
            out.append(r["target"])
    return out


def same_job(check, target, s):
    """False where `bench.py check` found this target doing another job in s."""
    entry = (check or {}).get(target, {}).get("scenarios", {}).get(s)
    return not (entry and entry["gaps"])


def same_path(check, target, s):
    """Whether the target answered s's request with the status helmgate's
    policy gives (bare Pingora: yes where helmgate proxies too)."""
    entry = (check or {}).get(target, {}).get("scenarios", {}).get(s)
    return not entry or entry.get("status") == SCENARIOS[s][1]


def scenario_summary(runs, s, check=None):
    names = targets_in(runs, s)
    rr = {n: by_round(runs, s, n) for n in names}
    out = {"title": SCENARIOS[s][0], "expected_status": SCENARIOS[s][1], "targets": {},
           "ratios": {}, "vs_nginx": {}, "pairs": {}}
    for name in names:
        t = {}
        for key, *_ in METRICS + [
            ("unexpected_status",), ("socket_errors",), ("gw_cpu_pct",), ("core0_busy_pct",),
            ("core1_busy_pct",), ("core0_steal_pct",), ("core1_steal_pct",),
        ]:
            vals = [r.get(key) for r in rr[name].values()]
            lo, hi = spread(vals)
            t[key] = {"median": med(vals), "min": lo, "max": hi}
        t["unexpected_status_total"] = sum(r.get("unexpected_status", 0) for r in rr[name].values())
        t["socket_errors_total"] = sum(r.get("socket_errors", 0) for r in rr[name].values())
        t["rounds"] = len(rr[name])
        t["same_job"] = same_job(check, name, s)
        if not t["same_job"]:
            t["gaps"] = check[name]["scenarios"][s]["gaps"]
            t["expected_status"] = check[name]["scenarios"][s]["status"]
        out["targets"][name] = t
    ng = rr.get(REFERENCE, {})
    for name in names:
        if name not in (REFERENCE, "direct") and ng:
            out["vs_nginx"][name] = {key: ratio_stats(rr[name], ng, key) for key, *_ in METRICS}
    # issue 4's helmgate/nginx, where it always was.
    if "helmgate" in out["vs_nginx"]:
        out["ratios"] = out["vs_nginx"]["helmgate"]
    for num, den, *_ in PAIRS:
        if num in rr and den in rr:
            # Bare Pingora never does helmgate's whole job; over it, a ratio
            # compares like with like where it took the same path (proxied
            # the request, as helmgate does in a, d, e), not where it
            # forwarded what helmgate answers itself (b, c).
            comparable = (same_path(check, den, s) if den == BARE else same_job(check, den, s)) \
                and same_job(check, num, s)
            out["pairs"][f"{num}/{den}"] = {
                "cpu_us_per_req": ratio_stats(rr[num], rr[den], "cpu_us_per_req"),
                "rps": ratio_stats(rr[num], rr[den], "rps"),
                "same_job": comparable,
            }
    direct = rr.get("direct")
    if direct:
        added = {}
        for name in names:
            if name == "direct":
                continue
            rounds = sorted(set(rr[name]) & set(direct))
            vals = [rr[name][i]["p50_us"] - direct[i]["p50_us"] for i in rounds
                    if "p50_us" in rr[name][i] and "p50_us" in direct[i]]
            lo, hi = spread(vals)
            added[name] = {"median": med(vals), "min": lo, "max": hi, "per_round": vals}
        hg = rr.get("helmgate", {})
        rounds = sorted(set(hg) & set(ng) & set(direct))
        rs = [ratio(hg[i]["p50_us"] - direct[i]["p50_us"], ng[i]["p50_us"] - direct[i]["p50_us"])
              for i in rounds if all("p50_us" in x[i] for x in (hg, ng, direct))]
        lo, hi = spread(rs)
        added["ratio"] = {"median": med(rs), "min": lo, "max": hi, "per_round": rs}
        out["added_p50_us"] = added
    return out


def fmt_ratio(st):
    if not st or st.get("median") is None:
        return "-"
    return f"{st['median']:.2f}  [{st['min']:.2f}-{st['max']:.2f}]"


def render_scenario(s, summ, settings):
    lines = []
    conns = settings.get(f"conns_{s}", "")
    lines.append(
        f"== ({s}) {summ['title']}: {conns} connection(s), "
        f"{settings.get('rounds')} rounds x {settings.get('duration')} s, interleaved =="
    )
    names = list(summ["targets"])
    lines.append(
        f"{'median over rounds':<26}{'CPU us/req':>11}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'RSS MiB':>9}{'errors':>8}{'core0/1 %':>11}   {'CPU vs nginx [min-max]':<22}{'req/s vs nginx':>15}")
    notes = []
    for n in names:
        t = summ["targets"][n]

        def m(key, scale=1.0, f="{:.2f}"):
            v = t[key]["median"]
            return fmt(None if v is None else v * scale, f)

        label = n + ("" if t["same_job"] else " *")
        if n == REFERENCE:
            label += " (ref)"
        errs = t["socket_errors_total"] + t["unexpected_status_total"]
        c0, c1 = t["core0_busy_pct"]["median"], t["core1_busy_pct"]["median"]
        vs = summ["vs_nginx"].get(n, {})
        row = (f"{label:<26}{m('cpu_us_per_req'):>11}{m('rps', 1, '{:.0f}'):>9}"
               f"{m('p50_us', 1e-3, '{:.3f}'):>9}{m('p99_us', 1e-3, '{:.3f}'):>9}"
               f"{m('peak_rss_kb', 1 / 1024, '{:.1f}'):>9}{errs:>8}"
               f"{fmt(c0, '{:.0f}') + '/' + fmt(c1, '{:.0f}'):>11}   "
               f"{fmt_ratio(vs.get('cpu_us_per_req')):<22}"
               f"{fmt((vs.get('rps') or {}).get('median'), '{:.2f}'):>15}")
        lines.append(row.rstrip())
        if not t["same_job"]:
            notes.append(f"  * {n}, not the same job (answers {t.get('expected_status')}): "
                         + "; ".join(t["gaps"][:3]) + (f" (+{len(t['gaps']) - 3} more)" if len(t["gaps"]) > 3 else ""))
    lines.append(f"  errors: socket errors + answers other than {summ['expected_status']}"
                 " (or, for a target marked *, other than what it answered the check with)")
    lines += notes
    steal = max((summ["targets"][n][k]["max"] or 0) for n in names
                for k in ("core0_steal_pct", "core1_steal_pct"))
    if steal >= 1:
        lines.append(f"  max steal {steal:.1f}% (hypervisor took CPU time: noisy)")
    if "added_p50_us" in summ:
        a = summ["added_p50_us"]
        lines.append("added p50 latency over the direct upstream of the same round, us (median [min-max]):")
        for n in names:
            st = a.get(n)
            if st and st["median"] is not None:
                lines.append(f"  {n:<24}{st['median']:>11.1f}   [{st['min']:.1f}-{st['max']:.1f}]")
        lines.append(f"  {'helmgate/nginx':<24}{'':>11}   {fmt_ratio(a['ratio'])}")
    return lines


def render_pairs(summ, scenarios):
    present = [p for p in PAIRS if any(f"{p[0]}/{p[1]}" in summ[s]["pairs"] for s in scenarios)]
    if not present:
        return []
    lines = ["ratios between targets, CPU us/request (median of the per-round ratios [min-max]; * = not",
             " like with like there: a target does another job, or bare Pingora forwards what helmgate answers):",
             f"{'':<42}" + "".join(f"{'(' + s + ')':<22}" for s in scenarios)]
    for num, den, *_ in present:
        row = f"{num + ' / ' + den:<42}"
        for s in scenarios:
            st = summ[s]["pairs"].get(f"{num}/{den}")
            cell = "-" if not st else fmt_ratio(st["cpu_us_per_req"]) + ("" if st["same_job"] else " *")
            row += f"{cell:<22}"
        lines.append(row.rstrip())
    return lines + [""]


def verdicts(summ):
    out = []

    def r(s, key):
        return summ.get(s, {}).get("ratios", {}).get(key, {})

    def line(ok, text):
        out.append(f"  [{'met' if ok else 'NOT met'}] {text}")

    a = r("a", "cpu_us_per_req")
    if a.get("median") is not None:
        line(a["median"] <= 1.0, f"(a) keep-alive GET CPU/request ratio <= 1.0 (aim 0.8): {fmt_ratio(a)}")
    for s in ("b", "c"):
        x = r(s, "cpu_us_per_req")
        if x.get("median") is not None:
            line(x["median"] <= 0.8, f"({s}) CPU/request ratio <= 0.8: {fmt_ratio(x)}")
    e = summ.get("e", {}).get("added_p50_us")
    if e and e.get("helmgate", {}).get("median") is not None and e.get("nginx", {}).get("median") is not None:
        line(e["helmgate"]["median"] <= e["nginx"]["median"],
             f"(e) added p50 helmgate {e['helmgate']['median']:.1f} us <= nginx {e['nginx']['median']:.1f} us")
    rss = r("a", "peak_rss_kb")
    if rss.get("median") is not None:
        line(rss["median"] <= 1.0, f"(a) peak RSS under load ratio <= 1.0: {fmt_ratio(rss)}")
    return out


def pair_verdicts(summ):
    """{issue: [line, ...]} for the PAIRS targets this run can judge."""
    out = {}
    for num, den, what, limit, issue, judged in PAIRS:
        for s in judged:
            st = summ.get(s, {}).get("pairs", {}).get(f"{num}/{den}")
            if not st or st["cpu_us_per_req"]["median"] is None:
                continue
            x = st["cpu_us_per_req"]
            ok = x["median"] <= limit
            out.setdefault(issue, []).append(
                f"  [{'met' if ok else 'NOT met'}] ({s}) {what}, CPU/request <= {limit:.2f}: {fmt_ratio(x)}")
    return out


def render_markdown(summ, scenarios, settings):
    """The README's Performance tables: helmgate and its peers, CPU per
    request and its ratio to nginx; then the ratios the issues set targets
    for (helmgate's configuration variants among them)."""
    seen = {n for s in scenarios for n in summ[s]["targets"]}
    names = [n for n in ("helmgate", REFERENCE, "haproxy", "caddy", BARE) if n in seen]
    lines = [f"`{settings.get('command', 'bench/run.sh')}`", "",
             "CPU µs per request (ratio to nginx: median of the per-round ratios); "
             "† = does not do the same job in that scenario (see bench/README.md).", "",
             "| scenario | " + " | ".join(DISPLAY.get(n, n) for n in names) + " |",
             "|---|" + "---|" * len(names)]
    for s in scenarios:
        cells = []
        for n in names:
            t = summ[s]["targets"].get(n)
            if not t or t["cpu_us_per_req"]["median"] is None:
                cells.append("-")
                continue
            cpu = t["cpu_us_per_req"]["median"]
            vs = summ[s]["vs_nginx"].get(n, {}).get("cpu_us_per_req", {}).get("median")
            cell = f"{cpu:.1f}" + (f" ({vs:.2f}×)" if vs is not None else "")
            cells.append(cell + ("" if t["same_job"] else " †"))
        lines.append(f"| ({s}) {summ[s]['title']} | " + " | ".join(cells) + " |")
    pairs = [p for p in PAIRS if any(f"{p[0]}/{p[1]}" in summ[s]["pairs"] for s in scenarios)]
    if pairs:
        lines += ["", "| ratio (CPU/request) | " + " | ".join(f"({s})" for s in scenarios) + " |",
                  "|---|" + "---|" * len(scenarios)]
        for num, den, what, *_ in pairs:
            cells = []
            for s in scenarios:
                st = summ[s]["pairs"].get(f"{num}/{den}")
                if not st or st["cpu_us_per_req"]["median"] is None:
                    cells.append("-")
                else:
                    x = st["cpu_us_per_req"]
                    cells.append(f"{x['median']:.2f} [{x['min']:.2f}-{x['max']:.2f}]"
                                 + ("" if st["same_job"] else " †"))
            lines.append(f"| {what} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cmd_report(args):
    runs = load_runs(args.runs)
    if not runs:
        die(f"no runs recorded in {args.runs}")
    settings = json.loads(args.settings)
    check = None
    if args.check_file and os.path.exists(args.check_file):
        with open(args.check_file) as f:
            check = json.load(f)
    scenarios = [s for s in SCENARIOS if any(r["scenario"] == s for r in runs)]
    summ = {s: scenario_summary(runs, s, check) for s in scenarios}
    lines = [NOTE, ""]
    load = settings.get("loadavg_start")
    if load:
        lines.append(f"load average at start {load} (1/5/15 min), at end "
                     f"{' '.join(meta()['loadavg'])}, on {os.cpu_count()} cores; "
                     "core busy % counts every process on the core")
        lines.append("")
    for s in scenarios:
        lines += render_scenario(s, summ[s], settings) + [""]
    lines += render_pairs(summ, scenarios)
    v = verdicts(summ)
    if v:
        lines.append("issue 4 targets (helmgate/nginx, median ratio of this run):")
        lines += v
        lines.append("")
    for issue, vs in pair_verdicts(summ).items():
        lines.append(f"{issue} targets (median ratio of this run):")
        lines += vs
        lines.append("")
    problems = []
    for s in scenarios:
        for n, t in summ[s]["targets"].items():
            if t["socket_errors_total"] or t["unexpected_status_total"]:
                problems.append(
                    f"({s}) {n}: {t['socket_errors_total']} socket errors/timeouts, "
                    f"{t['unexpected_status_total']} unexpected statuses")
    errs = [r for r in runs if "error" in r]
    for r in errs:
        problems.append(f"({r['scenario']}) {r['target']} round {r['round']}: {r['error']}")
    if problems:
        lines.append("PROBLEMS (these runs measured something else than intended):")
        lines += [f"  - {p}" for p in problems]
        lines.append("")
    if settings.get("command"):
        lines.append(f"command: {settings['command']}")
    lines.append(NOTE.splitlines()[0])
    text = "\n".join(lines)
    print(text)
    doc = {"settings": settings, "meta": meta(), "check": check, "scenarios": summ, "runs": runs}
    write_outputs(args, doc, text, render_markdown(summ, scenarios, settings))


def meta():
    def sh(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host_cpus": os.cpu_count(),
        "loadavg": open("/proc/loadavg").read().split()[:3],
        "kernel": os.uname().release,
        "git_head": sh(["git", "-C", repo, "rev-parse", "HEAD"]),
        "git_dirty": bool(sh(["git", "-C", repo, "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"])),
    }


def write_outputs(args, doc, text, markdown=None):
    if not args.out_dir:
        return
    os.makedirs(args.out_dir, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for name in (f"{args.prefix}-latest", f"{args.prefix}-{stamp}"):
        with open(os.path.join(args.out_dir, name + ".json"), "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
    with open(os.path.join(args.out_dir, f"{args.prefix}-latest.txt"), "w") as f:
        f.write(text + "\n")
    also = ".txt"
    if markdown is not None:
        with open(os.path.join(args.out_dir, f"{args.prefix}-latest.md"), "w") as f:
            f.write(markdown + "\n")
        also = ".txt, and .md for the README"
    print(f"results: {os.path.join(args.out_dir, args.prefix + '-latest.json')} "
          f"(and {also}; timestamped copy {args.prefix}-{stamp}.json)")


def cmd_scale_report(args):
    runs = load_runs(args.runs)
    if not runs:
        die(f"no runs recorded in {args.runs}")
    settings = json.loads(args.settings)
    known = ["helmgate-ws", "helmgate-nows", "pingora-ws", "pingora-nows", "nginx"]
    present = {r["target"] for r in runs}
    targets = [t for t in known if t in present]
    ns = sorted({int(r["config"]) for r in runs})
    table = {}
    lines = [NOTE, "",
             "== keep-alive GET, allowed origin: scaling with worker threads/processes ==",
             f"   {settings.get('rounds')} rounds x {settings.get('duration')} s per target and size, interleaved; "
             "ws = work_stealing = true, nows = false; pingora = bench/bare_pingora.rs (proxies only)", ""]
    head = f"{'N':>3} {'target':<14}{'req/s':>10}{'CPU us/req':>12}{'p99 ms':>9}{'RSS MiB':>9}" \
           f"{'vs nginx CPU [min-max]':>26}{'vs pingora CPU':>16}{'vs own N=1 CPU':>16}{'errors':>8}"
    lines.append(head)
    base = {}
    for n in ns:
        ng = by_round(runs, "a", "nginx", str(n))
        for t in targets:
            rr = by_round(runs, "a", t, str(n))
            if not rr:
                continue
            cpu = med([r.get("cpu_us_per_req") for r in rr.values()])
            rps = med([r.get("rps") for r in rr.values()])
            p99 = med([r.get("p99_us") for r in rr.values()])
            rss = med([r.get("peak_rss_kb") for r in rr.values()])
            errs = sum(r.get("socket_errors", 0) + r.get("unexpected_status", 0) for r in rr.values())
            vs = ratio_stats(rr, ng, "cpu_us_per_req")
            # helmgate over the bare Pingora proxy with the same work stealing.
            vs_bare = None
            if t.startswith("helmgate-"):
                bare = by_round(runs, "a", "pingora-" + t.split("-", 1)[1], str(n))
                if bare:
                    vs_bare = ratio_stats(rr, bare, "cpu_us_per_req")
            if n == ns[0]:
                base[t] = cpu
            own = ratio(cpu, base.get(t))
            table.setdefault(str(n), {})[t] = {
                "rps": rps, "cpu_us_per_req": cpu, "p99_us": p99, "peak_rss_kb": rss,
                "cpu_ratio_to_nginx": vs, "cpu_ratio_to_bare_pingora": vs_bare,
                "cpu_vs_own_first_size": own, "errors": errs,
            }
            lines.append(
                f"{n:>3} {t:<14}{fmt(rps, '{:.0f}'):>10}{fmt(cpu, '{:.2f}'):>12}"
                f"{fmt(None if p99 is None else p99 / 1000, '{:.3f}'):>9}"
                f"{fmt(None if rss is None else rss / 1024, '{:.1f}'):>9}"
                f"{(fmt_ratio(vs) if t != 'nginx' else '-'):>26}"
                f"{fmt(vs_bare['median'] if vs_bare else None, '{:.2f}'):>16}"
                f"{fmt(own, '{:.2f}'):>16}{errs:>8}")
        lines.append("")
    last = str(ns[-1])
    for t in targets:
        own = table.get(last, {}).get(t, {}).get("cpu_vs_own_first_size")
        if own is not None and ns[0] == 1 and len(ns) > 1:
            if t.startswith("helmgate-"):
                lines.append(f"  [{'met' if own <= 1.10 else 'NOT met'}] {t}: CPU/request at N={last} is "
                             f"{own:.2f}x its N=1 cost (target <= 1.10)")
            else:
                lines.append(f"  (for reference) {t}: CPU/request at N={last} is {own:.2f}x its N=1 cost")
    lines.append("")
    lines.append(NOTE.splitlines()[0])
    text = "\n".join(lines)
    print(text)
    doc = {"settings": settings, "meta": meta(), "table": table, "runs": runs}
    write_outputs(args, doc, text)


# ---------------------------------------------------------------------------


def valgrind_totals(log_path):
    """What valgrind counted over the whole run: {"instructions"} from
    callgrind's "Collected : N", {"blocks", "bytes"} from DHAT's "Total: X
    bytes in Y blocks"."""
    out = {}
    with open(log_path, errors="replace") as f:
        for line in f:
            m = re.search(r"Collected\s*:\s*([0-9]+)", line)
            if m:
                out["instructions"] = int(m.group(1))
            m = re.search(r"Total:\s*([0-9,]+) bytes in ([0-9,]+) blocks", line)
            if m:
                out["bytes"] = int(m.group(1).replace(",", ""))
                out["blocks"] = int(m.group(2).replace(",", ""))
    return out


def cmd_instructions_report(args):
    runs = load_runs(args.runs)
    if not runs:
        die(f"no runs recorded in {args.runs}")
    table = {}
    problems = []
    for r in runs:
        r["totals"] = valgrind_totals(r["valgrind_log"])
        drive = json.loads(r["drive"]) if isinstance(r["drive"], str) else r["drive"]
        r["drive"] = drive
        if drive.get("connections") != 1:
            problems.append(f"{r['target']} ({r['scenario']}) {r['requests']} requests: "
                            f"{drive.get('connections')} connections, not 1")
        if not r["totals"]:
            problems.append(f"{r['target']} ({r['scenario']}) {r['tool']}: no totals in {r['valgrind_log']}"
                            " (did the process exit cleanly?)")
        key = (r["target"], r["scenario"])
        entry = table.setdefault(key, {"statuses": {}, "most": 0})
        entry.setdefault(r["tool"], {})[r["requests"]] = r["totals"]
        # The answers of the longest run speak for the target.
        if r["requests"] > entry["most"]:
            entry["most"] = r["requests"]
            entry["statuses"] = drive.get("statuses", {})

    def per_request(points, field):
        """Cost of one request from the runs with WARM and WARM + k*N requests:
        [(total(WARM + k*N) - total(WARM)) / (k*N) for each k]."""
        base = points.get(args.warm, {}).get(field)
        out = []
        for count in sorted(points):
            if count == args.warm or base is None or points[count].get(field) is None:
                continue
            out.append((points[count][field] - base) / (count - args.warm))
        return out

    targets = []
    for (t, _s) in table:
        if t not in targets:
            targets.append(t)
    scenarios = [s for s in SCENARIOS if any(k[1] == s for k in table)]
    summary = {}
    lines = [f"== per request, from {args.warm} warm-up requests vs {args.warm} + {args.n} "
             "(one keep-alive connection, one request at a time, 1 thread) ==",
             f"{'target':<19}{'scen.':<7}{'instructions':>14}{'vs nginx':>10}{'heap allocs':>13}"
             f"{'heap bytes':>12}{'statuses':>18}   note"]
    for s in scenarios:
        for t in targets:
            entry = table.get((t, s))
            if not entry:
                continue
            ir = per_request(entry.get("callgrind", {}), "instructions")
            blocks = per_request(entry.get("dhat", {}), "blocks")
            nbytes = per_request(entry.get("dhat", {}), "bytes")
            statuses = {int(k): v for k, v in entry["statuses"].items()}
            summary.setdefault(s, {})[t] = {
                "instructions_per_request": ir[0] if ir else None,
                "instructions_per_request_all": ir,
                "heap_allocations_per_request": blocks[0] if blocks else None,
                "heap_bytes_per_request": nbytes[0] if nbytes else None,
                "statuses": statuses, "same_job": set(statuses) == {SCENARIOS[s][1]},
            }
        ng = summary.get(s, {}).get(REFERENCE, {}).get("instructions_per_request")
        for t in targets:
            row = summary.get(s, {}).get(t)
            if not row:
                continue
            ir = row["instructions_per_request"]
            vs = ratio(ir, ng)
            row["instructions_vs_nginx"] = vs
            st = ",".join(f"{k}x{v}" for k, v in sorted(row["statuses"].items()))
            note = "" if row["same_job"] else f"not the same job (want {SCENARIOS[s][1]})"
            if t.startswith(BARE) and not row["same_job"]:
                note += ": bare Pingora forwards it to the upstream"
            xs = row["instructions_per_request_all"]
            if len(xs) > 1 and min(xs) > 0:
                note += ("; " if note else "") + \
                    f"linearity {' / '.join(f'{x:,.0f}' for x in xs)} ({100 * (max(xs) - min(xs)) / min(xs):.2f}% apart)"
            lines.append(
                f"{t:<19}{'(' + s + ')':<7}{fmt(ir, '{:,.0f}'):>14}{fmt(vs, '{:.2f}'):>10}"
                f"{fmt(row['heap_allocations_per_request'], '{:.1f}'):>13}"
                f"{fmt(row['heap_bytes_per_request'], '{:,.0f}'):>12}{st:>18}   {note}".rstrip())
        # Like for like: helmgate (header names canonical) over bare Pingora
        # told the same, helmgate-keepcase over stock bare Pingora.
        for hg_name, bare_name, label in (
                ("helmgate", BARE, "helmgate / bare Pingora"),
                ("helmgate", BARE + "-canonical", "helmgate / bare Pingora, canonical header case (like for like)"),
                ("helmgate-keepcase", BARE, "helmgate-keepcase / bare Pingora (like for like)")):
            hg = summary.get(s, {}).get(hg_name, {}).get("instructions_per_request")
            bare = summary.get(s, {}).get(bare_name, {}).get("instructions_per_request")
            if hg and bare:
                lines.append(f"{'':<17}{label}: {hg / bare:.2f} instructions"
                             + ("" if summary[s][bare_name]["same_job"] else " (not the same job)"))
        lines.append("")
    lines.append("instructions: everything the process executed (all threads, user space), per request;"
                 " heap: malloc-family blocks and bytes allocated per request (DHAT).")
    lines.append("Repeatable to within about 0.5% between runs of one binary (LINEARITY=1 shows it): a"
                 " Pingora or helmgate change is worth keeping if it cuts >= 10% of the instructions per request.")
    if problems:
        lines.append("PROBLEMS:")
        lines += [f"  - {p}" for p in problems]
    text = "\n".join(lines)
    print(text)
    doc = {"n": args.n, "warm": args.warm, "valgrind": args.valgrind, "helmgate_bin": args.helmgate_bin,
           "meta": meta(), "summary": summary, "runs": runs}
    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
        with open(os.path.join(args.out_dir, "instructions-latest.json"), "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True)
        with open(os.path.join(args.out_dir, "instructions-latest.txt"), "w") as f:
            f.write(text + "\n")
        print(f"results: {os.path.join(args.out_dir, 'instructions-latest.json')} (and .txt)")
    if problems:
        sys.exit(1)


def cmd_json(args):
    out = {}
    for pair in args.pairs:
        k, _, v = pair.partition("=")
        out[k] = int(v) if re.fullmatch(r"-?[0-9]+", v) else v
    print(json.dumps(out, sort_keys=True))


def cmd_freeports(args):
    socks = []
    for _ in range(args.n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    x = sub.add_parser("freeports")
    x.add_argument("n", type=int)
    x.set_defaults(func=cmd_freeports)

    x = sub.add_parser("conf-upstream")
    x.add_argument("--dir", required=True)
    x.add_argument("--port", type=int, required=True)
    x.add_argument("--workers", type=int, default=1)
    x.set_defaults(func=lambda a: print(conf_upstream(a.dir, a.port, a.workers)))

    x = sub.add_parser("conf-gateway")
    x.add_argument("--dir", required=True)
    x.add_argument("--name", default="gateway-nginx", help="file prefix in --dir (pid, logs, temp)")
    x.add_argument("--port", type=int, required=True)
    x.add_argument("--upstream-port", type=int, required=True)
    x.add_argument("--workers", type=int, default=1)
    x.add_argument("--worker-connections", type=int, default=8192)
    x.add_argument("--no-master", action="store_true", help="master_process off: one process")
    x.set_defaults(func=lambda a: print(conf_gateway(
        a.dir, a.name, a.port, a.upstream_port, a.workers, a.worker_connections, not a.no_master)))

    x = sub.add_parser("conf-helmgate")
    x.add_argument("--port", type=int, required=True)
    x.add_argument("--upstream-port", type=int, required=True)
    x.add_argument("--threads", type=int, default=1)
    x.add_argument("--work-stealing", choices=["true", "false"])
    x.add_argument("--variant", choices=["seed"] + list(HELMGATE_VARIANTS), default="seed",
                   help="what differs from the seed configuration (run.sh's HELMGATE_VARIANTS)")
    x.set_defaults(func=lambda a: print(conf_helmgate(
        a.port, a.upstream_port, a.threads, a.work_stealing, **HELMGATE_VARIANTS.get(a.variant, {}))))

    x = sub.add_parser("conf-haproxy")
    x.add_argument("--port", type=int, required=True)
    x.add_argument("--upstream-port", type=int, required=True)
    x.add_argument("--maxconn", type=int, default=4096)
    x.set_defaults(func=lambda a: print(conf_haproxy(a.port, a.upstream_port, a.maxconn)))

    x = sub.add_parser("conf-caddy")
    x.add_argument("--port", type=int, required=True)
    x.add_argument("--upstream-port", type=int, required=True)
    x.set_defaults(func=lambda a: print(conf_caddy(a.port, a.upstream_port), end=""))

    x = sub.add_parser("check")
    x.add_argument("--gateway", action="append", default=[],
                   help="NAME=PORT[/PRESET]: must do helmgate's job exactly, else the run fails")
    x.add_argument("--peer", action="append", default=[],
                   help="NAME=PORT: where it differs is recorded, and the report says so")
    x.add_argument("--upstream", type=int, required=True)
    x.add_argument("--out", help="write each target's per-scenario gaps and statuses here (JSON)")
    x.set_defaults(func=cmd_check)

    x = sub.add_parser("record")
    x.add_argument("--runs", required=True)
    x.add_argument("--scenario", required=True)
    x.add_argument("--target", required=True)
    x.add_argument("--config", default="")
    x.add_argument("--round", type=int, required=True)
    x.add_argument("--wrk-log", required=True)
    x.add_argument("--wrk-rc", type=int, default=0)
    x.add_argument("--ticks-before", type=int)
    x.add_argument("--ticks-after", type=int)
    x.add_argument("--clk-tck", type=int, default=100)
    x.add_argument("--hwm-kb", type=int, default=0)
    x.add_argument("--stat-before", required=True)
    x.add_argument("--stat-after", required=True)
    x.add_argument("--cores", default="0,1")
    x.add_argument("--check-file", help="bench.py check --out: peers' statuses per scenario")
    x.set_defaults(func=cmd_record)

    for name, func in (("report", cmd_report), ("scale-report", cmd_scale_report)):
        x = sub.add_parser(name)
        x.add_argument("--runs", required=True)
        x.add_argument("--settings", default="{}", help="JSON object of the run's settings")
        x.add_argument("--check-file", help="bench.py check --out: which peer does which job")
        x.add_argument("--out-dir")
        x.add_argument("--prefix", default="run")
        x.set_defaults(func=func)

    x = sub.add_parser("hold-idle", help="idle-memory.sh's client")
    x.add_argument("--port", type=int, required=True)
    x.add_argument("--n", type=int, required=True)
    x.add_argument("--concurrency", type=int, default=64, help="connections being set up at once")
    x.add_argument("--timeout", type=float, default=120, help="seconds to set all of them up")
    x.add_argument("--hold-s", type=float, default=120, help="longest hold; SIGTERM ends it")
    x.add_argument("--ready-file", required=True)
    x.add_argument("--final-file")
    x.set_defaults(func=cmd_hold_idle)

    x = sub.add_parser("drive", help="instructions.sh's client")
    x.add_argument("--port", type=int, required=True)
    x.add_argument("--scenario", choices=["a", "b", "c"], required=True)
    x.add_argument("--n", type=int, required=True)
    x.add_argument("--timeout", type=float, default=60)
    x.set_defaults(func=cmd_drive)

    x = sub.add_parser("instructions-report")
    x.add_argument("--runs", required=True)
    x.add_argument("--n", type=int, required=True)
    x.add_argument("--warm", type=int, required=True)
    x.add_argument("--valgrind", default="")
    x.add_argument("--helmgate-bin", default="")
    x.add_argument("--out-dir")
    x.set_defaults(func=cmd_instructions_report)

    x = sub.add_parser("json", help="print KEY=VALUE arguments as one JSON object (whole numbers as numbers)")
    x.add_argument("pairs", nargs="*")
    x.set_defaults(func=cmd_json)

    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
