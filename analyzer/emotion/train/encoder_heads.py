"""Training of the encoder emotion models' heads (used by scripts/train_emotion_encoder.py).

Flow: clips -> :func:`corpus_encoder_features` (pooled Whisper features of the clean clip, the
deterministic 8 kHz mu-law phone channel and ``n_augmented`` random channels per clip, computed
once and cached under /tmp, never in the repository) -> :func:`fit_heads` (relative and absolute
logistic-regression heads on all conditions) -> :func:`save_encoder_model_folder`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..encoder import ENCODER_NAME, ENCODER_SHA256, POOL_STATS, WhisperFeatureEncoder, to_16k
from ..encoder_model import KIND
from ..linear import LinearHead, fit_head
from ..features import peak_normalise
from ..functionals import speaker_relative
from ..model import LABELS, sha256_file
from . import augment
from .fit import _pickle_cached, read_clip

CACHE_DIR = Path("/tmp/call-analyzer-emotion-cache")
CONDITIONS = ("16k", "8k-mulaw")


@dataclass
class EncoderFeatureSet:
    """Pooled encoder features of labelled clips: ``clean``/``phone`` ``(n, d)``, ``augmented`` ``(n, k, d)`` (d = 1024 per pooled block)."""

    paths: list[str]
    labels: list[str]
    speakers: list[str]
    corpora: list[str]
    clean: np.ndarray
    phone: np.ndarray
    augmented: np.ndarray

    @property
    def y(self) -> np.ndarray:
        return np.array([LABELS.index(label) for label in self.labels])

    def condition(self, name: str) -> np.ndarray:
        return {"16k": self.clean, "8k-mulaw": self.phone}[name]


AUGMENT_SEED = 7


def clip_versions(audio: np.ndarray, rate: int, n_augmented: int, clip_index: int) -> list[np.ndarray]:
    """The 16 kHz versions of one clip the heads learn from: clean, phone channel, ``n_augmented`` random channels.

    Copy ``k`` of the clip at ``clip_index`` (its place in the corpus' sorted clip list) draws from
    ``default_rng([AUGMENT_SEED, clip_index, k])``, so each copy is reproducible on its own.
    """
    audio = peak_normalise(audio)
    out = [to_16k(audio, rate), to_16k(augment.simulate_phone(audio, rate), augment.PHONE_RATE_HZ)]
    for k in range(n_augmented):
        x, r = augment.random_channel(audio, rate, np.random.default_rng([AUGMENT_SEED, clip_index, k]))
        out.append(to_16k(peak_normalise(x), r))
    return out


def corpus_encoder_features(corpus: str, encoder: WhisperFeatureEncoder, *, n_augmented: int,
                            cache_dir: str | Path = CACHE_DIR, root: str | Path | None = None,
                            blocks: tuple[int, ...] | None = None, stats: tuple[str, ...] = POOL_STATS) -> EncoderFeatureSet:
    """Pooled features of one shared corpus (every clip: clean, phone, ``n_augmented`` random channels), cached.

    ``blocks``, ``stats``: the encoder blocks pooled and the statistics over frames (default: the last block the encoder
    runs, ``(n_layers,)``, mean and std: the v2 features)."""
    blocks = (encoder.n_layers,) if blocks is None else tuple(int(b) for b in blocks)
    stats = tuple(stats)
    dim = 512 * len(stats) * len(blocks)
    from .corpora import list_clips

    def compute() -> EncoderFeatureSet:
        clips = list_clips(corpus, root)
        print(f"encoder features (layer {encoder.n_layers}) for {corpus}: {len(clips)} clips x ({n_augmented} augmented + clean + phone)", flush=True)
        rows = []
        for i, c in enumerate(clips):
            audio, rate = read_clip(c.path)
            rows.append(np.stack([encoder.pooled(x, blocks, stats) for x in clip_versions(audio, rate, n_augmented, i)]))
        rows = np.stack(rows) if rows else np.zeros((0, 2 + n_augmented, dim), np.float32)
        return EncoderFeatureSet([c.path for c in clips], [c.label for c in clips], [c.speaker for c in clips], [c.corpus for c in clips],
                                 rows[:, 0], rows[:, 1], rows[:, 2:])

    pooled_name = "" if blocks == (encoder.n_layers,) else "-blocks" + "".join(str(b) for b in blocks)
    pooled_name += "" if stats == POOL_STATS else "-" + "".join(stats)
    name = (f"{corpus}-whisper{ENCODER_SHA256[:8]}-layer{encoder.n_layers}{pooled_name}{'-int8' if encoder.int8 else ''}"
            f"-aug{n_augmented}-seed{AUGMENT_SEED}.pkl")
    return _pickle_cached(Path(cache_dir) / name, compute)


def concat_sets(sets: list[EncoderFeatureSet]) -> EncoderFeatureSet:
    """One set holding the clips of several (same number of augmented copies)."""
    return EncoderFeatureSet(sum((s.paths for s in sets), []), sum((s.labels for s in sets), []), sum((s.speakers for s in sets), []),
                             sum((s.corpora for s in sets), []), np.concatenate([s.clean for s in sets]),
                             np.concatenate([s.phone for s in sets]), np.concatenate([s.augmented for s in sets]))


def training_rows(fs: EncoderFeatureSet, idx: np.ndarray, *, relative: bool) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and classes of the clips ``idx`` in every version (clean, phone, each augmented copy).

    ``relative``: each version's features z-scored over that speaker's clips in the same version.
    """
    speakers = [fs.speakers[i] for i in idx]
    versions = [fs.clean[idx], fs.phone[idx]] + [fs.augmented[idx, k] for k in range(fs.augmented.shape[1])]
    x = np.vstack([speaker_relative(v, speakers) if relative else np.asarray(v, dtype=np.float64) for v in versions])
    return x, np.tile(fs.y[idx], len(versions))


def fit_heads(fs: EncoderFeatureSet, idx: np.ndarray, *, c_relative: float, c_absolute: float) -> tuple[LinearHead, LinearHead]:
    """The relative and absolute heads fit on the clips ``idx`` (all versions)."""
    return (fit_head(*training_rows(fs, idx, relative=True), len(LABELS), c=c_relative),
            fit_head(*training_rows(fs, idx, relative=False), len(LABELS), c=c_absolute))


def head_probabilities(relative: LinearHead, absolute: LinearHead, x: np.ndarray, speakers: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(p_relative, p_absolute)`` of clips ``x`` judged against their speakers' clips in ``x``."""
    return relative.predict_proba(speaker_relative(x, speakers)), absolute.predict_proba(x)


def speaker_folds(speakers: list[str], corpora: list[str], n_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Fold index per clip: each corpus' speakers dealt to ``n_folds`` folds in a seeded random order (every fold holds speakers of every corpus)."""
    rng = np.random.default_rng(seed)
    fold_of: dict[str, int] = {}
    for corpus in sorted(set(corpora)):
        names = sorted({s for s, c in zip(speakers, corpora) if c == corpus})
        for k, s in enumerate(np.asarray(names)[rng.permutation(len(names))]):
            fold_of[str(s)] = k % n_folds
    return np.array([fold_of[s] for s in speakers])


def save_encoder_model_folder(out_dir: str | Path, *, name: str, licence: str, layer: int, int8: bool, relative: LinearHead,
                              absolute: LinearHead, relative_weight: float, training: dict, card: str,
                              blocks: tuple[int, ...] | None = None, stats: tuple[str, ...] = POOL_STATS,
                              decision: dict | None = None) -> Path:
    """Write ``config.json`` (with the encoder's and ``heads.json``'s SHA-256), ``heads.json`` and ``MODEL_CARD.md``.

    ``blocks``, ``stats``: the pooled encoder blocks and statistics (default ``(layer,)``, mean and std: the v2 layout,
    which then writes neither key).
    ``decision``: the model's own decision layer (config.json ``decision``, see ``EmotionConfig.decision_for``),
    e.g. a fine-tuned model keeps its base's; None: the folder has none (analyze uses analyzer/config.py's).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    heads_path = out / "heads.json"
    heads_path.write_text(json.dumps({"kind": "standardise + multinomial logistic regression, relative and absolute heads",
                                      "labels": list(LABELS), "relative_weight": relative_weight,
                                      "relative": relative.to_dict(), "absolute": absolute.to_dict()}) + "\n", encoding="utf-8")
    blocks = (layer,) if blocks is None else tuple(int(b) for b in blocks)
    encoder = {"name": ENCODER_NAME, "sha256": ENCODER_SHA256, "layer": layer, "int8": int8,
               "pooling": "mean and sample standard deviation over the frames of encoder block `layer` (1024 inputs)",
               "licence": "MIT (OpenAI Whisper weights)"}
    stats = tuple(stats)
    if blocks != (layer,) or stats != POOL_STATS:
        encoder["blocks"], encoder["stats"] = list(blocks), list(stats)
        what = " and ".join({"mean": "mean", "std": "sample standard deviation"}[k] for k in stats)
        encoder["pooling"] = (f"{what} over the frames of each of encoder blocks {list(blocks)} (0 = the stem; one forward pass "
                              f"through blocks 1-{layer}), concatenated per block ({512 * len(stats) * len(blocks)} inputs)")
    config = {"name": name, "kind": KIND, "licence": licence, "labels": list(LABELS),
              "encoder": encoder,
              "heads_file": heads_path.name, "heads_sha256": sha256_file(heads_path), "relative_weight": relative_weight,
              "training": training}
    if decision:
        config["decision"] = decision
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (out / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    return out
