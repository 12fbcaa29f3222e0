"""Overlapped speech on one mixed channel (mono calls): where two voices sound at once. RESEARCH CODE (issue 14):
measured in docs/turn-taking.md ("Overlap on one channel"), not shipped and not wired into the pipeline, because
no model trained on shippable data reached the bar (interruption P >= 0.7 at R >= 0.5). Run from the repo root with
PYTHONPATH=$PWD; the scripts beside it import it as ``overlap``.

Issue 14. The diarizer (:mod:`analyzer.diarize`) gives every speech frame to exactly one voice, so
without this module a mono call has no overlap and no interruptions. Stages::

    features   mono mix -> 8 kHz -> per 10 ms speech frame (``intervals.FRAME_HOP_S``):
               level and a 24-band log-mel spectrum (80-3800 Hz, 25 ms) relative to the call's
               median speech frame, spectral flatness, and two-pitch evidence by harmonic
               cancellation (de Cheveigne 1993): YIN's aperiodicity (40 ms, F0 60-400 Hz), how
               deeply the comb filter at the best period cancels the frame (one voice cancels,
               two do not) and YIN's aperiodicity of what is left (periodic again when a second
               voice is there); the pitch features every second frame (copied to the next)
    classify   the features of +-0.2 s around each frame (every 40 ms) and the distance to the
               diarizer's nearest speaker change -> a small MLP (shipped weights,
               ``models/overlap-mono-v1``, trained on simulated mono mixes of EmoDB clips)
               -> probability that both parties speak
    runs       probability averaged over ``smooth_s``, above ``threshold``, runs >= ``min_s``
    attribute  each run is given to both parties (union with the diarized segments)

Reads the file once more, block by block (8 kHz telephone audio is not resampled). Memory: the
features of the speech frames (29 float32 a frame, ~0.4 MB per minute of speech).
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import soxr

from analyzer.audio import AudioInfo, iter_blocks
from analyzer.errors import AnalyzerError
from analyzer.intervals import AGENT, CUSTOMER, FRAME_HOP_S, Segment, frames_to_segments, hop_samples, segments_to_frames

RATE_HZ = 8000
_HOP = hop_samples(RATE_HZ)  # 80 samples per 10 ms frame
_N_FFT = 256
_WIN = 200  # 25 ms spectrum window
_N_MELS = 24
_FMIN_HZ, _FMAX_HZ = 80.0, 3800.0
_PITCH_WIN = 320  # 40 ms YIN window
_TMIN, _TMAX = RATE_HZ // 400, RATE_HZ // 60  # periods of 400 Hz .. 60 Hz, samples
_YIN_FFT = 512  # >= _PITCH_WIN + _TMAX: the correlation up to lag _TMAX does not wrap
_LONG = _PITCH_WIN + 2 * _TMAX  # samples a frame's pitch features read
_LEFT = _HOP // 2 - _PITCH_WIN // 2  # first sample a frame reads, relative to the frame's start (-120)
_RIGHT = _LEFT + _LONG  # one past the last sample it reads (466)
FRAME_FEATURES = ("level_db",) + tuple(f"mel{i}" for i in range(_N_MELS)) + (
    "flatness", "aperiodicity", "cancel_db", "residual_aperiodicity")
PITCH_COLUMNS = slice(1 + _N_MELS + 1, len(FRAME_FEATURES))  # the two-pitch features
CONTEXT_OFFSETS = tuple(range(-20, 21, 4))  # frames: +-0.2 s every 40 ms
CHANGE_NEAR_S = 0.3  # a diarized change: one voice's segment followed by the other's within this
CHANGE_CLIP_S = 1.0
MODEL_DIR = Path(os.environ.get("OVERLAP_CACHE", "/work/ovl_cache")) / "overlap-model"  # research: exported by export.py (nothing ships)


class OverlapModelError(AnalyzerError):
    """The shipped overlap model is missing, corrupted or of an unknown kind."""


# ----------------------------------------------------------------------------- features (pure)


def _windows(buf: np.ndarray, buf_start: int, frames: np.ndarray, offset: int, length: int) -> np.ndarray:
    """``(len(frames), length)`` windows of ``buf`` (whose first sample is absolute sample ``buf_start``),
    frame i's starting at absolute sample ``80 i + offset``."""
    view = np.lib.stride_tricks.sliding_window_view(buf, length)
    return view[frames * _HOP + offset - buf_start]


