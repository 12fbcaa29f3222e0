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

from .outputs import tables, writers
from .outputs.reader import iter_result_files


class Results:
    """The results of one folder. ``results``: the per-call result dicts, in file order (as in the
    tables); ``statuses``: call_id -> ``current`` or why the result is stale; ``warnings``: files
    skipped (foreign or broken); ``calls``, ``turns``, ``events``, ``segments``, ``qa_results``:
    DataFrames (built on first use)."""

    def __init__(self, root: Path, results: list[dict], statuses: dict[str, str] | None = None,
                 warnings: list[str] | None = None):
        self.root = root
        self.results = results
        self.statuses = statuses or {}
        self.warnings = warnings or []

    def table(self, name: str):
        """The DataFrame of table ``name`` (one of ``analyzer.outputs.tables.TABLES``)."""
        import pandas as pd

        if name not in tables.TABLES:
            raise ValueError(f"unknown table {name!r}; choose one of {', '.join(tables.TABLES)}")
        return pd.DataFrame(tables.table_rows(self.results, name, self.statuses))

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

    The results are read as the end of a run reads them (foreign or broken files are skipped and
    listed in ``warnings``; ``status`` in ``calls`` as in calls.parquet). Raises
    :class:`analyzer.outputs.reader.ResultsError` (one line, naming the folder) when the folder is
    missing or holds no results."""
    root = Path(results_dir)
    iter_result_files(root)  # a missing or empty folder is an error naming it
    warnings: list[str] = []
    results = list(writers.iter_call_results(root, on_warning=warnings.append))
    failing = {record["call_id"] for _, record in writers.iter_failures(root)}
    statuses = {r["call_id"]: writers.result_status(r, failing) for r in results}
    return Results(root, results, statuses, warnings)


__all__ = ["Results", "open"]
