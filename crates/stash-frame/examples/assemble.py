"""The Python side of examples/assemble.rs: the same N records in a memory
stash of hashstash 1.2.0, then the median time of `assemble_df()`.

    python assemble.py 100000
"""
import sys
import tempfile
import time

from hashstash import HashStash


def record(i):
    f = lambda x: ((x * 2654435761) % (2**64) % 10000) / 100.0
    return {
        "age": i % 20,
        "etc": {
            "city": ["Paris", "Oslo", "Rome", "Lima"][i % 4],
            "zip": i % 90000 + 10000,
            "lat": f(i + 7),
            "heaven": i % 3 == 0,
        },
        "good": i % 2 == 0,
        "kind": ["cat", "dog", "owl"][i % 3],
        "name": f"animal {i}",
        "score": f(i + 1),
        "weight": f(i),
    }


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    root = tempfile.mkdtemp()
    stash = HashStash(root, engine="memory", compress="raw", clear=True)
    for i in range(n):
        stash[f"Animal {i}"] = record(i)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        df = stash.assemble_df()
        times.append(time.perf_counter() - start)
    times.sort()
    print(f"rows\t{len(df)}\ncolumns\t{len(df.columns)}")
    print(f"assemble_df_seconds\t{times[1]:.4f}")
    print(f"rows_per_second\t{n / times[1]:.0f}")


if __name__ == "__main__":
    main()
