"""Writing results: per-call JSON, tables (CSV/Parquet), SQLite, errors.csv, HTML.

Every file is written to a temporary name and renamed into place, so a run
killed at any moment leaves either the old or the new file, never half of
one. The per-call JSON files are the source of truth; the tables are
rebuilt from them at the end of each run. The SQLite database is updated in
place (one transaction per call, WAL journal).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from .words_tables import WORDS_SCHEMA, replace_call_words, word_rows

CALLS_DIR = "calls"
HTML_DIR = "html"
DB_NAME = "results.sqlite"
ERRORS_CSV = "errors.csv"
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _umask_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _umask_file_mode()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600 files; outputs are shared like any other file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def remove_stale_temporaries(out_dir: Path) -> int:
    """Delete temporary files a killed run left behind (``.<name>.<random>.tmp``); returns how many."""
    removed = 0
    for path in out_dir.rglob(".*.tmp"):
        if path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def call_json_path(out_dir: Path, call_id: str) -> Path:
    return out_dir / CALLS_DIR / f"{call_id}.json"


def write_call_json(out_dir: Path, result: dict) -> Path:
    path = call_json_path(out_dir, result["call_id"])
    atomic_write_text(path, json.dumps(result, indent=1, ensure_ascii=False, allow_nan=False))
    return path


def read_call_json(path: Path) -> dict | None:
    """A stored result, or None if it is missing or unreadable (e.g. from an older crash)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def iter_call_results(out_dir: Path) -> Iterator[dict]:
    """Every readable per-call JSON under ``out_dir/calls``, in call_id order."""
    root = out_dir / CALLS_DIR
    if not root.exists():
        return
    for path in sorted(root.rglob("*.json")):
        data = read_call_json(path)
        if data and "call_id" in data:
            yield data


def neutralise_csv_cell(value: Any) -> Any:
    """Make a CSV cell safe to open in Excel/LibreOffice: a *string* starting with
    ``= + - @``, tab or CR gets a leading ``'`` so it is shown as text, not run as a formula.
    Numbers (including negative ones) and other types are returned unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise_csv_frame(frame):
    """A copy of a pandas DataFrame with every string cell, column name and string index value
    neutralised (see :func:`neutralise_csv_cell`); numeric columns are untouched. Text columns are
    ``object`` or (pandas 3) ``str`` dtype: both are covered."""
    from pandas.api.types import is_object_dtype, is_string_dtype

    out = frame.copy()
    for col in out.columns:
        if is_object_dtype(out[col].dtype) or is_string_dtype(out[col].dtype):
            out[col] = out[col].map(neutralise_csv_cell)
    out.columns = [neutralise_csv_cell(str(c)) for c in out.columns]
    if is_object_dtype(out.index.dtype) or is_string_dtype(out.index.dtype):
        out.index = out.index.map(neutralise_csv_cell)
        if out.index.name:
            out.index.name = neutralise_csv_cell(str(out.index.name))
    return out


def call_row(result: dict) -> dict:
    """The one-row-per-call summary: identity, mode, QA score and every metric."""
    row = {
        "call_id": result["call_id"],
        "path": result["path"],
        "mode": result["mode"],
        "sample_rate_hz": result["sample_rate_hz"],
        "emotion_model": result.get("versions", {}).get("emotion_model"),
        "qa_score": (result.get("qa") or {}).get("score"),
        "n_warnings": len(result.get("warnings", [])),
    }
    row.update(result["metrics"])
    return row


def turn_table_rows(result: dict) -> list[dict]:
    """One row per turn; the turn's word list goes to the words table instead."""
    return [{"call_id": result["call_id"], **{k: v for k, v in turn.items() if k != "words"}} for turn in result["turns"]]


