"""Loading a shipped or user-trained emotion model folder and running it on clips."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import AnalyzerError
from .features import EmotionInputError, check_clip, log_mel, model_input, peak_normalise, speaker_stats, to_feature_rate
from .functionals import FunctionalsClassifier, functionals, fuse

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"  # analyzer/models/, package data (in the wheel too)
MODELS_ENV = "CALL_ANALYZER_MODELS_DIR"  # overrides MODELS_DIR (e.g. for installed, non-editable packages)
SHIPPED = {"open": "emotion-open-v2", "multi": "emotion-multi-v3"}  # Whisper-encoder models, the defaults (docs/emotion.md)
ENCODER_PREVIOUS = ("emotion-multi-v2",)  # an earlier encoder model, still shipped, loads by name
CNN_SHIPPED = {"open": "emotion-open-v1", "multi": "emotion-multi-v1"}  # the CNN + functionals models, still shipped; train-emotion fine-tunes these
LABELS = ("neutral", "happy", "angry", "sad")  # the classes, in the order of every probability vector
# Windows per forward pass at inference. 1 = every window alone, unpadded: a turn's scores are then
# bit-identical whatever else is scored with it (batched forward passes differ by ~1e-7 even for
# equal-length items, through oneDNN's blocking). Costs ~0.02 s CPU per minute of turn audio (+5 %).
INFERENCE_BATCH = 1


class ModelError(AnalyzerError):
    """An emotion model folder is missing, incomplete or corrupted."""


@dataclass(eq=False)
class EmotionModel:
    """A loaded emotion model. ``predict`` returns ``(n, 4)`` probabilities in ``LABELS`` order.

    With a functionals part (``functionals.json``, listed in config.json's ``fusion`` block) the
    probabilities are the weighted geometric mean of the network's and the functionals
    classifier's, ``p_net^w * p_fun^(1-w)`` renormalised (``w`` = ``network_weight``).
    """

    name: str
    licence: str
    path: str
    config: dict
    net: object = field(repr=False)  # the EmotionCNN as trained (its state_dict seeds fine-tuning)
    inference_net: object = field(repr=False)  # the same function, fused for CPU speed (EmotionCNN.for_inference)
    global_mean: np.ndarray = field(repr=False)
    global_std: np.ndarray = field(repr=False)
    functionals_classifier: FunctionalsClassifier | None = field(default=None, repr=False)
    network_weight: float = 1.0

    @property
    def fused(self) -> bool:
        """True when the model has a functionals part that takes part in the probabilities."""
        return self.functionals_classifier is not None and self.network_weight < 1.0

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.config["labels"])

    def predict(self, clips: list[np.ndarray], sample_rate_hz: int, *, speakers: list[str] | None = None,
                batch_size: int = INFERENCE_BATCH) -> np.ndarray:
        """Class probabilities ``(n_clips, 4)`` for 1-D clips at ``sample_rate_hz`` (>= 8000 Hz).

        With ``speakers`` (one name per clip) each clip is also judged relative to
        its speaker's baseline over all given clips; without, relative to itself.
        Each clip is peak-normalised first (as in training), so recording gain does not matter.
        Raises :class:`EmotionInputError` for silent, too short (< 0.25 s) or non-finite clips.
        """
        if len(clips) == 0:
            return np.zeros((0, len(LABELS)))
        clips_8k = [to_feature_rate(peak_normalise(check_clip(c, sample_rate_hz, label=f"clip {i}")), sample_rate_hz)
                    for i, c in enumerate(clips)]
        feats = [log_mel(c) for c in clips_8k]
        funcs = np.array([functionals(c, f) for c, f in zip(clips_8k, feats)]) if self.fused else None
        return self.predict_features(feats, speakers=speakers, functionals=funcs, batch_size=batch_size)

    def predict_features(self, feats: list[np.ndarray], *, speakers: list[str] | None = None,
                         stats_feats: list[np.ndarray] | None = None, stats_speakers: list[str] | None = None,
                         functionals: np.ndarray | None = None, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
        """Probabilities for precomputed log-mel features; speaker statistics from ``stats_feats`` if given.

        ``functionals`` ``(n, 44)`` (from :func:`~analyzer.emotion.functionals.functionals`, one row per
        clip in ``feats``): fuse the network with the functionals part, each clip judged against its
        speaker's clips in this call (``speakers``). Without them (or without a functionals part) the
        network's probabilities are returned.
        """
        if stats_feats is None:
            stats = speaker_stats(feats, speakers)
        elif speakers is None or stats_speakers is None:
            raise EmotionInputError("stats_feats needs both speakers and stats_speakers")
        else:
            pooled = dict(zip(stats_speakers, speaker_stats(stats_feats, stats_speakers)))
            stats = [pooled[s] for s in speakers]
        probs = run_network(self.inference_net, feats, stats, self.global_mean, self.global_std, batch_size=batch_size)
        if functionals is None:
            return probs
        return self.fuse(probs, functionals, speakers)

    def fuse(self, network_probs: np.ndarray, functionals: np.ndarray, speakers: list[str] | None) -> np.ndarray:
        """Fuse network probabilities ``(n, 4)`` with the functionals part's for the same clips.

        Rows whose speaker has a single clip in ``speakers`` (every row when ``speakers`` is None) keep
        the network's probabilities, as does a model without a functionals part.
        """
        functionals = np.atleast_2d(np.asarray(functionals, dtype=np.float64))
        if len(functionals) != len(network_probs):
            raise EmotionInputError(f"got {len(network_probs)} clips but {len(functionals)} rows of functionals; pass one row per clip")
        if not self.fused or len(network_probs) == 0:
            return network_probs
        # Only clips whose speaker has at least two clips here: the functionals part judges a clip
        # against its speaker's others, and a lone clip (or speakers=None) has no baseline.
        names = np.asarray(speakers if speakers is not None else [f"#{i}" for i in range(len(network_probs))], dtype=object)
        _, inverse, counts = np.unique(names, return_inverse=True, return_counts=True)
        informative = counts[inverse] >= 2
        out = np.array(network_probs, dtype=np.float64, copy=True)
        if informative.any():
            p_fun = self.functionals_classifier.predict_proba(functionals, speakers)
            out[informative] = fuse(out[informative], p_fun[informative], self.network_weight)
        return out


_CACHE: dict[str, EmotionModel] = {}
_LOCK = threading.Lock()


def resolve_model_dir(name_or_path: str) -> Path:
    """'open' / 'multi' / a shipped model name -> folder under models/ (or $CALL_ANALYZER_MODELS_DIR); else a path."""
    base = Path(os.environ.get(MODELS_ENV) or MODELS_DIR)
    if name_or_path in SHIPPED:
        return base / SHIPPED[name_or_path]
    if name_or_path in {*SHIPPED.values(), *ENCODER_PREVIOUS, *CNN_SHIPPED.values()}:
        return base / name_or_path
    return Path(name_or_path)


def load_model(name_or_path: str = "open") -> EmotionModel:
    """Load (once per process) the model 'open', 'multi' or the model folder at a path.

    Verifies the SHA-256 of weights.pt against config.json. Uses torch's current
    thread setting (never changes it). Raises :class:`ModelError` with the fix.
    """
    folder = resolve_model_dir(name_or_path).resolve()
    key = str(folder)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = _load(folder)
        return _CACHE[key]


def _load(folder: Path) -> EmotionModel:
    import torch

    from .net import EmotionCNN

    config_path = folder / "config.json"
    if not folder.is_dir():
        raise ModelError("emotion model folder not found; use --emotion-model open, multi or a folder with config.json and weights.pt", path=str(folder))
    if not config_path.exists():
        raise ModelError("model folder lacks config.json; re-create it with `call-analyzer train-emotion` or reinstall the package", path=str(folder))
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"config.json is not valid JSON ({exc}); restore it from the release", path=str(config_path)) from None
    from .encoder_model import is_encoder_model, load_encoder_model

    if is_encoder_model(config):
        heads_path = _checked_file(folder, config, "heads_file", "heads_sha256")
        return load_encoder_model(folder, config, heads_path, ModelError)
    weights_path = folder / "weights.pt"
    if not weights_path.exists():
        raise ModelError("model folder lacks weights.pt; re-create it with `call-analyzer train-emotion` or reinstall the package", path=str(folder))
    expected = config.get("weights_sha256")
    actual = sha256_file(weights_path)
    if expected != actual:
        raise ModelError(
            f"weights.pt checksum mismatch (expected {str(expected)[:12]}..., got {actual[:12]}...): the file is corrupted or was modified; restore it from the release",
            path=str(weights_path),
        )
    arch = config["architecture"]
    net = EmotionCNN.from_architecture(arch, n_classes=len(config["labels"]))
    try:
        net.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
        raise ModelError(f"weights.pt does not fit the architecture in config.json ({type(exc).__name__}); retrain or restore the folder", path=str(weights_path)) from None
    net.eval()
    classifier, network_weight = _load_functionals(folder, config)
    norm = config["normalisation"]
    return EmotionModel(
        name=config["name"], licence=config["licence"], path=str(folder), config=config, net=net, inference_net=net.for_inference(),
        global_mean=np.asarray(norm["global_mean"], dtype=np.float32), global_std=np.asarray(norm["global_std"], dtype=np.float32),
        functionals_classifier=classifier, network_weight=network_weight,
    )


def _checked_file(folder: Path, config: dict, name_key: str, sha_key: str) -> Path:
    """The file named by ``config[name_key]`` in ``folder``, after checking it exists and matches ``config[sha_key]``."""
    path = folder / str(config.get(name_key))
    if not path.exists():
        raise ModelError(f"model folder lacks {path.name} (named in config.json); restore it from the release or retrain", path=str(folder))
    actual = sha256_file(path)
    if config.get(sha_key) != actual:
        raise ModelError(f"{path.name} checksum mismatch (expected {str(config.get(sha_key))[:12]}..., got {actual[:12]}...): "
                         "the file is corrupted or was modified; restore it from the release", path=str(path))
    return path


def _load_functionals(folder: Path, config: dict) -> tuple[FunctionalsClassifier | None, float]:
    """The functionals part named in config.json's ``fusion`` block (checksum verified), or (None, 1.0) for a network-only model."""
    fusion = config.get("fusion")
    if not fusion:
        return None, 1.0
    path = folder / fusion["functionals_file"]
    if not path.exists():
        raise ModelError(f"model folder lacks {path.name} (named in config.json's fusion block); restore it from the release or retrain", path=str(folder))
    actual = sha256_file(path)
    if fusion.get("functionals_sha256") != actual:
        raise ModelError(
            f"{path.name} checksum mismatch (expected {str(fusion.get('functionals_sha256'))[:12]}..., got {actual[:12]}...): "
            "the file is corrupted or was modified; restore it from the release", path=str(path))
    try:
        classifier = FunctionalsClassifier.load(path)
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{path.name} is not a valid functionals classifier ({type(exc).__name__}); restore it from the release", path=str(path)) from None
    if tuple(classifier.labels) != tuple(config["labels"]):
        raise ModelError(f"{path.name} has labels {classifier.labels}, config.json {config['labels']}; restore the folder", path=str(path))
    return classifier, float(fusion["network_weight"])


__all__ = ["EmotionModel", "EmotionInputError", "ModelError", "load_model", "resolve_model_dir"]


def collate(inputs: list[np.ndarray]):
    """Pad model inputs ``(1, n_mels, frames)`` to one tensor; returns (batch, lengths in frames)."""
    import torch

    lengths = [x.shape[2] for x in inputs]
    out = np.zeros((len(inputs), inputs[0].shape[0], inputs[0].shape[1], max(lengths)), dtype=np.float32)
    for k, x in enumerate(inputs):
        out[k, :, :, : x.shape[2]] = x
    from .net import as_input_layout

    return as_input_layout(torch.from_numpy(out)), torch.tensor(lengths)


def run_network(net, feature_list, stats_list, g_mean, g_std, *, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
    """Batched forward pass (clips sorted by length to limit padding); returns softmax probabilities."""
    import torch

    order = np.argsort([f.shape[0] for f in feature_list], kind="stable")
    probs = np.zeros((len(feature_list), len(LABELS)), dtype=np.float64)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            xb, nb = collate([model_input(feature_list[i], stats_list[i], g_mean, g_std) for i in chunk])
            logits, _ = net(xb, nb)
            probs[chunk] = torch.softmax(logits.double(), dim=1).numpy()
    return probs


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
