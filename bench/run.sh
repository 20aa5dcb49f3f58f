#!/usr/bin/env bash
# Same-run comparison of helmgate with nginx doing the same job (issue 4).
#
#   bench/run.sh                          # builds target/release/helmgate first
#   HELMGATE_BIN=target/release/helmgate bench/run.sh
#   ROUNDS=5 DURATION=10 SCENARIOS="a e" bench/run.sh
#
# Both gateways run one worker pinned to GW_CORE; the upstream nginx and wrk
# share LOAD_CORE. Each scenario runs helmgate and nginx interleaved, A B A B,
# ROUNDS times. See bench/README.md for what is measured and how to read it.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-50}
SCENARIOS=${SCENARIOS:-a b c d e}
GW_CORE=${GW_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
RESULTS_DIR=${RESULTS_DIR:-$BENCH_DIR/results}

for v in ROUNDS DURATION WARMUP CONNS GW_CORE LOAD_CORE; do
    if [[ ! ${!v} =~ ^[0-9]+$ ]]; then
        echo "$v must be a whole number, got '${!v}'" >&2
        exit 2
    fi
done
if ((ROUNDS < 1 || DURATION < 1)); then
    echo "ROUNDS and DURATION must be at least 1" >&2
    exit 2
fi
for s in $SCENARIOS; do
    [[ $s =~ ^[a-e]$ ]] || { echo "unknown scenario '$s' (use a b c d e)" >&2; exit 2; }
done
if ((GW_CORE == LOAD_CORE)) || ((GW_CORE >= $(nproc) || LOAD_CORE >= $(nproc))); then
    echo "needs two distinct cores: GW_CORE=$GW_CORE LOAD_CORE=$LOAD_CORE, nproc=$(nproc)" >&2
    exit 2
fi

require_tools
locate_helmgate
install_traps
make_work_dir
RUNS_FILE="$WORK_DIR/runs.jsonl"
START=$(date +%s)
read -r L1 L5 L15 _ </proc/loadavg

scenario_lua() {
    case $1 in
        a) echo "$BENCH_DIR/lua/allowed_get.lua" ;;
        b) echo "$BENCH_DIR/lua/preflight.lua" ;;
        c) echo "$BENCH_DIR/lua/disallowed.lua" ;;
        d) echo "$BENCH_DIR/lua/new_connection.lua" ;;
        e) echo "$BENCH_DIR/lua/latency.lua" ;;
    esac
}
scenario_conns() { if [[ $1 == e ]]; then echo 1; else echo "$CONNS"; fi; }
scenario_targets() { if [[ $1 == e ]]; then echo "helmgate nginx direct"; else echo "helmgate nginx"; fi; }

n_targets=0
for s in $SCENARIOS; do
    read -r -a t <<<"$(scenario_targets "$s")"
    n_targets=$((n_targets + ${#t[@]}))
done
log "plan: scenarios '$SCENARIOS', $ROUNDS rounds x ${DURATION} s (+${WARMUP} s warm-up) per target;" \
    "about $((n_targets * (ROUNDS * DURATION + WARMUP) + 15)) s"

read -r UP_PORT HG_PORT NG_PORT <<<"$(python3 "$BENCH_PY" freeports 3)"

python3 "$BENCH_PY" conf-upstream --dir "$WORK_DIR" --port "$UP_PORT" --workers 1 \
    >"$WORK_DIR/upstream.conf"
python3 "$BENCH_PY" conf-gateway --dir "$WORK_DIR" --name gateway-nginx --port "$NG_PORT" --upstream-port "$UP_PORT" \
    --workers 1 >"$WORK_DIR/gateway-nginx.conf"
python3 "$BENCH_PY" conf-helmgate --port "$HG_PORT" --upstream-port "$UP_PORT" --threads 1 \
    >"$WORK_DIR/helmgate.toml"

start_nginx upstream "$LOAD_CORE" "$WORK_DIR/upstream.conf" "$UP_PORT"
start_helmgate helmgate "$GW_CORE" "$WORK_DIR/helmgate.toml" "$HG_PORT"
start_nginx gateway-nginx "$GW_CORE" "$WORK_DIR/gateway-nginx.conf" "$NG_PORT"
NG_CPU_PIDS="$NGINX_MASTER $NGINX_WORKERS"
read -r NG_WORKER _ <<<"$NGINX_WORKERS"

python3 "$BENCH_PY" check --gateway "helmgate=$HG_PORT" --gateway "nginx=$NG_PORT" \
    --upstream "$UP_PORT"

target_port() {
    case $1 in
        helmgate) echo "$HG_PORT" ;;
        nginx) echo "$NG_PORT" ;;
        direct) echo "$UP_PORT" ;;
    esac
}
target_cpu_pids() {
    case $1 in
        helmgate) echo "$HELMGATE_PID" ;;
        nginx) echo "$NG_CPU_PIDS" ;;
        direct) echo "" ;;
    esac
}
target_rss_pid() {
    case $1 in
        helmgate) echo "$HELMGATE_PID" ;;
        nginx) echo "$NG_WORKER" ;;
        direct) echo "" ;;
    esac
}

