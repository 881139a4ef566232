#!/usr/bin/env bash
# Runs fuzz targets one after another (two at a time by default), each for SECONDS,
# and prints one line of figures per target. Needs nightly and cargo-fuzz:
#
#   cargo install cargo-fuzz
#   fuzz/run.sh [SECONDS] [target ...]        # default: 600 s, every target
#
# Working corpora go to $FUZZ_WORK (default /dev/shm/stash-fuzz/corpus/<target>, seeded
# from fuzz/corpus/<target>); engines' temporary stashes to $FUZZ_WORK/tmp (a tmpfs
# keeps the disk out of it). Logs: $FUZZ_WORK/logs/<target>.log. Crashes:
# fuzz/artifacts/<target>/ (git-ignored): copy one into fuzz/regressions/<target>/ to
# make it a regression the stable test replays. minimize.sh merges what the runs
# found into fuzz/corpus.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-600}
shift || true
WORK=${FUZZ_WORK:-/dev/shm/stash-fuzz}
JOBS=${FUZZ_JOBS:-2}
RSS_MB=${FUZZ_RSS_MB:-512}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^stash-fuzz$')
fi
mkdir -p "$WORK/logs" "$WORK/tmp"
# FUZZ_NO_BUILD=1 runs the binaries already built.
[ -n "${FUZZ_NO_BUILD:-}" ] || nice -n 19 cargo +nightly fuzz build -s none -a >/dev/null
run_one() {
    local t=$1 log="$WORK/logs/$1.log"
    mkdir -p "$WORK/corpus/$t" "artifacts/$t" "$WORK/tmp/$t"
    # The binaries run directly: `cargo fuzz run` would rebuild whenever a crate changes.
    # glibc's malloc hands blocks over 128 KiB back to the system at each free, so a
    # codec that allocates megabytes per input (bzip2's 900k blocks) page-faults them in
    # again every time: keeping them in the heap made codec_bz2 3.6 times faster.
    TMPDIR="$WORK/tmp/$t" GLIBC_TUNABLES=glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824 \
        nice -n 19 "target/x86_64-unknown-linux-gnu/release/$t" \
        -artifact_prefix="artifacts/$t/" "$WORK/corpus/$t" "corpus/$t" \
        -max_total_time="$SECONDS_EACH" -rss_limit_mb="$RSS_MB" -timeout=20 -max_len=65536 \
        -print_final_stats=1 >"$log" 2>&1 || true
    # The engine targets keep their stashes open until the process ends, so nothing
    # removes their folders.
    rm -rf "${WORK:?}/tmp/$t"
    local execs secs rss crashes
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
    crashes=$(grep -c '^==[0-9]*== ERROR: libFuzzer\|^Test unit written to\|panicked at' "$log" || true)
    printf '%-20s execs=%-10s secs=%-6s peak_rss_mb=%-6s crash_lines=%s\n' "$t" "${execs:-?}" "${secs:-?}" "${rss:-?}" "$crashes"
}
export -f run_one
export WORK SECONDS_EACH RSS_MB
printf '%s\n' "${targets[@]}" | xargs -P "$JOBS" -I{} bash -c 'run_one {}'
