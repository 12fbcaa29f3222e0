"""Scoring an analysis against ground truth (simulated calls, annotated meetings).

Pure functions shared by the tests, ``scripts/eval_pacing.py`` and the
benchmarks, so every figure in the README is computed one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analyzer.intervals import FRAME_HOP_S, Segment, segments_to_frames

HOP_S = FRAME_HOP_S


def speech_f1(truth: list[Segment], detected: list[Segment], duration_s: float, *, hop_s: float = HOP_S) -> dict:
    """Frame-level precision, recall and F1 of detected speech against true speech (frames of the analysis grid)."""
    n = int(np.ceil(duration_s / hop_s))
    t = segments_to_frames(truth, n, hop_s)
    d = segments_to_frames(detected, n, hop_s)
    tp = int(np.sum(t & d))
    precision = tp / max(int(d.sum()), 1)
    recall = tp / max(int(t.sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


@dataclass(frozen=True)
class Transition:
    """A speaker change: ``to`` takes the floor from ``other`` at ``time_s`` (its turn start)."""

    time_s: float
    speaker: str
    other: str
    fto_s: float


def transitions_from_turns(turns: list[dict]) -> list[Transition]:
    """Speaker changes from turn rows (dicts with speaker, start_s, end_s)."""
    out = []
    for prev, turn in zip(turns, turns[1:]):
        if prev["speaker"] != turn["speaker"]:
            out.append(Transition(turn["start_s"], turn["speaker"], prev["speaker"], turn["start_s"] - prev["end_s"]))
    return out


def match_transitions(truth: list[Transition], detected: list[Transition], *, window_s: float = 1.0) -> dict:
    """Pair each true speaker change with the nearest unused detected change in the same direction.

    Returns counts, the FTO errors of matched pairs (s), the share of true
    changes found with |FTO error| <= 100 ms, the share missed, and ``found``: per true change,
    whether it was matched.
    """
    used = np.zeros(len(detected), dtype=bool)
    errors, missed, found = [], 0, []
    for change in truth:
        best, best_dt = None, window_s
        for i, cand in enumerate(detected):
            if used[i] or cand.speaker != change.speaker:
                continue
            dt = abs(cand.time_s - change.time_s)
            if dt <= best_dt:
                best, best_dt = i, dt
        found.append(best is not None)
        if best is None:
            missed += 1
            continue
        used[best] = True
        errors.append(detected[best].fto_s - change.fto_s)
    n = len(truth)
    abs_err = np.abs(errors) if errors else np.array([])
    return {
        "n_true": n,
        "n_detected": len(detected),
        "n_matched": len(errors),
        "missed": missed,
        "missed_share": missed / n if n else 0.0,
        "found": found,
        "spurious": int((~used).sum()),
        "fto_errors_s": [float(e) for e in errors],
        "fto_mean_abs_error_s": float(abs_err.mean()) if errors else None,
        "within_100ms_share": float(np.sum(abs_err <= 0.1)) / n if n else 0.0,
    }


def read_rttm(path: str | Path) -> dict[str, list[Segment]]:
    """RTTM speaker turns by file id: ``SPEAKER <file> <chan> <start> <dur> ... <speaker> ...``."""
    by_file: dict[str, list[Segment]] = {}
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[0] == "SPEAKER":
            start, dur = float(parts[3]), float(parts[4])
            by_file.setdefault(parts[1], []).append(Segment(start, start + dur, parts[7]))
    return by_file
