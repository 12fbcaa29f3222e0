"""Rows of the result tables, built from per-call result dicts (pure; no I/O).

One builder per table, shared by every store of the same table: calls.csv/.parquet,
turns, events, segments and qa_results (CSV + Parquet), the SQLite database
(:mod:`analyzer.outputs.database`) and the DataFrame API (:mod:`analyzer.results`).
Column names are the same everywhere; the turn order is ``turn_index`` (``index`` in the
JSON: an SQL keyword, so the tables rename it).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

TABLES = ("calls", "turns", "events", "segments", "qa_results")
QA_STATUSES = ("failed", "passed", "not_applicable")
STATUS_CURRENT = "current"  # calls.status of a result that describes its source file (others: writers.STATUS_*)


def iso_utc(epoch_s: float | None) -> str | None:
    """ISO-8601 UTC timestamp (``2026-12-01T14:03:07.123456+00:00``) of a Unix time in seconds, or None."""
    if epoch_s is None:
        return None
    return datetime.fromtimestamp(float(epoch_s), tz=timezone.utc).isoformat()


def now_iso() -> str:
    """The current time as an ISO-8601 UTC timestamp."""
    return datetime.now(tz=timezone.utc).isoformat()


SEPARATION_COLUMNS = ("agent_confidence", "separation_confidence", "n_speakers_estimate")


def separation_fields(result: dict) -> dict:
    """How sure the party split is (mono calls; None on stereo, where channels name the parties):
    ``agent_confidence`` and ``separation_confidence`` (0..1) and diarization's speaker-count estimate."""
    diarization = result.get("diarization") or {}
    return {key: diarization.get(key) for key in SEPARATION_COLUMNS}


def call_row(result: dict, status: str | None = None) -> dict:
    """The one-row-per-call summary: identity, status (``current`` or why the result is stale, see
    docs/operations.md), mode, diarization confidences, model and licence, QA score, warnings count
    and every metric (one column per metric key)."""
    versions = result.get("versions") or {}
    qa = result.get("qa") if isinstance(result.get("qa"), dict) else {}
    audio_params = (result.get("params") or {}).get("audio") or {}
    mtime_ns = result.get("file_mtime_ns")
    row = {
        "call_id": result["call_id"],
        "path": result["path"],
        "status": status or STATUS_CURRENT,
        "mode": result["mode"],
        "mono_mix": bool(audio_params.get("mono_mix", False)),
        "sample_rate_hz": result["sample_rate_hz"],
        "analysis_rate_hz": result.get("analysis_rate_hz"),
        "file_modified_at": iso_utc(mtime_ns / 1e9) if mtime_ns is not None else None,
        "content_sha256": result.get("content_sha256"),
        "params_digest": result.get("params_digest"),
        "analyzer_version": versions.get("call_analyzer"),
        "emotion_model": versions.get("emotion_model"),
        "emotion_licence": versions.get("emotion_licence"),
        **separation_fields(result),
        "qa_score": qa.get("score"),
        "qa_rules_version": qa.get("rules_version"),
        "qa_failed": len(qa.get("failed") or []) if qa else None,
        "qa_rules_checked": qa.get("checked") if qa else None,
        "n_warnings": len(result.get("warnings", [])),
    }
    row.update(result["metrics"])
    return row


def turn_rows(result: dict) -> list[dict]:
    """One row per turn: ``call_id``, ``turn_index`` and every other key of the turn (the word list of a
    transcribed turn goes to the words table, :func:`word_rows`)."""
    rows = []
    for turn in result["turns"]:
        row = {"call_id": result["call_id"], "turn_index": turn.get("index")}
        row.update({k: v for k, v in turn.items() if k not in ("index", "words")})
        rows.append(row)
    return rows


EVENT_COLUMNS = ("call_id", "event_index", "kind", "speaker", "start_s", "end_s", "duration_s",
                 "other", "outcome", "fto_s")


