#!/usr/bin/env bash
# Memory held by idle keep-alive connections (issue 12): the resident set of
# the release helmgate, the bare Pingora proxy and nginx (for reference) while
# N client connections, each of which has been served one allowed-origin GET,
# sit idle. Issue 12's target: helmgate under 256 MiB for 10,000.
#
#   HELMGATE_BIN=target/release/helmgate bench/idle-memory.sh
#   N=500 TARGETS="helmgate nginx" bench/idle-memory.sh
#
# One target at a time: start it, open N connections (64 being set up at any
# moment), read VmRSS once all are served and idle, close them, stop it.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

N=${N:-10000}
TARGETS=${TARGETS:-helmgate pingora nginx}
GW_CORE=${GW_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
SETTLE_S=${SETTLE_S:-2}
RESULTS_DIR=${RESULTS_DIR:-$BENCH_DIR/results}
LIMIT_MIB=256 # issue 12, at 10,000 connections

for v in N GW_CORE LOAD_CORE SETTLE_S; do
    if [[ ! ${!v} =~ ^[0-9]+$ ]]; then
        echo "$v must be a whole number, got '${!v}'" >&2
        exit 2
    fi
done
((N >= 1)) || { echo "N must be at least 1" >&2; exit 2; }
for t in $TARGETS; do
    [[ $t =~ ^(helmgate|pingora|nginx)$ ]] || { echo "unknown target '$t' (use helmgate pingora nginx)" >&2; exit 2; }
done
if ((GW_CORE >= $(nproc) || LOAD_CORE >= $(nproc))); then
    echo "GW_CORE=$GW_CORE and LOAD_CORE=$LOAD_CORE must be below nproc=$(nproc)" >&2
    exit 2
fi

# nginx closes idle keep-alive connections to make room once fewer than
# 1/16 of its worker_connections are free, so its table gets N + 128 (the
# clients, upstream connections, listeners) plus that reserve.
NGINX_WORKER_CONNECTIONS=$(((N + 128) * 16 / 15 + 16))
# Every connection is a file descriptor in the client and in the gateway,
# plus the gateway's upstream connections and the usual few; nginx wants
# one for each of its worker_connections.
nofile_need=$((N + 200))
[[ " $TARGETS " == *" nginx "* ]] && ((NGINX_WORKER_CONNECTIONS + 64 > nofile_need)) &&
    nofile_need=$((NGINX_WORKER_CONNECTIONS + 64))
soft=$(ulimit -Sn)
hard=$(ulimit -Hn)
if [[ $soft != unlimited ]] && ((soft < nofile_need)); then
    if [[ $hard == unlimited ]] || ((hard >= nofile_need)); then
        ulimit -Sn "$nofile_need"
        log "raised the open-file limit from $soft to $nofile_need (hard limit $hard)"
    else
        echo "N=$N needs 'ulimit -n' of at least $nofile_need; the hard limit here is $hard." >&2
        echo "Raise it (as root: ulimit -Hn $nofile_need; in systemd: LimitNOFILE=) or use a smaller N." >&2
        exit 2
    fi
fi

require_tools "$NGINX" taskset python3 getconf timeout
want_bare=0
[[ " $TARGETS " == *" pingora "* ]] && want_bare=1
locate_helmgate "$want_bare"
((want_bare)) && locate_bare_pingora 1
install_traps
make_work_dir
START=$(date +%s)

vm_rss_kb() {
    local total=0 pid line
    for pid in "$@"; do
        while read -r line; do
            if [[ $line == VmRSS:* ]]; then
                line=${line#VmRSS:}
                total=$((total + ${line//[!0-9]/}))
                break
            fi
        done <"/proc/$pid/status"
    done
    echo "$total"
}

read -r UP_PORT <<<"$(python3 "$BENCH_PY" freeports 1)"
python3 "$BENCH_PY" conf-upstream --dir "$WORK_DIR" --port "$UP_PORT" --workers 1 \
    >"$WORK_DIR/upstream.conf"
start_nginx upstream "$LOAD_CORE" "$WORK_DIR/upstream.conf" "$UP_PORT"

log "plan: $N idle connections to each of: $TARGETS (setup bounded to 120 s per target)"
RESULTS="$WORK_DIR/idle.jsonl"
: >"$RESULTS"
CLIENT_PID=""
for t in $TARGETS; do
    read -r port <<<"$(python3 "$BENCH_PY" freeports 1)"
    case $t in
        helmgate)
            python3 "$BENCH_PY" conf-helmgate --port "$port" --upstream-port "$UP_PORT" --threads 1 \
                >"$WORK_DIR/helmgate.toml"
            start_helmgate helmgate "$GW_CORE" "$WORK_DIR/helmgate.toml" "$port"
            pids=$HELMGATE_PID
            ;;
        pingora)
            start_bare_pingora pingora "$GW_CORE" "$port" "$UP_PORT" 1 false
            pids=$BARE_PID
            ;;
        nginx)
            python3 "$BENCH_PY" conf-gateway --dir "$WORK_DIR" --name gateway-nginx --port "$port" \
                --upstream-port "$UP_PORT" --workers 1 --worker-connections "$NGINX_WORKER_CONNECTIONS" \
                >"$WORK_DIR/gateway-nginx.conf"
            start_nginx gateway-nginx "$GW_CORE" "$WORK_DIR/gateway-nginx.conf" "$port"
            pids="$NGINX_MASTER $NGINX_WORKERS"
            ;;
    esac
    sleep 1
    # shellcheck disable=SC2086 # pids is a list of PIDs
    before=$(vm_rss_kb $pids)
    ready="$WORK_DIR/$t.ready"
    final="$WORK_DIR/$t.final"
    taskset -c "$LOAD_CORE" python3 "$BENCH_PY" hold-idle --port "$port" --n "$N" --timeout 120 \
        --hold-s 180 --ready-file "$ready" --final-file "$final" >"$WORK_DIR/$t-client.log" 2>&1 &
    CLIENT_PID=$!
    STARTED_PIDS+=("$CLIENT_PID")
    STOP_SIGNAL[$CLIENT_PID]=TERM # it reports what the gateway closed, then exits
    for _ in $(seq 1500); do # 150 s: the client's own setup limit is 120 s
        [[ -f $ready ]] && break
        kill -0 "$CLIENT_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [[ ! -f $ready ]]; then
        echo "$t: the client did not get its $N connections served within 150 s:" >&2
        cat "$WORK_DIR/$t-client.log" >&2
        exit 1
    fi
    sleep "$SETTLE_S"
    # shellcheck disable=SC2086
    during=$(vm_rss_kb $pids)
    stop_started "$CLIENT_PID"
    CLIENT_PID=""
    [[ -f $final ]] || echo '{}' >"$final"
    python3 "$BENCH_PY" json target="$t" n="$N" rss_before_kb="$before" rss_idle_kb="$during" \
        pids="$pids" ready="$(<"$ready")" final="$(<"$final")" >>"$RESULTS"
    log "$t: VmRSS $((before / 1024)) MiB before, $((during / 1024)) MiB with the connections; client: $(<"$ready")"
    # shellcheck disable=SC2086
    stop_started $pids
done

END=$(date +%s)
echo
python3 - "$RESULTS" "$N" "$LIMIT_MIB" "$RESULTS_DIR" "$HELMGATE_BIN" <<'EOF'
import json, os, sys, time
path, n, limit, out_dir, helmgate_bin = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
rows = [json.loads(line) for line in open(path) if line.strip()]
lines = [f"== {n} idle keep-alive connections, each served one allowed-origin GET ==",
         f"{'target':<10}{'RSS before MiB':>16}{'RSS idle MiB':>14}{'KiB/conn':>10}"
         f"{'held':>8}{'failed':>8}{'closed by gw':>14}{'at 10,000 MiB':>15}"]
summary = {}
for r in rows:
    ready = json.loads(r["ready"])
    final = json.loads(r["final"]) if r["final"] else {}
    per = (r["rss_idle_kb"] - r["rss_before_kb"]) / n
    at_10k = (r["rss_before_kb"] + per * 10000) / 1024
    summary[r["target"]] = {"rss_before_kb": r["rss_before_kb"], "rss_idle_kb": r["rss_idle_kb"],
                            "kib_per_connection": per, "projected_mib_at_10000": at_10k,
                            "held": ready.get("held"), "failed": ready.get("failed"),
                            "statuses": ready.get("statuses"),
                            "closed_by_server": final.get("closed_by_server")}
    label = r["target"]
    lines.append(f"{label:<10}{r['rss_before_kb'] / 1024:>16.1f}{r['rss_idle_kb'] / 1024:>14.1f}{per:>10.1f}"
                 f"{ready.get('held', 0):>8}{ready.get('failed', 0):>8}"
                 f"{str(final.get('closed_by_server', '-')):>14}{at_10k:>15.1f}")
lines.append("RSS: VmRSS of the process (nginx: master + worker), read after the last connection was"
             " served and the client had been idle a moment. KiB/conn = (idle - before) / N;"
             " 'at 10,000' projects before + 10,000 x KiB/conn.")
h = summary.get("helmgate")
if h:
    mib = h["rss_idle_kb"] / 1024
    if n == 10000:
        lines.append(f"  [{'met' if mib < limit else 'NOT met'}] issue 12: helmgate holds {n} idle connections "
                     f"in {mib:.1f} MiB (< {limit} MiB)")
    else:
        lines.append(f"  issue 12 (< {limit} MiB at 10,000): measured at N={n}; projected "
                     f"{h['projected_mib_at_10000']:.1f} MiB (run with N=10000 to judge)")
bad = [t for t, s in summary.items() if s["failed"] or s["closed_by_server"]]
if bad:
    lines.append("PROBLEMS: " + ", ".join(f"{t}: {summary[t]['failed']} connections failed, "
                                          f"{summary[t]['closed_by_server']} closed by the gateway" for t in bad))
text = "\n".join(lines)
print(text)
os.makedirs(out_dir, exist_ok=True)
doc = {"n": n, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "helmgate_bin": helmgate_bin,
       "targets": summary, "raw": rows}
with open(os.path.join(out_dir, "idle-memory-latest.json"), "w") as f:
    json.dump(doc, f, indent=1, sort_keys=True)
with open(os.path.join(out_dir, "idle-memory-latest.txt"), "w") as f:
    f.write(text + "\n")
print(f"results: {os.path.join(out_dir, 'idle-memory-latest.json')} (and .txt)")
EOF
log "done in $((END - START)) s"