def _yin(x: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """YIN's cumulative-mean-normalised difference, its minimum over periods ``_TMIN.._TMAX`` for each row of
    ``x`` (``(n, width + _TMAX)``): ``(aperiodicity, 0..2, and the best period in samples)``."""
    head = np.zeros_like(x)
    head[:, :width] = x[:, :width]
    cross = np.fft.irfft(np.conj(np.fft.rfft(head, _YIN_FFT, axis=1)) * np.fft.rfft(x, _YIN_FFT, axis=1),
                         _YIN_FFT, axis=1)[:, : _TMAX + 1]
    sq = np.concatenate([np.zeros((len(x), 1), x.dtype), np.cumsum(x * x, axis=1)], axis=1)
    lags = np.arange(_TMAX + 1)
    energy_t = sq[:, lags + width] - sq[:, lags]  # sum of x[n]^2 over [T, T + width)
    diff = np.maximum(energy_t[:, :1] + energy_t - 2 * cross, 0.0)
    norm = diff[:, 1:] * lags[1:] / np.maximum(np.cumsum(diff[:, 1:], axis=1), 1e-12)  # d'(T), T = 1.._TMAX
    part = norm[:, _TMIN - 1 :]
    best = np.argmin(part, axis=1)
    return np.minimum(part[np.arange(len(x)), best], 2.0), best + _TMIN


def raw_features(buf: np.ndarray, buf_start: int, frames: np.ndarray, *, pitch: np.ndarray | None = None) -> np.ndarray:
    """Unnormalised features ``(len(frames), len(FRAME_FEATURES))`` of absolute frame indices ``frames``;
    ``buf`` (8 kHz, float32) holds absolute samples ``buf_start ..`` and covers every frame's
    ``[80 i - 120, 80 i + 466)``. ``pitch``: boolean per frame, which get the two-pitch features (others 0)."""
    out = np.zeros((len(frames), len(FRAME_FEATURES)), np.float32)
    if not len(frames):
        return out
    spec = _windows(buf, buf_start, frames, _HOP // 2 - _WIN // 2, _WIN)
    power = np.abs(np.fft.rfft(spec * np.hanning(_WIN + 1)[:-1].astype(np.float32), _N_FFT, axis=1)) ** 2
    out[:, 0] = 10 * np.log10(np.mean(spec * spec, axis=1) + 1e-10)
    out[:, 1 : 1 + _N_MELS] = 10 * np.log10(power @ _mel_bank().T + 1e-10)
    band = power[:, 3:110] + 1e-10  # ~90-3400 Hz
    out[:, 1 + _N_MELS] = np.exp(np.mean(np.log(band), axis=1)) / np.mean(band, axis=1)
    rows = np.arange(len(frames)) if pitch is None else np.flatnonzero(pitch)
    if len(rows):
        width = _PITCH_WIN + _TMAX
        long = _windows(buf, buf_start, frames[rows], _LEFT, _LONG)
        aper, period = _yin(long[:, :width], _PITCH_WIN)
        shifted = np.take_along_axis(long, np.arange(width)[None, :] + period[:, None], axis=1)
        residual = long[:, :width] - shifted  # the best period's comb filter removes that voice
        e_in = np.sum(long[:, :width] ** 2, axis=1) + 1e-10
        res_aper, _ = _yin(residual, _PITCH_WIN)
        out[rows, PITCH_COLUMNS] = np.stack(
            [aper, 10 * np.log10(np.sum(residual * residual, axis=1) / e_in + 1e-10), res_aper], axis=1)
    return out


@functools.lru_cache(maxsize=1)
def _mel_bank() -> np.ndarray:
    from analyzer.mel import mel_filter_bank

    return mel_filter_bank(RATE_HZ, _N_FFT, _N_MELS, fmin_hz=_FMIN_HZ, fmax_hz=_FMAX_HZ)


def pitch_frames(speech: np.ndarray) -> np.ndarray:
    """Which speech frames get their own two-pitch features: even frames, and odd ones whose predecessor is
    not speech; the others copy their predecessor's (:func:`fill_pitch`)."""
    own = speech.copy()
    odd = np.arange(len(speech)) % 2 == 1
    prev_speech = np.concatenate([[False], speech[:-1]])
    own[odd & prev_speech] = False
    return own


def fill_pitch(features: np.ndarray, speech: np.ndarray) -> np.ndarray:
    """Copy the two-pitch features of each frame without its own (see :func:`pitch_frames`) from its
    predecessor (in place; returns ``features``)."""
    copy = np.flatnonzero(speech & ~pitch_frames(speech))
    features[copy, PITCH_COLUMNS] = features[copy - 1, PITCH_COLUMNS]
    return features


def normalise(features: np.ndarray, speech: np.ndarray) -> np.ndarray:
    """Level and mel bands relative to their medians over the speech frames (in place; returns ``features``)."""
    if speech.any():
        cols = slice(0, 1 + _N_MELS)
        features[:, cols] -= np.median(features[speech, cols], axis=0)
        features[~speech] = 0.0
    return features


def frame_features(x8k: np.ndarray, speech: np.ndarray) -> np.ndarray:
    """``(len(speech), len(FRAME_FEATURES))`` float32 features of 8 kHz audio ``x8k`` on the 10 ms grid;
    only the frames of the boolean ``speech`` mask are computed (the others are 0)."""
    return stream_features([x8k], speech)


def stream_features(blocks: Iterable[np.ndarray], speech: np.ndarray) -> np.ndarray:
    """:func:`frame_features` of audio given as consecutive 8 kHz float32 blocks (any lengths)."""
    n = len(speech)
    out = np.zeros((n, len(FRAME_FEATURES)), np.float32)
    own_pitch = pitch_frames(speech)
    buf, buf_start, next_frame = np.zeros(-_LEFT, np.float32), _LEFT, 0  # zeros before the file's start
    for block in _then_end(blocks):
        final = block is None
        buf = np.concatenate([buf, np.zeros(_RIGHT, np.float32) if final else block.astype(np.float32)])
        end = buf_start + len(buf)
        last = n if final else min(n, max(0, (end - _RIGHT) // _HOP + 1))  # frames whose samples are all here
        if last > next_frame:
            idx = next_frame + np.flatnonzero(speech[next_frame:last])
            if final:
                need = idx.max() * _HOP + _RIGHT - end if len(idx) else 0
                if need > 0:
                    buf = np.concatenate([buf, np.zeros(need, np.float32)])
            out[idx] = raw_features(buf, buf_start, idx, pitch=own_pitch[idx])
            next_frame = last
        keep_from = next_frame * _HOP + _LEFT
        buf, buf_start = buf[keep_from - buf_start :], keep_from
    return normalise(fill_pitch(out, speech), speech)


def _then_end(blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray | None]:
    yield from blocks
    yield None


def mono_blocks_8k(info: AudioInfo, *, block_s: float) -> Iterator[np.ndarray]:
    """The file's channels averaged, at 8 kHz, in blocks (a 16 kHz analysis rate is resampled as a stream)."""
    rate = info.analysis_rate_hz
    stream = None if rate == RATE_HZ else soxr.ResampleStream(rate, RATE_HZ, 1, dtype="float32", quality="HQ")
    for block in iter_blocks(info, block_s=block_s):
        mono = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
        yield mono.astype(np.float32) if stream is None else stream.resample_chunk(mono.astype(np.float32))
    if stream is not None:
        yield stream.resample_chunk(np.zeros(0, np.float32), last=True)


def change_features(diarized: list[Segment], n_frames: int) -> np.ndarray:
    """``(n_frames, 2)``: seconds to the nearest diarized speaker change (one voice's segment followed by the
    other's within ``CHANGE_NEAR_S``), clipped at ``CHANGE_CLIP_S``, and the silence at that change (s,
    clipped at ``CHANGE_NEAR_S``)."""
    segs = sorted(diarized)
    points, gaps = [], []
    for a, b in zip(segs, segs[1:]):
        if a.speaker != b.speaker and b.start_s - a.end_s <= CHANGE_NEAR_S:
            points.append((a.end_s + b.start_s) / 2)
            gaps.append(max(0.0, b.start_s - a.end_s))
    out = np.empty((n_frames, 2), np.float32)
    if not points:
        out[:, 0], out[:, 1] = CHANGE_CLIP_S, CHANGE_NEAR_S
        return out
    t = np.arange(n_frames) * FRAME_HOP_S
    pts = np.asarray(points)
    right = np.clip(np.searchsorted(pts, t), 0, len(pts) - 1)
    left = np.maximum(right - 1, 0)
    nearest = np.where(np.abs(t - pts[left]) <= np.abs(t - pts[right]), left, right)
    out[:, 0] = np.minimum(np.abs(t - pts[nearest]), CHANGE_CLIP_S)
    out[:, 1] = np.minimum(np.asarray(gaps)[nearest], CHANGE_NEAR_S)
    return out


def design_matrix(features: np.ndarray, change: np.ndarray, rows: np.ndarray, offsets=CONTEXT_OFFSETS) -> np.ndarray:
    """The classifier's input for frames ``rows``: their features and their neighbours' at ``offsets``
    frames (clipped at the call's edges), then the two change features: ``(len(rows), 11 * 29 + 2)``."""
    n = len(features)
    parts = [features[np.clip(rows + o, 0, n - 1)] for o in offsets]
    return np.concatenate(parts + [change[rows]], axis=1)


# ----------------------------------------------------------------------------- the classifier


@dataclass(frozen=True)
class OverlapModel:
    """A small MLP over :func:`design_matrix` rows: standardise, ReLU layers, a sigmoid output."""

    name: str
    mean: np.ndarray
    std: np.ndarray
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]  # (weights (in, out), bias (out,)) each
    sha256: str = ""

    def probability(self, x: np.ndarray, *, chunk_rows: int = 8192) -> np.ndarray:
        """P(both parties speak) per row of ``x``, float32."""
        out = np.empty(len(x), np.float32)
        for a in range(0, len(x), chunk_rows):
            h = (x[a : a + chunk_rows] - self.mean) / self.std
            for i, (w, b) in enumerate(self.layers):
                h = h @ w + b
                if i + 1 < len(self.layers):
                    np.maximum(h, 0.0, out=h)
            out[a : a + chunk_rows] = 1.0 / (1.0 + np.exp(-h[:, 0]))
        return out


def save_model(model: OverlapModel, folder: Path, *, card: dict) -> str:
    """Write ``weights.npz`` and ``config.json`` (``card`` plus the weights' sha256) into ``folder``; returns the sha256."""
    from analyzer.emotion.model import sha256_file

    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"mean": model.mean, "std": model.std}
    for i, (w, b) in enumerate(model.layers):
        arrays[f"w{i}"], arrays[f"b{i}"] = w, b
    np.savez(folder / "weights.npz", **arrays)
    digest = sha256_file(folder / "weights.npz")
    config = {**card, "name": model.name, "weights_file": "weights.npz", "weights_sha256": digest,
              "n_layers": len(model.layers), "features": list(FRAME_FEATURES), "context_offsets": list(CONTEXT_OFFSETS)}
    (folder / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    return digest


@functools.lru_cache(maxsize=2)
def load_model(folder: Path = MODEL_DIR) -> OverlapModel:
    """The shipped overlap model, its weights checked against ``config.json``'s sha256; loaded once per process."""
    from analyzer.emotion.model import sha256_file

    folder = Path(folder)
    try:
        config = json.loads((folder / "config.json").read_text())
        path = folder / config["weights_file"]
        digest = sha256_file(path)
    except (OSError, KeyError, ValueError) as exc:
        raise OverlapModelError(f"overlap model in {folder} cannot be read ({exc}); reinstall call-analyzer") from None
    if digest != config.get("weights_sha256"):
        raise OverlapModelError(f"{path} checksum mismatch (expected {str(config.get('weights_sha256'))[:12]}..., got "
                                f"{digest[:12]}...): the file is corrupted or was modified; reinstall call-analyzer")
    with np.load(path) as z:
        layers = tuple((z[f"w{i}"], z[f"b{i}"]) for i in range(int(config["n_layers"])))
        return OverlapModel(config["name"], z["mean"], z["std"], layers, digest)


# ----------------------------------------------------------------------------- runs and attribution (pure)


def overlap_runs(probability: np.ndarray, speech: np.ndarray, *, threshold: float, smooth_s: float, min_s: float,
                 low_threshold: float | None = None) -> list[Segment]:
    """Stretches of speech where the probability (per 10 ms frame, 0 outside speech), averaged over
    ``smooth_s``, exceeds ``low_threshold`` and somewhere ``threshold`` (hysteresis; ``low_threshold=None``:
    ``threshold`` throughout), at least ``min_s`` long (speaker ``unknown``)::

        smoothed   __/~~\_/~~~~~~\___/~\__      threshold  ----------
        runs          [  ] [      ]             low        - - - - - -   (the last bump never reaches threshold)
    """
    width = max(1, int(round(smooth_s / FRAME_HOP_S)))
    smooth = np.convolve(probability, np.ones(width) / width, mode="same") if width > 1 else probability
    low = threshold if low_threshold is None else min(low_threshold, threshold)
    runs = frames_to_segments(speech & (smooth > low), FRAME_HOP_S)
    keep = []
    for run in runs:
        a, b = int(round(run.start_s / FRAME_HOP_S)), int(round(run.end_s / FRAME_HOP_S))
        if run.duration_s >= min_s - 1e-9 and smooth[a:b].max() > threshold:
            keep.append(run)
    return keep


def attribute_overlap(diarized: list[Segment], runs: list[Segment], *, min_silence_s: float,
                      run_gap_s: float | None = None) -> list[Segment]:
    """The diarized segments with every overlap run given to both parties: per party, the union of its
    segments and the runs, silences shorter than ``min_silence_s`` bridged (SPEC's smoothing), and shorter
    than ``run_gap_s`` (default: ``min_silence_s``) where one side of the silence is a run (the voice that
    went on under the other's speech continues after it)::

        diarized   agent ======        customer  ======
        run                ^^^^                              (agent's speech continues under the customer's)
        result     agent ==========    customer  ======
    """
    run_gap_s = min_silence_s if run_gap_s is None else max(run_gap_s, min_silence_s)
    out: list[Segment] = []
    for party in (AGENT, CUSTOMER):
        pieces = sorted([(s.start_s, s.end_s, False) for s in diarized if s.speaker == party]
                        + [(r.start_s, r.end_s, True) for r in runs])
        merged: list[list] = []  # [start_s, end_s, ends_with_run]
        for start, end, is_run in pieces:
            if merged:
                gap = start - merged[-1][1]
                if gap < (run_gap_s if (is_run or merged[-1][2]) else min_silence_s):
                    if end > merged[-1][1]:
                        merged[-1][1], merged[-1][2] = end, is_run
                    continue
            merged.append([start, end, is_run])
        out += [Segment(a, b, party) for a, b, _ in merged]
    return sorted(out)


def overlap_probability(features: np.ndarray, speech: np.ndarray, diarized: list[Segment], model: OverlapModel) -> np.ndarray:
    """Per 10 ms frame, P(both parties speak) (0 outside speech)."""
    prob = np.zeros(len(speech), np.float32)
    rows = np.flatnonzero(speech)
    if len(rows):
        change = change_features(diarized, len(speech))
        for a in range(0, len(rows), 20000):  # bounded design matrices (~27 MB each)
            part = rows[a : a + 20000]
            prob[part] = model.probability(design_matrix(features, change, part))
    return prob


def detect_overlap(info: AudioInfo, speech: list[Segment], diarized: list[Segment], *, threshold: float,
                   smooth_s: float, min_s: float, block_s: float, model: OverlapModel | None = None,
                   low_threshold: float | None = None) -> list[Segment]:
    """Overlap runs of a mono call: its mixed ``speech`` segments, the diarizer's ``diarized`` segments, the file
    read once more in blocks of ``block_s``."""
    model = model or load_model()
    n = int(np.ceil(info.duration_s / FRAME_HOP_S))
    mask = segments_to_frames(speech, n, FRAME_HOP_S)
    features = stream_features(mono_blocks_8k(info, block_s=block_s), mask)
    prob = overlap_probability(features, mask, diarized, model)
    return overlap_runs(prob, mask, threshold=threshold, smooth_s=smooth_s, min_s=min_s, low_threshold=low_threshold)
