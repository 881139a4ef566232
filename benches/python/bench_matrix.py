#!/usr/bin/env python3
"""The profiling matrix's workload through the Python hashstash library (PyPI 1.2.0).

Adapted from ../shared/peers/bench_hashstash.py (the same 10-field record, the
same perf_counter timing and disk walk) to the Rust matrix's cells: value sizes
(record, a 17-record document of ~10 KiB, a 1,775-record document of ~1 MiB),
operations (set, get, iterate, batch, run, map, map-warm), repetitions with a
time budget, and one JSON line per cell:

    RESULT {"engine": ..., "serializer": ..., "compress": ..., "size": ..., "n": ...,
            "ops": [["set", ops_per_s, items], ...], "disk_apparent": ..., ...}

`cargo xtask bench --vs-python` installs the library in target/bench/venv and runs this.
"""
import argparse, json, os, random, shutil, statistics, sys, tempfile, time, warnings

ROOT = tempfile.mkdtemp(prefix="hsmatrix_")
os.environ["HASHSTASH_ROOT_DIR"] = ROOT
warnings.filterwarnings("ignore")

import hashstash  # noqa: E402
from hashstash import HashStash  # noqa: E402

K10_RECORDS = 17
M1_RECORDS = 1775
POOL = 4096


def make_value(i):
    rnd = random.Random(i)
    return {
        "id": i,
        "name": f"name-{i}",
        "title": f"Title number {i} with some text",
        "score": rnd.random(),
        "count": rnd.randint(0, 10**6),
        "flag": bool(i % 2),
        "category": rnd.choice(["alpha", "beta", "gamma", "delta"]),
        "ratio": i / 7.0,
        "tag": "t" * (i % 13),
        "vec": [rnd.random() for _ in range(20)],
    }


_POOL = []


def pool():
    if not _POOL:
        _POOL.extend(make_value(i) for i in range(POOL))
    return _POOL


def record_at(i):
    return pool()[i % POOL]


def doc_at(i, count):
    p = pool()
    start = (i * 131) % (POOL - count + 1)
    return {"id": i, "records": p[start:start + count]}


# The functions run() and map() stash, one per size (module level: picklable).
def payload_record(i):
    return record_at(i)


def payload_10k(i):
    return doc_at(i, K10_RECORDS)


def payload_1m(i):
    return doc_at(i, M1_RECORDS)


VALUE = {
    "record": record_at,
    "10k": payload_10k,
    "1m": payload_1m,
}
FUNC = {"record": payload_record, "10k": payload_10k, "1m": payload_1m}


def disk_usage(path):
    apparent = alloc = 0
    if os.path.isfile(path):
        st = os.stat(path)
        return st.st_size, st.st_blocks * 512
    for dp, dn, fns in os.walk(path):
        for fn in fns:
            try:
                st = os.stat(os.path.join(dp, fn))
            except FileNotFoundError:
                continue
            apparent += st.st_size
            alloc += st.st_blocks * 512
    return apparent, alloc


def timed_loop(n, budget, op):
    """op(i) for i in range(n) until budget seconds pass; returns (calls, seconds)."""
    t0 = time.perf_counter()
    done = 0
    while done < n:
        op(done)
        done += 1
        if (done < 16 or done % 16 == 0) and time.perf_counter() - t0 >= budget:
            break
    return done, time.perf_counter() - t0


def median_run(runs):
    rates = [r for _, r in runs]
    mid = statistics.median(rates)
    items = min(runs, key=lambda r: abs(r[1] - mid))[0]
    return mid, items