for s in $SCENARIOS; do
    lua=$(scenario_lua "$s")
    conns=$(scenario_conns "$s")
    read -r -a targets <<<"$(scenario_targets "$s")"
    log "scenario ($s): ${targets[*]}, $conns connection(s)"
    if ((WARMUP > 0)); then
        for t in "${targets[@]}"; do
            measure "$s" "$t" "" 0 "http://127.0.0.1:$(target_port "$t")/" "$lua" "$conns" 1 \
                "$LOAD_CORE" "$WARMUP" "$(target_cpu_pids "$t")" "$(target_rss_pid "$t")" \
                "$GW_CORE,$LOAD_CORE" warmup
        done
    fi
    for ((r = 1; r <= ROUNDS; r++)); do
        for t in "${targets[@]}"; do
            measure "$s" "$t" "" "$r" "http://127.0.0.1:$(target_port "$t")/" "$lua" "$conns" 1 \
                "$LOAD_CORE" "$DURATION" "$(target_cpu_pids "$t")" "$(target_rss_pid "$t")" \
                "$GW_CORE,$LOAD_CORE"
        done
    done
done

# Still alive? A gateway that crashed mid-run makes every later number wrong.
for pid in "$HELMGATE_PID" $NG_CPU_PIDS; do
    kill -0 "$pid" 2>/dev/null || { echo "PID $pid (a gateway) died during the run" >&2; exit 1; }
done

END=$(date +%s)
settings=$(printf '{"rounds":%d,"duration":%d,"warmup":%d,"conns_a":%d,"conns_b":%d,"conns_c":%d,"conns_d":%d,"conns_e":1,"loadavg_start":"%s","gw_core":%d,"load_core":%d,"wrk_threads":1,"helmgate_bin":"%s","nginx":"%s","wrk":"%s","wall_s":%d}' \
    "$ROUNDS" "$DURATION" "$WARMUP" "$CONNS" "$CONNS" "$CONNS" "$CONNS" "$L1 $L5 $L15" "$GW_CORE" "$LOAD_CORE" \
    "$HELMGATE_BIN" "$("$NGINX" -v 2>&1 | sed 's/.*: //')" \
    "$("$WRK" -v 2>&1 | head -n1 | cut -d' ' -f1-2)" "$((END - START))")
echo
python3 "$BENCH_PY" report --runs "$RUNS_FILE" --settings "$settings" --out-dir "$RESULTS_DIR" \
    --prefix run
# What the processes said while under load (helmgate logs at INFO by default;
# its WARN lines for blocked origins in (c) are rate-limited).
summarise_log() {
    local name=$1 file=$2 n
    n=$(grep -c -E '(ERROR|WARN|\[error\]|\[crit\]|\[alert\]|\[emerg\]|\[warn\])' "$file" || true)
    ((n > 0)) || return 0
    echo "$name logged $n warning/error line(s) during the run; distinct messages:"
    grep -E '(ERROR|WARN|\[error\]|\[crit\]|\[alert\]|\[emerg\]|\[warn\])' "$file" |
        sed -E 's/^\[[^ ]+ //; s/^[0-9/]+ [0-9:]+ //; s/[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+:[0-9]+/ADDR/g; s/request_id=[0-9a-f]+/request_id=ID/; s/\*[0-9]+ //' |
        cut -c1-220 | sort | uniq -c | sort -rn | head -n 5
}
summarise_log helmgate "$WORK_DIR/helmgate.log"
summarise_log "nginx gateway" "$WORK_DIR/gateway-nginx-error.log"
summarise_log "upstream nginx" "$WORK_DIR/upstream-error.log"
log "done in $((END - START)) s (measurement; the build, if any, not included)"
