"""``call-analyzer score``: re-score a results folder with a QA rules file (see docs/qa.md)."""

from __future__ import annotations

import argparse

from .compare import _report_error


def register_commands(subparsers) -> None:
    """Add ``score`` to the CLI's subparsers; it sets ``func(args) -> int``."""
    score = subparsers.add_parser(
        "score", help="(re-)score analysed calls with a QA rules file",
        description="Evaluate a QA rules file on every call of a results folder; rewrites 'qa' in each "
                    "calls/<call_id>.json and the qa_score column of calls.csv/calls.parquet.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    score.add_argument("results_dir", metavar="RESULTS_DIR", help="the --out folder of 'call-analyzer analyze'")
    score.add_argument("--rules", metavar="FILE", default=None,
                       help="rules file (.toml or .yaml); default: the shipped analyzer/default_rules.toml")
    score.set_defaults(func=run_score)


def run_score(args: argparse.Namespace) -> int:
    """``call-analyzer score``: re-score a results folder and print a summary."""
    from ..errors import AnalyzerError
    from ..batch import rebuild_outputs
    from ..qa import load_default_rules, load_rules, rescore_results

    try:
        rules = load_rules(args.rules) if args.rules else load_default_rules()
        scores = rescore_results(args.results_dir, rules, rebuild_outputs=rebuild_outputs)
    except AnalyzerError as exc:
        return _report_error(exc)
    failed = scores["failed"].str.split(";").explode()
    failed = failed[failed.fillna("") != ""].value_counts()
    print(f"Scored {len(scores)} calls with rules {rules.version}: mean {scores['qa_score'].mean():.1f}, "
          f"median {scores['qa_score'].median():.1f}, {int((scores['qa_score'] < 70).sum())} below 70.")
    for rule_id, count in failed.head(10).items():
        print(f"  {rule_id}: failed in {count} call(s)")
    worst = scores.nsmallest(5, "qa_score")
    if len(worst):
        print("Lowest scores: " + ", ".join(f"{r.call_id} ({r.qa_score:.0f})" for r in worst.itertuples()))
    return 0
