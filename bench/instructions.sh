#!/usr/bin/env bash
# Instructions and heap allocations per request (issue 13, part 4), counted
# by valgrind, so that a change to Pingora or helmgate can be judged by a
# number that does not move with the machine's load: keep a change only if it
# cuts at least 10% of the instructions per request.
#
#   HELMGATE_BIN=target/release/helmgate bench/instructions.sh
#   N=500 WARM=50 TARGETS="helmgate pingora" SCENARIOS=a bench/instructions.sh
#   TARGETS="helmgate pingora-canonical helmgate-keepcase pingora" SCENARIOS=a ...
#     (like for like: pingora-canonical is bare Pingora without the
#     header-case map, as helmgate runs by default)
#   TOOLS=callgrind LINEARITY=1 bench/instructions.sh
#
# For each target, scenario and tool, the target is started fresh under
# valgrind (1 thread / master_process off), sent WARM requests, or WARM + N,
# one at a time on one keep-alive connection, and stopped; the difference of
# the two totals divided by N is the cost of one request, with start-up,
# first-connection setup and shutdown cancelled out.
#   callgrind: total instructions executed (all threads), "Collected" in its log
#   dhat:      heap blocks (and bytes) allocated, "Total: X bytes in Y blocks"
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

N=${N:-2000}
WARM=${WARM:-200}
TARGETS=${TARGETS:-helmgate pingora nginx}
SCENARIOS=${SCENARIOS:-a b c}
TOOLS=${TOOLS:-callgrind dhat}
LINEARITY=${LINEARITY:-0}
GW_CORE=${GW_CORE:-0}
LOAD_CORE=${LOAD_CORE:-1}
VALGRIND=${VALGRIND:-valgrind}
START_TIMEOUT=${START_TIMEOUT:-120}
RESULTS_DIR=${RESULTS_DIR:-$BENCH_DIR/results}

for v in N WARM LINEARITY GW_CORE LOAD_CORE START_TIMEOUT; do
    if [[ ! ${!v} =~ ^[0-9]+$ ]]; then
        echo "$v must be a whole number, got '${!v}'" >&2
        exit 2
    fi
done
((N >= 1 && WARM >= 1)) || { echo "N and WARM must be at least 1" >&2; exit 2; }
# helmgate and bare Pingora close a client connection after 10,000 requests;
# a second connection would add its setup to the difference.
most=$((WARM + N * (LINEARITY ? 2 : 1)))
((most <= 10000)) || { echo "WARM + N (x2 with LINEARITY=1) is $most; keep it <= 10000 (one connection)" >&2; exit 2; }
for t in $TARGETS; do
    [[ $t =~ ^(helmgate|helmgate-keepcase|helmgate-hardened|pingora|pingora-canonical|nginx)$ ]] ||
        { echo "unknown target '$t' (use helmgate helmgate-keepcase helmgate-hardened pingora pingora-canonical nginx)" >&2; exit 2; }
done
for s in $SCENARIOS; do
    [[ $s =~ ^[abc]$ ]] || { echo "unknown scenario '$s' (use a b c)" >&2; exit 2; }
done
for tool in $TOOLS; do
    [[ $tool =~ ^(callgrind|dhat)$ ]] || { echo "unknown tool '$tool' (use callgrind dhat)" >&2; exit 2; }
done
if ((GW_CORE >= $(nproc) || LOAD_CORE >= $(nproc))); then
    echo "GW_CORE=$GW_CORE and LOAD_CORE=$LOAD_CORE must be below nproc=$(nproc)" >&2
    exit 2
fi

require_tools "$NGINX" "$VALGRIND" taskset python3 getconf timeout
want_bare=0
[[ " $TARGETS " == *" pingora "* || " $TARGETS " == *" pingora-canonical "* ]] && want_bare=1
locate_helmgate "$want_bare"
((want_bare)) && locate_bare_pingora 1
install_traps
make_work_dir
START=$(date +%s)
RESULTS="$WORK_DIR/instructions.jsonl"
: >"$RESULTS"

read -r UP_PORT <<<"$(python3 "$BENCH_PY" freeports 1)"
python3 "$BENCH_PY" conf-upstream --dir "$WORK_DIR" --port "$UP_PORT" --workers 1 \
    >"$WORK_DIR/upstream.conf"
start_nginx upstream "$LOAD_CORE" "$WORK_DIR/upstream.conf" "$UP_PORT"

