#!/usr/bin/env bash
# Merges the working corpora of fuzz/run.sh into the committed ones, minimized
# (libFuzzer -merge=1, what `cargo fuzz cmin` runs): the inputs that add coverage,
# cut to MERGE_MAX_LEN bytes (default 4096), edge coverage only (MERGE_COUNTERS=1 keeps
# hit counts too): the committed corpora stay small and the stable replay fast.
#
#   fuzz/minimize.sh [target ...]            # default: every target
set -euo pipefail
cd "$(dirname "$0")"
WORK=${FUZZ_WORK:-/dev/shm/stash-fuzz}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^stash-fuzz$')
fi
mkdir -p "$WORK/tmp"
for t in "${targets[@]}"; do
    new="$WORK/merged/$t"
    rm -rf "$new" && mkdir -p "$new" "$WORK/corpus/$t"
    TMPDIR="$WORK/tmp" nice -n 19 "target/x86_64-unknown-linux-gnu/release/$t" -merge=1 -use_counters="${MERGE_COUNTERS:-0}" -rss_limit_mb=512 \
        -max_len="${MERGE_MAX_LEN:-4096}" "$new" "corpus/$t" "$WORK/corpus/$t" >"$WORK/merge-$t.log" 2>&1
    rm -rf "corpus/$t" && cp -r "$new" "corpus/$t"
    printf '%-20s %5s files %8s\n' "$t" "$(ls "corpus/$t" | wc -l)" "$(du -sh "corpus/$t" | cut -f1)"
done
