"""Database queries of the review app's calls list: filters, sort and paging as SQL (pure over a connection).

Every filter becomes a parameterised ``WHERE`` clause and the page is ``LIMIT``/``OFFSET``, so a
results database of tens of thousands of calls is never read whole. ``+q.status`` keeps SQLite on the
``(call_id, rule)`` key of ``qa_results`` instead of the status index (which made a page of 20,000 calls
take 0.1 s instead of 1 ms; scripts/bench/review_list.py). Column names in ``ORDER BY``
and metric ranges come from the table's own columns (a whitelist), never from the request text.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from ..errors import AnalyzerError
from ..metrics.catalog import METRICS
from ..outputs.words_tables import fts_query

BASE_SORT_COLUMNS = ("call_id", "qa_score", "qa_failed", "n_warnings", "analysed_at", "status")
WARNINGS_CHOICES = ("", "with", "without")
REVIEWED_CHOICES = ("", "labelled", "disputed", "noted", "any", "none")


@dataclass(frozen=True)
class CallFilter:
    """What the calls list shows. Empty strings / None mean "no filter"."""

    text: str = ""  # call_id or path contains it (and, with transcripts, the transcript matches it)
    date: str = ""  # a folder of the call_id starts with it (2024-05-01, or 2024-05 for a month)
    qa_min: float | None = None
    qa_max: float | None = None
    failed_rule: str = ""  # the call failed this rule
    warnings: str = ""  # "with" / "without" warnings
    metric: str = ""  # a metric column of calls ...
    metric_min: float | None = None  # ... at least this
    metric_max: float | None = None  # ... at most this
    reviewed: str = ""  # REVIEWED_CHOICES: calls with turn labels, disputes, notes, any annotation, none
    sort: str = "call_id"
    descending: bool = False


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def calls_columns(conn: sqlite3.Connection) -> list[str]:
    return [row[1] for row in conn.execute("PRAGMA table_info(calls)")]


def metric_columns(conn: sqlite3.Connection) -> list[str]:
    """Metric columns of ``calls`` that can be filtered and sorted on (the catalogue's, in its order)."""
    present = set(calls_columns(conn))
    return [key for key in METRICS if key in present]


def has_transcripts(conn: sqlite3.Connection) -> bool:
    """Whether the database has the FTS5 transcript index with rows in it (analyze --transcribe)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'turns_fts'").fetchone():
        return False
    return conn.execute("SELECT 1 FROM turns_fts LIMIT 1").fetchone() is not None


def _where(conn: sqlite3.Connection, f: CallFilter) -> tuple[str, list]:
    clauses, args = [], []
    if f.text.strip():
        pattern = "%" + _escape_like(f.text.strip()) + "%"
        parts = ["c.call_id LIKE ? ESCAPE '\\'", "c.path LIKE ? ESCAPE '\\'"]
        args += [pattern, pattern]
        if has_transcripts(conn):
            try:
                match = fts_query(f.text)
            except AnalyzerError:  # e.g. an unbalanced quote: then only ids and paths are searched
                match = None
            if match:
                parts.append("c.call_id IN (SELECT call_id FROM turns_fts WHERE turns_fts MATCH ?)")
                args.append(match)
        clauses.append("(" + " OR ".join(parts) + ")")
    if f.date.strip():
        clauses.append("('/' || c.call_id) LIKE ? ESCAPE '\\'")
        args.append("%/" + _escape_like(f.date.strip()) + "%")
    if f.qa_min is not None:
        clauses.append("c.qa_score >= ?")
        args.append(float(f.qa_min))
    if f.qa_max is not None:
        clauses.append("c.qa_score <= ?")
        args.append(float(f.qa_max))
    if f.failed_rule.strip():
        clauses.append("EXISTS (SELECT 1 FROM qa_results q WHERE q.call_id = c.call_id AND +q.status = 'failed' "
                       "AND q.rule = ?)")
        args.append(f.failed_rule.strip())
    if f.warnings == "with":
        clauses.append("c.n_warnings > 0")
    elif f.warnings == "without":
        clauses.append("COALESCE(c.n_warnings, 0) = 0")
    if f.metric and f.metric in metric_columns(conn):
        if f.metric_min is not None:
            clauses.append(f"c.{f.metric} >= ?")
            args.append(float(f.metric_min))
        if f.metric_max is not None:
            clauses.append(f"c.{f.metric} <= ?")
            args.append(float(f.metric_max))
    labelled = "EXISTS (SELECT 1 FROM turn_labels a WHERE a.call_id = c.call_id)"
    disputed = "EXISTS (SELECT 1 FROM qa_reviews_latest a WHERE a.call_id = c.call_id AND a.verdict = 'dispute')"
    noted = "EXISTS (SELECT 1 FROM coaching_notes a WHERE a.call_id = c.call_id)"
    reviewed = "EXISTS (SELECT 1 FROM qa_reviews a WHERE a.call_id = c.call_id)"
    if f.reviewed == "labelled":
        clauses.append(labelled)
    elif f.reviewed == "disputed":
        clauses.append(disputed)
    elif f.reviewed == "noted":
        clauses.append(noted)
    elif f.reviewed in ("any", "none"):
        clause = f"({labelled} OR {reviewed} OR {noted})"
        clauses.append(clause if f.reviewed == "any" else f"NOT {clause}")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def sort_columns(conn: sqlite3.Connection) -> list[str]:
    present = set(calls_columns(conn))
    return [c for c in BASE_SORT_COLUMNS if c in present] + metric_columns(conn)


def list_calls(conn: sqlite3.Connection, f: CallFilter, *, page: int = 1, page_size: int = 50,
               shown_metrics: tuple[str, ...] = ()) -> tuple[list[dict], int]:
    """One page of calls matching ``f`` (1-based ``page``) and the number of matching calls.

    Each row: call_id, path, status, duration_s, qa_score, qa_failed, n_warnings, the ``shown_metrics``
    columns, ``failed_rules`` (comma-separated), and the call's annotation counts (``n_labels``,
    ``n_disputes``, ``n_notes``)."""
    where, args = _where(conn, f)
    total = conn.execute(f"SELECT COUNT(*) FROM calls c{where}", args).fetchone()[0]
    sort = f.sort if f.sort in sort_columns(conn) else "call_id"
    direction = "DESC" if f.descending else "ASC"
    order = f"c.{sort} IS NULL, c.{sort} {direction}, c.call_id {direction}"  # nulls last in both directions
    if sort == "call_id":  # never null: the primary key's index gives the page directly
        order = f"c.call_id {direction}"
    metrics = [m for m in shown_metrics if m in metric_columns(conn)]
    select = ", ".join(["c.call_id", "c.path", "c.status", "c.duration_s", "c.qa_score", "c.qa_failed",
                        "c.n_warnings"] + [f"c.{m}" for m in metrics if m != "duration_s"])
    sql = (f"SELECT {select}, "
           "(SELECT GROUP_CONCAT(q.rule, ', ') FROM qa_results q WHERE q.call_id = c.call_id AND +q.status = 'failed') "
           "AS failed_rules, "
           "(SELECT COUNT(*) FROM turn_labels a WHERE a.call_id = c.call_id) AS n_labels, "
           "(SELECT COUNT(*) FROM qa_reviews_latest a WHERE a.call_id = c.call_id AND a.verdict = 'dispute') "
           "AS n_disputes, "
           "(SELECT COUNT(*) FROM coaching_notes a WHERE a.call_id = c.call_id) AS n_notes "
           f"FROM (SELECT c.call_id FROM calls c{where} ORDER BY {order} LIMIT ? OFFSET ?) AS page "
           f"JOIN calls c ON c.call_id = page.call_id ORDER BY {order}")  # subqueries for the page's rows only
    page_size = max(1, int(page_size))
    offset = (max(1, int(page)) - 1) * page_size
    cursor = conn.execute(sql, args + [page_size, offset])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()], int(total)


def failed_rule_names(conn: sqlite3.Connection) -> list[str]:
    """Rules some call failed (for the filter's choices), from the indexed qa_results."""
    return [row[0] for row in conn.execute(
        "SELECT DISTINCT rule FROM qa_results WHERE status = 'failed' ORDER BY rule")]


def neighbours(conn: sqlite3.Connection, call_id: str) -> tuple[str | None, str | None]:
    """The previous and next call_id in call_id order (the call view's links)."""
    prev = conn.execute("SELECT call_id FROM calls WHERE call_id < ? ORDER BY call_id DESC LIMIT 1", (call_id,)).fetchone()
    nxt = conn.execute("SELECT call_id FROM calls WHERE call_id > ? ORDER BY call_id LIMIT 1", (call_id,)).fetchone()
    return (prev[0] if prev else None), (nxt[0] if nxt else None)
