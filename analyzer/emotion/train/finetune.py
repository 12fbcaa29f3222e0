"""Fine-tuning a shipped encoder emotion model (``emotion-open-v2`` / ``emotion-multi-v3``, or ``emotion-multi-v2``) on a team's own
labelled turns or clips, with a before/after check on held-out calls (``train-emotion``).

Flow: labelled items (:mod:`.labelled`) -> :func:`item_features` (the frozen Whisper encoder's pooled
features of every 4 s window, exactly as ``analyze`` cuts a turn; computed once, reused for every fit and
for the before/after scores) -> :func:`group_split` (held-out calls) -> :func:`choose_strength` (inner
grouped CV on the training calls) -> :func:`refit_head` for both heads -> model folder + report.

**What fine-tuning means here.** The encoder stays frozen; both linear heads (relative and absolute) are
warm-started from the shipped weights and refit on the user's windows by class-balanced logistic
regression whose penalty pulls the weights toward the shipped ones, ``sum_i w_i CE_i + ||W - W0||^2 / (2 C)``
(the shipped standardiser is kept, so W0 and W live in the same coordinates; intercepts are free; a class
without any user label keeps its shipped row). Small ``C`` = stay close to what the shipped model learned
from its corpora; large ``C`` = follow the user's labels. ``C`` is chosen from :data:`C_GRID` by grouped CV
over the *training* calls only (the decided per-turn UAR, as ``analyze`` labels turns): the smallest ``C`` within
:data:`TIE_UAR` of the best (a CV over a few calls is noisy; ties go to staying near the shipped weights); if it
does not beat the shipped heads there, the shipped heads are kept and the report says so. The relative-head weight and the
decision layer (``analyzer/config.py`` ``EmotionConfig``) stay as shipped.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..linear import LinearHead
from ..functionals import speaker_relative, uar
from ..model import LABELS
from .labelled import LabelledItem, TrainingDataError, group_split, item_audio
from .report import evaluation, summary_lines

C_GRID = (0.0003, 0.001, 0.003, 0.01, 0.03, 0.1)  # penalty toward the shipped weights: 1 / (2 C) per squared unit
DEFAULT_C = 0.001  # used when the training side holds a single call (no inner CV possible)
TIE_UAR = 0.02  # inner-CV UARs this close count as ties, resolved toward the stronger pull (smaller C)
INNER_FOLDS = 3
HOLDOUT_SHARE = 0.25
AUGMENTED_COPIES = 2


@dataclass(frozen=True, eq=False)
class WindowFeatures:
    """Pooled encoder features of the items' windows: row ``k`` is window of item ``item[k]`` in version
    ``version[k]`` (0 = the audio as given; 1.. = augmented copies), weighted by ``weight[k]`` speech frames."""

    x: np.ndarray  # (n_windows, d): the model's pooled features (v2: 1024)
    item: np.ndarray
    version: np.ndarray
    weight: np.ndarray
    scored: np.ndarray  # items with at least one window (>= min_turn_s, not silent)


def item_versions(audio: np.ndarray, rate: int, n_augmented: int, index: int) -> tuple[list[np.ndarray], int]:
    """The audio as given, its phone-channel copy when it is wideband (8 kHz audio already is), and
    ``n_augmented`` seeded random channels (:func:`.encoder_heads.clip_versions`), all at 16 kHz."""
    from .encoder_heads import clip_versions

    versions = clip_versions(audio, rate, n_augmented, index)
    if rate <= 8000:
        versions = versions[:1] + versions[2:]
    return versions, 16000


def item_features(model, items: list[LabelledItem], *, n_augmented: int, versions_for=None, emotion=None,
                  progress: bool = True) -> WindowFeatures:
    """Windows (as ``analyze`` cuts turns: :func:`analyzer.emotion.scoring.audio_windows`) and their pooled
    features for every item; ``versions_for`` = set of item indices that also get augmented copies
    (default: all). Each item is read on its own (a turn is seeked, never its whole call)."""
    from ...config import EmotionConfig
    from ..scoring import audio_windows

    emotion = emotion or EmotionConfig()
    rows, item_of, version_of, weights, scored = [], [], [], [], []
    t0 = time.time()
    for i, it in enumerate(items):
        audio, rate = item_audio(it)
        k = n_augmented if versions_for is None or i in versions_for else 0
        if audio.size < emotion.min_turn_s * rate:
            continue
        versions, vrate = item_versions(audio, rate, k, i)
        wins = audio_windows(versions, vrate, min_turn_s=emotion.min_turn_s, window_s=emotion.window_s, hop_s=emotion.hop_s)
        if 0 not in wins.ids:
            continue  # silent or too short: analyze would not score it either
        scored.append(i)
        feats = model.features(wins.clips_16k)
        rows.append(feats)
        item_of += [i] * len(wins.turn)
        version_of += wins.turn.tolist()
        weights += wins.weight.tolist()
        if progress and (i + 1) % 50 == 0:
            print(f"  encoder features {i + 1}/{len(items)} ({time.time() - t0:.0f} s)", flush=True)
    x = np.vstack(rows) if rows else model.features([])
    return WindowFeatures(x, np.array(item_of, dtype=int), np.array(version_of, dtype=int), np.array(weights), np.array(scored, dtype=int))


def refit_head(head: LinearHead, x: np.ndarray, y: np.ndarray, *, c: float) -> LinearHead:
    """``head`` refit on ``(x, y)``: class-balanced cross-entropy + ``||W - W0||^2 / (2 c)`` (W0 = the shipped
    coefficients), the shipped standardiser kept, intercepts free.

    Classes absent from ``y`` keep their shipped rows: the loss is the softmax over the present classes only
    (the labels say nothing about the others), and the present intercepts are shifted afterwards so that their
    mean change is zero, which leaves the present classes' probabilities among themselves unchanged and the
    absent classes' odds against them, on average, as shipped.
    """
    from scipy.optimize import minimize

    z = head.standardise(x)
    present = np.array(sorted(set(np.asarray(y).tolist())), dtype=int)
    if len(present) < 2:
        return head
    k, d = len(present), head.coef.shape[1]
    counts = np.bincount(y, minlength=head.coef.shape[0])
    w = len(y) / (k * counts[y])  # sklearn's class_weight="balanced"
    onehot = np.zeros((len(y), k))
    onehot[np.arange(len(y)), np.searchsorted(present, y)] = 1.0
    w0, b0 = head.coef[present], head.intercept[present]

    def loss(theta):
        coef, intercept = theta[: k * d].reshape(k, d), theta[k * d:]
        logits = z @ coef.T + intercept
        m = logits.max(axis=1, keepdims=True)
        log_norm = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
        p = np.exp(logits - log_norm[:, None])
        ce = float(np.sum(w * (log_norm - np.sum(onehot * logits, axis=1))))
        diff = coef - w0
        g_logits = (p - onehot) * w[:, None]
        grad = np.concatenate([(g_logits.T @ z + diff / c).ravel(), g_logits.sum(axis=0)])
        return ce + float(np.sum(diff * diff)) / (2 * c), grad

    res = minimize(loss, np.concatenate([w0.ravel(), b0]), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    coef, intercept = head.coef.copy(), head.intercept.copy()
    coef[present] = res.x[: k * d].reshape(k, d)
    b = res.x[k * d:]
    intercept[present] = b - np.mean(b - b0)
    return LinearHead(head.mean, head.scale, coef, intercept)


def _rows(feats: WindowFeatures, items: list[LabelledItem], idx: np.ndarray, *, relative: bool) -> tuple[np.ndarray, np.ndarray]:
    """Training inputs and classes of every window (all versions) of the items ``idx``; ``relative``: z-scored
    over the windows of the same speaker (call/speaker) and version, as ``analyze`` judges a turn."""
    sel = np.isin(feats.item, idx)
    x, item, version = feats.x[sel], feats.item[sel], feats.version[sel]
    y = np.array([LABELS.index(items[i].label) for i in item], dtype=int)
    if relative:
        x = speaker_relative(x, [f"{items[i].speaker}#{v}" for i, v in zip(item, version)])
    return np.asarray(x, dtype=np.float64), y


def refit_model(model, feats: WindowFeatures, items: list[LabelledItem], idx: np.ndarray, c: float):
    """A copy of the encoder model whose two heads are refit on the items ``idx`` (see :func:`refit_head`)."""
    return dataclasses.replace(model, relative=refit_head(model.relative, *_rows(feats, items, idx, relative=True), c=c),
                               absolute=refit_head(model.absolute, *_rows(feats, items, idx, relative=False), c=c))


def decided_labels(model, feats: WindowFeatures, items: list[LabelledItem], idx: np.ndarray, emotion=None) -> tuple[np.ndarray, np.ndarray]:
    """(true, predicted) class indices of the scored items ``idx`` as ``analyze`` labels turns: windows of the
    version as given, each judged against its speaker's windows among ``idx`` and alone, pooled per turn by
    speech frames, then the decision layer (``EmotionConfig.decision_for`` the model: its folder's own layer if it
    has one, else the defaults: prior, temperature, uncertain -> neutral)."""
    from ...config import EmotionConfig
    from ..scoring import AudioWindows, decide, pooled_evidence

    emotion = emotion or EmotionConfig()
    sel = np.isin(feats.item, idx) & (feats.version == 0)
    ids = [int(i) for i in dict.fromkeys(feats.item[sel].tolist())]
    if not ids:
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    windows = AudioWindows(ids, [], feats.item[sel], feats.weight[sel])
    speakers = {i: items[i].speaker for i in ids}
    p_rel, p_abs = pooled_evidence(model, feats.x[sel], windows, speakers)  # speakers looked up by item index
    decision = {k: v for k, v in emotion.decision_for(model.config).items() if k != "absolute_reference"}
    _, labels, _ = decide(p_rel, p_abs, **decision)
    return np.array([LABELS.index(items[i].label) for i in ids], dtype=int), labels


def _inner_folds(items: list[LabelledItem], idx: np.ndarray, seed: int) -> list[np.ndarray]:
    groups = sorted({items[i].group for i in idx})
    order = np.random.default_rng(seed).permutation(len(groups))
    fold_of = {groups[g]: k % min(INNER_FOLDS, len(groups)) for k, g in enumerate(order)}
    return [np.array([i for i in idx if fold_of[items[i].group] == f], dtype=int) for f in range(min(INNER_FOLDS, len(groups)))]


def choose_strength(model, feats: WindowFeatures, items: list[LabelledItem], idx: np.ndarray, *, seed: int,
                    progress: bool = True) -> tuple[float | None, dict]:
    """``C`` from :data:`C_GRID` by grouped CV over the calls ``idx`` (decided per-turn UAR of the out-of-fold
    turns; the smallest C within :data:`TIE_UAR` of the best); ``None`` when the shipped heads are at least as good.
    Returns (choice, {"shipped"|C: UAR})."""
    folds = _inner_folds(items, idx, seed)
    if len(folds) < 2:
        return DEFAULT_C, {}
    scores = {}
    for c in (None,) + C_GRID:
        ys, ps = [], []
        for f, test in enumerate(folds):
            train = np.concatenate([folds[g] for g in range(len(folds)) if g != f])
            fitted = model if c is None else refit_model(model, feats, items, train, c)
            y, p = decided_labels(fitted, feats, items, test)
            ys.append(y)
            ps.append(p)
        y, p = np.concatenate(ys), np.concatenate(ps)
        scores["shipped" if c is None else c] = round(uar(y, p), 4) if len(y) else float("nan")
        if progress:
            print(f"  inner CV ({len(folds)} folds by call): {'shipped heads' if c is None else f'C={c}'}: UAR {scores['shipped' if c is None else c]:.3f}", flush=True)
    top = max(scores[c] for c in C_GRID)
    best = min(c for c in C_GRID if scores[c] >= top - TIE_UAR)  # the strongest pull within the CV's noise of the best
    return (best if scores[best] > scores["shipped"] else None), scores


def finetune_encoder(base_model, items: list[LabelledItem], *, holdout_share: float = HOLDOUT_SHARE, seed: int = 0,
                     n_augmented: int = AUGMENTED_COPIES, split: tuple[np.ndarray, np.ndarray] | None = None,
                     feats: WindowFeatures | None = None, strength_c: float | None = None,
                     progress: bool = True) -> tuple[object, dict]:
    """Fine-tune ``base_model``'s heads on the training calls of ``items`` and measure it and the base on the
    held-out calls. ``split`` = explicit (train, held-out) indices, else :func:`group_split`; ``feats`` =
    precomputed :func:`item_features` (benchmarks reuse them across splits); ``strength_c`` = a fixed C instead
    of the inner-CV choice. Returns the fine-tuned model (a copy sharing the encoder) and the report dict."""
    train, test = split if split is not None else group_split(items, holdout_share, seed)
    t0 = time.time()
    if feats is None:
        feats = item_features(base_model, items, n_augmented=n_augmented, versions_for=set(train.tolist()), progress=progress)
    t_features = time.time() - t0
    train, test = np.intersect1d(train, feats.scored), np.intersect1d(test, feats.scored)
    n_classes = len({items[i].label for i in train})
    if n_classes < 2:
        raise TrainingDataError(f"the training calls hold {n_classes} emotion class(es) among their scorable turns; "
                                "fine-tuning needs at least two (label more turns, or pass --holdout 0)")
    c, inner = ((strength_c, {}) if strength_c is not None
                else choose_strength(base_model, feats, items, train, seed=seed, progress=progress))
    tuned = base_model if c is None else refit_model(base_model, feats, items, train, c)
    report = {"base": base_model.name, "base_licence": base_model.licence, "strength_c": c, "inner_cv_uar": {str(k): v for k, v in inner.items()},
              "kept_shipped_heads": c is None, "seed": seed, "holdout_share": holdout_share, "n_augmented": n_augmented,
              "train": {"n_turns": int(len(train)), "n_calls": len({items[i].group for i in train}),
                        "n_speakers": len({items[i].speaker for i in train}),
                        "class_counts": {lab: sum(items[i].label == lab for i in train) for lab in LABELS}},
              "n_rows": len(items), "n_unscored": int(len(items) - len(feats.scored)),
              "kind": "turns" if items[0].is_turn else "clips", "features_s": round(t_features, 1)}
    if len(test):
        y, before = decided_labels(base_model, feats, items, test)
        _, after = decided_labels(tuned, feats, items, test)
        report["heldout"] = evaluation(y, before, after, items, [int(i) for i in test])
    else:
        report["heldout"] = None
    report["fit_s"] = round(time.time() - t0 - t_features, 1)
    return tuned, report


def write_encoder_folder(out_dir: str | Path, tuned, report: dict, *, data: str, command: str) -> Path:
    """The model folder (config.json with checksums, heads.json, MODEL_CARD.md) and ``finetune_report.json``."""
    from .card import finetune_card
    from .encoder_heads import save_encoder_model_folder

    out = Path(out_dir)
    licence = tuned.licence
    training = {"base": report["base"], "data": data, "strength_c": report["strength_c"], "seed": report["seed"],
                "holdout_share": report["holdout_share"], "n_augmented": report["n_augmented"], "command": command}
    card = finetune_card(name=out.name, licence=licence, report=report, data=data, command=command, lines=summary_lines(report))
    save_encoder_model_folder(out, name=out.name, licence=licence, layer=tuned.layer, int8=bool(tuned.config["encoder"].get("int8", False)),
                              blocks=tuned.blocks, stats=tuned.stats, relative=tuned.relative, absolute=tuned.absolute,
                              relative_weight=tuned.relative_weight, training=training, card=card, decision=tuned.config.get("decision"))
    (out / "finetune_report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return out


def finetune_from_csv(csv_path: str | Path, *, base: str = "open", out_dir: str | Path, epochs: int = 10, n_augmented: int = 2,
                      lr: float | None = None, seed: int = 0, holdout_share: float = 0.25, progress: bool = True) -> tuple[Path, dict]:
    """Fine-tune ``base`` (open/multi = the shipped v2 encoder models, emotion-open-v1/-multi-v1 or a folder) or
    train a CNN from scratch (``base='none'``) on a clips or turns CSV (:mod:`.labelled`); write a model folder.

    Whole calls (speakers for clips) are held out (``holdout_share``, seeded); the written model is fit on the
    others, and the report holds the base model's and the new model's per-turn UAR on the held-out turns.
    Returns (folder, report); the report is also in ``finetune_report.json`` and the model card.
    """
    from ..model import load_model
    from .fit import finetune_cnn
    from .labelled import read_labelled_csv

    items = read_labelled_csv(csv_path)
    out = Path(out_dir)
    command = (f"call-analyzer train-emotion --data {csv_path} --base {base} --out {out} --holdout {holdout_share} --seed {seed} "
               f"--augmented-copies {n_augmented}")
    model = None if base == "none" else load_model(base)
    if model is not None and getattr(model, "scores_audio", False):
        tuned, report = finetune_encoder(model, items, holdout_share=holdout_share, seed=seed, n_augmented=n_augmented, progress=progress)
        write_encoder_folder(out, tuned, report, data=str(csv_path), command=command)
        report["summary"] = summary_lines(report)
        return out, report
    return finetune_cnn(items, model, base=base, out=out, csv_path=csv_path, epochs=epochs, n_augmented=n_augmented, lr=lr,
                         seed=seed, holdout_share=holdout_share, command=command + f" --epochs {epochs}", progress=progress)
