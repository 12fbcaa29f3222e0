"""The SQLite results database: schema, version, migration and the per-call upsert.

Schema version 3 (``PRAGMA user_version = 3``; see docs/database.md):

* ``calls``: one row per call, a typed column per metric (``REAL``; counts ``INTEGER``) plus
  identity, mode, diarization confidences, model and licence, QA score, warnings count,
  ``analysed_at`` (ISO-8601 UTC, from the result JSON, so re-scoring does not change it) and
  ``result_json`` (the whole result, for ``json_extract``).
* ``turns``, ``events``, ``segments``, ``qa_results``: the rows of :mod:`analyzer.outputs.tables`,
  each with ``call_id REFERENCES calls ON DELETE CASCADE`` and indexes on call_id (and kind,
  speaker, rule, status).
* ``errors``: files whose last analysis failed; ``json_sync``: sha256 of each call's JSON text
  (what :meth:`ResultsDatabase.sync` compares to bring the database in line with the JSON files).
* ``turn_labels``, ``qa_reviews``, ``coaching_notes`` (and views ``turn_labels_latest``, ``qa_reviews_latest``):
  the reviewers' append-only annotations (:mod:`analyzer.outputs.annotations`, version 3). No foreign key:
  re-analysing a call must not delete them; a rebuilt database gets them back from ``annotations.jsonl``.
* view ``metrics``: the long format ``(call_id, name, value)``, one row per metric column (nulls kept);
  ``metric_names`` lists the metric keys outside the catalogue that got a column.

A key that is not in the base schema (a new metric or turn field from a newer analyzer) gets a
column of its own (``ALTER TABLE ADD COLUMN``) the first time it is written.

Version 1 (the unversioned database of call-analyzer 0.2: ``calls.result_json``, a ``metrics``
table, ``turns.row_json``, epoch ``analysed_at``) is migrated on open, in one transaction: every
call is re-inserted from its ``result_json``, epoch times become ISO-8601, errors are kept.
Version 2 becomes 3 by creating the annotation tables (nothing else changes).
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any, Callable

from ..metrics.catalog import METRICS, WORDS_METRICS
from . import annotations, tables
from .words_tables import FTS_SCHEMA, delete_call_text, replace_call_text

SCHEMA_VERSION = 3
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

CALL_COLUMNS = {
    "call_id": "TEXT PRIMARY KEY", "path": "TEXT", "status": "TEXT", "mode": "TEXT", "mono_mix": "INTEGER",
    "sample_rate_hz": "INTEGER", "analysis_rate_hz": "INTEGER", "file_modified_at": "TEXT",
    "analysed_at": "TEXT", "content_sha256": "TEXT", "params_digest": "TEXT", "analyzer_version": "TEXT",
    "emotion_model": "TEXT", "emotion_licence": "TEXT", "agent_confidence": "REAL",
    "separation_confidence": "REAL", "n_speakers_estimate": "INTEGER", "qa_score": "REAL",
    "qa_rules_version": "TEXT", "qa_failed": "INTEGER", "n_warnings": "INTEGER",
}
METRIC_COLUMNS = {key: ("INTEGER" if info.unit == "count" else "REAL") for key, info in METRICS.items()
                  if key not in WORDS_METRICS}
"""Typed columns of every database; the transcript metrics (present only with --transcribe) join as extra
metrics (``metric_names``) when the first transcribed call is stored."""
_CHILD = "call_id TEXT NOT NULL REFERENCES calls(call_id) ON DELETE CASCADE"
TABLE_COLUMNS = {
    "turns": {"call_id": _CHILD, "turn_index": "INTEGER NOT NULL", "speaker": "TEXT", "start_s": "REAL",
              "end_s": "REAL", "duration_s": "REAL", "speech_s": "REAL", "n_segments": "INTEGER",
              "n_pauses": "INTEGER", "pause_s": "REAL", "fto_s": "REAL", "syllables": "INTEGER",
              "speech_rate_sps": "REAL", "articulation_rate_sps": "REAL", "pitch_median_st": "REAL",
              "pitch_sd_st": "REAL", "intensity_mean_db": "REAL", "emotion_label": "TEXT", "p_neutral": "REAL",
              "p_happy": "REAL", "p_angry": "REAL", "p_sad": "REAL", "arousal": "REAL", "valence": "REAL",
              "emotion_confidence": "REAL", "text": "TEXT", "language": "TEXT"},
    "events": {"call_id": _CHILD, "event_index": "INTEGER NOT NULL", "kind": "TEXT NOT NULL", "speaker": "TEXT",
               "start_s": "REAL NOT NULL", "end_s": "REAL NOT NULL", "duration_s": "REAL", "other": "TEXT",
               "outcome": "TEXT", "fto_s": "REAL"},
    "segments": {"call_id": _CHILD, "segment_index": "INTEGER NOT NULL", "speaker": "TEXT",
                 "start_s": "REAL NOT NULL", "end_s": "REAL NOT NULL", "duration_s": "REAL"},
    "qa_results": {"call_id": _CHILD, "rule": "TEXT NOT NULL", "status": "TEXT NOT NULL", "severity": "TEXT",
                   "weight": "REAL", "message": "TEXT", "value": "REAL", "threshold": "REAL",
                   "threshold_range": "TEXT", "n_times": "INTEGER", "first_time_s": "REAL", "times_json": "TEXT",
                   "reason": "TEXT", "rules_version": "TEXT"},
    "words": {"call_id": _CHILD, "turn_index": "INTEGER NOT NULL", "word_index": "INTEGER NOT NULL",
              "speaker": "TEXT", "start_s": "REAL NOT NULL", "end_s": "REAL NOT NULL", "word": "TEXT",
              "confidence": "REAL"},
}
_KEYS = {"turns": "(call_id, turn_index)", "events": "(call_id, event_index)",
         "segments": "(call_id, segment_index)", "qa_results": "(call_id, rule)",
         "words": "(call_id, turn_index, word_index)"}
_INDEXES = (
    ("turns", "speaker"), ("events", "call_id"), ("events", "kind"), ("events", "speaker"),
    ("segments", "call_id"), ("qa_results", "rule"), ("qa_results", "status"), ("calls", "qa_score"),
)


def _create_sql() -> str:
    calls = {**CALL_COLUMNS, **METRIC_COLUMNS, "result_json": "TEXT"}
    statements = [f"CREATE TABLE IF NOT EXISTS calls ({', '.join(f'{c} {t}' for c, t in calls.items())})"]
    for table, columns in TABLE_COLUMNS.items():
        body = ", ".join(f"{c} {t}" for c, t in columns.items())
        statements.append(f"CREATE TABLE IF NOT EXISTS {table} ({body}, PRIMARY KEY {_KEYS[table]})")
    statements.append("CREATE TABLE IF NOT EXISTS errors (path TEXT PRIMARY KEY, call_id TEXT, reason TEXT, at TEXT)")
    statements.append("CREATE TABLE IF NOT EXISTS json_sync (call_id TEXT PRIMARY KEY, text_sha256 TEXT)")
    statements.append("CREATE TABLE IF NOT EXISTS metric_names (name TEXT PRIMARY KEY)")
    statements.append(FTS_SCHEMA)
    statements += [s.strip() for s in annotations.SCHEMA.split(";") if s.strip()]
    statements += [f"CREATE INDEX IF NOT EXISTS ix_{t}_{c} ON {t}({c})" for t, c in _INDEXES]
    return ";\n".join(statements) + ";"


def _sql_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value


def _sql_type(value: Any) -> str:
    if isinstance(value, (bool, int)):
        return "INTEGER"
    if isinstance(value, float):
        return "REAL"
    return "TEXT"


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def _metrics_view_sql(columns: list[str], extra_metrics: set[str]) -> str:
    """The long ``metrics`` view over the calls columns that hold metrics: the catalogue's, plus
    ``extra_metrics`` (keys of ``result["metrics"]`` the catalogue does not know, see ``metric_names``)."""
    metric_cols = [c for c in columns if c in METRIC_COLUMNS or c in extra_metrics]
    if not metric_cols:
        return "CREATE VIEW metrics AS SELECT call_id, NULL AS name, NULL AS value FROM calls WHERE 0"
    parts = [f"SELECT call_id, '{c}' AS name, {c} AS value FROM calls" for c in metric_cols]
    return "CREATE VIEW metrics AS " + " UNION ALL ".join(parts)


def _is_version_1(conn: sqlite3.Connection) -> bool:
    kinds = dict(conn.execute("SELECT name, type FROM sqlite_master WHERE name IN ('calls', 'metrics')").fetchall())
    return kinds.get("metrics") == "table" and "result_json" in _columns(conn, "calls")


def _iso(at: Any) -> str | None:
    """An ISO-8601 timestamp from an epoch number (older records) or an ISO string."""
    return tables.iso_utc(at) if isinstance(at, (int, float)) else at


class ResultsDatabase:
    """SQLite results database, updated in place by repeated runs (one transaction per call).

    It mirrors the per-call JSON files: :meth:`sync` at the end of each run brings it in line with
    them (table ``json_sync`` keeps the sha256 of each call's JSON text), and a damaged file is
    moved aside to ``results.sqlite.damaged`` and rebuilt, with a warning. Opening a version-1
    database migrates it (see the module docstring); a database written by a newer analyzer
    (``user_version`` > :data:`SCHEMA_VERSION`) is refused with a clear error.
    """

    def __init__(self, path: Path, *, on_warning: Callable[[str], None] | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.migrated_from = None
        self.on_warning = on_warning
        self._conn = None
        try:
            self._conn = self._open()
        except sqlite3.DatabaseError as exc:
            self.recover(exc)

    def recover(self, exc: Exception) -> None:
        """Set a damaged database aside (``results.sqlite.damaged``) and start an empty one, with a
        warning; :meth:`sync` at the end of the run fills it from the per-call JSON files."""
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
        moved = self._set_aside(self.path)
        if self.on_warning:
            self.on_warning(f"{self.path}: damaged database ({' '.join(str(exc).split())}); moved to {moved.name} and "
                            "rebuilt from the per-call JSON files")
        self._conn = self._open()

    def _open(self) -> sqlite3.Connection:
        from ..errors import AnalyzerError

        self._conn = conn = sqlite3.connect(str(self.path), timeout=30)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {check}")
            conn.execute("PRAGMA foreign_keys=ON")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise AnalyzerError(f"results database has schema version {version}, newer than this call-analyzer "
                                    f"({SCHEMA_VERSION}); upgrade call-analyzer or use another --out folder",
                                    path=str(self.path))
            if version < SCHEMA_VERSION and _is_version_1(conn):
                self.migrated_from = 1
                self._migrate_from_version_1()
            else:
                with conn:
                    conn.executescript(_create_sql())
                    self._refresh_metrics_view()
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._restore_annotations()
        except (sqlite3.DatabaseError, AnalyzerError):
            conn.close()
            raise
        return conn

    def _restore_annotations(self) -> None:
        """A new or rebuilt database (no annotation rows) gets the reviewers' annotations back from
        ``annotations.jsonl`` (:mod:`analyzer.outputs.annotations`)."""
        journal = annotations.journal_path(self.path)
        if not journal.is_file() or annotations.annotation_count(self._conn):
            return
        with self._conn:
            restored = annotations.restore_from_journal(self._conn, journal)
        if restored and self.on_warning:
            self.on_warning(f"{self.path}: {restored} reviewer annotation(s) restored from {journal.name}")

    @staticmethod
    def _set_aside(path: Path) -> Path:
        """Move a damaged database (and its WAL files) out of the way; returns the new name."""
        import os

        moved = path.with_name(path.name + ".damaged")
        for suffix in ("", "-wal", "-shm"):
            source = Path(str(path) + suffix)
            if source.exists():
                os.replace(source, Path(str(moved) + suffix))
        return moved

    # -- schema -------------------------------------------------------------------------------

    def _refresh_metrics_view(self) -> None:
        extra = {row[0] for row in self._conn.execute("SELECT name FROM metric_names")}
        self._conn.execute("DROP VIEW IF EXISTS metrics")
        self._conn.execute(_metrics_view_sql(_columns(self._conn, "calls"), extra))

    def _ensure_columns(self, table: str, rows: list[dict]) -> bool:
        """Add a column for every key of ``rows`` the table lacks; returns whether any was added."""
        present = set(_columns(self._conn, table))
        added = False
        for row in rows:
            for key, value in row.items():
                if key in present or not _IDENTIFIER.match(key):
                    continue
                self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {key} {_sql_type(value)}")
                present.add(key)
                added = True
        return added

    def _insert(self, table: str, rows: list[dict]) -> None:
        if not rows:
            return
        columns = [c for c in rows[0] if _IDENTIFIER.match(c)]
        for row in rows[1:]:
            columns += [c for c in row if c not in columns and _IDENTIFIER.match(c)]
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        self._conn.executemany(sql, [tuple(_sql_value(row.get(c)) for c in columns) for row in rows])

    def _migrate_from_version_1(self) -> None:
        conn = self._conn
        has_status = "status" in _columns(conn, "calls")
        calls = conn.execute(f"SELECT result_json, analysed_at, {'status' if has_status else 'NULL'} FROM calls").fetchall()
        errors = conn.execute("SELECT path, call_id, reason, at FROM errors").fetchall()
        conn.execute("PRAGMA foreign_keys=OFF")
        with conn:
            for name in ("metrics", "turns", "calls", "errors"):
                conn.execute(f"DROP TABLE IF EXISTS {name}")
            for statement in _create_sql().split(";\n"):
                conn.execute(statement.rstrip(";"))
            self._refresh_metrics_view()
            for result_json, analysed_at, status in calls:
                self._write_call(json.loads(result_json), analysed_at=_iso(analysed_at), status=status)
            conn.executemany("INSERT INTO errors VALUES (?,?,?,?)", [(p, c, r, _iso(at)) for p, c, r, at in errors])
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("PRAGMA foreign_keys=ON")

    # -- contents -----------------------------------------------------------------------------

    def _write_call(self, result: dict, *, analysed_at: str | None, status: str | None = None) -> None:
        call_id = result["call_id"]
        row = tables.call_row(result, status)
        row["analysed_at"] = analysed_at
        row["result_json"] = json.dumps(result, ensure_ascii=False)
        children = {name: tables.ROW_BUILDERS[name](result) for name in TABLE_COLUMNS}
        new_metrics = [(k,) for k in result["metrics"] if k not in METRIC_COLUMNS and _IDENTIFIER.match(k)]
        if new_metrics:
            self._conn.executemany("INSERT OR IGNORE INTO metric_names VALUES (?)", new_metrics)
        if self._ensure_columns("calls", [row]):
            self._refresh_metrics_view()
        for name, rows in children.items():
            self._ensure_columns(name, rows)
        self._conn.execute("DELETE FROM calls WHERE call_id = ?", (call_id,))  # cascades to the child tables
        self._insert("calls", [row])
        for name, rows in children.items():
            self._insert(name, rows)
        replace_call_text(self._conn, result)

    def upsert_call(self, result: dict, text_sha256: str | None = None) -> None:
        """Insert or replace one call and all its rows, in one transaction (status ``current``).

        ``analysed_at``: the result's own ``analysed_at`` (written by the pipeline); for results
        without one, the stored value is kept when content and parameters are unchanged (a
        re-score), else the current time. ``text_sha256``: of the call's JSON text (for :meth:`sync`)."""
        call_id = result["call_id"]
        with self._conn:
            analysed_at = result.get("analysed_at")
            if not analysed_at:
                stored = self._conn.execute(
                    "SELECT analysed_at FROM calls WHERE call_id = ? AND content_sha256 IS ? AND params_digest IS ?",
                    (call_id, result.get("content_sha256"), result.get("params_digest"))).fetchone()
                analysed_at = stored[0] if stored else tables.now_iso()
            self._conn.execute("DELETE FROM errors WHERE path = ?", (result["path"],))
            self._write_call(result, analysed_at=analysed_at)
            self._conn.execute("INSERT OR REPLACE INTO json_sync VALUES (?,?)", (call_id, text_sha256))

    def sync(self, results: list[dict], statuses: dict[str, str], errors: list[dict]) -> int:
        """Make the database mirror the JSON files: upsert changed calls, drop calls without a JSON,
        set every status, replace the errors table. ``results`` carry ``_text_sha256``. Returns calls upserted."""
        known = dict(self._conn.execute("SELECT call_id, text_sha256 FROM json_sync"))
        in_db = {row[0] for row in self._conn.execute("SELECT call_id FROM calls")}
        wanted = {r["call_id"] for r in results}
        changed = 0
        for result in results:
            sha = result.get("_text_sha256")
            if result["call_id"] not in in_db or sha is None or known.get(result["call_id"]) != sha:
                self.upsert_call({k: v for k, v in result.items() if k != "_text_sha256"}, sha)
                changed += 1
        with self._conn:
            for call_id in in_db - wanted:  # cascades to turns, events, segments, qa_results
                self._conn.execute("DELETE FROM calls WHERE call_id = ?", (call_id,))
                self._conn.execute("DELETE FROM json_sync WHERE call_id = ?", (call_id,))
                delete_call_text(self._conn, call_id)
            self._conn.executemany("UPDATE calls SET status = ? WHERE call_id = ?",
                                   [(statuses.get(cid, tables.STATUS_CURRENT), cid) for cid in wanted])
            self._conn.execute("DELETE FROM errors")
            self._conn.executemany("INSERT OR REPLACE INTO errors VALUES (?,?,?,?)",
                                   [(e["path"], e["call_id"], e["reason"], _iso(e.get("at")) or tables.now_iso())
                                    for e in errors])
        return changed

    def record_error(self, path: str, call_id: str, reason: str) -> None:
        with self._conn:
            self._conn.execute("INSERT OR REPLACE INTO errors VALUES (?,?,?,?)",
                               (path, call_id, reason, tables.now_iso()))

    @property
    def connection(self) -> sqlite3.Connection:
        """The open connection (for queries)."""
        return self._conn

    def close(self) -> None:
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
