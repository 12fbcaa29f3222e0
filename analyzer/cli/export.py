"""``call-analyzer export``: the segmentation of every call of a results folder as RTTM, Audacity
labels, Praat TextGrid or JSON Lines (see docs/database.md, "Exports")."""

from __future__ import annotations

import argparse
import sys

from .compare import _report_error


def register_commands(subparsers) -> None:
    """Add ``export`` to the CLI's subparsers; it sets ``func(args) -> int``."""
    from ..outputs.exports import FORMATS

    p = subparsers.add_parser(
        "export", help="export turns, segments and events as RTTM, Audacity labels, TextGrid or JSON Lines",
        description="Write one file (Audacity: one per track) per call of RESULTS into --out, named by call_id: "
                    "rttm = speech segments with speakers agent/customer (pyannote, dscore); audacity = label "
                    "tracks agent, customer, events; textgrid = Praat/ELAN TextGrid with a tier per party and per "
                    "event group; jsonl = one JSON object per turn, segment and event.")
    p.add_argument("results_dir", metavar="RESULTS", help="the --out folder of 'call-analyzer analyze'")
    p.add_argument("--format", required=True, choices=FORMATS, help="export format (required)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the exported files (required)")
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    """``call-analyzer export``: write the files and print how many."""
    from ..errors import AnalyzerError
    from ..outputs.exports import export_results
    from ..results import open as open_results

    try:
        results = open_results(args.results_dir)
    except AnalyzerError as exc:
        return _report_error(exc)
    written = export_results(results.results, args.format, args.out)
    print(f"{len(written)} {args.format} file(s) for {len(results)} call(s) -> {args.out}", file=sys.stderr)
    return 0
