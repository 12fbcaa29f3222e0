"""Reviewers' annotations in the results database: append-only tables beside the machine's output.

Three tables (schema in :data:`SCHEMA`, documented in docs/database.md), each one row per action,
never updated or deleted, so the history of every item is kept and the machine's output
(``turns``, ``qa_results``) is never touched:

* ``turn_labels``: a reviewer's label of one turn (:data:`TURN_LABELS`: an emotion, ``unsure``,
  ``not_a_turn`` or ``wrong_speaker``), keyed by ``(call_id, start_s, end_s)`` (times rounded to
  the millisecond, with the ``turn_index`` and ``speaker`` of the turn when it was labelled), with
  the machine's label and the previous human label of that turn;
* ``qa_reviews``: agree / dispute with one QA result of a call (``(call_id, rule)``), with a
  comment, the machine's outcome and the previous verdict;
* ``coaching_notes``: free text at a time point of a call.

The latest row of an item wins (``seq`` order). Writes are per item and check the previous value
the reviewer saw (:class:`StaleEdit` when someone else changed the item meanwhile), inside one
``BEGIN IMMEDIATE`` transaction, so two reviewers never silently overwrite each other.

The tables have no foreign key to ``calls``: re-analysing a call (``analyze --force``) deletes and
re-inserts its machine rows, which must not cascade into the reviewers' work. Every action is also
appended to ``annotations.jsonl`` beside the database (inside the same transaction, under SQLite's
write lock, so in commit order); a database that is rebuilt (deleted, or damaged and set aside by
:class:`~analyzer.outputs.database.ResultsDatabase`) gets its annotations back from that journal.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from .tables import now_iso

EMOTION_LABELS = ("neutral", "happy", "angry", "sad")
TURN_LABELS = EMOTION_LABELS + ("unsure", "not_a_turn", "wrong_speaker")
"""What a reviewer can say about a turn; only :data:`EMOTION_LABELS` go into the training export."""
QA_VERDICTS = ("agree", "dispute")
JOURNAL_NAME = "annotations.jsonl"
TIME_DECIMALS = 3  # turn times are keyed to the millisecond
MAX_TEXT_CHARS = 4000  # comments and notes

ANNOTATION_TABLES = ("turn_labels", "qa_reviews", "coaching_notes")
_COLUMNS = {
    "turn_labels": ("uid", "call_id", "turn_index", "start_s", "end_s", "speaker", "label", "previous_label",
                    "machine_label", "comment", "annotator", "annotated_at"),
    "qa_reviews": ("uid", "call_id", "rule", "verdict", "previous_verdict", "machine_status", "machine_message",
                   "comment", "annotator", "annotated_at"),
    "coaching_notes": ("uid", "call_id", "time_s", "text", "annotator", "annotated_at"),
}
SCHEMA = """
CREATE TABLE IF NOT EXISTS turn_labels (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, uid TEXT NOT NULL UNIQUE, call_id TEXT NOT NULL, turn_index INTEGER,
  start_s REAL NOT NULL, end_s REAL NOT NULL, speaker TEXT, label TEXT NOT NULL, previous_label TEXT,
  machine_label TEXT, comment TEXT, annotator TEXT NOT NULL, annotated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ix_turn_labels_key ON turn_labels(call_id, start_s, end_s);
CREATE TABLE IF NOT EXISTS qa_reviews (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, uid TEXT NOT NULL UNIQUE, call_id TEXT NOT NULL, rule TEXT NOT NULL,
  verdict TEXT NOT NULL, previous_verdict TEXT, machine_status TEXT, machine_message TEXT, comment TEXT,
  annotator TEXT NOT NULL, annotated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ix_qa_reviews_key ON qa_reviews(call_id, rule);
CREATE TABLE IF NOT EXISTS coaching_notes (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, uid TEXT NOT NULL UNIQUE, call_id TEXT NOT NULL, time_s REAL NOT NULL,
  text TEXT NOT NULL, annotator TEXT NOT NULL, annotated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ix_coaching_notes_call ON coaching_notes(call_id);
CREATE VIEW IF NOT EXISTS turn_labels_latest AS
  SELECT * FROM turn_labels AS a WHERE a.seq = (SELECT MAX(b.seq) FROM turn_labels AS b
    WHERE b.call_id = a.call_id AND b.start_s = a.start_s AND b.end_s = a.end_s);
CREATE VIEW IF NOT EXISTS qa_reviews_latest AS
  SELECT * FROM qa_reviews AS a WHERE a.seq = (SELECT MAX(b.seq) FROM qa_reviews AS b
    WHERE b.call_id = a.call_id AND b.rule = a.rule)
"""


class StaleEdit(Exception):
    """The item changed since the reviewer loaded it: ``current`` is its latest annotation (a dict), or None."""

    def __init__(self, current: dict | None):
        self.current = current
        who = f" by {current['annotator']} at {current['annotated_at']}" if current else ""
        super().__init__(f"changed meanwhile{who}; reload to see it")


class AnnotationError(ValueError):
    """An annotation that cannot be stored (unknown label, turn, rule, empty note); the message says why."""


def journal_path(db_path: str | Path) -> Path:
    """The append-only journal of every annotation, beside the database file."""
    return Path(db_path).with_name(JOURNAL_NAME)


def key_time(seconds: float) -> float:
    """A turn time as stored in the key (seconds, rounded to the millisecond)."""
    return round(float(seconds), TIME_DECIMALS)


def _rows(conn: sqlite3.Connection, sql: str, args: tuple = ()) -> list[dict]:
    cursor = conn.execute(sql, args)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _clean_text(text: Any, what: str) -> str:
    text = "" if text is None else str(text)
    if len(text) > MAX_TEXT_CHARS:
        raise AnnotationError(f"{what} is longer than {MAX_TEXT_CHARS} characters")
    return text.replace("\x00", "")


def _append(conn: sqlite3.Connection, journal: Path | None, table: str, row: dict) -> dict:
    """Insert one annotation row and append it to the journal (caller holds the write transaction)."""
    columns = _COLUMNS[table]
    conn.execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                 tuple(row[c] for c in columns))
    if journal is not None:
        line = json.dumps({"table": table, **{c: row[c] for c in columns}}, ensure_ascii=False)
        with open(journal, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    return row


def _write(conn: sqlite3.Connection, action):
    """Run ``action()`` in one ``BEGIN IMMEDIATE`` transaction (the write lock first, then the check)."""
    previous_isolation = conn.isolation_level
    conn.isolation_level = None
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = action()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result
    finally:
        conn.isolation_level = previous_isolation


def latest_turn_label(conn: sqlite3.Connection, call_id: str, start_s: float, end_s: float) -> dict | None:
    rows = _rows(conn, "SELECT * FROM turn_labels WHERE call_id = ? AND start_s = ? AND end_s = ? "
                 "ORDER BY seq DESC LIMIT 1", (call_id, key_time(start_s), key_time(end_s)))
    return rows[0] if rows else None


def latest_qa_review(conn: sqlite3.Connection, call_id: str, rule: str) -> dict | None:
    rows = _rows(conn, "SELECT * FROM qa_reviews WHERE call_id = ? AND rule = ? ORDER BY seq DESC LIMIT 1",
                 (call_id, rule))
    return rows[0] if rows else None


def _check_previous(current: dict | None, field: str, expected: str | None) -> None:
    have = current[field] if current else None
    if (have or None) != (expected or None):
        raise StaleEdit(current)


def label_turn(conn: sqlite3.Connection, *, call_id: str, turn_index: int, start_s: float, end_s: float,
               label: str, annotator: str, expected_previous: str | None, comment: str | None = None,
               journal: Path | None = None) -> dict:
    """Store a reviewer's label of one turn of the stored call; returns the new row.

    The turn must exist in ``turns`` with these times (else :class:`AnnotationError`: the call was
    re-analysed since the page was loaded). ``expected_previous``: the human label the reviewer saw
    (None if none); another one raises :class:`StaleEdit` and stores nothing."""
    if label not in TURN_LABELS:
        raise AnnotationError(f"label {label!r} is not one of {', '.join(TURN_LABELS)}")
    start, end = key_time(start_s), key_time(end_s)

    def action():
        turn = conn.execute("SELECT speaker, emotion_label, start_s, end_s FROM turns WHERE call_id = ? AND turn_index = ?",
                            (call_id, int(turn_index))).fetchone()
        if turn is None or key_time(turn[2]) != start or key_time(turn[3]) != end:
            raise AnnotationError(f"call {call_id!r} has no turn {turn_index} at {start:.3f}-{end:.3f} s "
                                  "(re-analysed since the page was loaded? reload it)")
        current = latest_turn_label(conn, call_id, start, end)
        _check_previous(current, "label", expected_previous)
        row = {"uid": uuid.uuid4().hex, "call_id": call_id, "turn_index": int(turn_index), "start_s": start,
               "end_s": end, "speaker": turn[0], "label": label, "previous_label": current["label"] if current else None,
               "machine_label": turn[1], "comment": _clean_text(comment, "comment") or None,
               "annotator": annotator, "annotated_at": now_iso()}
        return _append(conn, journal, "turn_labels", row)

    return _write(conn, action)


def review_qa(conn: sqlite3.Connection, *, call_id: str, rule: str, verdict: str, annotator: str,
              expected_previous: str | None, comment: str | None = None, journal: Path | None = None) -> dict:
    """Store agree / dispute with one QA result of the call (its row in ``qa_results``); returns the new row.
    ``expected_previous`` as in :func:`label_turn`."""
    if verdict not in QA_VERDICTS:
        raise AnnotationError(f"verdict {verdict!r} is not one of {', '.join(QA_VERDICTS)}")

    def action():
        machine = conn.execute("SELECT status, message FROM qa_results WHERE call_id = ? AND rule = ?",
                               (call_id, rule)).fetchone()
        if machine is None:
            raise AnnotationError(f"call {call_id!r} has no QA result for rule {rule!r}")
        current = latest_qa_review(conn, call_id, rule)
        _check_previous(current, "verdict", expected_previous)
        row = {"uid": uuid.uuid4().hex, "call_id": call_id, "rule": rule, "verdict": verdict,
               "previous_verdict": current["verdict"] if current else None, "machine_status": machine[0],
               "machine_message": machine[1], "comment": _clean_text(comment, "comment") or None,
               "annotator": annotator, "annotated_at": now_iso()}
        return _append(conn, journal, "qa_reviews", row)

    return _write(conn, action)


def add_note(conn: sqlite3.Connection, *, call_id: str, time_s: float, text: str, annotator: str,
             journal: Path | None = None) -> dict:
    """Store a coaching note at ``time_s`` (seconds into the call); returns the new row."""
    text = _clean_text(text, "note").strip()
    if not text:
        raise AnnotationError("the note is empty")

    def action():
        duration = conn.execute("SELECT duration_s FROM calls WHERE call_id = ?", (call_id,)).fetchone()
        if duration is None:
            raise AnnotationError(f"no call {call_id!r}")
        time = min(max(0.0, float(time_s)), float(duration[0] or time_s))
        row = {"uid": uuid.uuid4().hex, "call_id": call_id, "time_s": key_time(time), "text": text,
               "annotator": annotator, "annotated_at": now_iso()}
        return _append(conn, journal, "coaching_notes", row)

    return _write(conn, action)


def call_annotations(conn: sqlite3.Connection, call_id: str) -> dict[str, Any]:
    """Everything reviewers said about one call: ``turns`` (latest label per turn key, with ``history``:
    every row of that turn, newest first), ``qa`` (latest verdict per rule, with history) and ``notes``
    (by time)."""
    turns: dict[tuple, dict] = {}
    for row in _rows(conn, "SELECT * FROM turn_labels WHERE call_id = ? ORDER BY seq DESC", (call_id,)):
        key = (row["start_s"], row["end_s"])
        if key not in turns:
            turns[key] = {**row, "history": []}
        turns[key]["history"].append(row)
    qa: dict[str, dict] = {}
    for row in _rows(conn, "SELECT * FROM qa_reviews WHERE call_id = ? ORDER BY seq DESC", (call_id,)):
        if row["rule"] not in qa:
            qa[row["rule"]] = {**row, "history": []}
        qa[row["rule"]]["history"].append(row)
    notes = _rows(conn, "SELECT * FROM coaching_notes WHERE call_id = ? ORDER BY time_s, seq", (call_id,))
    return {"turns": list(turns.values()), "qa": qa, "notes": notes}


def attach_to_turns(labels: list[dict], turns: list[dict], *, min_overlap: float = 0.5) -> tuple[dict, list[dict]]:
    """Match latest turn labels to the call's current turns (pure): ``({turn_index: label_row}, orphans)``.

    A label attaches to the turn with the same times, else (the call was re-analysed and its turns moved)
    to the turn of the same speaker it overlaps most, if the overlap is at least ``min_overlap`` of the
    longer of the two; labels that match no turn are returned as orphans."""
    by_times = {(key_time(t["start_s"]), key_time(t["end_s"])): t for t in turns}
    attached, orphans = {}, []
    for label in labels:
        turn = by_times.get((label["start_s"], label["end_s"]))
        if turn is None:
            best, best_share = None, 0.0
            for candidate in turns:
                overlap = min(candidate["end_s"], label["end_s"]) - max(candidate["start_s"], label["start_s"])
                longer = max(candidate["end_s"] - candidate["start_s"], label["end_s"] - label["start_s"], 1e-9)
                share = overlap / longer
                if share > best_share and candidate.get("speaker") == label.get("speaker"):
                    best, best_share = candidate, share
            turn = best if best_share >= min_overlap else None
        index = turn.get("index", turn.get("turn_index")) if turn else None
        if turn is None or index in attached:
            orphans.append(label)
        else:
            attached[index] = label
    return attached, orphans


def annotation_count(conn: sqlite3.Connection) -> int:
    return sum(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ANNOTATION_TABLES)


def restore_from_journal(conn: sqlite3.Connection, journal: Path) -> int:
    """Insert every journal row the tables lack (by ``uid``), in journal order; returns rows added.

    The caller holds the transaction. A damaged last line (a crash mid-write) is skipped."""
    if not journal.is_file():
        return 0
    added = 0
    with open(journal, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                record = json.loads(line)
                table = record["table"]
                columns = _COLUMNS[table]
                values = tuple(record[c] for c in columns)
            except (ValueError, KeyError, TypeError):
                continue
            cursor = conn.execute(f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) "
                                  f"VALUES ({', '.join('?' * len(columns))})", values)
            added += cursor.rowcount
    return added


LABELS_CSV_COLUMNS = ("path", "start_s", "end_s", "label", "speaker", "channel", "call_id", "turn_index",
                      "machine_label", "annotator", "annotated_at")
"""The agreed train-emotion input (docs/review.md); do not change without the train-emotion side."""
DISPUTES_CSV_COLUMNS = ("call_id", "rule", "machine_status", "machine_message", "comment", "annotator",
                        "annotated_at")


def _channels(result_json: str | None) -> dict[str, int]:
    try:
        result = json.loads(result_json or "{}")
    except ValueError:
        return {}
    if result.get("mode") != "stereo" or ((result.get("params") or {}).get("audio") or {}).get("mono_mix"):
        return {}
    return {str(k): int(v) for k, v in (result.get("channels") or {}).items()}


def label_rows(conn: sqlite3.Connection) -> tuple[list[dict], dict[str, int]]:
    """The corrected turn labels as rows of :data:`LABELS_CSV_COLUMNS` (latest label per turn; only
    emotion labels), and how many turns were left out per reason (``unsure``, ``not_a_turn``,
    ``wrong_speaker``, ``call_gone``: the call is no longer in the database)."""
    calls = {cid: (path, res) for cid, path, res in conn.execute("SELECT call_id, path, result_json FROM calls")}
    rows, skipped = [], {"unsure": 0, "not_a_turn": 0, "wrong_speaker": 0, "call_gone": 0}
    channels_of: dict[str, dict] = {}
    for label in _rows(conn, "SELECT * FROM turn_labels_latest ORDER BY call_id, start_s"):
        if label["label"] not in EMOTION_LABELS:
            skipped[label["label"]] += 1
            continue
        if label["call_id"] not in calls:
            skipped["call_gone"] += 1
            continue
        path, result_json = calls[label["call_id"]]
        if label["call_id"] not in channels_of:
            channels_of[label["call_id"]] = _channels(result_json)
        channel = channels_of[label["call_id"]].get(label["speaker"])
        rows.append({"path": os.path.abspath(path), "start_s": label["start_s"], "end_s": label["end_s"],
                     "label": label["label"], "speaker": label["speaker"], "channel": "" if channel is None else channel,
                     "call_id": label["call_id"], "turn_index": label["turn_index"],
                     "machine_label": label["machine_label"] or "", "annotator": label["annotator"],
                     "annotated_at": label["annotated_at"]})
    return rows, skipped


def dispute_rows(conn: sqlite3.Connection) -> list[dict]:
    """Every QA result whose latest verdict is ``dispute``, as rows of :data:`DISPUTES_CSV_COLUMNS`."""
    return [{c: row[c] for c in DISPUTES_CSV_COLUMNS}
            for row in _rows(conn, "SELECT * FROM qa_reviews_latest WHERE verdict = 'dispute' ORDER BY call_id, rule")]
