"""Writing results: per-call JSON, tables (CSV/Parquet), SQLite, errors.csv, HTML.

Every file is written to a temporary name and renamed into place, so a run
killed at any moment leaves either the old or the new file, never half of
one. The per-call JSON files are the source of truth; the tables are
rebuilt from them at the end of each run. The SQLite database (schema in
:mod:`analyzer.outputs.database`) is updated in place (one transaction per call, WAL journal).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from . import table_files, tables
from .database import ResultsDatabase  # noqa: F401 - the schema lives in database.py; callers use writers.ResultsDatabase


CALLS_DIR = "calls"
FAILURES_DIR = "failures"
HTML_DIR = "html"
DB_NAME = "results.sqlite"
ERRORS_CSV = "errors.csv"
LOCK_NAME = ".call-analyzer.lock"
RESULT_SCHEMA_PREFIX = "call-analyzer/call/"
FAILURE_SCHEMA = "call-analyzer/failure/1"
NAME_MAX_BYTES = 255
PATH_MAX_BYTES = 4096
COMPONENT_MAX_BYTES = 200
"""A call_id part longer than this (UTF-8 bytes) is shortened in file names (prefix + hash); the JSON keeps the full id.
255 (NAME_MAX) minus room for the suffix and the temporary name's ``.<pid>.<random>.tmp``."""
OUT_MAX_BYTES = 480
"""Longest --out path (bytes, absolute): SQLite opens no database whose path exceeds 512 bytes
(its unix VFS limit), and ``results.sqlite-wal`` needs room beside it."""
REL_MAX_BYTES = PATH_MAX_BYTES - OUT_MAX_BYTES - 200
"""Longest path of an output file inside --out (bytes); longer ids go flat under ``~long/``."""
STATUS_CURRENT = tables.STATUS_CURRENT  # "current"
STATUS_SOURCE_GONE = "stale_source_gone"
STATUS_SOURCE_CHANGED = "stale_source_changed"
STATUS_NOW_FAILING = "stale_now_failing"
_ESCAPED_DIR = re.compile(r"\.(json|html)_*$", re.IGNORECASE)
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _umask_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _umask_file_mode()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    short = _shorten(path.name, 64)  # the temporary name stays within NAME_MAX whatever the target's length
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{short}.{os.getpid()}.", suffix=".tmp")
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
    """Delete temporary files a killed run left behind (``.<name>.<pid>.<random>.tmp``); returns how many.

    Call it only while holding :class:`OutputLock`: then no other run is writing into ``out_dir``."""
    removed = 0
    for path in out_dir.rglob(".*.tmp"):
        if path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _shorten(part: str, max_bytes: int) -> str:
    """``part`` if its UTF-8 form fits in ``max_bytes``, else a prefix of it + ``~`` + 12 hex digits of its sha1."""
    raw = part.encode("utf-8")
    if len(raw) <= max_bytes:
        return part
    prefix = raw[: max_bytes - 13].decode("utf-8", errors="ignore")
    return f"{prefix}~{hashlib.sha1(raw).hexdigest()[:12]}"


def output_relpath(call_id: str, suffix: str) -> str:
    """The file (relative to ``calls/``, ``html/`` ...) that holds ``call_id``'s output, with ``suffix``.

    Injective over call_ids: a folder part ending in ``.json`` or ``.html`` gets one more ``_``
    (so the folder of ``d.json/x`` never clashes with the file of ``d``); a part longer than
    :data:`COMPONENT_MAX_BYTES` is shortened with a hash, and an id whose path would still be
    too long goes flat under ``~long/``. The full call_id is always inside the file.
    """
    parts = call_id.split("/")
    folders = [p + "_" if _ESCAPED_DIR.search(p) else p for p in parts[:-1]]
    parts = [_shorten(p, COMPONENT_MAX_BYTES) for p in folders + parts[-1:]]
    rel = "/".join(parts) + suffix
    if len(rel.encode("utf-8")) > REL_MAX_BYTES:
        rel = "~long/" + _shorten(call_id.replace("/", "_"), 60) + "~" + hashlib.sha1(call_id.encode()).hexdigest()[:16] + suffix
    return rel


def call_json_path(out_dir: Path, call_id: str) -> Path:
    return out_dir / CALLS_DIR / output_relpath(call_id, ".json")


def result_json_text(result: dict) -> str:
    """The exact text a call's JSON file holds (its sha256 is kept in the database to spot changes):
    ``json.dumps(result, indent=1, ensure_ascii=False, allow_nan=False)``."""
    return json.dumps(result, indent=1, ensure_ascii=False, allow_nan=False)


