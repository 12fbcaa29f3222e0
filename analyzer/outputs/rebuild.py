"""Bring a results folder's derived outputs in line with its per-call JSON files and failure records.

Used at the end of every ``analyze`` run and by ``score``: the tables (with each result's
``status``), ``errors.csv`` (every file of the folder whose last analysis failed, not only the last
run's), the database (:meth:`~analyzer.outputs.writers.ResultsDatabase.sync`) and the pages.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Callable

from . import writers


def rebuild_outputs(out: Path, *, this_run_failed: set[str] = frozenset(), html: bool = True, database=None,
                    on_warning: Callable[[str], None] | None = None) -> list[str]:
    """Rebuild everything derived in ``out``; returns the call_ids whose status is not ``current``.

    Failure records of files that are gone and did not fail in this run (``this_run_failed``) are
    dropped. ``database``: an open :class:`~analyzer.outputs.writers.ResultsDatabase` to use (else one
    is opened and closed here). Call it only while holding :class:`~analyzer.outputs.writers.OutputLock`.
    """
    writers.remove_stale_temporaries(out)
    results = list(writers.iter_call_results(out, on_warning=on_warning, with_text_sha=True))
    errors = []
    for path, record in writers.iter_failures(out):
        if record["call_id"] in this_run_failed or os.path.exists(str(record.get("path") or "")):
            errors.append({k: record.get(k) for k in ("path", "call_id", "reason", "at")})
        else:
            path.unlink(missing_ok=True)
    failing = {e["call_id"] for e in errors}
    statuses = {r["call_id"]: writers.result_status(r, failing) for r in results}
    plain = [{k: v for k, v in r.items() if k != "_text_sha256"} for r in results]
    writers.write_tables(out, plain, statuses)
    writers.write_errors(out, errors)
    own = database is None
    database = database or writers.ResultsDatabase(out / writers.DB_NAME, on_warning=on_warning)
    try:
        try:
            database.sync(results, statuses, errors)
        except sqlite3.DatabaseError as exc:  # damage quick_check did not see: start afresh from the JSON files
            database.recover(exc)
            database.sync(results, statuses, errors)
    finally:
        if own:
            database.close()
    if html:
        from .html import write_pages

        write_pages(out, plain)
    return sorted(cid for cid, status in statuses.items() if status != writers.STATUS_CURRENT)
