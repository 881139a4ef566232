"""The Python half of the key-kind tests in tests/interop.rs: frozensets and DataFrames.

    python kinds.py frozen-write <root>   write FROZEN into <root>
    python kinds.py frozen-check <root>   check the FROZEN items Rust wrote into <root>
    python kinds.py frame-write <root>    write a pandas DataFrame (as value and as key)
    python kinds.py frame-check <root>    check the polars DataFrame Rust wrote

Stashes: HashStash(root_dir=<root>/<engine>, dbname="main", serializer="hashstash") for
each engine in ENGINES (pairtree with the default lz4+b64, lmdb raw). Prints one JSON
line on success; any mismatch raises (exit status 1).
"""

import json
import math
import os
import sys

from hashstash import HashStash

ENGINES = [
    dict(engine="pairtree", compress="lz4", b64=True),
    dict(engine="lmdb", compress="raw", b64=False),
]

# Keep in step with `frozen_data()` in tests/interop.rs.
FROZEN = [
    (frozenset(), "empty frozenset"),
    (frozenset({3, 1, "a"}), "frozenset"),
    ({"x", "y"}, "set"),
    ("frozenset value", frozenset({2, 1})),
]


def stash(root, kw):
    return HashStash(root_dir=os.path.join(root, kw["engine"]), dbname="main", serializer="hashstash", **kw)


def frozen_write(root):
    for kw in ENGINES:
        s = stash(root, kw)
        s.clear()
        for k, v in FROZEN:
            s.set(k, v)
    print(json.dumps({"written": len(FROZEN)}))


def frozen_check(root):
    for kw in ENGINES:
        s = stash(root, kw)
        assert len(s) == len(FROZEN), f"{kw}: len {len(s)}"
        for k, v in FROZEN:
            got = s.get(k)
            assert got == v and type(got) is type(v), f"{kw}: get({k!r}) = {got!r}, expected {v!r}"
        for k in s.keys():
            assert any(k == k2 and type(k) is type(k2) for k2, _ in FROZEN), f"{kw}: key {k!r}"
    print(json.dumps({"checked": len(ENGINES)}))


def frame():
    """Keep in step with `expected_frame()` in tests/interop.rs."""
    import numpy as np
    import pandas as pd

    return pd.DataFrame(
        {
            "name": ["a", None, "ünï"],
            "n": np.array([1, -2, 2**40], dtype="int64"),
            "x": [1.5, np.nan, -0.25],
            "ok": [True, False, True],
            "when": pd.to_datetime(["2024-01-01", "2024-01-02 03:04:05.123456", None], format="ISO8601"),
        }
    )


def frame_write(root):
    df = frame()
    for kw in ENGINES:
        s = stash(root, kw)
        s.clear()
        s.set("frame", df)
        s.set(df, "cat")
    print(json.dumps({"written": True, "dtypes": {c: str(t) for c, t in df.dtypes.items()}}))


def frame_check(root):
    import pandas as pd

    want = frame()
    for kw in ENGINES:
        s = stash(root, kw)
        got = s.get("frame")
        assert isinstance(got, pd.DataFrame), f"{kw}: {type(got)}"
        assert list(got.columns) == list(want.columns), f"{kw}: columns {list(got.columns)}"
        assert got.shape == want.shape, f"{kw}: shape {got.shape}"
        for c in want.columns:
            for i in range(len(want)):
                a, b = got[c].iloc[i], want[c].iloc[i]
                if pd.isna(b):
                    assert pd.isna(a), f"{kw}: {c}[{i}] = {a!r}, expected missing"
                else:
                    assert a == b, f"{kw}: {c}[{i}] = {a!r}, expected {b!r}"
        assert got.equals(want), f"{kw}:\n{got}\n{got.dtypes}\n!=\n{want}\n{want.dtypes}"
        # The DataFrame key Rust wrote is found by Python's own equal frame.
        assert s.get(want) == "cat", f"{kw}: key not found; keys {list(s.keys())}"
    print(json.dumps({"checked": len(ENGINES)}))


if __name__ == "__main__":
    command, root = sys.argv[1], sys.argv[2]
    {
        "frozen-write": frozen_write,
        "frozen-check": frozen_check,
        "frame-write": frame_write,
        "frame-check": frame_check,
    }[command](root)
