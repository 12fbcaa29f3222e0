"""Writing results: per-call JSON, tables (CSV/Parquet), SQLite, errors.csv, HTML.

Every file is written to a temporary name and renamed into place, so a run
killed at any moment leaves either the old or the new file, never half of
one. The per-call JSON files are the source of truth; the tables are
rebuilt from them at the end of each run. The SQLite database (schema in
:mod:`analyzer.outputs.database`) is updated in place (one transaction per call, WAL journal).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from . import tables
from .database import ResultsDatabase  # noqa: F401 - the schema lives in database.py; callers use writers.ResultsDatabase

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
    """The one-row-per-call summary (see :func:`analyzer.outputs.tables.call_row`)."""
    return tables.call_row(result)


def turn_table_rows(result: dict) -> list[dict]:
    """One row per turn (see :func:`analyzer.outputs.tables.turn_rows`)."""
    return tables.turn_rows(result)


CSV_PROBABILITY_DECIMALS = 4  # p_*, arousal, valence, emotion_confidence in CSV (the model is not better than 1e-4)
_PROBABILITY_COLUMNS = ("arousal", "valence", "emotion_confidence")


def round_for_csv(frame):
    """A copy of ``frame`` with probability-like columns (``p_*``, arousal, valence,
    emotion_confidence) rounded to :data:`CSV_PROBABILITY_DECIMALS`; Parquet and SQLite keep full precision."""
    from pandas.api.types import is_float_dtype

    out = frame.copy()
    for col in out.columns:
        if (str(col).startswith("p_") or col in _PROBABILITY_COLUMNS) and is_float_dtype(out[col].dtype):
            out[col] = out[col].round(CSV_PROBABILITY_DECIMALS)
    return out


def _write_table(rows: list[dict], csv_path: Path, parquet_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame(rows)
    buffer = io.StringIO()
    neutralise_csv_frame(round_for_csv(frame)).to_csv(buffer, index=False)
    atomic_write_text(csv_path, buffer.getvalue())
    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    atomic_write_bytes(parquet_path, out.getvalue())


def write_tables(out_dir: Path, results: Iterable[dict]) -> int:
    """Rebuild ``<table>.csv`` and ``<table>.parquet`` for calls, turns, events, segments and
    qa_results from the given results. Returns the call count."""
    results = list(results)
    for table in tables.TABLES:
        _write_table(tables.table_rows(results, table), out_dir / f"{table}.csv", out_dir / f"{table}.parquet")
    return len(results)


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
