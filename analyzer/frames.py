"""Streaming stage: audio blocks -> whole-call frame arrays (energy, VAD, pitch, intensity).

The audio is read once, block by block; per frame of ``frame_ms`` we keep a
few numbers per channel, so memory grows by ~20 bytes per channel per 10 ms
(about 4 MB per channel-hour), not with the audio itself.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from .audio import AudioInfo, iter_blocks
from .config import AnalysisConfig, AudioConfig, ProsodyConfig, VadConfig
from .intervals import hop_samples
from .vad import (SILERO_CHUNK_SAMPLES, SileroOnnx, WebrtcVad, cut_windows, energy_gate, frame_energy_db,
                  frame_speech_probabilities, make_vad, rejected_share, silero_onnx, silero_speech, spread_windows,
                  voiced_frames, voiced_runs, window_starts)

CONTEXT_S = 0.48  # audio on each side of a block for pitch/intensity (>= prosody.MIN_CONTEXT_S; a multiple of BLOCK_GRID_S)


@dataclass(frozen=True)
class CallFrames:
    """Frame-level measurements of a whole call. Arrays are ``(n_frames, n_channels)``."""

    hop_s: float
    analysis_rate_hz: int
    energy_db: np.ndarray
    vad: np.ndarray
    intensity_db: np.ndarray | None  # Praat-style intensity (dB), or None when prosody is off
    f0_hz: np.ndarray | None  # NaN where unvoiced
    decoded_s: float = 0.0  # seconds of audio actually decoded (a truncated file decodes less than its header says)
    noise_check: tuple = ()  # per channel: what the noisy-line check found and did (see check_noisy_lines)
    speech_prob: np.ndarray | None = None  # silero's speech probability (0..1) where it scored, NaN elsewhere

    @property
    def n_frames(self) -> int:
        return self.energy_db.shape[0]


def with_context(blocks: Iterable[np.ndarray], context: int) -> Iterator[tuple[np.ndarray, int, int]]:
    """Each block padded with up to ``context`` samples of its neighbours.

    Yields ``(padded, n_left, n_right)``; ``padded[n_left:len(padded)-n_right]`` is the block itself.
    Looks one block ahead, so memory stays at about three blocks.
    """
    previous_tail = None
    current = None
    for block in blocks:
        if current is not None:
            left = previous_tail if previous_tail is not None else current[:0]
            right = block[:context]
            yield np.concatenate([left, current, right]), len(left), len(right)
            previous_tail = current[-context:] if context else current[:0]
        current = block
    if current is not None:
        left = previous_tail if previous_tail is not None else current[:0]
        yield np.concatenate([left, current]), len(left), 0


def extract_frames(info: AudioInfo, config: AnalysisConfig, *, prosody: bool = True) -> CallFrames:
    """:func:`measure_frames` with the sections of a whole config (prosody frames only if ``prosody``)."""
    return measure_frames(info, config.audio, config.vad, config.prosody if prosody else None)


def measure_frames(info: AudioInfo, audio: AudioConfig, vad: VadConfig, prosody: ProsodyConfig | None) -> CallFrames:
    """Decode ``info`` once and measure every frame of every analysed channel.

    With ``audio.mono_mix`` a stereo file is mixed to one channel first. ``prosody`` None:
    no pitch or intensity frames (pacing only). The BLAS library runs single-threaded
    meanwhile: its matrix products here are small (one block's frames by a window), and on a
    busy machine its worker threads spin for far longer than the products take (measured: 13x
    the CPU time of one thread); the setting is restored after.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        frames, sample = _measure_frames(info, audio, vad, prosody)
        return check_noisy_lines(info, frames, sample, audio, vad)


def _noise_check_on(vad: VadConfig, rate_hz: int) -> bool:
    return vad.backend == "webrtc" and vad.noise_check != "off" and rate_hz in SILERO_CHUNK_SAMPLES


class _WindowScorer:
    """Silero's frame probabilities of chosen windows of one channel, block by block (the previous
    block's tail is the first window's lead-in; at the start of the file, the opening audio played
    backwards: from a fresh state silero scores the first half second of any sound, noise too, as speech)."""

    def __init__(self, rate_hz: int, hop: int, vad: VadConfig):
        self.rate_hz, self.hop = rate_hz, hop
        self.chunk = SILERO_CHUNK_SAMPLES[rate_hz]
        self.window_frames = max(1, int(round(vad.noise_check_window_s / vad.hop_s)))
        self.lead_frames = int(round(vad.noise_check_lead_s / vad.hop_s))
        self._tail: np.ndarray | None = None
        self._first_frame = 0  # frame of the call at which the next block starts
        self._collected: list[tuple[np.ndarray, np.ndarray]] = []  # (call frames, windows) kept for one batch

    def _with_lead(self, block: np.ndarray) -> np.ndarray:
        if self._tail is None:
            opening = block[: self.lead_frames * self.hop][::-1]
            self._tail = np.concatenate([np.zeros(self.lead_frames * self.hop - len(opening), np.float32), opening])
        samples = np.concatenate([self._tail, block])
        if self.lead_frames:
            self._tail = samples[len(samples) - self.lead_frames * self.hop :]
        self._first_frame += len(block) // self.hop
        return samples

    @property
    def model(self) -> SileroOnnx:
        return silero_onnx(self.rate_hz)  # loaded on first use: a clean call's sample never needs it

    def score(self, block: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Probabilities of the windows at ``starts`` (frames of this block), one per frame of the block."""
        return frame_speech_probabilities(self.model, self._with_lead(block), self.hop, starts,
                                          window_frames=self.window_frames, lead_frames=self.lead_frames)

    def collect(self, block: np.ndarray, starts: np.ndarray) -> None:
        """Keep the windows at ``starts`` (frames of this block) to be scored in one batch by :meth:`scored`
        (a sample of a few dozen windows is ~2x cheaper scored together than block by block)."""
        first = self._first_frame
        samples = self._with_lead(block)
        starts = starts[starts < len(block) // self.hop]
        if len(starts):
            self._collected.append((starts + first, cut_windows(samples, self.hop, starts, window_frames=self.window_frames,
                                                                lead_frames=self.lead_frames, chunk=self.chunk)))

    def _windows(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._collected:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), np.float32)
        return np.concatenate([s for s, _ in self._collected]), np.concatenate([w for _, w in self._collected])

    def webrtc_mode3(self, n_frames: int, vad: VadConfig) -> np.ndarray:
        """webrtcvad at its most aggressive mode on the collected windows (each from a fresh state after
        its lead-in): 1.0 speech, 0.0 not, NaN outside the windows; a cheap first screen (~4000x real time)."""
        starts, windows = self._windows()
        decided = np.zeros((len(starts), windows.shape[1] // self.hop if len(starts) else 0), np.float32)
        for i, window in enumerate(windows):
            decided[i] = WebrtcVad(self.rate_hz, frame_ms=vad.frame_ms, mode=3,
                                   decision_ms=vad.webrtc_decision_ms).process(window)
        per_frame = decided[:, self.lead_frames : self.lead_frames + self.window_frames]
        result = np.full(n_frames, np.nan, np.float32)
        for i, start in enumerate(starts):
            stop = min(n_frames, start + self.window_frames)
            result[start:stop] = per_frame[i, : stop - start]
        return result

    def voiced_share(self, active: np.ndarray, *, max_windows: int) -> tuple[float, int]:
        """Share of the ``active`` frames in up to ``max_windows`` collected windows (evenly spread) that
        are voiced (:func:`~analyzer.vad.voiced_frames`), and how many frames were judged."""
        starts, windows = self._windows()
        if not len(starts):
            return 0.0, 0
        picked = np.unique(np.linspace(0, len(starts) - 1, min(max_windows, len(starts))).round().astype(int))
        voiced = judged = 0
        for i in picked:
            start = starts[i]
            piece = windows[i, self.lead_frames * self.hop :]
            flags = voiced_frames(piece, self.rate_hz, hop_s=self.hop / self.rate_hz)[: self.window_frames]
            mask = active[start : start + len(flags)]
            voiced += int(flags[: len(mask)][mask].sum())
            judged += int(mask.sum())
        return (voiced / judged if judged else 0.0), judged

    def scored(self, n_frames: int) -> np.ndarray:
        """The collected windows' silero probabilities, one per frame of the call (NaN elsewhere)."""
        starts, windows = self._windows()
        if not len(starts):
            return np.full(n_frames, np.nan, np.float32)
        return spread_windows(self.model.window_probabilities(windows), starts, n_frames, chunk=self.chunk,
                              hop=self.hop, window_frames=self.window_frames, lead_frames=self.lead_frames)


def sample_window_starts(decided: np.ndarray, *, window_frames: int, n_windows: int) -> np.ndarray:
    """Up to ``n_windows`` tiles of ``window_frames`` frames, evenly spread over the tiles in which
    the detector found speech (the sample the noisy-line check scores)."""
    n_tiles = len(decided) // window_frames
    if n_tiles == 0 or n_windows <= 0:
        return np.zeros(0, dtype=np.int64)
    candidates = np.flatnonzero(decided[: n_tiles * window_frames].reshape(n_tiles, window_frames).any(axis=1))
    if len(candidates) > n_windows:
        candidates = candidates[np.linspace(0, len(candidates) - 1, n_windows).round().astype(int)]
    return candidates * window_frames


def _measure_frames(info: AudioInfo, audio: AudioConfig, vad: VadConfig,
                    prosody: ProsodyConfig | None) -> tuple[CallFrames, list | None]:
    rate = info.analysis_rate_hz
    hop_s = vad.hop_s
    hop = hop_samples(rate, hop_s)
    n_channels = 1 if (audio.mono_mix or info.n_channels == 1) else 2
    vads = [make_vad(vad, rate) for _ in range(n_channels)]
    scorers = None
    if _noise_check_on(vad, rate) and vad.noise_check == "auto" and vad.noise_check_sample_s > 0:
        scorers = [_WindowScorer(rate, hop, vad) for _ in range(n_channels)]
        windows_per_s = vad.noise_check_sample_s / vad.noise_check_window_s / max(info.duration_s, 1e-9)
    energy, decisions, intensity, pitch = [], [], [], []
    blocks = _channel_blocks(info, audio.block_s, n_channels)
    if prosody is not None:
        from . import prosody as prosody_mod

        blocks_with_context = with_context(blocks, int(CONTEXT_S * rate) // hop * hop)
    else:  # energy and VAD need no neighbouring audio: no padded copies
        blocks_with_context = ((block, 0, 0) for block in blocks)
    decoded_samples = 0
    for padded, left, right in blocks_with_context:
        core = padded[left : len(padded) - right]
        decoded_samples += len(core)
        n = len(core) // hop
        if n == 0:
            continue
        core = core[: n * hop]
        energy.append(np.column_stack([frame_energy_db(core[:, c], hop) for c in range(n_channels)]))
        decided = np.column_stack([vads[c].process(core[:, c]) for c in range(n_channels)])
        decisions.append(decided)
        if scorers is not None:
            n_windows = math.ceil(windows_per_s * n * hop_s)
            for c in range(n_channels):
                scorers[c].collect(core[:, c], sample_window_starts(decided[:, c], window_frames=scorers[c].window_frames,
                                                                    n_windows=n_windows))
        if prosody is not None:
            first = left // hop
            n_padded = len(padded) // hop
            # pitch only near detected speech (the costly part); context frames are always analysed
            masks = np.ones((n_padded, n_channels), dtype=bool)
            masks[first : first + n] = decided
            block_intensity, block_pitch = [], []
            for c in range(n_channels):
                if not padded[:, c].any():  # digital silence with its context: Praat would give 0 dB, no pitch
                    block_intensity.append(np.zeros(n, np.float32))
                    block_pitch.append(np.full(n, np.nan, np.float32))
                    continue
                measured = prosody_mod.frame_prosody(
                    padded[:, c], rate, hop_s=hop_s, config=prosody, speech_mask=masks[:, c],
                    pitch_step_s=prosody.pitch_step_s,
                )
                block_intensity.append(_take(measured.intensity_db, first, n))
                block_pitch.append(_take(measured.f0_hz, first, n))
            intensity.append(np.column_stack(block_intensity))
            pitch.append(np.column_stack(block_pitch))
    if not energy:
        empty = np.zeros((0, n_channels), np.float32)
        with_prosody = empty if prosody is not None else None
        return CallFrames(hop_s, rate, empty, empty.astype(bool), with_prosody, with_prosody, decoded_samples / rate), scorers
    return CallFrames(
        hop_s, rate, np.concatenate(energy), np.concatenate(decisions),
        np.concatenate(intensity) if prosody is not None else None, np.concatenate(pitch) if prosody is not None else None,
        decoded_samples / rate,
    ), scorers


def check_noisy_lines(info: AudioInfo, frames: CallFrames, sample: list | None, audio: AudioConfig,
                      vad: VadConfig) -> CallFrames:
    """The frames with webrtc's speech re-checked by silero-vad on the channels where it admits noise.

    ``sample``: per channel, the windows of webrtc's speech collected while measuring (None with
    ``noise_check`` 'always' or off). Per channel, on the gated speech frames of the sample
    (:func:`~analyzer.vad.energy_gate`): if webrtcvad's mode 3 rejects at least ``noise_check_prescreen``
    of them, or fewer than ``noise_check_min_voiced`` of them are voiced (judged on
    ``noise_check_voicing_windows`` windows), silero scores the sample (the two cheap screens keep
    silero, and onnxruntime, off clean calls); if silero scores at least ``noise_check_min_rejected``
    of them below ``noise_check_threshold``, the channel is decoded again and re-checked
    (:func:`_score_speech`; all channels with 'always'). ``CallFrames.noise_check`` says per channel:
    ``sampled_s`` (speech frames in the sample), ``mode3_rejected_share``, ``voiced_share``,
    ``rejected_share`` (silero's; None when the screens passed the channel) and ``checked``.
    """
    if not _noise_check_on(vad, frames.analysis_rate_hz) or frames.n_frames == 0:
        return frames
    n_channels = frames.vad.shape[1]
    report, to_check = [], []
    sampled_prob = np.full(frames.vad.shape, np.nan, np.float32)
    for c in range(n_channels):
        share3, share, n_scored, voiced, n_judged = None, None, 0, 0.0, 0
        if sample is not None:
            active = energy_gate(frames.energy_db[:, c], frames.vad[:, c], floor_db=vad.energy_floor_db,
                                 noise_gate_db=vad.noise_gate_db)
            share3, n_scored = rejected_share(active, sample[c].webrtc_mode3(frames.n_frames, vad), threshold=0.5)
            voiced, n_judged = sample[c].voiced_share(active, max_windows=vad.noise_check_voicing_windows)
            if n_scored and (share3 >= vad.noise_check_prescreen or (n_judged and voiced < vad.noise_check_min_voiced)):
                sampled_prob[:, c] = sample[c].scored(frames.n_frames)
                share, _ = rejected_share(active, sampled_prob[:, c], threshold=vad.noise_check_threshold)
        check = vad.noise_check == "always" or (share is not None and share >= vad.noise_check_min_rejected)
        report.append({"sampled_s": round(n_scored * frames.hop_s, 2),
                       "mode3_rejected_share": None if share3 is None else round(share3, 3),
                       "voiced_share": None if sample is None or not n_judged else round(voiced, 3),
                       "rejected_share": None if share is None else round(share, 3), "checked": check})
        if check:
            to_check.append(c)
    decisions, prob = frames.vad, sampled_prob
    if to_check:
        scored, voiced = _score_speech(info, frames, to_check, audio, vad)
        decisions, prob = frames.vad.copy(), prob.copy()
        for c in to_check:
            heard = silero_speech(scored[:, c], threshold=vad.noise_check_threshold, onset=vad.noise_check_onset)
            decisions[:, c] = frames.vad[:, c] & (heard | voiced[:, c])
            prob[:, c] = np.where(np.isnan(scored[:, c]), prob[:, c], scored[:, c])
    return dataclasses.replace(frames, vad=decisions, noise_check=tuple(report), speech_prob=prob)


def _score_speech(info: AudioInfo, frames: CallFrames, channels: list[int], audio: AudioConfig,
                  vad: VadConfig) -> tuple[np.ndarray, np.ndarray]:
    """A second decode pass over ``channels``: silero's probability on every window that holds webrtc
    speech (NaN where not scored), and which of webrtc's runs that silero does not hear are voiced
    (:func:`~analyzer.vad.voiced_runs`); both ``(n_frames, n_channels)``."""
    rate, hop = frames.analysis_rate_hz, hop_samples(frames.analysis_rate_hz, frames.hop_s)
    scorers = {c: _WindowScorer(rate, hop, vad) for c in channels}
    prob = np.full(frames.vad.shape, np.nan, np.float32)
    voiced = np.zeros(frames.vad.shape, dtype=bool)
    first = 0
    for block in _channel_blocks(info, audio.block_s, frames.vad.shape[1]):
        n = min(len(block) // hop, frames.n_frames - first)
        if n <= 0:
            break
        for c in channels:
            decided = frames.vad[first : first + n, c]
            starts = window_starts(decided, window_frames=scorers[c].window_frames)
            prob[first : first + n, c] = block_prob = scorers[c].score(block[: n * hop, c], starts)[:n]
            unheard = decided & ~silero_speech(block_prob, threshold=vad.noise_check_threshold, onset=vad.noise_check_onset)
            voiced[first : first + n, c] = voiced_runs(unheard, block[: n * hop, c], rate, hop_s=frames.hop_s,
                                                       min_voiced_share=vad.min_voiced_share)
        first += n
    return prob, voiced


def _take(values: np.ndarray, first: int, n: int) -> np.ndarray:
    """``values[first:first+n]``, padded with NaN if the analysis returned fewer frames."""
    out = values[first : first + n].astype(np.float32)
    if len(out) < n:
        out = np.concatenate([out, np.full(n - len(out), np.nan, np.float32)])
    return out


BLOCK_GRID_S = 0.06  # blocks are whole multiples of this: the 20 ms pitch step and the 30 ms VAD window


def _channel_blocks(info: AudioInfo, block_s: float, n_channels: int) -> Iterator[np.ndarray]:
    align = int(round(BLOCK_GRID_S * info.analysis_rate_hz))
    for block in iter_blocks(info, block_s=block_s, align_samples=align):
        if n_channels == 1 and block.shape[1] > 1:
            block = block.mean(axis=1, keepdims=True)
        yield block


ENVELOPE_MAX_BINS = 1500  # per call: enough for a page-wide drawing, ~15 kB of JSON


def energy_envelope(energy_db: np.ndarray, hop_s: float, names: list[str], *,
                    max_bins: int = ENVELOPE_MAX_BINS, floor_db: float = -70.0) -> dict:
    """A coarse loudness envelope for drawing under the timeline (the call page).

    ``energy_db``: ``(n_frames, n_channels)`` frame energies in dB; ``names``: one per channel.
    Frames are pooled into at most ``max_bins`` bins of a whole number of frames (the max of each
    bin, so short syllables stay visible), clipped below at ``floor_db`` and rounded to 0.1 dB.
    Returns ``{"bin_s": seconds per bin, "floor_db": floor_db, "db": {name: [..]}}``.
    ::

        energy_db (1 channel)   -80 -20 -30 -75 -60 -10      (hop 0.01 s, max_bins 3)
        result                  bin_s 0.02, db [-20, -30, -10]
    """
    n_frames = energy_db.shape[0]
    if n_frames == 0:
        return {"bin_s": hop_s, "floor_db": floor_db, "db": {name: [] for name in names}}
    per_bin = max(1, int(np.ceil(n_frames / max_bins)))
    n_bins = int(np.ceil(n_frames / per_bin)) if n_frames else 0
    padded = np.full((n_bins * per_bin, energy_db.shape[1]), -np.inf, np.float32)
    padded[:n_frames] = energy_db
    pooled = np.maximum(padded.reshape(n_bins, per_bin, -1).max(axis=1), floor_db)
    return {"bin_s": round(per_bin * hop_s, 6), "floor_db": floor_db,
            "db": {name: [round(float(v), 1) for v in pooled[:, c]] for c, name in enumerate(names)}}
