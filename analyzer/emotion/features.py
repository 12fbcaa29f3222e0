"""Emotion front end: any clip -> telephone-band log-mel frames, and speaker statistics.

Every clip is resampled to 8000 Hz first (16 kHz and 8 kHz input therefore
give the same features), then turned into log-mel power frames restricted to
the telephone band (``FMIN_HZ``..``FMAX_HZ``). Shapes: a clip is a 1-D float
array of samples; features are ``(n_frames, N_MELS)`` float32, one frame per
``HOP_S`` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import soxr

from ..errors import AnalyzerError
from ..intervals import FRAME_HOP_S, hop_samples
from ..mel import mel_filter_bank

FEATURE_RATE_HZ = 8000
N_FFT = 256
WIN_LENGTH = 200  # 25 ms at 8 kHz
HOP_S = FRAME_HOP_S  # the analysis grid
HOP_LENGTH = hop_samples(FEATURE_RATE_HZ, HOP_S)  # 80 samples at 8 kHz
N_MELS = 40
FMIN_HZ = 250.0
FMAX_HZ = 3600.0
LOG_FLOOR = 1e-8
SPEECH_RANGE_DB = 35.0  # frames within this range of a clip's loudest frame count as speech
MIN_CLIP_S = 0.25
EPS_STD = 1e-3


class EmotionInputError(AnalyzerError):
    """A clip cannot be scored (empty, too short, silent, not finite)."""


@dataclass(frozen=True)
class FeatureParams:
    """The front end's parameters, as written into a model's config.json."""

    sample_rate_hz: int = FEATURE_RATE_HZ
    n_fft: int = N_FFT
    win_length: int = WIN_LENGTH
    hop_length: int = HOP_LENGTH
    n_mels: int = N_MELS
    fmin_hz: float = FMIN_HZ
    fmax_hz: float = FMAX_HZ


def to_feature_rate(clip: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Resample a 1-D clip (any rate) to 8000 Hz float32."""
    clip = np.asarray(clip, dtype=np.float32)
    if sample_rate_hz == FEATURE_RATE_HZ:
        return clip
    return soxr.resample(clip, sample_rate_hz, FEATURE_RATE_HZ, quality="HQ").astype(np.float32)


def check_clip(clip: np.ndarray, sample_rate_hz: int, *, label: str = "clip") -> np.ndarray:
    """Validate a clip for scoring; return it as 1-D float32.

    Raises :class:`EmotionInputError` (one line, with the fix) for a non-1-D,
    too short (< ``MIN_CLIP_S``), non-finite or all-silent clip.
    """
    clip = np.asarray(clip, dtype=np.float32)
    if clip.ndim != 1:
        raise EmotionInputError(f"{label}: expected one channel (1-D samples), got shape {clip.shape}; score one party per clip")
    if sample_rate_hz < 8000:
        raise EmotionInputError(f"{label}: sample rate {sample_rate_hz} Hz is below 8000 Hz; resample the audio to 8 or 16 kHz")
    duration_s = clip.size / sample_rate_hz
    if duration_s < MIN_CLIP_S:
        raise EmotionInputError(
            f"{label}: clip is {duration_s:.2f} s long, too short to score (minimum {MIN_CLIP_S} s); pass longer turns"
        )
    if not np.all(np.isfinite(clip)):
        raise EmotionInputError(f"{label}: clip contains NaN or infinite samples; fix the decoder or drop the clip")
    if float(np.max(np.abs(clip))) < 1e-6:
        raise EmotionInputError(f"{label}: clip is silent (all samples zero); score only turns that contain speech")
    return clip


@lru_cache(maxsize=4)
def mel_basis(n_fft: int = N_FFT, n_mels: int = N_MELS, fmin_hz: float = FMIN_HZ, fmax_hz: float = FMAX_HZ) -> np.ndarray:
    """Slaney-normalised triangular mel filters ``(n_mels, n_fft // 2 + 1)`` float32 at 8 kHz
    (:func:`analyzer.mel.mel_filter_bank` computed in float64, rounded once)."""
    return mel_filter_bank(FEATURE_RATE_HZ, n_fft, n_mels, fmin_hz=fmin_hz, fmax_hz=fmax_hz, dtype=np.float64).astype(np.float32)


