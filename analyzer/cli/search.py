"""``call-analyzer search RESULTS TEXT``: find calls by what was said (full-text search over transcripts)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register_commands(subparsers) -> None:
    """Add ``search`` to the CLI's subparsers."""
    p = subparsers.add_parser(
        "search", help="find turns in transcribed calls by words (SQLite FTS5)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Search the transcripts in a results folder (written by analyze --transcribe). Every word "
        "must occur in the turn (any order, case and accents ignored); \"quoted words\" must occur as a phrase; "
        "word* matches a prefix. Prints call_id, speaker, start time (s) and the matching text.",
    )
    p.add_argument("results", help="results folder (with results.sqlite)")
    p.add_argument("text", help='words to find, e.g. cancel or "cancel my contract"')
    p.add_argument("--party", choices=["agent", "customer"], help="only turns of this party")
    p.add_argument("--limit", type=int, default=50, help="most turns to print")
    p.set_defaults(func=_run_search)


def _run_search(args) -> int:
    from ..outputs.words_tables import search
    from ..outputs.writers import DB_NAME

    hits = search(Path(args.results) / DB_NAME, args.text, speaker=args.party, limit=args.limit)
    for hit in hits:
        print(f"{hit['call_id']}\t{hit['speaker']}\t{hit['start_s']:.2f}\t{hit['snippet']}")
    if not hits:
        print(f"no turn matches {args.text!r}", file=sys.stderr)
    return 0
