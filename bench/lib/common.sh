# shellcheck shell=bash
# Shared by bench/run.sh and bench/scale.sh: tool checks, the helmgate build,
# starting pinned processes, measuring one wrk run, and killing everything
# this script started, by PID, on exit.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
BENCH_PY="$BENCH_DIR/lib/bench.py"
NGINX=${NGINX:-nginx}
WRK=${WRK:-wrk}
CLK_TCK=$(getconf CLK_TCK)

# Every process we start, in start order; nginx workers are added too.
STARTED_PIDS=()
WRK_PID=""
WORK_DIR=""

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
        kill -INT "${STARTED_PIDS[i]}" 2>/dev/null || true
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

require_tools() {
    local missing=() t
    for t in "$NGINX" "$WRK" taskset python3 getconf timeout; do
        command -v "$t" >/dev/null 2>&1 || missing+=("$t")
    done
    if ((${#missing[@]})); then
        echo "missing: ${missing[*]}" >&2
        echo "install with: sudo apt-get install -y nginx-light wrk util-linux python3 coreutils" >&2
        echo "(or point NGINX=/path/to/nginx and WRK=/path/to/wrk at other builds)" >&2
        exit 2
    fi
}

# Sets HELMGATE_BIN: the given binary, or a fresh `cargo build --release`.
locate_helmgate() {
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
    log "building helmgate (cargo build --release; fat LTO takes minutes; set HELMGATE_BIN to skip)"
    (cd "$REPO_DIR" && cargo build --release --locked --bin helmgate) >&2
    HELMGATE_BIN="$REPO_DIR/target/release/helmgate"
}

make_work_dir() {
    WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/helmgate-bench.XXXXXX")
}

# wait_port PORT PID NAME: until PORT accepts a connection (10 s at most),
# failing early if PID died.
wait_port() {
    local port=$1 pid=$2 name=$3
    for _ in $(seq 100); do
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
    echo "$name did not listen on 127.0.0.1:$port within 10 s" >&2
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
    for pid in "$@"; do kill -INT "$pid" 2>/dev/null || true; done
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
    [[ -n $tb ]] && args+=(--ticks-before "$tb" --ticks-after "$ta")
    python3 "$BENCH_PY" record "${args[@]}"
}