counts=("$WARM" $((WARM + N)))
((LINEARITY)) && counts+=($((WARM + 2 * N)))
n_runs=0
for _ in $TARGETS; do for _ in $SCENARIOS; do for _ in $TOOLS; do
    n_runs=$((n_runs + ${#counts[@]}))
done; done; done
log "plan: $n_runs valgrind runs (targets '$TARGETS', scenarios '$SCENARIOS', tools '$TOOLS'," \
    "requests ${counts[*]}); each starts a fresh process, ${START_TIMEOUT} s start-up limit"

# One valgrind run: start TARGET under TOOL, send COUNT requests of SCENARIO,
# stop it, and append what valgrind counted to $RESULTS.
one_run() {
    local target=$1 scenario=$2 tool=$3 count=$4
    local name="$target-$scenario-$tool-$count" port pid rc=0
    local vlog="$WORK_DIR/$name.valgrind.log"
    read -r port <<<"$(python3 "$BENCH_PY" freeports 1)"
    local vg=("$VALGRIND" "--tool=$tool" "--log-file=$vlog")
    case $tool in
        callgrind) vg+=("--callgrind-out-file=$WORK_DIR/$name.callgrind" --dump-instr=no --dump-line=no) ;;
        dhat) vg+=("--dhat-out-file=$WORK_DIR/$name.dhat") ;;
    esac
    case $target in
        helmgate | helmgate-*)
            local variant=seed
            [[ $target == helmgate-* ]] && variant=${target#helmgate-}
            python3 "$BENCH_PY" conf-helmgate --port "$port" --upstream-port "$UP_PORT" --threads 1 \
                --variant "$variant" >"$WORK_DIR/$name.toml"
            taskset -c "$GW_CORE" "${vg[@]}" "$HELMGATE_BIN" --config "$WORK_DIR/$name.toml" \
                >"$WORK_DIR/$name.log" 2>&1 &
            ;;
        pingora | pingora-canonical)
            local case=preserve
            [[ $target == pingora-canonical ]] && case=canonical
            taskset -c "$GW_CORE" "${vg[@]}" "$BARE_PINGORA_BIN" --listen "127.0.0.1:$port" \
                --upstream "127.0.0.1:$UP_PORT" --threads 1 --header-case "$case" \
                >"$WORK_DIR/$name.log" 2>&1 &
            ;;
        nginx)
            mkdir -p "$WORK_DIR/$name-tmp"
            python3 "$BENCH_PY" conf-gateway --dir "$WORK_DIR" --name "$name" --port "$port" \
                --upstream-port "$UP_PORT" --workers 1 --no-master >"$WORK_DIR/$name.conf"
            taskset -c "$GW_CORE" "${vg[@]}" "$NGINX" -p "$WORK_DIR" -e "$WORK_DIR/$name-error.log" \
                -c "$WORK_DIR/$name.conf" >"$WORK_DIR/$name.log" 2>&1 &
            ;;
    esac
    pid=$!
    STARTED_PIDS+=("$pid")
    wait_port "$port" "$pid" "$name" "$START_TIMEOUT"
    local drive
    drive=$(taskset -c "$LOAD_CORE" timeout -k 5 600 python3 "$BENCH_PY" drive --port "$port" \
        --scenario "$scenario" --n "$count" --timeout 60) || rc=$?
    # Valgrind writes its totals when the program exits; SIGINT is a fast
    # stop for all three (and valgrind passes it on).
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 1200); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    stop_started "$pid"
    if ((rc != 0)); then
        echo "$name: the client failed (rc $rc); logs in $WORK_DIR" >&2
        exit 1
    fi
    python3 "$BENCH_PY" json target="$target" scenario="$scenario" tool="$tool" requests="$count" \
        valgrind_log="$vlog" drive="$drive" >>"$RESULTS"
    log "$name: $(grep -m1 -E 'Collected|Total:' "$vlog" | sed 's/^==[0-9]*== *//') $drive"
}

for t in $TARGETS; do
    for s in $SCENARIOS; do
        for tool in $TOOLS; do
            for c in "${counts[@]}"; do
                one_run "$t" "$s" "$tool" "$c"
            done
        done
    done
done

END=$(date +%s)
echo
python3 "$BENCH_PY" instructions-report --runs "$RESULTS" --n "$N" --warm "$WARM" \
    --valgrind "$("$VALGRIND" --version)" --helmgate-bin "$HELMGATE_BIN" --out-dir "$RESULTS_DIR"
log "done in $((END - START)) s"