def event_rows(result: dict) -> list[dict]:
    """One row per event (gap, overlap, backchannel, interruption, pause, dead_air, hold): the
    columns of :data:`EVENT_COLUMNS` plus any further key of the event."""
    rows = []
    for number, event in enumerate(result.get("events") or []):
        start, end = float(event["start_s"]), float(event["end_s"])
        row = {"call_id": result["call_id"], "event_index": number, "kind": event["kind"],
               "speaker": event.get("speaker"), "start_s": start, "end_s": end,
               "duration_s": round(end - start, 3), "other": event.get("other"),
               "outcome": event.get("outcome"), "fto_s": event.get("fto_s")}
        row.update({k: v for k, v in event.items() if k not in row})
        rows.append(row)
    return rows


def segment_rows(result: dict) -> list[dict]:
    """One row per speech segment: call_id, segment_index, speaker, start_s, end_s, duration_s."""
    return [{"call_id": result["call_id"], "segment_index": number, "speaker": seg.get("speaker"),
             "start_s": float(seg["start_s"]), "end_s": float(seg["end_s"]),
             "duration_s": round(float(seg["end_s"]) - float(seg["start_s"]), 3)}
            for number, seg in enumerate(result.get("segments") or [])]


QA_COLUMNS = ("call_id", "rule", "status", "severity", "weight", "message", "value", "threshold",
              "threshold_range", "n_times", "first_time_s", "times_json", "reason", "rules_version")


def qa_rows(result: dict) -> list[dict]:
    """One row per QA rule evaluated on the call: ``status`` failed / passed / not_applicable
    (the rule could not be measured in this call, ``reason`` says why). Failed rules carry
    severity, weight, message, the measured value and threshold (``threshold_range``: ``[low, high]``
    for range rules), and their times
    (``times_json``: ``[[start_s, end_s], ...]``; ``first_time_s``). No rows for an unscored call."""
    qa = result.get("qa")
    if not isinstance(qa, dict):
        return []
    base = {"call_id": result["call_id"], "rules_version": qa.get("rules_version")}
    empty = dict.fromkeys(QA_COLUMNS)
    rows = []
    for failure in qa.get("failed") or []:
        times = [[float(a), float(b)] for a, b in failure.get("times") or []]
        threshold = failure.get("threshold")
        rows.append({**empty, **base, "rule": failure.get("rule"), "status": "failed",
                     "severity": failure.get("severity"), "weight": failure.get("weight"),
                     "message": failure.get("message"), "value": _number_or_none(failure.get("value")),
                     "threshold": _number_or_none(threshold),
                     "threshold_range": json.dumps(threshold) if isinstance(threshold, list) else None,
                     "n_times": len(times), "first_time_s": times[0][0] if times else None,
                     "times_json": json.dumps(times)})
    for rule in qa.get("passed") or []:
        rows.append({**empty, **base, "rule": rule, "status": "passed", "n_times": 0})
    for skipped in qa.get("skipped") or []:
        rows.append({**empty, **base, "rule": skipped.get("rule"), "status": "not_applicable",
                     "reason": skipped.get("reason"), "n_times": 0})
    return rows


def _number_or_none(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, (int, float)) else None


WORD_COLUMNS = ("call_id", "turn_index", "word_index", "speaker", "start_s", "end_s", "word", "confidence")


def word_rows(result: dict) -> list[dict]:
    """One row per recognised word of every transcribed turn (``analyze --transcribe``; else none)."""
    return [{"call_id": result["call_id"], "turn_index": turn["index"], "word_index": i, "speaker": turn["speaker"],
             "start_s": w["start_s"], "end_s": w["end_s"], "word": w["word"], "confidence": w["confidence"]}
            for turn in result["turns"] for i, w in enumerate(turn.get("words") or [])]


ROW_BUILDERS = {"calls": lambda r: [call_row(r)], "turns": turn_rows, "events": event_rows,
                "segments": segment_rows, "qa_results": qa_rows, "words": word_rows}


def table_rows(results, table: str, statuses: dict[str, str] | None = None) -> list[dict]:
    """Every row of ``table`` (one of :data:`TABLES`) over ``results``, in result order;
    ``statuses``: call_id -> status for the calls table (default ``current``)."""
    if table == "calls":
        return [call_row(result, (statuses or {}).get(result["call_id"])) for result in results]
    build = ROW_BUILDERS[table]
    return [row for result in results for row in build(result)]
