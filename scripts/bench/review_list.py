"""Time the review app's calls list (analyzer/review/queries.py) on a database of N synthetic calls.

    python scripts/bench/review_list.py [--calls 20000] [--repeat 3]

Prints, per query, the seconds for the count and for one page (50 rows): the first page in call_id order,
page 3 filtered by date folder, QA score and failed rule and sorted by QA score, and a text search.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from analyzer.outputs.database import ResultsDatabase
from analyzer.review import queries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = ResultsDatabase(Path(folder) / "results.sqlite")
        conn = db.connection
        rows = [(f"agent{k % 7}/2024-05-{1 + k % 28:02d}/call-{k:05d}", f"/calls/{k}.wav", 40.0 + k % 60, k % 5,
                 float(k % 40), 30.0 + k % 300) for k in range(args.calls)]
        with conn:
            conn.executemany("INSERT INTO calls (call_id, path, qa_score, n_warnings, dead_air_total_s, duration_s) "
                             "VALUES (?,?,?,?,?,?)", rows)
            conn.executemany("INSERT INTO qa_results (call_id, rule, status) VALUES (?, 'dead_air_over_10s', 'failed')",
                             [(r[0],) for r in rows if r[4] > 10])
        cases = {
            "first page, call_id order": (queries.CallFilter(), 1),
            "page 3, date + QA range + failed rule, by QA score": (queries.CallFilter(
                date="2024-05-07", qa_min=50, qa_max=80, failed_rule="dead_air_over_10s", sort="qa_score",
                descending=True), 3),
            "text search": (queries.CallFilter(text="call-1999"), 1),
        }
        for name, (f, page) in cases.items():
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                _, total = queries.list_calls(conn, f, page=page, page_size=50)
                times.append(time.perf_counter() - start)
            print(f"{name}: {total} matching, page of 50 in {min(times):.3f}-{max(times):.3f} s")
        db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
