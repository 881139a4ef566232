"""The Python half of the key-kind tests in tests/interop.rs: frozensets and DataFrames.

    python kinds.py frozen-write <root>   write FROZEN into <root>
    python kinds.py frozen-check <root>   check the FROZEN items Rust wrote into <root>
    python kinds.py frame-write <root>    write a pandas DataFrame (as value and as key)
    python kinds.py frame-check <root>    check the polars DataFrame Rust wrote
    python kinds.py fn-write <root>       write a function key and a lambda key
    python kinds.py fn-check <root>       check the Rust function keys Rust wrote

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


# Keep in step with `function_keys_cross_languages` in tests/interop.rs: the seed
# README's function and lambda keys.
def func_key(x):
    pass


lambda_key = lambda x: x  # noqa: E731


def fn_write(root):
    for kw in ENGINES:
        s = stash(root, kw)
        s.clear()
        s[func_key] = "function"
        s[lambda_key] = "lambda"
    print(json.dumps({"written": 2, "lambda_source": lambda_key.__source__ if hasattr(lambda_key, "__source__") else None}))


def fn_check(root):
    """Rust wrote fn_key!(func_key) -> "function" and fn_key!(lambda) -> "lambda" (a
    Python keyword as the name): each key loads as a function of that name, which
    raises when called, and its value is right."""
    for kw in ENGINES:
        s = stash(root, kw)
        assert len(s) == 2, f"{kw}: len {len(s)}"
        got = {}
        for k, v in s.items():
            assert callable(k), f"{kw}: key {k!r} is not a function"
            assert "Rust function" in (k.__doc__ or ""), f"{kw}: {k.__name__} doc {k.__doc__!r}"
            try:
                k(1)
            except NotImplementedError as e:
                assert "is a Rust function" in str(e), f"{kw}: {e}"
            else:
                raise AssertionError(f"{kw}: calling {k!r} did not raise")
            got[k.__name__] = v
        assert got == {"func_key": "function", "lambda": "lambda"}, f"{kw}: {got}"
    print(json.dumps({"checked": len(ENGINES)}))


if __name__ == "__main__":
    command, root = sys.argv[1], sys.argv[2]
    {
        "frozen-write": frozen_write,
        "frozen-check": frozen_check,
        "frame-write": frame_write,
        "frame-check": frame_check,
        "fn-write": fn_write,
        "fn-check": fn_check,
    }[command](root)