@lru_cache(maxsize=4)
def _window(n_fft: int, win_length: int) -> np.ndarray:
    """Periodic Hann window of ``win_length`` centred in ``n_fft`` samples."""
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win_length) / win_length)
    left = (n_fft - win_length) // 2
    return np.pad(win, (left, n_fft - win_length - left)).astype(np.float32)


def power_spectrogram(clip_8k: np.ndarray) -> np.ndarray:
    """|STFT|^2 ``(n_fft // 2 + 1, n_frames)`` with centred, zero-padded frames (librosa's ``center=True``)."""
    padded = np.pad(np.asarray(clip_8k, dtype=np.float32), N_FFT // 2)
    n_frames = 1 + (padded.size - N_FFT) // HOP_LENGTH
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[:: HOP_LENGTH][:n_frames]
    return (np.abs(np.fft.rfft(frames * _window(N_FFT, WIN_LENGTH), axis=1)) ** 2).T


def log_mel(clip_8k: np.ndarray) -> np.ndarray:
    """Log-mel power frames ``(n_frames, N_MELS)`` of an 8 kHz clip (natural log)."""
    mel = mel_basis() @ power_spectrogram(clip_8k)
    return np.log(mel + LOG_FLOOR).T.astype(np.float32)


PEAK_LEVEL = 0.5  # training clips were peak-normalised to this before augmentation


def peak_normalise(clip: np.ndarray) -> np.ndarray:
    """Scale a clip so that its largest absolute sample is ``PEAK_LEVEL`` (recording gain does not matter)."""
    peak = float(np.max(np.abs(clip))) if clip.size else 0.0
    return clip if peak <= 0 else (clip * (PEAK_LEVEL / peak)).astype(np.float32)


def clip_features(clip: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Resample to 8 kHz and compute log-mel frames ``(n_frames, N_MELS)`` (no validation)."""
    return log_mel(to_feature_rate(clip, sample_rate_hz))


def speech_frames(features: np.ndarray) -> np.ndarray:
    """Frames of a log-mel matrix whose energy lies within ``SPEECH_RANGE_DB`` of its loudest frame."""
    energy_db = 10.0 / np.log(10.0) * np.log(np.exp(features).sum(axis=1) + LOG_FLOOR)
    keep = energy_db >= energy_db.max() - SPEECH_RANGE_DB
    return features[keep]


def frame_stats(feature_list: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation per mel band over the speech frames of several clips."""
    frames = np.concatenate([speech_frames(f) for f in feature_list], axis=0)
    return frames.mean(axis=0).astype(np.float32), np.maximum(frames.std(axis=0), EPS_STD).astype(np.float32)


def speaker_stats(feature_list: list[np.ndarray], speakers: list[str] | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per-clip normalisation statistics: pooled over all clips of the same speaker.

    Without ``speakers`` each clip is its own speaker (per-utterance statistics).
    """
    if speakers is None:
        return [frame_stats([f]) for f in feature_list]
    if len(speakers) != len(feature_list):
        raise EmotionInputError(f"got {len(feature_list)} clips but {len(speakers)} speakers; pass one speaker per clip")
    by_speaker: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in dict.fromkeys(speakers):
        by_speaker[name] = frame_stats([f for f, s in zip(feature_list, speakers) if s == name])
    return [by_speaker[s] for s in speakers]


def model_input(features: np.ndarray, stats: tuple[np.ndarray, np.ndarray], global_mean: np.ndarray, global_std: np.ndarray) -> np.ndarray:
    """Two-channel network input ``(2, N_MELS, n_frames)``: absolute and speaker-relative normalisation."""
    absolute = (features - global_mean) / global_std
    relative = (features - stats[0]) / stats[1]
    return np.stack([absolute.T, relative.T]).astype(np.float32)
