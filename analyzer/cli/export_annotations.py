"""``call-analyzer annotations RESULTS --out labels.csv``: the reviewers' turn labels as a train-emotion input."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path


def register_commands(subparsers) -> None:
    """Add ``annotations`` to the CLI's subparsers."""
    p = subparsers.add_parser(
        "annotations", help="export reviewers' corrected turn labels (train-emotion input) and QA disputes",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Write the latest human label of every reviewed turn as CSV (path,start_s,end_s,label,"
        "speaker,channel,call_id,turn_index,machine_label,annotator,annotated_at), which train-emotion reads "
        "as turns of calls. Turns marked unsure, 'not a real turn' or 'wrong speaker' are left out and counted.")
    p.add_argument("results", help="results folder (with results.sqlite)")
    p.add_argument("--out", required=True, metavar="CSV", help="labels file to write")
    p.add_argument("--disputes", metavar="CSV", help="also write the disputed QA results here")
    p.set_defaults(func=_run_annotations)


def write_csv(path: Path, columns, rows) -> None:
    """Write ``rows`` (dicts) with exactly ``columns`` as the header; text cells safe for spreadsheets."""
    from ..outputs.writers import atomic_write_text, neutralise_csv_cell
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (neutralise_csv_cell(v) if isinstance(v, str) and k not in ("path",) else v)
                         for k, v in row.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, buffer.getvalue())


def _run_annotations(args) -> int:
    import sqlite3

    from ..outputs import annotations
    from ..review.app import prepare_database, results_database

    db = results_database(args.results)
    prepare_database(db)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows, skipped = annotations.label_rows(conn)
        disputes = annotations.dispute_rows(conn) if args.disputes else []
    finally:
        conn.close()
    write_csv(Path(args.out), annotations.LABELS_CSV_COLUMNS, rows)
    by_label = {}
    for row in rows:
        by_label[row["label"]] = by_label.get(row["label"], 0) + 1
    counts = ", ".join(f"{label} {by_label[label]}" for label in annotations.EMOTION_LABELS if label in by_label)
    left_out = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in skipped.items() if n)
    print(f"{args.out}: {len(rows)} labelled turns" + (f" ({counts})" if counts else "") +
          f"; left out: {left_out or 'none'}", file=sys.stderr)
    if args.disputes:
        write_csv(Path(args.disputes), annotations.DISPUTES_CSV_COLUMNS, disputes)
        print(f"{args.disputes}: {len(disputes)} disputed QA results", file=sys.stderr)
    return 0
