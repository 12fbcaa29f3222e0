"""Pacing metrics per call and per turn (SPEC: pacing metrics), from the time model.

Pure functions: a :class:`~analyzer.turns.Conversation` (and, for prosody,
per-party frame measurements) in, plain dicts of numbers out. A value that
cannot be measured is ``None``.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from ..intervals import AGENT, CUSTOMER, Segment, gaps, overlaps, total_s
from ..turns import Conversation

PARTIES = (AGENT, CUSTOMER)


def rounded(value: float | None, digits: int = 3) -> float | None:
    """``value`` rounded to ``digits``, or None when it is None or not finite (a value that cannot be measured)."""
    if value is None or not np.isfinite(value):
        return None
    return round(float(value), digits)


def _median(values: Iterable[float]) -> float | None:
    values = list(values)
    return float(np.median(values)) if values else None


def _percentile(values: Iterable[float], q: float) -> float | None:
    values = list(values)
    return float(np.percentile(values, q)) if values else None


def _speaker_segments(conv: Conversation, speaker: str) -> list[Segment]:
    return [s for s in conv.segments if s.speaker == speaker]


def latencies(conv: Conversation, speaker: str) -> list[float]:
    """Measured FTOs (s) of the turns in which ``speaker`` takes the floor from the other party (changes that
    diarization placed inside continuous speech have no measured FTO and are left out)."""
    return [t.fto_s for t in conv.turns if t.speaker == speaker and t.fto_s is not None and t.fto_measured]


def pacing_metrics(conv: Conversation, duration_s: float) -> dict[str, float | int | None]:
    """SPEC's pacing table (everything but prosody) for a two-party conversation."""
    minutes = duration_s / 60.0
    speech = {p: total_s(_speaker_segments(conv, p)) for p in PARTIES}
    both = speech[AGENT] + speech[CUSTOMER]
    turns = {p: [t for t in conv.turns if t.speaker == p] for p in PARTIES}
    silences = gaps(conv.segments)
    dead_air = conv.events_of("dead_air")
    agent_lat, customer_lat = latencies(conv, AGENT), latencies(conv, CUSTOMER)
    m: dict[str, float | int | None] = {
        "duration_s": rounded(duration_s),
        "talk_ratio_agent": rounded(speech[AGENT] / both) if both > 0 else None,
        "speech_s_agent": rounded(speech[AGENT]),
        "speech_s_customer": rounded(speech[CUSTOMER]),
        "silence_ratio": rounded(1.0 - total_s(conv.segments) / duration_s) if duration_s > 0 else None,
        "overlap_ratio": rounded(total_s(overlaps(_speaker_segments(conv, AGENT), _speaker_segments(conv, CUSTOMER))) / duration_s)
        if duration_s > 0 else None,
        "turns_agent": len(turns[AGENT]),
        "turns_customer": len(turns[CUSTOMER]),
        "interactivity_per_min": rounded((len(conv.turns) - 1) / minutes) if conv.turns and minutes > 0 else None,
        "longest_monologue_s": rounded(max((t.duration_s for t in turns[AGENT]), default=None)),
        "longest_customer_story_s": rounded(max((t.duration_s for t in turns[CUSTOMER]), default=None)),
        "agent_latency_median_s": rounded(_median(agent_lat)),
        "agent_latency_p90_s": rounded(_percentile(agent_lat, 90)),
        "customer_latency_median_s": rounded(_median(customer_lat)),
        "customer_latency_p90_s": rounded(_percentile(customer_lat, 90)),
    }
    for party in PARTIES:
        interruptions = conv.events_of("interruption", party)
        m[f"interruptions_by_{party}"] = len(interruptions)
        m[f"interruptions_by_{party}_per_min"] = rounded(len(interruptions) / minutes) if minutes > 0 else None
        m[f"interruptions_successful_by_{party}"] = sum(e.outcome == "successful" for e in interruptions)
    for party in PARTIES:
        m[f"backchannels_{party}"] = len(conv.events_of("backchannel", party))
    m.update({
        "dead_air_count": len(dead_air),
        "dead_air_total_s": rounded(sum(e.duration_s for e in dead_air)),
        "longest_silence_s": rounded(max((g.duration_s for g in silences), default=0.0)),
        "holds": len(conv.events_of("hold")),
    })
    for party in PARTIES:
        talk_min = sum(t.duration_s for t in turns[party]) / 60.0
        pauses = [p for t in turns[party] for p in t.pauses]
        m[f"pause_rate_{party}_per_min"] = rounded(len(pauses) / talk_min) if talk_min > 0 else None
        m[f"mean_pause_{party}_s"] = rounded(float(np.mean([p.duration_s for p in pauses]))) if pauses else None
    return m


def turn_rows(conv: Conversation) -> list[dict]:
    """One dict per turn with its timing (prosody and emotion are added by later stages)."""
    rows = []
    for turn in conv.turns:
        pauses = turn.pauses
        rows.append({
            "index": turn.index,
            "speaker": turn.speaker,
            "start_s": rounded(turn.start_s),
            "end_s": rounded(turn.end_s),
            "duration_s": rounded(turn.duration_s),
            "speech_s": rounded(turn.speech_s),
            "n_segments": len(turn.segments),
            "n_pauses": len(pauses),
            "pause_s": rounded(sum(p.duration_s for p in pauses)),
            "fto_s": rounded(turn.fto_s) if turn.fto_measured else None,
            "fto_measured": turn.fto_measured,
        })
    return rows
