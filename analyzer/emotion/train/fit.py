"""Training of the emotion network on labelled clips (used by scripts/train_emotion.py and `train-emotion`).

Flow: clips -> :func:`build_features` (clean, phone-simulated and randomly
augmented copies, log-mel frames, computed once) -> :func:`fit` (corpus- and
class-balanced sampling, random crops, SpecAugment, multi-task loss) ->
:func:`save_model_folder`. Imports torch inside functions only.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from ..features import FEATURE_RATE_HZ, FeatureParams, clip_features, frame_stats, model_input, speaker_stats
from ..functionals import functionals
from ..model import INFERENCE_BATCH, LABELS, collate, run_network, sha256_file  # noqa: F401 - LABELS, sha256_file re-exported for scripts
from .labelled import TrainingDataError  # noqa: F401 - re-exported (scripts, tests)

HIGH_AROUSAL = ("happy", "angry")




ARCHITECTURE = {"class": "EmotionCNN", "n_mels": 40, "channels": [16, 32, 64, 128], "dropout": 0.3}


@dataclass
class FeatureSet:
    """Precomputed log-mel features for labelled clips.

    clean[i]: features of the original audio; phone[i]: through the deterministic
    8 kHz mu-law channel; augmented[i]: list of randomly augmented copies.
    """

    paths: list[str]
    labels: list[str]
    speakers: list[str]
    corpora: list[str]
    clean: list[np.ndarray]
    phone: list[np.ndarray]
    augmented: list[list[np.ndarray]] = field(default_factory=list)


def read_clip(path: str) -> tuple[np.ndarray, int]:
    """Read a clip as mono float32 (channels averaged)."""
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    return data.mean(axis=1), int(rate)


def build_features(paths, labels, speakers, corpora, *, n_augmented: int = 4, seed: int = 0, progress: bool = True,
                   read=None) -> FeatureSet:
    """Compute clean, phone-channel and ``n_augmented`` randomly augmented log-mel copies of every clip.

    ``read(i) -> (audio, rate)`` supplies clip ``i``'s samples (default: the whole file ``paths[i]``)."""
    from . import augment

    rng = np.random.default_rng(seed)
    fs = FeatureSet(list(paths), list(labels), list(speakers), list(corpora), [], [], [])
    t0 = time.time()
    for i, path in enumerate(fs.paths):
        audio, rate = read(i) if read is not None else read_clip(path)
        peak = float(np.max(np.abs(audio))) or 1.0
        audio = audio * (0.5 / peak)
        fs.clean.append(clip_features(audio, rate))
        fs.phone.append(clip_features(augment.simulate_phone(audio, rate), augment.PHONE_RATE_HZ))
        copies = []
        for _ in range(n_augmented):
            x, r = augment.random_channel(audio, rate, rng)
            copies.append(clip_features(x, r).astype(np.float16))
        fs.augmented.append(copies)
        if progress and (i + 1) % 200 == 0:
            print(f"  features {i + 1}/{len(fs.paths)} ({time.time() - t0:.0f} s)", flush=True)
    return fs


def corpus_norm(fs: FeatureSet, idx: np.ndarray) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray, np.ndarray]:
    """Per-corpus (mean, std) over clean speech frames of the training clips, and their average (used at inference)."""
    per_corpus = {}
    for corpus in sorted({fs.corpora[i] for i in idx}):
        per_corpus[corpus] = frame_stats([fs.clean[i] for i in idx if fs.corpora[i] == corpus])
    means = np.mean([m for m, _ in per_corpus.values()], axis=0)
    stds = np.mean([s for _, s in per_corpus.values()], axis=0)
    return per_corpus, means.astype(np.float32), stds.astype(np.float32)


