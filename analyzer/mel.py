"""Slaney mel scale and mel filter banks in numpy: one definition for every front end.

Used by the diarizer's speaker-encoder input (16 kHz, 400-point FFT, 40 bands), the Whisper
log-mels of the emotion encoder (16 kHz, 400, 80) and the v1 emotion features (8 kHz, 256, 40,
250-3600 Hz). The operations are ``librosa.filters.mel``'s (its defaults: Slaney's mel scale,
``htk=False``, and Slaney's area normalisation, ``norm="slaney"``) in the same order, so the banks are
bit-identical to librosa's in either dtype (``tests/test_mel.py``); importing librosa for them costs
~0.8 s of CPU and ~140 MB per process (scipy.signal, numba), the computation microseconds (issue 16).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_F_SP_HZ = 200.0 / 3  # Hz per mel in the linear part
_MIN_LOG_HZ = 1000.0  # start of the logarithmic part
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP_HZ
_LOGSTEP = np.log(6.4) / 27.0  # log(Hz) per mel in the logarithmic part


def hz_to_mel(freq_hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale of frequencies in Hz: linear below 1 kHz (3 mel per 200 Hz), logarithmic above."""
    freq_hz = np.asarray(freq_hz, dtype=np.float64)
    log_part = freq_hz >= _MIN_LOG_HZ
    return np.where(log_part, _MIN_LOG_MEL + np.log(np.where(log_part, freq_hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP,
                    freq_hz / _F_SP_HZ)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Frequencies in Hz of Slaney mels (the inverse of :func:`hz_to_mel`)."""
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mel - _MIN_LOG_MEL)), _F_SP_HZ * mel)


@lru_cache(maxsize=8)
def mel_filter_bank(sample_rate_hz: int, n_fft: int, n_mels: int, *, fmin_hz: float = 0.0, fmax_hz: float | None = None,
                    dtype: type = np.float32) -> np.ndarray:
    """Slaney-normalised triangular mel filters ``(n_mels, n_fft // 2 + 1)``, read-only.

    ``n_mels`` triangles with centres evenly spaced in mels between ``fmin_hz`` and ``fmax_hz``
    (default: half the sample rate) over the FFT bins' frequencies; each scaled by 2 / its width
    in Hz (constant energy per band). Equal to ``librosa.filters.mel(sr=sample_rate_hz, n_fft=n_fft,
    n_mels=n_mels, fmin=fmin_hz, fmax=fmax_hz, dtype=dtype)``, including its float32 rounding.
    """
    fmax_hz = sample_rate_hz / 2 if fmax_hz is None else fmax_hz
    fft_hz = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate_hz)
    band_hz = mel_to_hz(np.linspace(hz_to_mel(fmin_hz), hz_to_mel(fmax_hz), n_mels + 2))
    ramps = np.subtract.outer(band_hz, fft_hz)
    width = np.diff(band_hz)
    weights = np.zeros((n_mels, n_fft // 2 + 1), dtype=dtype)
    weights[:] = np.maximum(0, np.minimum(-ramps[:-2] / width[:-1, None], ramps[2:] / width[1:, None]))
    weights *= (2.0 / (band_hz[2:] - band_hz[:-2]))[:, None]
    weights.flags.writeable = False
    return weights
