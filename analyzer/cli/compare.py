"""``call-analyzer compare``: outcome comparison of a results folder (see docs/compare.md)."""

from __future__ import annotations

import argparse
import sys

from ..errors import AnalyzerError


def register_commands(subparsers) -> None:
    """Add ``compare`` to the CLI's subparsers; it sets ``func(args) -> int``."""
    cmp = subparsers.add_parser(
        "compare", help="compare calls by outcome (won/lost, CSAT ...) on every metric",
        description="Compare analysed calls by outcome: per-metric statistics, a cross-validated classifier, "
                    "plain-words findings; writes report.html, findings.md and stats.csv.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    cmp.add_argument("results_dir", metavar="RESULTS_DIR", help="the --out folder of 'call-analyzer analyze'")
    source = cmp.add_mutually_exclusive_group(required=True)
    source.add_argument("--labels", metavar="CSV", help="CSV with columns call_id,outcome")
    source.add_argument("--by-folder", action="store_true",
                        help="outcome = first folder of the call_id (input laid out as won/..., lost/...)")
    cmp.add_argument("--out", metavar="REPORT_DIR", required=True, help="folder for report.html, findings.md, stats.csv")
    cmp.add_argument("--positive", metavar="LABEL", default=None,
                     help="the good outcome (default: 'won', 'success', ... if present, else the first label)")
    cmp.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples for confidence intervals")
    cmp.add_argument("--seed", type=int, default=0, help="random seed (bootstrap, cross-validation folds)")
    cmp.set_defaults(func=run_compare)


def _report_error(exc: AnalyzerError) -> int:
    print(f"error: {exc.one_line()}", file=sys.stderr)
    return 1


def run_compare(args: argparse.Namespace) -> int:
    """``call-analyzer compare``: load results and labels, compare, write the report, print the findings."""
    from ..compare import compare_outcomes, labels_by_folder, load_results, match_labels, read_labels, write_report
    from ..outputs.reader import ResultsError

    try:
        calls = load_results(args.results_dir)
        for message in calls.attrs.get("skipped", []):
            print(f"skipped: {message}", file=sys.stderr)
        if args.by_folder:
            outcomes = labels_by_folder(calls.index)
            if outcomes.empty:
                raise ResultsError("no call_id has a folder, so --by-folder finds no outcome: analyse an input laid "
                                   "out as won/..., lost/... or pass --labels CSV", path=str(args.results_dir))
        else:
            outcomes = match_labels(read_labels(args.labels), calls.index)
            unmatched = outcomes.attrs.get("unmatched", [])
            if unmatched:
                print(f"warning: {len(unmatched)} label(s) in {args.labels} match no result in {args.results_dir}: "
                      + ", ".join(unmatched[:5]) + (" ..." if len(unmatched) > 5 else ""), file=sys.stderr)
        result = compare_outcomes(calls, outcomes, positive=args.positive, n_boot=args.n_boot, seed=args.seed)
        paths = write_report(result, args.out)
    except AnalyzerError as exc:
        return _report_error(exc)
    for warning in result.warnings:
        print(f"warning: {warning}")
    for finding in result.findings:
        print(f"- {finding.text}")
    if not result.findings:
        print("No significant differences (q < 0.05).")
    if result.classifier is not None:
        c = result.classifier
        print(f"Classifier AUC {c.auc:.2f} (95% CI {c.auc_ci_low:.2f}-{c.auc_ci_high:.2f})")
    print(f"Report: {paths['report']}")
    return 0
