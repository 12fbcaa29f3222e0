#!/usr/bin/env python3
"""Check that two results folders hold the same analysis (issue 16: a speed change must not change results).

    python scripts/bench/same_results.py RESULTS_A RESULTS_B

Compares every ``calls/<call_id>.json`` (minus ``timings_s`` and ``analysed_at``, which differ between
runs), every CSV file byte for byte and every Parquet file frame by frame
(``pandas.testing.assert_frame_equal``, so dtypes count too); the SQLite database is derived from the
same JSON files. Exit status 0 when all are equal, 1 otherwise with one line per difference.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RUN_FIELDS = ("timings_s", "analysed_at")  # differ from one run to the next by nature


def call_json(path: Path) -> dict:
    """A call JSON without the fields that differ between runs of the same analysis."""
    data = json.loads(path.read_text())
    return {k: v for k, v in data.items() if k not in RUN_FIELDS}


def differences(a: Path, b: Path) -> list[str]:
    """One line per file that differs (or exists on one side only) between results folders ``a`` and ``b``."""
    found = []
    calls_a = {p.name for p in (a / "calls").glob("*.json")}
    calls_b = {p.name for p in (b / "calls").glob("*.json")}
    found += [f"calls/{name}: only in {a if name in calls_a else b}" for name in sorted(calls_a ^ calls_b)]
    for name in sorted(calls_a & calls_b):
        left, right = call_json(a / "calls" / name), call_json(b / "calls" / name)
        if left != right:
            keys = sorted(k for k in left.keys() | right.keys() if left.get(k) != right.get(k))
            found.append(f"calls/{name}: differs in {', '.join(keys)}")
    for pattern in ("*.csv", "*.parquet"):
        names_a = {p.name for p in a.glob(pattern)}
        names_b = {p.name for p in b.glob(pattern)}
        found += [f"{name}: only in {a if name in names_a else b}" for name in sorted(names_a ^ names_b)]
        for name in sorted(names_a & names_b):
            if pattern == "*.csv":
                if (a / name).read_bytes() != (b / name).read_bytes():
                    found.append(f"{name}: bytes differ")
                continue
            import pandas as pd

            try:
                pd.testing.assert_frame_equal(pd.read_parquet(a / name), pd.read_parquet(b / name))
            except AssertionError as exc:
                found.append(f"{name}: frames differ ({' '.join(str(exc).split())[:200]})")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    args = parser.parse_args(argv)
    found = differences(args.a, args.b)
    n_calls = len(list((args.a / "calls").glob("*.json")))
    for line in found:
        print(line)
    print(f"{'same' if not found else 'DIFFERENT'}: {n_calls} call JSONs, CSV and Parquet files of {args.a} and {args.b}")
    return 0 if not found else 1


if __name__ == "__main__":
    raise SystemExit(main())