def _spec_augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = x.copy()
    n_mels, n_frames = x.shape[1], x.shape[2]
    for _ in range(2):
        w = int(rng.integers(0, 7))
        f0 = int(rng.integers(0, n_mels - w + 1))
        x[:, f0 : f0 + w, :] = 0.0
    for _ in range(2):
        w = int(rng.integers(0, min(25, max(n_frames // 8, 1)) + 1))
        t0 = int(rng.integers(0, max(n_frames - w, 0) + 1))
        x[:, :, t0 : t0 + w] = 0.0
    return x


def _group_stats(fs: FeatureSet, idx: np.ndarray, version: str) -> dict:
    """Clip index -> its speaker statistics, pooled over the clips ``idx`` of that speaker in one version."""
    feats = [_version(fs, i, version) for i in idx]
    stats = speaker_stats(feats, [fs.speakers[i] for i in idx])
    return dict(zip(idx.tolist(), stats))


def _version(fs: FeatureSet, i: int, version: str) -> np.ndarray:
    if version == "clean":
        return fs.clean[i]
    if version == "phone":
        return fs.phone[i]
    return fs.augmented[i][int(version)].astype(np.float32)


def fit(fs: FeatureSet, train_idx, *, epochs: int = 30, seed: int = 0, steps_per_epoch: int | None = None,
        batch_size: int = 32, lr: float = 2e-3, crop_frames: int | tuple[int, int] = 250, p_utterance_norm: float = 0.25,
        init_state: dict | None = None, norm: tuple[np.ndarray, np.ndarray] | None = None, progress: bool = True) -> dict:
    """Train an :class:`~analyzer.emotion.net.EmotionCNN` on clips ``train_idx`` of ``fs``.

    Sampling is balanced over (corpus, class) pairs; each sample takes one of the
    clean/augmented versions at random, normalised per corpus (absolute channel)
    and per speaker-and-version (relative channel; per utterance with probability
    ``p_utterance_norm``), randomly cropped to ``crop_frames`` (or, given a (min, max)
    pair, to a length drawn per batch) and SpecAugmented.
    Loss: cross-entropy with label smoothing 0.1 plus 0.5 x binary arousal loss.
    Returns ``{"state_dict", "global_mean", "global_std", "history"}``.
    """
    import torch
    from torch import nn

    from ..net import EmotionCNN

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    train_idx = np.asarray(sorted(train_idx))
    per_corpus, g_mean, g_std = corpus_norm(fs, train_idx)
    if norm is not None:
        g_mean, g_std = norm
        per_corpus = {c: norm for c in per_corpus}
    n_aug = len(fs.augmented[train_idx[0]]) if fs.augmented else 0
    versions = ["clean"] + [str(k) for k in range(n_aug)]
    stats = {v: _group_stats(fs, train_idx, v) for v in versions}
    labels = np.array([LABELS.index(fs.labels[i]) for i in train_idx])
    groups = [f"{fs.corpora[i]}/{fs.labels[i]}" for i in train_idx]
    counts = {g: groups.count(g) for g in set(groups)}
    weights = np.array([1.0 / counts[g] for g in groups])
    weights /= weights.sum()
    steps = steps_per_epoch or max(1, int(np.ceil(len(train_idx) / batch_size)))

    net = EmotionCNN.from_architecture(ARCHITECTURE, n_classes=len(LABELS))
    if init_state is not None:
        net.load_state_dict(init_state)
    net = net.to(memory_format=torch.channels_last)  # ~1.5x faster training steps on CPU (see net.as_input_layout)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps, pct_start=0.2)
    ce = nn.CrossEntropyLoss(label_smoothing=0.1)
    bce = nn.BCEWithLogitsLoss()
    history = []
    t0 = time.time()
    for epoch in range(epochs):
        net.train()
        total, correct, seen = 0.0, 0, 0
        for _ in range(steps):
            pick = rng.choice(len(train_idx), size=batch_size, p=weights)
            crop = crop_frames if isinstance(crop_frames, int) else int(rng.integers(crop_frames[0], crop_frames[1] + 1))
            inputs, y = [], []
            for j in pick:
                i = int(train_idx[j])
                v = versions[int(rng.integers(0, len(versions)))]
                feats = _version(fs, i, v)
                st = frame_stats([feats]) if rng.random() < p_utterance_norm else stats[v][i]
                cm, cs = per_corpus[fs.corpora[i]]
                x = model_input(feats, st, cm, cs)
                if x.shape[2] > crop:
                    s = int(rng.integers(0, x.shape[2] - crop + 1))
                    x = x[:, :, s : s + crop]
                inputs.append(_spec_augment(x, rng))
                y.append(labels[j])
            xb, nb = collate(inputs)
            yb = torch.tensor(y)
            ab = torch.tensor([1.0 if LABELS[k] in HIGH_AROUSAL else 0.0 for k in y])
            logits, arousal = net(xb, nb)
            loss = ce(logits, yb) + 0.5 * bce(arousal, ab)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(y)
            correct += int((logits.argmax(1) == yb).sum())
            seen += len(y)
        history.append({"epoch": epoch + 1, "loss": total / seen, "train_acc": correct / seen})
        if progress:
            print(f"  epoch {epoch + 1}/{epochs} loss {total / seen:.3f} acc {correct / seen:.3f} ({time.time() - t0:.0f} s)", flush=True)
    net.eval()
    return {"state_dict": {k: v.detach().contiguous().clone() for k, v in net.state_dict().items()}, "global_mean": g_mean,
            "global_std": g_std, "history": history}


def predict_features(state: dict, feature_list: list[np.ndarray], stats_list: list, *, batch_size: int = INFERENCE_BATCH) -> np.ndarray:
    """Probabilities ``(n, 4)`` for precomputed features with their normalisation statistics."""

    from ..net import EmotionCNN

    net = EmotionCNN.from_architecture(ARCHITECTURE, n_classes=len(LABELS))
    net.load_state_dict(state["state_dict"])
    return run_network(net.for_inference(), feature_list, stats_list, state["global_mean"], state["global_std"], batch_size=batch_size)


def save_model_folder(out_dir: str | Path, trained: dict, *, name: str, licence: str, training: dict, card: str,
                      functionals_classifier=None, network_weight: float = 1.0, fusion_note: str = "") -> Path:
    """Write ``weights.pt``, ``config.json`` (with the weights' SHA-256) and ``MODEL_CARD.md``; with a
    functionals classifier also ``functionals.json`` (see :func:`attach_functionals`)."""
    import torch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(trained["state_dict"], out / "weights.pt")
    config = {
        "name": name,
        "licence": licence,
        "labels": list(LABELS),
        "sample_rate_hz": FeatureParams().sample_rate_hz,
        "input_rates_hz": "any >= 8000 (resampled to 8000 Hz)",
        "features": asdict(FeatureParams()),
        "architecture": ARCHITECTURE,
        "normalisation": {
            "global_mean": [round(float(v), 6) for v in trained["global_mean"]],
            "global_std": [round(float(v), 6) for v in trained["global_std"]],
            "speaker": "relative channel: per-speaker mean/std over speech frames of all that speaker's clips",
        },
        "training": training,
        "weights_sha256": sha256_file(out / "weights.pt"),
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (out / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    if functionals_classifier is not None:
        attach_functionals(out, functionals_classifier, network_weight, note=fusion_note)
    return out


FUNCTIONALS_FILE = "functionals.json"


def attach_functionals(folder: str | Path, classifier, network_weight: float, *, note: str = "") -> Path:
    """Write ``functionals.json`` into a model folder and the ``fusion`` block (with its SHA-256) into config.json.

    The network's weights and checksum are left as they are.
    """
    folder = Path(folder)
    classifier.save(folder / FUNCTIONALS_FILE)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["fusion"] = {
        "rule": "weighted geometric mean: p = p_network^w * p_functionals^(1-w), renormalised",
        "network_weight": float(network_weight),
        "functionals": "44 eGeMAPS-like functionals (analyzer/emotion/functionals.py), z-scored per speaker",
        "classifier": "standardise + class-balanced multinomial logistic regression",
        "functionals_file": FUNCTIONALS_FILE,
        "functionals_sha256": sha256_file(folder / FUNCTIONALS_FILE),
        "note": note,
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return folder


def fit_functionals_part(func_clean: np.ndarray, func_phone: np.ndarray, labels: list[str], speakers: list[str]):
    """Functionals classifier on the clean and phone-channel functionals of labelled clips (speaker-relative per condition).

    Returns None when the clips hold fewer than two classes (the model then stays network-only).
    """
    from ..functionals import fit_classifier

    y = np.array([LABELS.index(label) for label in labels])
    if len(set(y.tolist())) < 2:
        return None
    x = np.concatenate([func_clean, func_phone])
    spk = [f"clean/{s}" for s in speakers] + [f"phone/{s}" for s in speakers]
    return fit_classifier(x, np.concatenate([y, y]), spk, LABELS)


def _pickle_cached(path: Path, compute):
    """``compute()``, cached as a pickle at ``path`` (written to a temporary name, then renamed)."""
    import pickle

    if path.exists():
        with open(path, "rb") as handle:
            return pickle.load(handle)
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as handle:
        pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)
    return value


def cached_corpus_features(corpus: str, *, n_augmented: int, seed: int = 0, cache_dir: str | Path = "/tmp/call-analyzer-emotion-cache",
                           root: str | Path | None = None) -> FeatureSet:
    """:func:`build_features` for one shared corpus, cached as a pickle under ``cache_dir`` (never in the repo)."""
    from .corpora import list_clips

    def compute() -> FeatureSet:
        clips = list_clips(corpus, root)
        print(f"computing features for {corpus}: {len(clips)} clips x ({n_augmented} augmented + clean + phone)", flush=True)
        corpus_seed = seed + sum(map(ord, corpus))
        return build_features([c.path for c in clips], [c.label for c in clips], [c.speaker for c in clips],
                              [c.corpus for c in clips], n_augmented=n_augmented, seed=corpus_seed)

    return _pickle_cached(Path(cache_dir) / f"{corpus}-aug{n_augmented}-seed{seed}.pkl", compute)


def cached_corpus_functionals(corpus: str, paths: list[str], *, cache_dir: str | Path = "/tmp/call-analyzer-emotion-cache") -> dict[str, np.ndarray]:
    """Functionals ``{"16k": (n, 44), "8k-mulaw": (n, 44)}`` of a corpus' clips (original and phone channel), cached under ``cache_dir``."""

    def compute() -> dict[str, np.ndarray]:
        print(f"functionals for {corpus} ({len(paths)} clips)", flush=True)
        pairs = [functionals_of_file(p) for p in paths]
        return {"16k": np.array([a for a, _ in pairs]), "8k-mulaw": np.array([b for _, b in pairs])}

    return _pickle_cached(Path(cache_dir) / f"{corpus}-functionals-v2.pkl", compute)


def concat_features(sets: list[FeatureSet]) -> FeatureSet:
    """One FeatureSet holding the clips of several."""
    out = FeatureSet([], [], [], [], [], [], [])
    for fs in sets:
        for name in ("paths", "labels", "speakers", "corpora", "clean", "phone", "augmented"):
            getattr(out, name).extend(getattr(fs, name))
    return out


RECIPES = {
    "open": {
        "name": "emotion-open-v1", "corpora": ["emodb"], "licence": "CC0-1.0",
        "licence_text": "Trained only on EmoDB (CC0 1.0): the weights may be used for any purpose, including commercially.",
        "epochs": 120, "steps_per_epoch": None, "n_augmented": 4, "crop_frames": 250,
    },
    "multi": {
        "name": "emotion-multi-v1", "corpora": ["emodb", "ravdess", "nemo"], "licence": "CC-BY-NC-SA-4.0",
        "licence_text": "Trained on EmoDB + RAVDESS + nEMO; RAVDESS and nEMO are CC BY-NC-SA 4.0, so these weights are "
                        "released under CC BY-NC-SA 4.0: non-commercial use only, attribution, share alike.",
        "epochs": 60, "steps_per_epoch": 75, "n_augmented": 4, "crop_frames": (100, 300),
    },
}


def finetune_cnn(items, model, *, base, out, csv_path, epochs, n_augmented, lr, seed, holdout_share, command, progress) -> tuple[Path, dict]:
    """The CNN (v1) path of :func:`finetune_from_csv`: the network fine-tuned (or trained) and the functionals part refit."""
    from .card import before_after_md, model_card
    from .report import evaluation, summary_lines
    from .labelled import group_split, item_audio
    from ..model import load_model

    train, test = group_split(items, holdout_share, seed)
    audio = {int(i): item_audio(items[i]) for i in train}
    tr = [items[i] for i in train]
    try:
        fs = build_features([it.path for it in tr], [it.label for it in tr], [it.speaker for it in tr], ["user"] * len(tr),
                            n_augmented=n_augmented, seed=seed, progress=progress, read=lambda k: audio[int(train[k])])
    except (RuntimeError, ValueError, TypeError) as exc:  # soundfile errors
        raise TrainingDataError(f"cannot read a clip ({exc}); convert the clips to WAV or FLAC", path=str(csv_path)) from None
    init_state = norm = None
    if model is None:
        licence, base_name = "user-defined", None
        licence_text = "Trained from scratch on the user's clips only; the licence is the owner's of those clips."
    else:
        init_state = {k: v.clone() for k, v in model.net.state_dict().items()}
        norm = (model.global_mean, model.global_std)
        licence, base_name = model.licence, model.name
        licence_text = (f"Fine-tuned from {model.name} ({model.licence}); the base model's licence terms apply to these "
                        "weights, in addition to the rights in the fine-tuning clips.")
    trained = fit(fs, np.arange(len(tr)), epochs=epochs, seed=seed, lr=lr or (2e-3 if init_state is None else 5e-4),
                  init_state=init_state, norm=norm, progress=progress)

    funcs = [functionals_of_audio(*audio[int(i)]) for i in train]
    classifier = fit_functionals_part(np.array([f[0] for f in funcs]), np.array([f[1] for f in funcs]), fs.labels, fs.speakers)
    # Fusion weight: the base model's (chosen by speaker-grouped CV on its corpora); 0.5 from scratch.
    network_weight = 0.5 if model is None else (model.network_weight if model.fused else 0.5)
    training = {"data": str(csv_path), "base": base_name or "none (from scratch)", "epochs": epochs,
                "n_augmented_copies": n_augmented, "seed": seed, "holdout_share": holdout_share,
                "final_train_loss": round(trained["history"][-1]["loss"], 4), "command": command}
    n_params = sum(v.numel() for k, v in trained["state_dict"].items() if "running" not in k and "num_batches" not in k)
    card = model_card(name=out.name, licence=licence, licence_text=licence_text, training_data=[f"user clips from {csv_path}"],
                      n_clips=len(tr), n_speakers=len(set(fs.speakers)), size_bytes=0, n_params=n_params, training=training,
                      data_note=("Fine-tuned from " + base_name + "; see its card for its own training data.") if base_name else "")
    training["fusion"] = ("network-only (fewer than two classes in the clips)" if classifier is None else
                          f"functionals classifier refit on these clips; network weight {network_weight} "
                          + ("(from scratch: fixed 0.5)" if model is None else f"(taken from {base_name})"))
    save_model_folder(out, trained, name=out.name, licence=licence, training=training, card=card,
                      functionals_classifier=classifier, network_weight=network_weight if classifier is not None else 1.0,
                      fusion_note=training["fusion"])
    report = {"base": base_name or "none", "base_licence": licence, "strength_c": None, "inner_cv_uar": {}, "kept_shipped_heads": False,
              "seed": seed, "holdout_share": holdout_share, "n_augmented": n_augmented, "n_rows": len(items), "n_unscored": 0,
              "kind": "turns" if items[0].is_turn else "clips",
              "method": f"method: the CNN network {'fine-tuned' if model is not None else 'trained from scratch'} for {epochs} epoch(s), "
                        "the functionals part refit",
              "train": {"n_turns": len(tr), "n_calls": len({it.group for it in tr}), "n_speakers": len(set(fs.speakers)),
                        "class_counts": {lab: fs.labels.count(lab) for lab in LABELS}}, "heldout": None}
    if len(test) and model is not None:
        y, before, ids = _decided_by_score_turns(model, items, test)
        _, after, _ = _decided_by_score_turns(load_model(str(out)), items, test)
        report["heldout"] = evaluation(y, before, after, items, ids)
    elif len(test):
        y, after, ids = _decided_by_score_turns(load_model(str(out)), items, test)
        report["heldout"] = evaluation(y, after, after, items, ids)
        report["heldout"]["uar_shipped"] = None
    report["summary"] = summary_lines(report)
    size = (out / "weights.pt").stat().st_size
    card = card.replace("weights.pt is 0.00 MB", f"weights.pt is {size / 1e6:.2f} MB") + "\n" + before_after_md(report) + "\n"
    (out / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    (out / "finetune_report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return out, report


def _decided_by_score_turns(model, items, idx) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(true, decided, item ids) of the items ``idx`` scored by ``score_turns`` (8 kHz, speaker baseline over those items)."""
    from ...config import EmotionConfig
    from ..scoring import score_turns
    from . import augment
    from .labelled import item_audio

    cfg = EmotionConfig()
    clips = [augment.resample(*item_audio(items[i]), FEATURE_RATE_HZ) for i in idx]
    rows = score_turns(model, clips, FEATURE_RATE_HZ, [items[i].speaker for i in idx], min_turn_s=cfg.min_turn_s,
                       window_s=cfg.window_s, hop_s=cfg.hop_s, **cfg.decision_for(model.config))
    kept = [(int(i), r) for i, r in zip(idx, rows) if r is not None]
    y = np.array([LABELS.index(items[i].label) for i, _ in kept], dtype=int)
    return y, np.array([LABELS.index(r["emotion_label"]) for _, r in kept], dtype=int), [i for i, _ in kept]


def functionals_of_file(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Functionals of a labelled clip as in training: peak-normalised, (original -> 8 kHz, simulated phone channel)."""
    return functionals_of_audio(*read_clip(path))


def functionals_of_audio(audio: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`functionals_of_file` for samples already read."""
    from . import augment

    audio = audio * (0.5 / (float(np.max(np.abs(audio))) or 1.0))
    return functionals(augment.resample(audio, rate, FEATURE_RATE_HZ)), functionals(augment.simulate_phone(audio, rate))