def _write_table(rows: list[dict], csv_path: Path, parquet_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame(rows)
    buffer = io.StringIO()
    neutralise_csv_frame(frame).to_csv(buffer, index=False)
    atomic_write_text(csv_path, buffer.getvalue())
    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    atomic_write_bytes(parquet_path, out.getvalue())


def write_tables(out_dir: Path, results: Iterable[dict]) -> int:
    """Rebuild calls.csv/.parquet and turns.csv/.parquet from the given results. Returns the call count."""
    call_rows, turn_rows, words = [], [], []
    for result in results:
        call_rows.append(call_row(result))
        turn_rows.extend(turn_table_rows(result))
        words.extend(word_rows(result))
    _write_table(call_rows, out_dir / "calls.csv", out_dir / "calls.parquet")
    _write_table(turn_rows, out_dir / "turns.csv", out_dir / "turns.parquet")
    if words:  # only transcribed calls have words (analyze --transcribe)
        _write_table(words, out_dir / "words.csv", out_dir / "words.parquet")
    else:
        for name in ("words.csv", "words.parquet"):
            (out_dir / name).unlink(missing_ok=True)
    return len(call_rows)


def write_errors(out_dir: Path, errors: list[dict]) -> Path:
    """errors.csv: one row per file that could not be analysed in this run (header only if none)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["path", "call_id", "reason"])
    writer.writeheader()
    for error in errors:
        writer.writerow({k: neutralise_csv_cell(error.get(k)) for k in ("path", "call_id", "reason")})
    path = out_dir / ERRORS_CSV
    atomic_write_text(path, buffer.getvalue())
    return path


class ResultsDatabase:
    """SQLite results database, updated in place by repeated runs (one transaction per call)."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS calls (
        call_id TEXT PRIMARY KEY, path TEXT, content_sha256 TEXT, params_digest TEXT, version TEXT,
        analysed_at REAL, duration_s REAL, mode TEXT, qa_score REAL, result_json TEXT);
    CREATE TABLE IF NOT EXISTS metrics (
        call_id TEXT, name TEXT, value REAL, PRIMARY KEY (call_id, name));
    CREATE TABLE IF NOT EXISTS turns (
        call_id TEXT, turn_index INTEGER, speaker TEXT, start_s REAL, end_s REAL, emotion_label TEXT,
        row_json TEXT, PRIMARY KEY (call_id, turn_index));
    CREATE TABLE IF NOT EXISTS errors (
        path TEXT PRIMARY KEY, call_id TEXT, reason TEXT, at REAL);
    """ + WORDS_SCHEMA

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(self.SCHEMA)

    def upsert_call(self, result: dict) -> None:
        call_id = result["call_id"]
        with self._conn:  # one transaction: the call, its metrics and turns, or nothing
            self._conn.execute("DELETE FROM metrics WHERE call_id = ?", (call_id,))
            self._conn.execute("DELETE FROM turns WHERE call_id = ?", (call_id,))
            self._conn.execute("DELETE FROM errors WHERE path = ?", (result["path"],))
            self._conn.execute(
                "INSERT OR REPLACE INTO calls VALUES (?,?,?,?,?,?,?,?,?,?)",
                (call_id, result["path"], result.get("content_sha256"), result.get("params_digest"),
                 result["versions"]["call_analyzer"], time.time(), result["duration_s"], result["mode"],
                 (result.get("qa") or {}).get("score"), json.dumps(result, ensure_ascii=False)),
            )
            self._conn.executemany(
                "INSERT INTO metrics VALUES (?,?,?)",
                [(call_id, k, float(v)) for k, v in result["metrics"].items() if isinstance(v, (int, float))],
            )
            self._conn.executemany(
                "INSERT INTO turns VALUES (?,?,?,?,?,?,?)",
                [(call_id, t["index"], t["speaker"], t["start_s"], t["end_s"], t.get("emotion_label"),
                  json.dumps(t, ensure_ascii=False)) for t in result["turns"]],
            )
            replace_call_words(self._conn, result)

    def record_error(self, path: str, call_id: str, reason: str) -> None:
        with self._conn:
            self._conn.execute("INSERT OR REPLACE INTO errors VALUES (?,?,?,?)", (path, call_id, reason, time.time()))

    def close(self) -> None:
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
