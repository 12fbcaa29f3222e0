"""Emotion models on Whisper base's encoder: pooled layer features -> linear heads -> class probabilities.

A model folder (``config.json`` with ``"kind": "whisper-encoder"``) holds ``heads.json``: two
standardise + multinomial logistic regression heads over the mean+std pooled hidden states of
the encoder blocks ``encoder.blocks`` (default ``[encoder.layer]``), the statistics ``encoder.stats``
(default mean and std: 1024 inputs per block) of one forward pass through blocks 1..``encoder.layer``, both fit on the clean, phone-channel and randomly
augmented copies of the training clips:

- ``relative``: the features z-scored over the speaker's clips (turns/windows in a call), as the
  speaker baseline of the CNN models; it needs at least two clips of the speaker.
- ``absolute``: the raw features (no speaker baseline), for lone clips and ``speakers=None``.

Probabilities of clips whose speaker has at least two clips: ``p_rel^w * p_abs^(1-w)``
renormalised (``w`` = ``heads.relative_weight``, chosen by speaker-grouped CV on the training
corpora); other clips get ``p_abs``. Every clip runs through the encoder alone, at its own length,
so scores never depend on the other clips of a batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .encoder import ENCODER_RATE_HZ, ENCODER_SHA256, POOL_STATS, WhisperFeatureEncoder, load_encoder, release_freed_memory, to_16k
from .features import check_clip, peak_normalise
from .functionals import fuse, speaker_relative
from .linear import LinearHead

KIND = "whisper-encoder"


def speaker_has_baseline(speakers: list[str] | None, n: int) -> np.ndarray:
    """True for rows whose speaker has at least two rows (``speakers=None``: every row is its own speaker)."""
    if speakers is None:
        return np.zeros(n, dtype=bool)
    _, inverse, counts = np.unique(np.asarray(speakers, dtype=object), return_inverse=True, return_counts=True)
    return counts[inverse] >= 2


def combine(relative: LinearHead, absolute: LinearHead, relative_weight: float, x: np.ndarray, speakers: list[str] | None) -> np.ndarray:
    """Probabilities ``(n, 4)`` from pooled features ``x`` ``(n, d)``: relative and absolute heads fused where a baseline exists."""
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    out = absolute.predict_proba(x)
    has = speaker_has_baseline(speakers, len(x))
    if has.any():
        p_rel = relative.predict_proba(speaker_relative(x, speakers))
        out[has] = fuse(p_rel[has], out[has], relative_weight)
    return out


@dataclass(eq=False)
class EncoderEmotionModel:
    """A loaded encoder emotion model (same public face as :class:`~analyzer.emotion.model.EmotionModel`)."""

    name: str
    licence: str
    path: str
    config: dict
    relative: LinearHead = field(repr=False)
    absolute: LinearHead = field(repr=False)
    relative_weight: float
    encoder: WhisperFeatureEncoder | None = field(default=None, repr=False)
    fused = False  # no functionals part: score_turns computes no functionals for it
    scores_audio = True  # score_turns hands it audio windows instead of log-mels

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.config["labels"])

    @property
    def layer(self) -> int:
        return int(self.config["encoder"]["layer"])

    @property
    def blocks(self) -> tuple[int, ...]:
        """The encoder blocks whose frames are pooled (v2: ``(layer,)``; v3: ``(1, 2)``), in the heads' input order."""
        return tuple(int(b) for b in self.config["encoder"].get("blocks", [self.layer]))

    @property
    def stats(self) -> tuple[str, ...]:
        """The statistics over frames pooled per block (v2: mean and std; ``encoder.stats`` in config.json)."""
        return tuple(self.config["encoder"].get("stats", POOL_STATS))

    def _encoder(self) -> WhisperFeatureEncoder:
        if self.encoder is None:
            self.encoder = load_encoder(self.layer, int8=bool(self.config["encoder"].get("int8", False)))
        return self.encoder

    def features(self, clips_16k: list[np.ndarray]) -> np.ndarray:
        """Pooled encoder features ``(n, 512 * len(stats) * len(blocks))`` of 16 kHz clips (already peak-normalised)."""
        enc = self._encoder()
        if not clips_16k:
            return np.zeros((0, 512 * len(self.stats) * len(self.blocks)), np.float32)
        out = np.stack([enc.pooled(c, self.blocks, self.stats) for c in clips_16k])
        release_freed_memory()  # the windows' activations (one size per window length)
        return out

    def predict(self, clips: list[np.ndarray], sample_rate_hz: int, *, speakers: list[str] | None = None, **_ignored) -> np.ndarray:
        """Class probabilities ``(n_clips, 4)`` for 1-D clips at ``sample_rate_hz`` (>= 8000 Hz); see the module docstring."""
        if len(clips) == 0:
            return np.zeros((0, len(self.labels)))
        clips_16k = [to_16k(peak_normalise(check_clip(c, sample_rate_hz, label=f"clip {i}")), sample_rate_hz)
                     for i, c in enumerate(clips)]
        return self.predict_pooled(self.features(clips_16k), speakers)

    def predict_pooled(self, x: np.ndarray, speakers: list[str] | None) -> np.ndarray:
        """Probabilities from precomputed pooled features ``(n, d)``, one speaker per row (or None)."""
        return combine(self.relative, self.absolute, self.relative_weight, x, speakers)


def is_encoder_model(config: dict) -> bool:
    return config.get("kind") == KIND


def load_encoder_model(folder: Path, config: dict, heads_path: Path, model_error) -> EncoderEmotionModel:
    """Build the model from its folder's config and ``heads.json`` (checksums checked by the caller); the encoder loads on first use."""
    enc = config.get("encoder") or {}
    if enc.get("sha256") != ENCODER_SHA256:
        raise model_error(f"config.json names encoder sha256 {str(enc.get('sha256'))[:12]}..., this package ships {ENCODER_SHA256[:12]}...; "
                          "retrain the heads or install the matching package", path=str(folder / "config.json"))
    try:
        heads = json.loads(heads_path.read_text(encoding="utf-8"))
        relative, absolute = LinearHead.from_dict(heads["relative"]), LinearHead.from_dict(heads["absolute"])
        weight = float(heads["relative_weight"])
    except (ValueError, KeyError, TypeError) as exc:
        raise model_error(f"{heads_path.name} is not a valid heads file ({type(exc).__name__}); restore it from the release", path=str(heads_path)) from None
    return EncoderEmotionModel(name=config["name"], licence=config["licence"], path=str(folder), config=config,
                               relative=relative, absolute=absolute, relative_weight=weight)

