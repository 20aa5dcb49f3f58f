#!/usr/bin/env bash
# Issue 21: memory of policy learning under a flood of distinct reports.
# Starts helmgate with reports and learning on, sends a legitimate pattern
# (a CDN's script reported from 3 client networks, via a trusted
# X-Forwarded-For), then N distinct violation reports (each a new blocked
# host and document, from a new client network), in Reporting API batches
# of 100; reads the gateway's VmRSS before and after the flood, and checks
# that the suggestions still propose the CDN and nothing of the flood.
# Target: RSS grows by less than 16 MiB for N = 1,000,000.
#
#   HELMGATE_BIN=target/debug/helmgate bench/learning-rss.sh
#   HELMGATE_BIN=target/release/helmgate N=1000000 bench/learning-rss.sh
#
# Needs python3 (standard library only). Nothing is built here.
set -euo pipefail

N=${N:-1000000}
HELMGATE_BIN=${HELMGATE_BIN:-target/release/helmgate}
LIMIT_MIB=${LIMIT_MIB:-16}
[[ $N =~ ^[0-9]+$ ]] && ((N >= 100)) || { echo "N must be a whole number >= 100" >&2; exit 2; }
[[ -x $HELMGATE_BIN ]] || { echo "no executable at HELMGATE_BIN=$HELMGATE_BIN (build it first)" >&2; exit 2; }

dir=$(mktemp -d)
gw_pid=""
cleanup() {
    [[ -n $gw_pid ]] && kill -INT "$gw_pid" 2>/dev/null && wait "$gw_pid" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
listen=$(free_port)
admin=$(free_port)
upstream=$(free_port)
cat >"$dir/helmgate.toml" <<TOML
[server]
listen = ["127.0.0.1:$listen"]
trusted_proxies = ["127.0.0.1"]
threads = 2
[upstream]
address = "127.0.0.1:$upstream"
[admin]
listen = "127.0.0.1:$admin"
[reports]
enabled = true
max_body_bytes = 1048576
per_minute = 1000000
per_client_per_minute = 1000000
[headers]
content_security_policy_report_only = "default-src 'self'; script-src 'self'"
[log]
access_log = false
TOML
RUST_LOG=error "$HELMGATE_BIN" --config "$dir/helmgate.toml" 2>"$dir/helmgate.log" &
gw_pid=$!

python3 - "$listen" "$admin" "$N" "$gw_pid" "$LIMIT_MIB" <<'PY'
import http.client, json, socket, sys, time

listen, admin, n, pid, limit = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])

def rss_kib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", listen), timeout=0.2).close()
        break
    except OSError:
        time.sleep(0.05)

conn = http.client.HTTPConnection("127.0.0.1", listen, timeout=30)

def post(reports, client):
    body = json.dumps(reports)
    conn.request("POST", "/.helmgate/reports", body, {
        "Content-Type": "application/reports+json", "Host": "app.example",
        "X-Forwarded-For": client})
    r = conn.getresponse(); r.read()
    assert r.status == 204, r.status

def report(blocked, doc):
    return {"type": "csp-violation", "url": doc, "body": {
        "documentURL": doc, "blockedURL": blocked,
        "effectiveDirective": "script-src-elem", "disposition": "report"}}

for client in ["203.0.113.7", "198.51.100.7", "192.0.2.7"]:
    post([report("https://cdn.example/lib.js", "https://app.example/")], client)
# Warm-up: every table filled once, so the flood measures growth, not the
# first allocation of fixed-size tables.
def flood(start, count):
    for b in range(start, start + count, 100):
        batch = [report(f"https://h{i}.flood.example/x.js", f"https://app.example/p{i}")
                 for i in range(b, min(b + 100, start + count))]
        net = b // 100
        post(batch, f"10.{(net >> 16) & 255}.{(net >> 8) & 255}.{net & 255}")
flood(0, 10000)
time.sleep(1)
before = rss_kib()
t0 = time.time()
flood(10000, n)
took = time.time() - t0
time.sleep(1)
after = rss_kib()
a = http.client.HTTPConnection("127.0.0.1", admin, timeout=30)
a.request("GET", "/suggestions.json"); s = json.loads(a.getresponse().read())
route = s["routes"][0]
added = [x["source"] for c in route["csp"] for x in c["add"]]
grew = (after - before) / 1024
print(f"{n} distinct reports in {took:.1f} s; VmRSS {before} KiB -> {after} KiB: grew {grew:.2f} MiB (limit {limit} MiB)")
print(f"suggested: {added}; listed as not suggested: {len(route['not_suggested'])}; dropped: {route['dropped']}")
ok = grew < limit and added == ["https://cdn.example"]
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
