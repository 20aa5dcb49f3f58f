#!/usr/bin/env bash
# Keep-alive GET (scenario a of bench/run.sh) at 1, 2, 4 and 8 gateway
# threads / nginx workers: does the CPU per request stay flat as cores are
# added? helmgate and the bare Pingora proxy (bench/bare_pingora.rs) each run
# with work_stealing = true and = false, nginx alongside, interleaved at each
# size. The gateways, the upstream and the load generator get separate cores,
# so this needs a big machine (default 14+ cores); on a smaller one it says so
# and exits 0.
#
#   HELMGATE_BIN=target/release/helmgate bench/scale.sh
#   SIZES="1 8" ROUNDS=3 DURATION=5 bench/scale.sh
#   TARGETS="helmgate-nows pingora-nows nginx" bench/scale.sh
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SIZES=${SIZES:-1 2 4 8}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS_PER_WORKER=${CONNS_PER_WORKER:-32}
RESULTS_DIR=${RESULTS_DIR:-$BENCH_DIR/results}
TARGETS=${TARGETS:-helmgate-ws helmgate-nows pingora-ws pingora-nows nginx}

for v in ROUNDS DURATION WARMUP CONNS_PER_WORKER; do
    if [[ ! ${!v} =~ ^[0-9]+$ ]]; then
        echo "$v must be a whole number, got '${!v}'" >&2
        exit 2
    fi
done
for t in $TARGETS; do
    [[ $t =~ ^(helmgate-ws|helmgate-nows|pingora-ws|pingora-nows|nginx)$ ]] || {
        echo "unknown target '$t' (use helmgate-ws helmgate-nows pingora-ws pingora-nows nginx)" >&2
        exit 2
    }
done
[[ " $TARGETS " == *" nginx "* ]] || { echo "TARGETS must include nginx (the reference)" >&2; exit 2; }
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
want_bare=0
[[ " $TARGETS " == *" pingora-"* ]] && want_bare=1
locate_helmgate "$want_bare"
((want_bare)) && locate_bare_pingora 1
install_traps
make_work_dir
RUNS_FILE="$WORK_DIR/runs.jsonl"
START=$(date +%s)
LUA="$BENCH_DIR/lua/allowed_get.lua"
read -r -a TARGETS <<<"$TARGETS"
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
    read -r -a ports <<<"$(python3 "$BENCH_PY" freeports ${#TARGETS[@]})"
    declare -A PORT=() CPU=() RSS=()
    check_args=()
    stop_pids=()
    i=0
    for t in "${TARGETS[@]}"; do
        port=${ports[i]}
        i=$((i + 1))
        PORT[$t]=$port
        case $t in
            helmgate-ws | helmgate-nows)
                ws=true
                [[ $t == helmgate-nows ]] && ws=false
                python3 "$BENCH_PY" conf-helmgate --port "$port" --upstream-port "$UP_PORT" --threads "$n" \
                    --work-stealing "$ws" >"$WORK_DIR/$t-$n.toml"
                start_helmgate "$t-$n" "$cores" "$WORK_DIR/$t-$n.toml" "$port"
                CPU[$t]=$HELMGATE_PID
                RSS[$t]=$HELMGATE_PID
                stop_pids+=("$HELMGATE_PID")
                check_args+=(--gateway "$t=$port")
                ;;
            pingora-ws | pingora-nows)
                ws=true
                [[ $t == pingora-nows ]] && ws=false
                start_bare_pingora "$t-$n" "$cores" "$port" "$UP_PORT" "$n" "$ws"
                CPU[$t]=$BARE_PID
                RSS[$t]=$BARE_PID
                stop_pids+=("$BARE_PID")
                check_args+=(--peer "$t=$port")
                ;;
            nginx)
                python3 "$BENCH_PY" conf-gateway --dir "$WORK_DIR" --name "gateway-nginx-$n" --port "$port" \
                    --upstream-port "$UP_PORT" --workers "$n" >"$WORK_DIR/gateway-nginx-$n.conf"
                start_nginx "gateway-nginx-$n" "$cores" "$WORK_DIR/gateway-nginx-$n.conf" "$port"
                CPU[$t]="$NGINX_MASTER $NGINX_WORKERS"
                RSS[$t]=$NGINX_WORKERS
                # shellcheck disable=SC2206 # a list of PIDs
                stop_pids+=("$NGINX_MASTER" $NGINX_WORKERS)
                check_args+=(--gateway "nginx=$port")
                ;;
        esac
    done
    python3 "$BENCH_PY" check "${check_args[@]}" --upstream "$UP_PORT" --out "$WORK_DIR/check-$n.json"
    CHECK_FILE="$WORK_DIR/check-$n.json"
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
            measure a "$t" "$n" "$r" "http://127.0.0.1:${PORT[$t]}/" "$LUA" "$conns" "$WRK_THREADS" \
                "$WRK_CORES" "$duration" "${CPU[$t]}" "${RSS[$t]}" "" "$mode"
        done
    done
    for pid in "${stop_pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || { echo "PID $pid (a gateway at size $n) died during the run" >&2; exit 1; }
    done
    stop_started "${stop_pids[@]}"
    unset PORT CPU RSS
done

END=$(date +%s)
settings=$(python3 "$BENCH_PY" json sizes="$SIZES" rounds="$ROUNDS" duration="$DURATION" warmup="$WARMUP" \
    conns_per_worker="$CONNS_PER_WORKER" upstream_workers="$UP_WORKERS" upstream_cores="$UP_CORES" \
    wrk_threads="$WRK_THREADS" wrk_cores="$WRK_CORES" nproc="$NPROC" targets="${TARGETS[*]}" \
    helmgate_bin="$HELMGATE_BIN" bare_pingora_bin="${BARE_PINGORA_BIN:-}" wall_s="$((END - START))")
echo
python3 "$BENCH_PY" scale-report --runs "$RUNS_FILE" --settings "$settings" --out-dir "$RESULTS_DIR" \
    --prefix scale
log "done in $((END - START)) s"
