"""Python API over a results folder: pandas DataFrames of calls, turns, events, segments and QA results.

    >>> import analyzer.results
    >>> res = analyzer.results.open("results/")
    >>> res.calls.loc[res.calls.qa_score < 70, ["call_id", "qa_score"]]
    >>> res.events.query("kind == 'interruption' and speaker == 'agent'")

The frames are built from the per-call JSON files (the source of truth) by the same row builders
as calls.parquet, turns.parquet, events.parquet, segments.parquet and qa_results.parquet, so they
have the same rows and columns as those files (see docs/database.md for the columns).
"""

from __future__ import annotations

import functools
from pathlib import Path

from .outputs import tables
from .outputs.reader import iter_result_files, read_result


class Results:
    """The results of one folder. ``results``: the per-call result dicts, in call_id order;
    ``calls``, ``turns``, ``events``, ``segments``, ``qa_results``: DataFrames (built on first use)."""

    def __init__(self, root: Path, results: list[dict]):
        self.root = root
        self.results = results

    def table(self, name: str):
        """The DataFrame of table ``name`` (one of ``analyzer.outputs.tables.TABLES``)."""
        import pandas as pd

        if name not in tables.TABLES:
            raise ValueError(f"unknown table {name!r}; choose one of {', '.join(tables.TABLES)}")
        return pd.DataFrame(tables.table_rows(self.results, name))

    @functools.cached_property
    def calls(self):
        return self.table("calls")

    @functools.cached_property
    def turns(self):
        return self.table("turns")

    @functools.cached_property
    def events(self):
        return self.table("events")

    @functools.cached_property
    def segments(self):
        return self.table("segments")

    @functools.cached_property
    def qa_results(self):
        return self.table("qa_results")

    def __len__(self) -> int:
        return len(self.results)

    def __repr__(self) -> str:
        return f"Results({str(self.root)!r}, {len(self.results)} calls)"


def open(results_dir: str | Path) -> Results:  # noqa: A001 - analyzer.results.open(...) reads like the builtin
    """The results in ``results_dir`` (the ``--out`` folder of ``call-analyzer analyze``).

    Raises :class:`analyzer.outputs.reader.ResultsError` (one line, naming the folder or file) when the
    folder is missing, holds no results, or holds a file that is not a call result."""
    root = Path(results_dir)
    results = sorted((read_result(p) for p in iter_result_files(root)), key=lambda r: str(r["call_id"]))
    return Results(root, results)


__all__ = ["Results", "open"]
