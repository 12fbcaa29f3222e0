"""Acoustic functionals of a clip and the linear classifier over them: the second half of the fused emotion model.

:func:`functionals` describes a clip by 44 eGeMAPS-like numbers (F0 in semitones, jitter-like
period perturbation, harmonics-to-noise ratio, loudness, shimmer-like level perturbation,
spectral slope and centroid, MFCC 1-12 means and standard deviations). It reuses the
log-mel frames the network already needs and runs Praat's pitch tracker at 2 kHz, so
it costs a fraction of the network's time. The same function feeds the functionals+SVM
baseline in ``scripts/eval_emotion.py``.

:class:`FunctionalsClassifier` is a multinomial logistic regression over the
speaker-relative functionals (z-scored over the speaker's clips or turns; 44 inputs), stored as plain
JSON numbers (no pickle) in a model folder's ``functionals.json``; inference is numpy only.
:func:`fuse` combines its probabilities with the network's (weighted geometric mean).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from ..intervals import FRAME_HOP_S
from ..mel import hz_to_mel, mel_to_hz
from .features import FEATURE_RATE_HZ, FMAX_HZ, FMIN_HZ, N_MELS, SPEECH_RANGE_DB, log_mel
from .linear import LinearHead, fit_head

N_FUNCTIONALS = 44
PITCH_RATE_HZ = 2000  # Praat's pitch tracker runs on the clip resampled to this rate (F0 ceiling 500 Hz)
PITCH_FLOOR_HZ = 75.0
PITCH_CEILING_HZ = 500.0
FUNCTIONAL_NAMES = (
    ["f0_st_mean", "f0_st_sd", "f0_st_p10", "f0_st_p50", "f0_st_p90", "voiced_share", "jitter", "hnr_db_mean", "hnr_db_sd",
     "loudness_db_mean", "loudness_db_sd", "loudness_db_p10", "loudness_db_p50", "loudness_db_p90", "active_share", "shimmer_db",
     "slope_db_per_khz_mean", "slope_db_per_khz_sd", "centroid_hz_mean", "centroid_hz_sd"]
    + [f"mfcc{k}_mean" for k in range(1, 13)] + [f"mfcc{k}_sd" for k in range(1, 13)]
)


def _mel_centres_khz() -> np.ndarray:
    return mel_to_hz(np.linspace(hz_to_mel(FMIN_HZ), hz_to_mel(FMAX_HZ), N_MELS + 2))[1:-1] / 1000.0


def _pitch(clip_8k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Praat autocorrelation F0 (Hz, 0 = unvoiced) and its voicing strength (0..1) every 10 ms."""
    import parselmouth

    x = soxr.resample(np.asarray(clip_8k, dtype=np.float64), FEATURE_RATE_HZ, PITCH_RATE_HZ)
    if x.size < 3.0 / PITCH_FLOOR_HZ * PITCH_RATE_HZ + 2:
        return np.zeros(1), np.zeros(1)
    pitch = parselmouth.Sound(x, sampling_frequency=PITCH_RATE_HZ).to_pitch_ac(
        time_step=FRAME_HOP_S, pitch_floor=PITCH_FLOOR_HZ, pitch_ceiling=PITCH_CEILING_HZ)
    sel = pitch.selected_array
    return np.asarray(sel["frequency"], dtype=np.float64), np.asarray(sel["strength"], dtype=np.float64)


def functionals(clip_8k: np.ndarray, log_mel_frames: np.ndarray | None = None) -> np.ndarray:
    """44 functionals ``(N_FUNCTIONALS,)`` of an 8 kHz clip (order: ``FUNCTIONAL_NAMES``).

    ``log_mel_frames``: the clip's ``log_mel`` frames ``(n_frames, N_MELS)`` if already computed.
    Loudness, spectral shape and MFCCs use the speech frames (within 35 dB of the loudest).
    """
    from scipy.fft import dct

    clip_8k = np.asarray(clip_8k, dtype=np.float32)
    lm = log_mel(clip_8k) if log_mel_frames is None else np.asarray(log_mel_frames, dtype=np.float64)
    f0, strength = _pitch(clip_8k)
    voiced = f0 > 0
    st = 12 * np.log2(f0[voiced] / 100.0) if voiced.sum() > 2 else np.zeros(3)
    f0_feats = [st.mean(), st.std(), *np.percentile(st, [10, 50, 90]), voiced.mean()]
    periods = 1.0 / f0[voiced] if voiced.sum() > 2 else np.ones(3)
    jitter = np.mean(np.abs(np.diff(periods))) / np.mean(periods)
    r = np.clip(strength[voiced], 1e-4, 1 - 1e-4)
    hnr = 10 * np.log10(r / (1 - r)) if r.size else np.zeros(1)
    hnr_feats = [hnr.mean(), hnr.std()]

    db_bands = 10.0 / np.log(10.0) * lm  # (n_frames, n_mels) in dB
    power = np.exp(lm)
    energy_db = 10 * np.log10(power.sum(axis=1) + 1e-10)
    act = energy_db >= energy_db.max() - SPEECH_RANGE_DB
    if act.sum() < 3:
        act = np.ones_like(act)
    e = energy_db[act]
    shimmer = np.mean(np.abs(np.diff(e))) if e.size > 2 else 0.0
    loud = [e.mean(), e.std(), *np.percentile(e, [10, 50, 90]), act.mean(), shimmer]

    f = _mel_centres_khz()
    y = db_bands[act]
    fc = f - f.mean()
    slope = (y - y.mean(axis=1, keepdims=True)) @ fc / (fc @ fc)
    p = power[act]
    centroid = 1000.0 * (p @ f) / (p.sum(axis=1) + 1e-10)
    spectral = [slope.mean(), slope.std(), centroid.mean(), centroid.std()]
    mdb = np.maximum(y, y.max() - 80.0)
    mfcc = dct(mdb, type=2, norm="ortho", axis=1)[:, 1:13]
    out = np.concatenate([f0_feats, [jitter], hnr_feats, loud, spectral, mfcc.mean(axis=0), mfcc.std(axis=0)])
    return np.nan_to_num(out.astype(np.float64))


