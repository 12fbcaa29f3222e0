"""Prosody metrics: syllable rates, pitch and loudness per turn and per party, and pace matching.

Measured on the frame tracks (:class:`analyzer.frames.CallFrames`) with the functions of
:mod:`analyzer.prosody`; keys ``speech_rate_<party>_sps``, ``articulation_rate_<party>_sps``,
``pitch_median|range|sd_<party>_st``, ``energy_sd_<party>_db``, ``rate_mismatch_sps``.
"""

from __future__ import annotations

import numpy as np

from .. import prosody
from ..config import ProsodyConfig
from ..frames import CallFrames
from ..intervals import Segment, segments_to_frames
from ..turns import Conversation, Turn
from .pacing import _median, rounded


def prosody_metrics(
    conv: Conversation, frames: CallFrames, channel_of: dict[str, int], config: ProsodyConfig
) -> tuple[list[dict], dict]:
    """Syllable rates, pitch and loudness per turn and per party.

    Returns ``(turn_prosody, metrics)``: one new dict per turn of ``conv.turns`` (same order;
    keys ``syllables``, ``speech_rate_sps``, ``articulation_rate_sps``, ``pitch_median_st``,
    ``pitch_sd_st``, ``intensity_mean_db``) and the per-call keys.
    ``channel_of``: the frame column each party's speech is measured on (both 0 in a mono call).
    """
    hop_s = frames.hop_s
    out: dict = {}
    turn_prosody: list[dict | None] = [None] * len(conv.turns)
    for speaker, channel in channel_of.items():
        own = [Segment(s.start_s, s.end_s, speaker) for s in conv.segments if s.speaker == speaker]
        mask = segments_to_frames(own, frames.n_frames, hop_s)
        intensity, f0 = frames.intensity_db[:, channel], frames.f0_hz[:, channel]
        nuclei = prosody.syllable_nuclei(intensity, f0, mask, hop_s=hop_s, config=config)
        nucleus_times = (np.asarray(nuclei) + 0.5) * hop_s
        total_syll, total_turn_s, total_speech_s = 0, 0.0, 0.0
        for k, turn in enumerate(conv.turns):
            if turn.speaker != speaker:
                continue
            syll = int(sum(
                np.searchsorted(nucleus_times, s.end_s) - np.searchsorted(nucleus_times, s.start_s) for s in turn.segments
            ))
            # the turn's frames only (a whole-call mask per turn is quadratic on long calls)
            first = max(int(np.floor(turn.start_s / hop_s)) - 1, 0)
            last = min(int(np.ceil(turn.end_s / hop_s)) + 1, frames.n_frames)
            turn_mask = segments_to_frames(turn.segments, last - first, hop_s, first_frame=first)
            turn_f0, turn_intensity = f0[first:last], intensity[first:last]
            median_st, _, sd_st = prosody.pitch_stats_st(turn_f0, turn_mask, reference_hz=config.semitone_reference_hz)
            turn_prosody[k] = {
                "syllables": syll,
                "speech_rate_sps": rounded(syll / turn.duration_s) if turn.duration_s > 0 else None,
                "articulation_rate_sps": rounded(syll / turn.speech_s) if turn.speech_s > 0 else None,
                "pitch_median_st": rounded(median_st, 2),
                "pitch_sd_st": rounded(sd_st, 2),
                "intensity_mean_db": rounded(float(np.mean(turn_intensity[turn_mask])), 2) if turn_mask.any() else None,
            }
            total_syll += syll
            total_turn_s += turn.duration_s
            total_speech_s += turn.speech_s
        median_st, range_st, sd_st = prosody.pitch_stats_st(f0, mask, reference_hz=config.semitone_reference_hz)
        out.update({
            f"speech_rate_{speaker}_sps": rounded(total_syll / total_turn_s) if total_turn_s > 0 else None,
            f"articulation_rate_{speaker}_sps": rounded(total_syll / total_speech_s) if total_speech_s > 0 else None,
            f"pitch_median_{speaker}_st": rounded(median_st, 2),
            f"pitch_range_{speaker}_st": rounded(range_st, 2),
            f"pitch_sd_{speaker}_st": rounded(sd_st, 2),
            f"energy_sd_{speaker}_db": rounded(prosody.energy_sd_db(intensity, mask, f0_hz=f0), 2),
        })
    turn_prosody = [row or {} for row in turn_prosody]  # a turn of a party without a channel: none
    out["rate_mismatch_sps"] = rate_mismatch_sps(list(conv.turns), turn_prosody)
    return turn_prosody, out


def rate_mismatch_sps(turns: list[Turn], rows: list[dict]) -> float | None:
    """Median |speech rate difference| between adjacent turns of the two parties (pace matching)."""
    diffs = []
    for (a, ra), (b, rb) in zip(zip(turns, rows), zip(turns[1:], rows[1:])):
        if a.speaker != b.speaker and ra.get("speech_rate_sps") is not None and rb.get("speech_rate_sps") is not None:
            diffs.append(abs(ra["speech_rate_sps"] - rb["speech_rate_sps"]))
    return rounded(_median(diffs))