def bench_cell(engine, serializer, compress, size, n, ops, reps, budget, map_items):
    root = os.path.join(ROOT, f"{engine}_{serializer}_{compress}_{size}")
    s = HashStash(engine=engine, serializer=serializer, compress=compress, root_dir=root)
    s.clear()
    notes = []
    if s.compress != compress:
        notes.append(f"the library used compress={s.compress}")
    keys = [f"key{i}" for i in range(n)]
    value = VALUE[size]
    out = {"engine": engine, "serializer": serializer, "compress": compress, "size": size, "n": n,
           "ops": [], "notes": notes, "value_bytes": None, "disk_apparent": None, "disk_allocated": None,
           "error": None}
    sample = [value(i) for i in range(0, n, max(1, n // 32))]
    out["value_bytes"] = statistics.mean(len(json.dumps(v, separators=(",", ":"))) for v in sample)

    def record(op, runs):
        mid, items = median_run(runs)
        out["ops"].append([op, mid, items])

    def setter(i):
        s[keys[i]] = value(i)

    if "set" in ops:
        runs = []
        for _ in range(reps):
            s.clear()
            t0 = time.perf_counter()
            done, _ = timed_loop(n, budget, setter)
            runs.append((done, done / (time.perf_counter() - t0)))
        record("set", runs)
    stored = 0
    if "batch" in ops:
        # The library's batch write: update() with a dict (a set per item inside).
        runs = []
        for _ in range(reps):
            s.clear()
            t0 = time.perf_counter()
            done = 0
            while done < n:
                hi = min(done + 1000, n)
                s.update({keys[i]: value(i) for i in range(done, hi)})
                done = hi
                if time.perf_counter() - t0 >= budget:
                    break
            runs.append((done, done / (time.perf_counter() - t0)))
            stored = done
        record("batch", runs)
    else:
        s.clear()
    for i in range(stored, n):
        setter(i)
    if hasattr(s, "close"):
        try:
            s.close()
        except Exception:
            pass
    if len(s) != n:
        raise RuntimeError(f"len() is {len(s)} after writing {n}")
    if engine != "memory":
        app, alloc = disk_usage(s.path_dirname)
        out["disk_apparent"] = app / n
        out["disk_allocated"] = alloc / n

    if "get" in ops:
        runs = []
        for _ in range(reps):
            def getter(i):
                if s[keys[i]] is None:
                    raise KeyError(keys[i])
            t0 = time.perf_counter()
            done, _ = timed_loop(n, budget, getter)
            runs.append((done, done / (time.perf_counter() - t0)))
        record("get", runs)
    if "iterate" in ops:
        runs = []
        for _ in range(reps):
            t0 = time.perf_counter()
            cnt = 0
            for k, v in s.items():
                cnt += 1
                if cnt % 16 == 0 and cnt < n and time.perf_counter() - t0 >= budget:
                    break
            runs.append((cnt, cnt / (time.perf_counter() - t0)))
        record("iterate", runs)
    m = max(1, min(map_items, n))
    func = FUNC[size]
    if "run" in ops:
        for i in range(m):
            s.run(func, i)
        runs = []
        for _ in range(reps):
            t0 = time.perf_counter()
            done, _ = timed_loop(m, budget, lambda i: s.run(func, i))
            runs.append((done, done / (time.perf_counter() - t0)))
        record("run", runs)
    if "map" in ops or "map-warm" in ops:
        # num_proc=1: the library's StashMap can deadlock with num_proc>1 (see bench_hashstash.py).
        cold, objs = [], []
        for rep in range(reps):
            base = 1_000_000 * (rep + 1)
            objs = list(range(base, base + m))
            t0 = time.perf_counter()
            res = list(s.map(func, objs, num_proc=1, progress=False))
            cold.append((m, m / (time.perf_counter() - t0)))
            if len(res) != m:
                raise RuntimeError(f"map returned {len(res)} of {m}")
        if "map" in ops:
            record("map", cold)
        if "map-warm" in ops:
            warm = []
            for _ in range(reps):
                t0 = time.perf_counter()
                res = list(s.map(func, objs, num_proc=1, progress=False))
                warm.append((m, m / (time.perf_counter() - t0)))
            record("map-warm", warm)
    s.clear()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engines", default="pairtree,memory,lmdb,sqlite")
    ap.add_argument("--serializers", default="hashstash,pickle")
    ap.add_argument("--compress", default="raw,lz4")
    ap.add_argument("--sizes", default="record=2000,10k=200,1m=10")
    ap.add_argument("--ops", default="set,get,iterate,batch,run,map,map-warm")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--budget-ms", type=int, default=500)
    ap.add_argument("--map-items", type=int, default=200)
    a = ap.parse_args()
    ops = set(a.ops.split(","))
    sizes = [tuple(x.split("=")) for x in a.sizes.split(",") if x]
    print(f"# hashstash {hashstash.__version__}  python {sys.version.split()[0]}  root={ROOT}",
          file=sys.stderr, flush=True)
    for size, n in sizes:
        for serializer in a.serializers.split(","):
            for compress in a.compress.split(","):
                for engine in a.engines.split(","):
                    try:
                        r = bench_cell(engine, serializer, compress, size, int(n), ops, a.reps,
                                       a.budget_ms / 1000.0, a.map_items)
                    except Exception as e:  # reported as the cell's error
                        r = {"engine": engine, "serializer": serializer, "compress": compress, "size": size,
                             "n": int(n), "ops": [], "error": f"{type(e).__name__}: {str(e)[:200]}"}
                    print("RESULT " + json.dumps(r), flush=True)


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(ROOT, ignore_errors=True)
