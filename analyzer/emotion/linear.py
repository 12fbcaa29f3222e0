"""The linear head of both emotion model families: standardise (clip to +-Z_CLIP), then multinomial
logistic regression. Inference is numpy only; fitting imports scikit-learn lazily (training only).

Used by the v2 encoder heads (:mod:`analyzer.emotion.encoder_model`) and by the v1 functionals
classifier (:mod:`analyzer.emotion.functionals`), which adds its speaker-relative input in front.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Z_CLIP = 5.0  # standardised inputs are clipped to +-5 (an out-of-range clip cannot produce extreme logits)


@dataclass(frozen=True, eq=False)
class LinearHead:
    """Standardise (clip to +-Z_CLIP), then multinomial logistic regression; numpy only."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (n_classes, n_inputs)
    intercept: np.ndarray  # (n_classes,)

    def standardise(self, x: np.ndarray) -> np.ndarray:
        """Inputs ``(n, n_inputs)`` as the head sees them: z-scored with the head's mean/scale, clipped to +-Z_CLIP."""
        return np.clip((np.atleast_2d(np.asarray(x, dtype=np.float64)) - self.mean) / self.scale, -Z_CLIP, Z_CLIP)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n, n_classes)``."""
        logits = self.standardise(x) @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(), "coef": self.coef.tolist(), "intercept": self.intercept.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "LinearHead":
        return cls(*(np.asarray(d[k], dtype=np.float64) for k in ("mean", "scale", "coef", "intercept")))


def fit_head(x: np.ndarray, y: np.ndarray, n_classes: int, *, c: float, max_iter: int = 3000) -> LinearHead:
    """Class-balanced L2 logistic regression (``C=c``) on standardised ``x``; classes absent from ``y`` get ~zero probability."""
    from sklearn.linear_model import LogisticRegression

    x = np.asarray(x, dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    lr = LogisticRegression(C=c, class_weight="balanced", max_iter=max_iter).fit(np.clip((x - mean) / scale, -Z_CLIP, Z_CLIP), y)
    coef, intercept = np.zeros((n_classes, x.shape[1])), np.full(n_classes, -30.0)
    if len(lr.classes_) > 2:
        coef[lr.classes_], intercept[lr.classes_] = lr.coef_, lr.intercept_
    else:
        coef[lr.classes_] = np.vstack([-lr.coef_, lr.coef_]) / 2
        intercept[lr.classes_] = np.array([-lr.intercept_[0], lr.intercept_[0]]) / 2
    return LinearHead(mean, scale, coef, intercept)
