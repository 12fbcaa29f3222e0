"""Time intervals and the one time base: the frame grid, frozen segments, pure operations on them.

Times are seconds from the start of the file. A segment is half-open,
``[start_s, end_s)``. Every frame-based stage sits on one grid of
``FRAME_HOP_S`` (10 ms): frame i covers ``[i*hop_s, (i+1)*hop_s)``.
Frames convert to seconds, samples and segments and back here, in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

AGENT = "agent"
CUSTOMER = "customer"
UNKNOWN = "unknown"

# ---- the time base ------------------------------------------------------------------------------

FRAME_HOP_MS = 10
FRAME_HOP_S = FRAME_HOP_MS / 1000
"""Hop of the analysis frame grid in seconds: the VAD, pitch and intensity frames
(``VadConfig.frame_ms`` defaults to it), the diarizer's mel frames, the emotion features
and the simulator's truth all use it."""


def hop_samples(sample_rate_hz: int, hop_s: float = FRAME_HOP_S) -> int:
    """Whole samples per frame at ``sample_rate_hz`` (floor of rate x hop, computed in integer ms)."""
    return int(sample_rate_hz) * int(round(hop_s * 1000)) // 1000


def frames_to_seconds(frames, hop_s: float = FRAME_HOP_S):
    """Start time in seconds of frame index (or array of indices) ``frames``."""
    return frames * hop_s


def seconds_to_frames(seconds: float, hop_s: float = FRAME_HOP_S) -> int:
    """The frame index nearest to ``seconds`` (rounded): a duration or time point on the grid."""
    return int(round(seconds / hop_s))



@dataclass(frozen=True, order=True)
class Segment:
    """A stretch of time, optionally attributed to a speaker."""

    start_s: float
    end_s: float
    speaker: str = UNKNOWN

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def overlap_s(self, other: "Segment") -> float:
        """Seconds both segments cover (0 if disjoint)."""
        return max(0.0, min(self.end_s, other.end_s) - max(self.start_s, other.start_s))

    def contains(self, time_s: float) -> bool:
        return self.start_s <= time_s < self.end_s

    def to_dict(self) -> dict:
        return {"speaker": self.speaker, "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3)}


def frames_to_segments(active: np.ndarray, hop_s: float, speaker: str = UNKNOWN) -> list[Segment]:
    """Runs of True frames as segments. Frame i covers ``[i*hop_s, (i+1)*hop_s)``.

    ::

        active  0 1 1 0 0 1      (hop_s = 1)
        result    [1,3)   [5,6)
    """
    active = np.asarray(active, dtype=bool)
    if active.size == 0:
        return []
    padded = np.concatenate([[False], active, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    starts, ends = edges[0::2], edges[1::2]
    return [Segment(float(a * hop_s), float(b * hop_s), speaker) for a, b in zip(starts, ends)]


def segments_to_frames(segments: Iterable[Segment], n_frames: int, hop_s: float, *, first_frame: int = 0) -> np.ndarray:
    """Boolean frame mask, True where a frame's centre lies inside any segment.

    The mask covers frames ``[first_frame, first_frame + n_frames)`` of the call, so a
    turn's mask can be built over its own span instead of the whole call.
    """
    mask = np.zeros(n_frames, dtype=bool)
    for seg in segments:
        first = int(np.ceil(seg.start_s / hop_s - 0.5)) - first_frame
        last = int(np.ceil(seg.end_s / hop_s - 0.5)) - first_frame
        mask[max(first, 0) : max(min(last, n_frames), 0)] = True
    return mask


def smooth_frames(active: np.ndarray, hop_s: float, *, min_speech_s: float, min_silence_s: float) -> np.ndarray:
    """Bridge silences shorter than ``min_silence_s``, then drop speech shorter than ``min_speech_s``.

    Leading and trailing silence is never bridged (it is not between two runs)::

        in   1 1 0 1 1 0 0 0 1 0 0 0    (hop 0.1 s, min_silence 0.2 s, min_speech 0.15 s)
        out  1 1 1 1 1 0 0 0 0 0 0 0
    """
    active = np.asarray(active, dtype=bool).copy()
    eps = 1e-9  # durations are compared in seconds; guards against 0.15/0.1 = 1.4999...
    for value, min_s in ((False, min_silence_s), (True, min_speech_s)):
        for start, end, val in _runs(active):
            interior = start > 0 and end < active.size
            if val == value and (end - start) * hop_s < min_s - eps and (value or interior):
                active[start:end] = not value
    return active


def _runs(values: np.ndarray) -> list[tuple[int, int, bool]]:
    """``(start, end, value)`` for each maximal run of equal booleans."""
    if values.size == 0:
        return []
    change = np.flatnonzero(np.diff(values.astype(np.int8))) + 1
    bounds = np.concatenate([[0], change, [values.size]])
    return [(int(a), int(b), bool(values[a])) for a, b in zip(bounds[:-1], bounds[1:])]


def support(segments: Iterable[Segment], speaker: str = UNKNOWN) -> list[Segment]:
    """Union of segments as disjoint sorted segments (touching ones merged)::

        in   |--a--|   |-b-|
                |--c--|         |-d-|
        out  |---------|-|      |-d-|   ->  [a..b], [d]
    """
    ordered = sorted(segments, key=lambda s: (s.start_s, s.end_s))
    merged: list[Segment] = []
    for seg in ordered:
        if merged and seg.start_s <= merged[-1].end_s:
            last = merged[-1]
            merged[-1] = Segment(last.start_s, max(last.end_s, seg.end_s), speaker)
        else:
            merged.append(Segment(seg.start_s, seg.end_s, speaker))
    return merged


def gaps(segments: Iterable[Segment], *, start_s: float | None = None, end_s: float | None = None) -> list[Segment]:
    """Stretches covered by no segment, between ``start_s`` and ``end_s``.

    Without bounds only the gaps between the first and last segment are returned::

        in    |--|    |---|  |-|
        out       |--|     ||
    """
    union = support(segments)
    if not union:
        if start_s is not None and end_s is not None and end_s > start_s:
            return [Segment(start_s, end_s)]
        return []
    edges = [(union[i].end_s, union[i + 1].start_s) for i in range(len(union) - 1)]
    if start_s is not None and union[0].start_s > start_s:
        edges.insert(0, (start_s, union[0].start_s))
    if end_s is not None and union[-1].end_s < end_s:
        edges.append((union[-1].end_s, end_s))
    return [Segment(a, b) for a, b in edges if b > a]


def overlaps(first: Sequence[Segment], second: Sequence[Segment]) -> list[Segment]:
    """Stretches covered by both sets of segments (each set is made disjoint first)."""
    a, b = support(first), support(second)
    out: list[Segment] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i].start_s, b[j].start_s), min(a[i].end_s, b[j].end_s)
        if hi > lo:
            out.append(Segment(lo, hi))
        if a[i].end_s < b[j].end_s:
            i += 1
        else:
            j += 1
    return out


def total_s(segments: Iterable[Segment]) -> float:
    """Seconds covered by the union of the segments."""
    return float(sum(s.duration_s for s in support(segments)))
