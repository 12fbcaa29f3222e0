"""Telephone-channel simulation and training augmentation (pure numpy/scipy).

All functions take and return 1-D float32 sample arrays; rates in Hz. Random
choices come from an explicit ``numpy.random.Generator`` so training is
reproducible.
"""

from __future__ import annotations

import numpy as np
import soxr
from scipy import signal

PHONE_RATE_HZ = 8000
PHONE_BAND_HZ = (300.0, 3400.0)


def resample(clip: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """Resample a clip (no-op when the rates match)."""
    if from_hz == to_hz:
        return np.asarray(clip, dtype=np.float32)
    return soxr.resample(np.asarray(clip, dtype=np.float32), from_hz, to_hz).astype(np.float32)


def band_pass(clip_8k: np.ndarray, *, low_hz: float = PHONE_BAND_HZ[0], high_hz: float = PHONE_BAND_HZ[1]) -> np.ndarray:
    """4th-order Butterworth band-pass of an 8 kHz clip (telephone band by default)."""
    sos = signal.butter(4, [low_hz, min(high_hz, 3950.0)], btype="bandpass", fs=PHONE_RATE_HZ, output="sos")
    return signal.sosfilt(sos, clip_8k).astype(np.float32)


def mu_law(clip: np.ndarray, *, mu: int = 255) -> np.ndarray:
    """8-bit mu-law (G.711 u-law style) encode/decode round trip."""
    x = np.clip(clip, -1.0, 1.0)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    q = np.round((y + 1.0) * 127.5) / 127.5 - 1.0
    return (np.sign(q) * np.expm1(np.abs(q) * np.log1p(mu)) / mu).astype(np.float32)


def a_law(clip: np.ndarray, *, a: float = 87.6) -> np.ndarray:
    """8-bit A-law (G.711 A-law style) encode/decode round trip."""
    x = np.clip(clip, -1.0, 1.0)
    ax = np.abs(x)
    small = ax < 1.0 / a
    y = np.where(small, a * ax / (1 + np.log(a)), (1 + np.log(np.maximum(a * ax, 1e-12))) / (1 + np.log(a)))
    y = np.sign(x) * y
    q = np.round((y + 1.0) * 127.5) / 127.5 - 1.0
    aq = np.abs(q)
    small_q = aq < 1.0 / (1 + np.log(a))
    out = np.where(small_q, aq * (1 + np.log(a)) / a, np.exp(aq * (1 + np.log(a)) - 1) / a)
    return (np.sign(q) * out).astype(np.float32)


def codec_like(clip_8k: np.ndarray, rng: np.random.Generator, *, step_db: float = 3.0) -> np.ndarray:
    """Low-bitrate-codec-like distortion: coarse log-magnitude quantisation, a random upper cutoff and
    randomly dropped time-frequency bands (MDCT-codec style), resynthesised with the noisy phase kept."""
    n_fft = 256
    _, _, z = signal.stft(clip_8k, fs=PHONE_RATE_HZ, nperseg=n_fft, noverlap=n_fft // 2)
    mag, phase = np.abs(z), np.angle(z)
    mag_db = 20 * np.log10(mag + 1e-9)
    mag_db = np.round(mag_db / step_db) * step_db
    floor_db = mag_db.max() - rng.uniform(30.0, 50.0)  # bits are not spent below a masking floor
    mag = np.where(mag_db > floor_db, 10 ** (mag_db / 20), 0.0)
    n_bins = mag.shape[0]
    cutoff = int(n_bins * rng.uniform(0.7, 1.0))
    mag[cutoff:] = 0.0
    band = 8
    drop = rng.random((n_bins // band + 1, mag.shape[1])) < rng.uniform(0.0, 0.15)
    mag *= ~np.repeat(drop, band, axis=0)[:n_bins]
    _, out = signal.istft(mag * np.exp(1j * phase), fs=PHONE_RATE_HZ, nperseg=n_fft, noverlap=n_fft // 2)
    return out[: clip_8k.size].astype(np.float32)


def coloured_noise(n_samples: int, rng: np.random.Generator, *, exponent: float) -> np.ndarray:
    """Noise with power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spectrum = rng.standard_normal(n_samples // 2 + 1) + 1j * rng.standard_normal(n_samples // 2 + 1)
    freqs = np.arange(spectrum.size, dtype=np.float64)
    freqs[0] = 1.0
    noise = np.fft.irfft(spectrum / freqs ** (exponent / 2), n=n_samples)
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32)


def add_noise(clip: np.ndarray, rng: np.random.Generator, *, snr_db: float) -> np.ndarray:
    """Add white/pink/brown noise at ``snr_db`` relative to the clip's active-speech RMS."""
    power = np.mean(clip[np.abs(clip) > 0.05 * np.max(np.abs(clip)) + 1e-9] ** 2) if clip.size else 0.0
    noise = coloured_noise(clip.size, rng, exponent=float(rng.choice([0.0, 1.0, 2.0])))
    return (clip + noise * np.sqrt(power / 10 ** (snr_db / 10))).astype(np.float32)


def simulate_phone(clip: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Deterministic telephone channel used for evaluation: 8 kHz, 300-3400 Hz band, 8-bit mu-law. Returns 8 kHz."""
    x = band_pass(resample(clip, sample_rate_hz, PHONE_RATE_HZ))
    peak = float(np.max(np.abs(x))) or 1.0
    return mu_law(x * (0.5 / peak))


def random_channel(clip: np.ndarray, sample_rate_hz: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """One random training augmentation; returns ``(clip, rate_hz)``.

    Chain: speed/pitch change (0.9-1.1), level change (-20..0 dB re peak 0.9), then with
    probability 0.8 a telephone channel (8 kHz, random band edges, noise at 10-30 dB SNR
    with p=0.6, codec-like distortion with p=0.4, mu-law/A-law with p=0.7); otherwise
    wideband with noise at p=0.4. SpecAugment is applied later, on the features.
    """
    x = np.asarray(clip, dtype=np.float32)
    factor = rng.uniform(0.9, 1.1)
    x = resample(x, int(round(sample_rate_hz * factor)), sample_rate_hz) if abs(factor - 1) > 0.01 else x
    x = x * (0.9 / (np.max(np.abs(x)) + 1e-9)) * 10 ** (rng.uniform(-20.0, 0.0) / 20)
    if rng.random() < 0.8:
        x = resample(x, sample_rate_hz, PHONE_RATE_HZ)
        rate = PHONE_RATE_HZ
        x = band_pass(x, low_hz=rng.uniform(150, 400), high_hz=rng.uniform(3200, 3900))
        if rng.random() < 0.6:
            x = add_noise(x, rng, snr_db=rng.uniform(10, 30))
        if rng.random() < 0.4:
            x = codec_like(x, rng, step_db=rng.uniform(1.5, 6.0))
        r = rng.random()
        if r < 0.35:
            x = mu_law(x)
        elif r < 0.7:
            x = a_law(x)
    else:
        rate = sample_rate_hz
        if rng.random() < 0.4:
            x = add_noise(x, rng, snr_db=rng.uniform(10, 30))
    return x.astype(np.float32), rate