def write_call_json(out_dir: Path, result: dict, text: str | None = None) -> Path:
    path = call_json_path(out_dir, result["call_id"])
    atomic_write_text(path, text if text is not None else result_json_text(result))
    return path


def read_call_json(path: Path) -> dict | None:
    """A stored result, or None if it is missing, unreadable (e.g. from an older crash) or not a call result."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if is_call_result(data) else None


def is_call_result(data: Any) -> bool:
    """True for a dict with this package's result schema and a string call_id."""
    return (isinstance(data, dict) and str(data.get("schema", "")).startswith(RESULT_SCHEMA_PREFIX)
            and isinstance(data.get("call_id"), str) and isinstance(data.get("metrics"), dict)
            and isinstance(data.get("turns"), list))


def iter_call_results(out_dir: Path, *, on_warning: Callable[[str], None] | None = None,
                      with_text_sha: bool = False) -> Iterator[dict]:
    """Every per-call result JSON under ``out_dir/calls``, in file order.

    Foreign or broken files (not JSON, not a call result, a folder named ``*.json``, a second
    file claiming a call_id already seen) are skipped with a warning naming them. With
    ``with_text_sha`` each result gets ``"_text_sha256"``: the sha256 of the file's bytes.
    """
    root = out_dir / CALLS_DIR
    if not root.exists():
        return
    seen: dict[str, Path] = {}
    for path in sorted(root.rglob("*.json")):
        try:
            raw = path.read_bytes()
            data = json.loads(raw.decode("utf-8"))
        except (OSError, ValueError) as exc:
            if on_warning:
                on_warning(f"{path}: skipped, not a readable JSON result ({type(exc).__name__})")
            continue
        if not is_call_result(data):
            if on_warning:
                on_warning(f"{path}: skipped, not a call-analyzer call result (no schema/call_id/metrics/turns)")
            continue
        if call_json_path(out_dir, data["call_id"]) != path:
            if on_warning:
                on_warning(f"{path}: skipped, holds call_id {data['call_id']!r}, which belongs in "
                           f"{call_json_path(out_dir, data['call_id'])}")
            continue
        if with_text_sha:
            data["_text_sha256"] = hashlib.sha256(raw).hexdigest()
        seen[data["call_id"]] = path
        yield data


_HEADER_KEY = {key: re.compile(rb'\n "' + key.encode() + rb'": ("(?:[^"\\]|\\.)*")') for key in ("schema", "call_id", "path")}


