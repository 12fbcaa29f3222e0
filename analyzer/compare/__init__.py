"""Outcome comparison: which pacing and emotion metrics differ between won and lost calls.

``loading`` (results folder and labels -> one row per call), ``stats`` (per-metric tests,
classifier, findings), ``plots`` and ``report`` (report.html, findings.md, stats.csv). The
``compare`` command is :mod:`analyzer.cli.compare`. Statistics are described in
:mod:`analyzer.compare.stats` and docs/compare.md.
"""

from __future__ import annotations

from ..outputs.reader import ResultsError
from .loading import labels_by_folder, load_results, match_labels, read_labels, result_row
from .report import findings_markdown, write_report
from .stats import ClassifierResult, ComparisonResult, Finding, compare_outcomes

__all__ = [
    "ResultsError", "load_results", "read_labels", "match_labels", "labels_by_folder", "result_row",
    "compare_outcomes", "ComparisonResult", "ClassifierResult", "Finding", "write_report", "findings_markdown",
]
