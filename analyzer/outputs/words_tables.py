"""The transcript in the results database: full-text search over the turns' text (SQLite FTS5).

The ``words`` table (one row per recognised word) is an ordinary child table of ``calls``
(:mod:`analyzer.outputs.database`, rows from :func:`analyzer.outputs.tables.word_rows`);
``turns_fts`` is an FTS5 index of every transcribed turn's text, which foreign keys cannot
cascade into: :func:`replace_call_text` / :func:`delete_call_text` keep it in step with the
call's rows inside the caller's transaction. :func:`search` runs a query.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ..errors import AnalyzerError

FTS_SCHEMA = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS turns_fts USING fts5("
    "text, call_id UNINDEXED, turn_index UNINDEXED, speaker UNINDEXED, start_s UNINDEXED, end_s UNINDEXED, "
    "tokenize = 'unicode61 remove_diacritics 2')"
)


def delete_call_text(conn: sqlite3.Connection, call_id: str) -> None:
    """Drop one call's rows from ``turns_fts``."""
    conn.execute("DELETE FROM turns_fts WHERE call_id = ?", (call_id,))


def replace_call_text(conn: sqlite3.Connection, result: dict) -> None:
    """Replace one call's ``turns_fts`` rows by its transcribed turns (none when transcription was off)."""
    delete_call_text(conn, result["call_id"])
    conn.executemany("INSERT INTO turns_fts VALUES (?,?,?,?,?,?)",
                     [(t["text"], result["call_id"], t["index"], t["speaker"], t["start_s"], t["end_s"])
                      for t in result["turns"] if t.get("text")])


def fts_query(text: str) -> str:
    """A user's search text as an FTS5 query: each word must occur (any order); "quoted words" are a phrase;
    ``word*`` is a prefix. ``cancel "my contract"`` -> ``"cancel" "my contract"``."""
    if text.count('"') % 2:
        raise AnalyzerError(f"search {text!r}: unbalanced double quote")
    parts, out = text.split('"'), []
    for i, part in enumerate(parts):
        if i % 2:
            if part.strip():
                out.append('"' + part.strip() + '"')
        else:
            out.extend('"' + w.rstrip("*") + '"' + ("*" if w.endswith("*") else "") for w in part.split() if w.rstrip("*"))
    if not out:
        raise AnalyzerError("search: give at least one word")
    return " ".join(out)


def search(db_path: str | Path, text: str, *, speaker: str | None = None, limit: int = 50) -> list[dict]:
    """Turns whose transcript matches ``text``, best match first: call_id, turn_index, speaker, start_s, end_s,
    snippet (matches in [brackets])."""
    db_path = Path(db_path)
    if not db_path.is_file():
        raise AnalyzerError(f"{db_path}: no results database here (run analyze --transcribe first)")
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        has = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'turns_fts'").fetchone()
        if not has:
            raise AnalyzerError(f"{db_path}: no transcripts in this database (run analyze --transcribe)")
        sql = ("SELECT call_id, turn_index, speaker, start_s, end_s, snippet(turns_fts, 0, '[', ']', '...', 12) "
               "FROM turns_fts WHERE turns_fts MATCH ?" + (" AND speaker = ?" if speaker else "") +
               " ORDER BY rank LIMIT ?")
        args = (fts_query(text),) + ((speaker,) if speaker else ()) + (int(limit),)
        rows = conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError as exc:
        raise AnalyzerError(f"search {text!r} in {db_path}: {exc}") from None
    finally:
        conn.close()
    keys = ("call_id", "turn_index", "speaker", "start_s", "end_s", "snippet")
    return [dict(zip(keys, row)) for row in rows]
