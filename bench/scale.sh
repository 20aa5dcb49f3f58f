#!/usr/bin/env bash
# Keep-alive GET (scenario a of bench/run.sh) at 1, 2, 4 and 8 gateway
# threads / nginx workers: does the CPU per request stay flat as cores are
# added? helmgate runs with work_stealing = true and = false, nginx alongside,
# interleaved at each size. The gateways, the upstream and the load generator
# get separate cores, so this needs a big machine (default 14+ cores); on a
# smaller one it says so and exits 0.
#
#   HELMGATE_BIN=target/release/helmgate bench/scale.sh
#   SIZES="1 8" ROUNDS=3 DURATION=5 bench/scale.sh
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SIZES=${SIZES:-1 2 4 8}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS_PER_WORKER=${CONNS_PER_WORKER:-32}
RESULTS_DIR=${RESULTS_DIR:-$BENCH_DIR/results}

for v in ROUNDS DURATION WARMUP CONNS_PER_WORKER; do
    if [[ ! ${!v} =~ ^[0-9]+$ ]]; then
        echo "$v must be a whole number, got '${!v}'" >&2
        exit 2
    fi
done
MAX_N=0
for n in $SIZES; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "SIZES must be whole numbers, got '$n'" >&2; exit 2; }
    ((n > MAX_N)) && MAX_N=$n
done

# Cores 0..MAX_N-1 for the gateway under test; the rest split between the
# upstream nginx and wrk, at least 3 each.
NPROC=$(nproc)
NEED=$((MAX_N + 6))
if ((NPROC < NEED)); then
    echo "skipped: bench/scale.sh needs $NEED cores ($MAX_N for the gateway, 3+ for the upstream, 3+ for wrk); this machine has $NPROC"
    exit 0
fi
REST=$((NPROC - MAX_N))
UP_WORKERS=$((REST / 2))
WRK_THREADS=$((REST - UP_WORKERS))
UP_CORES="$MAX_N-$((MAX_N + UP_WORKERS - 1))"
WRK_CORES="$((MAX_N + UP_WORKERS))-$((NPROC - 1))"

require_load_tools
locate_helmgate 0
install_traps
make_work_dir
RUNS_FILE="$WORK_DIR/runs.jsonl"
START=$(date +%s)
LUA="$BENCH_DIR/lua/allowed_get.lua"
TARGETS=(helmgate-ws helmgate-nows nginx)
read -r -a sizes <<<"$SIZES"
log "plan: sizes '$SIZES', ${#TARGETS[@]} targets, $ROUNDS rounds x ${DURATION} s; gateway cores 0-$((MAX_N - 1))," \
    "upstream cores $UP_CORES ($UP_WORKERS workers), wrk cores $WRK_CORES ($WRK_THREADS threads);" \
    "about $((${#sizes[@]} * ${#TARGETS[@]} * (ROUNDS * DURATION + WARMUP) + 10 * ${#sizes[@]})) s"

read -r UP_PORT <<<"$(python3 "$BENCH_PY" freeports 1)"
python3 "$BENCH_PY" conf-upstream --dir "$WORK_DIR" --port "$UP_PORT" --workers "$UP_WORKERS" \
    >"$WORK_DIR/upstream.conf"
start_nginx upstream "$UP_CORES" "$WORK_DIR/upstream.conf" "$UP_PORT"

for n in "${sizes[@]}"; do
    cores="0-$((n - 1))"
    conns=$((CONNS_PER_WORKER * n))
    ((conns < 50)) && conns=50
    ((conns < WRK_THREADS)) && conns=$WRK_THREADS
    read -r P_WS P_NOWS P_NG <<<"$(python3 "$BENCH_PY" freeports 3)"
    python3 "$BENCH_PY" conf-helmgate --port "$P_WS" --upstream-port "$UP_PORT" --threads "$n" \
        --work-stealing true >"$WORK_DIR/helmgate-ws-$n.toml"
    python3 "$BENCH_PY" conf-helmgate --port "$P_NOWS" --upstream-port "$UP_PORT" --threads "$n" \
        --work-stealing false >"$WORK_DIR/helmgate-nows-$n.toml"
    python3 "$BENCH_PY" conf-gateway --dir "$WORK_DIR" --name "gateway-nginx-$n" --port "$P_NG" --upstream-port "$UP_PORT" \
        --workers "$n" >"$WORK_DIR/gateway-nginx-$n.conf"
    start_helmgate "helmgate-ws-$n" "$cores" "$WORK_DIR/helmgate-ws-$n.toml" "$P_WS"
    PID_WS=$HELMGATE_PID
    start_helmgate "helmgate-nows-$n" "$cores" "$WORK_DIR/helmgate-nows-$n.toml" "$P_NOWS"
    PID_NOWS=$HELMGATE_PID
    start_nginx "gateway-nginx-$n" "$cores" "$WORK_DIR/gateway-nginx-$n.conf" "$P_NG"
    NG_MASTER=$NGINX_MASTER
    NG_WORKERS=$NGINX_WORKERS
    python3 "$BENCH_PY" check --gateway "helmgate-ws=$P_WS" --gateway "helmgate-nows=$P_NOWS" \
        --gateway "nginx=$P_NG" --upstream "$UP_PORT"
    log "size $n: $conns connections"
    for ((r = 0; r <= ROUNDS; r++)); do
        mode=record
        duration=$DURATION
        if ((r == 0)); then
            ((WARMUP > 0)) || continue
            mode=warmup
            duration=$WARMUP
        fi
        for t in "${TARGETS[@]}"; do
            case $t in
                helmgate-ws) port=$P_WS cpu="$PID_WS" rss="$PID_WS" ;;
                helmgate-nows) port=$P_NOWS cpu="$PID_NOWS" rss="$PID_NOWS" ;;
                nginx) port=$P_NG cpu="$NG_MASTER $NG_WORKERS" rss="$NG_WORKERS" ;;
            esac
            measure a "$t" "$n" "$r" "http://127.0.0.1:$port/" "$LUA" "$conns" "$WRK_THREADS" \
                "$WRK_CORES" "$duration" "$cpu" "$rss" "" "$mode"
        done
    done
    for pid in "$PID_WS" "$PID_NOWS" "$NG_MASTER"; do
        kill -0 "$pid" 2>/dev/null || { echo "PID $pid (a gateway at size $n) died during the run" >&2; exit 1; }
    done
    # shellcheck disable=SC2086 # NG_WORKERS is a list of PIDs
    stop_started "$PID_WS" "$PID_NOWS" "$NG_MASTER" $NG_WORKERS
done

END=$(date +%s)
settings=$(printf '{"sizes":"%s","rounds":%d,"duration":%d,"warmup":%d,"conns_per_worker":%d,"upstream_workers":%d,"upstream_cores":"%s","wrk_threads":%d,"wrk_cores":"%s","nproc":%d,"helmgate_bin":"%s","wall_s":%d}' \
    "$SIZES" "$ROUNDS" "$DURATION" "$WARMUP" "$CONNS_PER_WORKER" "$UP_WORKERS" "$UP_CORES" \
    "$WRK_THREADS" "$WRK_CORES" "$NPROC" "$HELMGATE_BIN" "$((END - START))")
echo
python3 "$BENCH_PY" scale-report --runs "$RUNS_FILE" --settings "$settings" --out-dir "$RESULTS_DIR" \
    --prefix scale
log "done in $((END - START)) s"
