#!/usr/bin/env bash
# Fuzz every target (or those named after SECONDS) for SECONDS each, default 60,
# and report how long each ran and whether it crashed.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). cargo-fuzz passes
# nightly-only flags (-Zsanitizer=address, sanitizer coverage) to rustc;
# RUSTC_BOOTSTRAP=1 lets a stable toolchain accept them. Set FUZZ_SANITIZER=none
# for a faster run without AddressSanitizer.
#
# The committed seeds in fuzz/corpus/<target>/ are only read; what libFuzzer
# finds goes to fuzz/work/<target>/ (ignored by git), crash inputs to
# fuzz/artifacts/<target>/, full logs to fuzz/logs/<target>.log. Commit a crash
# input to fuzz/corpus/<target>/ once fixed: tests/fuzz_corpus.rs replays it.
# Exits 1 when any target crashed.
set -uo pipefail
cd "$(dirname "$0")"

secs=${1:-60}
shift $(($# > 0 ? 1 : 0))
if ! [[ $secs =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
  echo "usage: fuzz/run.sh [SECONDS] [TARGET...]" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz/run.sh: cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
  exit 2
fi
export RUSTC_BOOTSTRAP=1
sanitizer=${FUZZ_SANITIZER:-address}

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

echo "building ${targets[*]} (sanitizer: $sanitizer)"
cargo fuzz build --sanitizer "$sanitizer" || exit 2

mkdir -p logs
results=()
crashed=0
for t in "${targets[@]}"; do
  mkdir -p "work/$t" "corpus/$t"
  log="logs/$t.log"
  echo "fuzzing $t for ${secs}s"
  start=$(date +%s)
  cargo fuzz run --sanitizer "$sanitizer" "$t" "work/$t" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  wall=$(($(date +%s) - start))
  # libFuzzer's own "Done N runs in S second(s)"; the wall clock after a crash.
  ran=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  ran=${ran:-$wall}
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
  if [ $rc -eq 0 ]; then
    status="no crash"
  else
    crashed=1
    artifact=$(grep -oE 'artifacts/[^ ]+' "$log" | tail -1)
    status="CRASH (exit $rc) ${artifact:+input: fuzz/$artifact, }log: fuzz/$log"
  fi
  results+=("$(printf '%-10s %5ss  %12s execs  %-9s  %s' "$t" "$ran" "${execs:-?}" "${cov:-cov: ?}" "$status")")
done

echo
printf '%-10s %6s  %18s  %-9s  %s\n' target ran executions coverage result
printf '%s\n' "${results[@]}"
exit $crashed