def _result_header(path: Path) -> tuple[str, str] | None:
    """(call_id, source path) of a stored result from the first 64 KiB of its file (the writer puts them
    first); falls back to parsing the whole file. None for anything that is not a call result."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
    except OSError:
        return None
    found = {}
    for key, pattern in _HEADER_KEY.items():
        match = pattern.search(head)
        if match is None:
            break
        try:
            found[key] = json.loads(match.group(1).decode("utf-8"))
        except ValueError:
            break
    if len(found) == 3 and str(found["schema"]).startswith(RESULT_SCHEMA_PREFIX):
        return found["call_id"], found["path"]
    data = read_call_json(path)
    return (data["call_id"], str(data.get("path") or "")) if data else None


def stored_call_paths(out_dir: Path) -> dict[str, str]:
    """call_id -> recorded source path of every stored result (read at the start of a run to keep ids
    stable); only the head of each file is read."""
    root = out_dir / CALLS_DIR
    stored: dict[str, str] = {}
    if not root.exists():
        return stored
    for path in root.rglob("*.json"):
        header = _result_header(path) if path.is_file() else None
        if header and call_json_path(out_dir, header[0]) == path:
            stored[header[0]] = header[1]
    return stored


# ---- failure records: one small JSON per file whose last analysis failed ------------------------


def failure_path(out_dir: Path, call_id: str) -> Path:
    return out_dir / FAILURES_DIR / output_relpath(call_id, ".json")


def write_failure(out_dir: Path, record: dict) -> None:
    """Keep ``record`` (path, call_id, reason, worker_deaths, file_size, file_mtime_ns, at) until the call succeeds."""
    atomic_write_text(failure_path(out_dir, record["call_id"]),
                      json.dumps({"schema": FAILURE_SCHEMA, **record}, ensure_ascii=False, allow_nan=False))


def read_failure(out_dir: Path, call_id: str) -> dict | None:
    try:
        data = json.loads(failure_path(out_dir, call_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("schema") == FAILURE_SCHEMA else None


def remove_failure(out_dir: Path, call_id: str) -> None:
    failure_path(out_dir, call_id).unlink(missing_ok=True)


def iter_failures(out_dir: Path) -> Iterator[tuple[Path, dict]]:
    """(file, record) for every failure record (foreign files in ``failures/`` are ignored)."""
    root = out_dir / FAILURES_DIR
    if not root.exists():
        return
    for path in sorted(root.rglob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("schema") == FAILURE_SCHEMA and isinstance(data.get("call_id"), str):
            yield path, data


def result_status(result: dict, failing: set[str]) -> str:
    """``current``, or why a stored result no longer describes its source file (see docs/operations.md)."""
    if result["call_id"] in failing:
        return STATUS_NOW_FAILING
    try:
        stat = os.stat(result.get("path") or "")
    except OSError:
        return STATUS_SOURCE_GONE
    if result.get("file_size") is not None and (stat.st_size, stat.st_mtime_ns) != (
            result.get("file_size"), result.get("file_mtime_ns")):
        return STATUS_SOURCE_CHANGED
    return STATUS_CURRENT


class OutputLock:
    """An exclusive ``fcntl`` lock on ``<out>/.call-analyzer.lock`` for one run writing into ``out``.

    A second run waits for the first (``on_wait`` is told once, with the holder's pid) instead of
    deleting its temporaries or interleaving its writes.
    """

    def __init__(self, out_dir: Path, *, on_wait: Callable[[str], None] | None = None):
        self.path = out_dir / LOCK_NAME
        self.on_wait = on_wait
        self._handle = None

    def __enter__(self):
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            if self.on_wait:
                self.on_wait(f"another call-analyzer run (pid {holder}) is writing to {self.path.parent}; "
                             "waiting for it to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc):
        import fcntl

        if self._handle is not None:
            self._handle.seek(0)
            self._handle.truncate()
            self._handle.flush()
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


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


def call_row(result: dict, status: str | None = None) -> dict:
    """The one-row-per-call summary (see :func:`analyzer.outputs.tables.call_row`), with ``status``."""
    return tables.call_row(result, status)


def turn_table_rows(result: dict) -> list[dict]:
    """One row per turn (see :func:`analyzer.outputs.tables.turn_rows`)."""
    return tables.turn_rows(result)


from .table_files import CSV_PROBABILITY_DECIMALS  # noqa: E402 - p_*, arousal, valence, emotion_confidence in CSV
from .table_files import PROBABILITY_COLUMNS as _PROBABILITY_COLUMNS  # noqa: E402


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
    """``<table>.csv`` and ``<table>.parquet`` of the rows: by :mod:`analyzer.outputs.table_files` (no pandas
    import, the same CSV text and Parquet frame), through pandas for column mixes that module leaves to it."""
    if not table_files.needs_pandas(rows):
        atomic_write_text(csv_path, table_files.csv_text(rows, neutralise_csv_cell))
        atomic_write_bytes(parquet_path, table_files.parquet_bytes(rows))
        return
    import pandas as pd

    frame = pd.DataFrame(rows)
    buffer = io.StringIO()
    neutralise_csv_frame(round_for_csv(frame)).to_csv(buffer, index=False)
    atomic_write_text(csv_path, buffer.getvalue())
    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    atomic_write_bytes(parquet_path, out.getvalue())


def write_tables(out_dir: Path, results: Iterable[dict], statuses: dict[str, str] | None = None) -> int:
    """Rebuild ``<table>.csv`` and ``<table>.parquet`` for calls (with each result's ``status``), turns,
    events, segments and qa_results from the given results. Returns the call count."""
    results = list(results)
    for table in tables.TABLES:
        _write_table(tables.table_rows(results, table, statuses), out_dir / f"{table}.csv", out_dir / f"{table}.parquet")
    words = tables.table_rows(results, "words")
    if words:  # only transcribed calls have words (analyze --transcribe)
        _write_table(words, out_dir / "words.csv", out_dir / "words.parquet")
    else:
        for name in ("words.csv", "words.parquet"):
            (out_dir / name).unlink(missing_ok=True)
    return len(results)


def write_errors(out_dir: Path, errors: list[dict]) -> Path:
    """errors.csv: one row per file whose last analysis failed (header only if none)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["path", "call_id", "reason"])
    writer.writeheader()
    for error in errors:
        writer.writerow({k: neutralise_csv_cell(error.get(k)) for k in ("path", "call_id", "reason")})
    path = out_dir / ERRORS_CSV
    atomic_write_text(path, buffer.getvalue())
    return path