def speaker_relative(x: np.ndarray, speakers: list[str] | None) -> np.ndarray:
    """Functionals z-normalised per speaker (``(n, d)``); without speakers each clip is its own speaker (all zeros)."""
    x = np.asarray(x, dtype=np.float64)
    if speakers is None:
        return np.zeros_like(x)
    out = np.zeros_like(x)
    names = np.asarray(speakers, dtype=object)
    for s in dict.fromkeys(speakers):
        m = names == s
        out[m] = (x[m] - x[m].mean(0)) / (x[m].std(0) + 1e-6)
    return out


def classifier_input(x: np.ndarray, speakers: list[str] | None) -> np.ndarray:
    """Speaker-relative functionals ``(n, N_FUNCTIONALS)``: the classifier's input.

    Only the speaker-relative part is used: in speaker-grouped CV on EmoDB adding the absolute
    functionals did not help (mean UAR of the fused model 0.811 with them, 0.821 without), and
    absolute levels depend on the recording chain. Consequence: a speaker with a single clip
    (or ``speakers=None``) gives all-zero input, and the classifier then adds only its class prior.
    """
    return speaker_relative(np.atleast_2d(np.asarray(x, dtype=np.float64)), speakers)


@dataclass(frozen=True, eq=False)
class FunctionalsClassifier:
    """Standardise, then multinomial logistic regression; ``predict_proba`` is numpy only."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (n_classes, n_inputs)
    intercept: np.ndarray  # (n_classes,)
    labels: tuple[str, ...]

    def predict_proba(self, x: np.ndarray, speakers: list[str] | None) -> np.ndarray:
        """Class probabilities ``(n, n_classes)`` from functionals ``(n, N_FUNCTIONALS)`` and one speaker per row."""
        return LinearHead(self.mean, self.scale, self.coef, self.intercept).predict_proba(classifier_input(x, speakers))

    def to_dict(self) -> dict:
        return {"kind": "standardise + multinomial logistic regression",
                "inputs": [f"speaker_z_{n}" for n in FUNCTIONAL_NAMES],
                "labels": list(self.labels), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": self.intercept.tolist()}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict()) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "FunctionalsClassifier":
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(np.asarray(d["mean"]), np.asarray(d["scale"]), np.asarray(d["coef"]), np.asarray(d["intercept"]), tuple(d["labels"]))


def fit_classifier(x: np.ndarray, y: np.ndarray, speakers: list[str], labels: tuple[str, ...], *, c: float = 0.1) -> FunctionalsClassifier:
    """Fit on functionals ``x`` (n, 44) with class indices ``y`` and one speaker per row; class-balanced, L2 (``C=c``)."""
    head = fit_head(classifier_input(x, speakers), y, len(labels), c=c, max_iter=2000)
    return FunctionalsClassifier(head.mean, head.scale, head.coef, head.intercept, tuple(labels))


def fuse(p_network: np.ndarray, p_functionals: np.ndarray, network_weight: float) -> np.ndarray:
    """Weighted geometric mean ``p_net^w * p_fun^(1-w)``, renormalised per row (``w`` = ``network_weight`` in [0, 1])."""
    w = float(network_weight)
    logp = w * np.log(np.clip(p_network, 1e-12, 1.0)) + (1.0 - w) * np.log(np.clip(p_functionals, 1e-12, 1.0))
    logp -= logp.max(axis=1, keepdims=True)
    p = np.exp(logp)
    return p / p.sum(axis=1, keepdims=True)


def uar(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted average recall: mean recall over the classes present in ``y_true``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean([np.mean(y_pred[y_true == k] == k) for k in sorted(set(y_true.tolist()))]))


WEIGHT_GRID = tuple(round(0.1 * k, 1) for k in range(11))


def choose_network_weight(p_network: list[np.ndarray], p_functionals: list[np.ndarray], y: np.ndarray,
                          grid: tuple[float, ...] = WEIGHT_GRID) -> tuple[float, dict[float, float]]:
    """The fusion weight ``w`` maximising the mean UAR over conditions of out-of-fold predictions.

    ``p_network`` / ``p_functionals``: one ``(n, 4)`` array per condition (e.g. 16 kHz and phone channel)
    for the same clips with true classes ``y``. Ties go to the larger ``w`` (more network).
    Returns ``(w, {w: mean UAR})``.
    """
    scores = {w: float(np.mean([uar(y, fuse(pn, pf, w).argmax(1)) for pn, pf in zip(p_network, p_functionals)])) for w in grid}
    best = max(scores.values())
    return max(w for w, s in scores.items() if s >= best - 1e-12), scores


#END
