"""The Python half of tests/interop.rs: writes and checks stashes shared with Rust.

    python interop.py write <root> <combos.json>   write DATA (and the append history) in every combo
    python interop.py check <root> <combos.json>   check what Rust wrote in every combo

A combo is {"engine": ..., "compress": ..., "b64": ...}; its stash is
HashStash(root_dir=<root>/<engine>-<compress>[-b64], dbname="main", serializer="hashstash"),
the append history in dbname "append". Prints one JSON line on success; any
mismatch raises (exit status 1).
"""

import json
import math
import os
import sys
import time

from hashstash import HashStash

# Keep in step with `data()` in tests/interop.rs.
DATA = [
    ("cat", "meow"),
    (42, 3.5),
    (1.5, True),
    (True, None),
    (-7, [1, 2, 3]),
    (["bad", "good"], {"goodness": "bad", "n": 1}),
    (("bad", "good"), ("x", 1)),
    ({"goodness": "bad"}, {"nested": {"deep": [1, {"x": 2.25}]}}),
    ({"a", "b"}, {1, 2, 3}),
    (b"ab", b"\x00\xffbytes"),
    (("t", (1, 2)), "nested tuple"),
    ("ünïcødé 😀", "é"),
    ({"a": [1, 2], "b": {"c": None}}, 0),
    ("big", 2**63),
    ("tuple in list", [("a", 1), {"s": ("b",)}]),
]
APPEND_KEY = ("history", 1)
APPEND_VALUES = ["v1", "v2", "v3"]


def describe(v):
    """A JSON-able description without objects, the same one Rust builds from a Value."""
    if v is None:
        return None
    if isinstance(v, bool):
        return ["bool", v]
    if isinstance(v, int):
        return ["int", str(v)]
    if isinstance(v, float):
        return ["float", repr(v)]
    if isinstance(v, str):
        return ["str", v]
    if isinstance(v, bytes):
        return ["bytes", v.hex()]
    if isinstance(v, list):
        return ["list", [describe(x) for x in v]]
    if isinstance(v, tuple):
        return ["tuple", [describe(x) for x in v]]
    if isinstance(v, (set, frozenset)):
        return ["set", sorted((describe(x) for x in v), key=canon)]
    if isinstance(v, dict):
        return ["dict", sorted(([describe(k), describe(x)] for k, x in v.items()), key=canon)]
    raise TypeError(f"cannot describe {type(v).__name__}: {v!r}")


def canon(d):
    return json.dumps(d, ensure_ascii=False, separators=(",", ":"))


def table(df):
    return df.shape, sorted(repr(row) for row in df.reset_index().values.tolist())


def stashes(root, combo):
    name = f"{combo['engine']}-{combo['compress']}" + ("-b64" if combo["b64"] else "")
    kwargs = dict(
        root_dir=os.path.join(root, name),
        engine=combo["engine"],
        compress=combo["compress"],
        b64=combo["b64"],
        serializer="hashstash",
    )
    main = HashStash(dbname="main", **kwargs)
    append = HashStash(dbname="append", append_mode=True, **kwargs)
    return main, append


def write(root, combos):
    for combo in combos:
        main, append = stashes(root, combo)
        main.clear()
        append.clear()
        for k, v in DATA:
            main.set(k, v)
        for v in APPEND_VALUES:
            append.set(APPEND_KEY, v)
            time.sleep(0.002)
    print(json.dumps({"items": [[describe(k), describe(v)] for k, v in DATA]}, ensure_ascii=False))


def check(root, combos):
    expected = sorted((canon([describe(k), describe(v)]) for k, v in DATA))
    now = time.time()
    for combo in combos:
        where = json.dumps(combo)
        main, append = stashes(root, combo)
        for k, v in DATA:
            got = main.get(k)
            assert got == v and type(got) is type(v), f"{where}: get({k!r}) = {got!r}, expected {v!r}"
            assert k in main, f"{where}: {k!r} not in the stash"
        assert len(main) == len(DATA), f"{where}: len {len(main)} != {len(DATA)}"
        keys = sorted(canon(describe(k)) for k in main.keys())
        assert keys == sorted(canon(describe(k)) for k, _ in DATA), f"{where}: keys {keys}"
        items = sorted(canon([describe(k), describe(v)]) for k, v in main.items())
        assert items == expected, f"{where}: items differ:\n{items}\n{expected}"
        # The table of what Rust wrote is the table of the same data written by Python.
        ref = HashStash(
            root_dir=os.path.join(root, "python-reference"), dbname=where.replace("/", "_"),
            engine=combo["engine"], compress=combo["compress"], b64=combo["b64"], serializer="hashstash",
        )
        ref.clear()
        for k, v in DATA:
            ref.set(k, v)
        assert table(main.df) == table(ref.df), f"{where}: df\n{main.df}\n!=\n{ref.df}"
        meta = append.get_all(APPEND_KEY, with_metadata=True)
        assert [m["_value"] for m in meta] == APPEND_VALUES, f"{where}: get_all {meta}"
        assert [m["_version"] for m in meta] == [1, 2, 3], f"{where}: versions {meta}"
        times = [m["_written_at"] for m in meta]
        assert all(isinstance(t, float) for t in times), f"{where}: times {times}"
        assert times == sorted(times) and len(set(times)) == 3, f"{where}: times {times}"
        assert all(abs(now - t) < 3600 for t in times), f"{where}: times {times} (now {now})"
        assert append.get(APPEND_KEY) == "v3", f"{where}: newest {append.get(APPEND_KEY)!r}"
        adf = append.df
        assert len(adf) >= 1, f"{where}: append df {adf}"
    print(json.dumps({"checked": len(combos)}))


if __name__ == "__main__":
    command, root, combos = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    {"write": write, "check": check}[command](root, combos)
