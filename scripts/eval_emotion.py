"""Evaluate an emotion model recipe honestly, beside a classic functionals + SVM baseline.

    python scripts/eval_emotion.py --model open     # or multi

1. Speaker-independent cross-validation within the training corpora (folds grouped by
   speaker; the network is retrained per fold with a shorter schedule, see --cv-epochs).
2. Cross-corpus tests of the shipped model (analyzer/models/<name>) on TESS and TurEV, which are
   never trained on.
Each condition is scored on the original 16 kHz audio and through a simulated telephone
channel (8 kHz, 300-3400 Hz, 8-bit mu-law). Speaker normalisation uses each test
speaker's clips in the same condition (as a call gives all turns of a speaker).
Metrics: UAR (mean recall over the classes present) and confusion matrices.
Writes analyzer/models/<name>/evaluation.{md,json} and the metrics section of MODEL_CARD.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analyzer.emotion.train import augment  # noqa: E402
from analyzer.emotion.train.card import replace_metrics  # noqa: E402
from analyzer.emotion.train.corpora import EVAL_ONLY  # noqa: E402
from analyzer.emotion.features import speaker_stats  # noqa: E402
from analyzer.emotion.functionals import choose_network_weight, fuse, speaker_relative, uar  # noqa: E402
from analyzer.emotion.model import load_model  # noqa: E402
from analyzer.emotion.train.fit import (LABELS, RECIPES, cached_corpus_features, concat_features, fit,  # noqa: E402
                                       attach_functionals, cached_corpus_functionals, fit_functionals_part, predict_features, read_clip)

CACHE = Path("/tmp/call-analyzer-emotion-cache")
CONDITIONS = ("16k", "8k-mulaw")


# ---------------------------------------------------------------- functionals (baseline SVM and the fused model's part)

def baseline_features(corpus: str, paths: list[str]) -> dict[str, np.ndarray]:
    """Functionals (analyzer.emotion.functionals) of every clip in both conditions, cached under /tmp."""
    return cached_corpus_functionals(corpus, paths, cache_dir=CACHE)


def speaker_z(x: np.ndarray, speakers: list[str]) -> np.ndarray:
    """Functionals z-normalised per speaker (the baseline gets the same speaker baseline as the network)."""
    return speaker_relative(x, speakers)


def fit_svm(x_train: np.ndarray, y_train: np.ndarray):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return make_pipeline(StandardScaler(), SVC(C=1.0, kernel="rbf", class_weight="balanced")).fit(x_train, y_train)


# ---------------------------------------------------------------- metrics

def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> list[list[int]]:
    m = np.zeros((len(LABELS), len(LABELS)), dtype=int)
    for t, p in zip(y_true, y_pred):
        m[t, p] += 1
    return m.tolist()


def arousal_uar(conf: list[list[int]]) -> float | None:
    """Two-class arousal UAR from a 4-class confusion matrix: high = happy/angry, low = neutral/sad."""
    m = np.asarray(conf)
    high = np.array([label in ("happy", "angry") for label in LABELS])
    recalls = [m[np.ix_(rows, rows)].sum() / m[rows].sum() for rows in (high, ~high) if m[rows].sum() > 0]
    return float(np.mean(recalls)) if recalls else None


def speaker_folds(speakers: list[str], n_folds: int) -> list[np.ndarray]:
    """Test indices per fold; speakers of each corpus are dealt round-robin so every fold holds every corpus."""
    by_corpus: dict[str, list[str]] = {}
    for s in sorted(set(speakers)):
        by_corpus.setdefault(s.split(":")[0], []).append(s)
    fold_of, k = {}, 0
    for names in by_corpus.values():
        for s in names:
            fold_of[s] = k % n_folds
            k += 1
    return [np.array([i for i, s in enumerate(speakers) if fold_of[s] == f]) for f in range(n_folds)]


def _features(fs, idx, condition):
    return [fs.clean[i] if condition == "16k" else fs.phone[i] for i in idx]


# ---------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(RECIPES), required=True)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--cv-epochs", type=int, default=None, help="epochs per CV fold (default: recipe's, shortened)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-cv", action="store_true", help="only the cross-corpus tests (reuses CV numbers from evaluation.json)")
    parser.add_argument("--cv-network-only", action="store_true", help="only train the CV folds' networks and cache their out-of-fold probabilities")
    parser.add_argument("--attach-fusion", action="store_true",
                        help="after the CV, fit the functionals part on all training clips and write it, with the CV-chosen "
                             "network weight, into analyzer/models/<name> (before the cross-corpus tests)")
    parser.add_argument("--report-only", action="store_true", help="only rewrite evaluation.md and the card from evaluation.json")
    args = parser.parse_args(argv)
    if args.report_only:
        folder = REPO / "analyzer" / "models" / RECIPES[args.model]["name"]
        write_reports(folder, json.loads((folder / "evaluation.json").read_text(encoding="utf-8")))
        return 0

    import torch

    torch.set_num_threads(1)
    recipe = RECIPES[args.model]
    folder = REPO / "analyzer" / "models" / recipe["name"]
    t0 = time.time()
    train_fs = concat_features([cached_corpus_features(c, n_augmented=recipe["n_augmented"], seed=args.seed) for c in recipe["corpora"]])
    y_train_all = np.array([LABELS.index(label) for label in train_fs.labels])
    base_train = {c: np.concatenate([baseline_features(k, [p for p, q in zip(train_fs.paths, train_fs.corpora) if q == k])[c]
                                     for k in recipe["corpora"]]) for c in CONDITIONS}
    results: dict = {"model": recipe["name"], "licence": recipe["licence"], "rows": []}
    old = folder / "evaluation.json"

    # 1. speaker-independent CV
    if args.skip_cv and old.exists():
        previous = json.loads(old.read_text())
        results["rows"] = [r for r in previous["rows"] if r["test"].startswith("CV")]
        results["cv_epochs"] = previous.get("cv_epochs")
        results["fusion"] = previous.get("fusion")
    else:
        cv_epochs = args.cv_epochs or max(1, int(round(recipe["epochs"] * 0.6)))
        results["cv_epochs"] = cv_epochs
        folds = speaker_folds(train_fs.speakers, args.folds)
        cnn_probs = cv_network_probs(train_fs, folds, recipe, cv_epochs, args.seed)
        if args.cv_network_only:
            return 0
        n = len(train_fs.paths)
        fun_probs = {c: np.zeros((n, len(LABELS))) for c in CONDITIONS}
        base_pred = {c: np.zeros(n, dtype=int) for c in CONDITIONS}
        for f, test_idx in enumerate(folds):
            train_idx = np.setdiff1d(np.arange(n), test_idx)
            spk = [train_fs.speakers[i] for i in test_idx]
            spk_train = [train_fs.speakers[i] for i in train_idx]
            clf = fit_functionals_part(base_train["16k"][train_idx], base_train["8k-mulaw"][train_idx],
                                       [train_fs.labels[i] for i in train_idx], spk_train)
            xb_train = np.concatenate([speaker_z(base_train[c][train_idx], spk_train) for c in CONDITIONS])
            svm = fit_svm(xb_train, np.concatenate([y_train_all[train_idx]] * len(CONDITIONS)))
            for c in CONDITIONS:
                fun_probs[c][test_idx] = clf.predict_proba(base_train[c][test_idx], spk)
                base_pred[c][test_idx] = svm.predict(speaker_z(base_train[c][test_idx], spk))
        # Fusion weight of each fold: chosen on the other folds' out-of-fold predictions (never on the fold's own labels).
        fused = {c: np.zeros((n, len(LABELS))) for c in CONDITIONS}
        fold_weights = []
        for test_idx in folds:
            rest = np.setdiff1d(np.arange(n), test_idx)
            w, _ = choose_network_weight([cnn_probs[c][rest] for c in CONDITIONS], [fun_probs[c][rest] for c in CONDITIONS], y_train_all[rest])
            fold_weights.append(w)
            for c in CONDITIONS:
                fused[c][test_idx] = fuse(cnn_probs[c][test_idx], fun_probs[c][test_idx], w)
        w_all, by_weight = choose_network_weight([cnn_probs[c] for c in CONDITIONS], [fun_probs[c] for c in CONDITIONS], y_train_all)
        results["fusion"] = {"fold_network_weights": fold_weights, "network_weight_all_folds": w_all,
                             "cv_mean_uar_by_network_weight": {str(k): round(v, 4) for k, v in by_weight.items()}}
        print(f"fusion: network weight per fold {fold_weights}, on all folds {w_all}; CV UAR by weight {results['fusion']['cv_mean_uar_by_network_weight']}", flush=True)
        groups = [("all", np.arange(n))] if len(recipe["corpora"]) > 1 else []
        groups += [(k, np.array([i for i, q in enumerate(train_fs.corpora) if q == k])) for k in recipe["corpora"]]
        for name, idx in groups:
            for c in CONDITIONS:
                results["rows"].append(_row(f"CV {args.folds}-fold by speaker: {name}", c, y_train_all[idx], cnn_probs[c][idx].argmax(1),
                                            base_pred[c][idx], fused[c][idx].argmax(1), fun_probs[c][idx].argmax(1)))
        if args.attach_fusion:
            clf = fit_functionals_part(base_train["16k"], base_train["8k-mulaw"], list(train_fs.labels), list(train_fs.speakers))
            note = (f"network weight chosen by speaker-grouped {args.folds}-fold CV on the training corpora only "
                    f"(out-of-fold predictions, networks retrained per fold with {cv_epochs} epochs); functionals part fit on all training clips")
            attach_functionals(folder, clf, w_all, note=note)
            print(f"attached the functionals part to {folder} (network weight {w_all})", flush=True)

    # 2. cross-corpus tests of the shipped model
    model = load_model(str(folder))
    svm_all = fit_svm(np.concatenate([speaker_z(base_train[c], train_fs.speakers) for c in CONDITIONS]),
                      np.concatenate([y_train_all] * len(CONDITIONS)))
    for corpus in EVAL_ONLY:
        fs = cached_corpus_features(corpus, n_augmented=0, seed=args.seed)
        y = np.array([LABELS.index(label) for label in fs.labels])
        base = baseline_features(corpus, fs.paths)
        for c in CONDITIONS:
            feats = _features(fs, range(len(fs.paths)), c)
            p_net = model.predict_features(feats, speakers=fs.speakers)
            p = model.fuse(p_net, base[c], fs.speakers) if model.fused else None
            p_fun = model.functionals_classifier.predict_proba(base[c], fs.speakers) if model.fused else None
            b = svm_all.predict(speaker_z(base[c], fs.speakers))
            results["rows"].append(_row(f"cross-corpus: {corpus}", c, y, p_net.argmax(1), b, _argmax(p), _argmax(p_fun)))
            p_utt = model.predict_features(feats, speakers=None)
            p_utt_fused = model.fuse(p_utt, base[c], None) if model.fused else None
            results["rows"].append(_row(f"cross-corpus: {corpus} (no speaker baseline)", c, y, p_utt.argmax(1), None, _argmax(p_utt_fused)))
    results["speed"] = inference_speed(model, train_fs.paths[:40])
    results["seconds"] = round(time.time() - t0)
    results["command"] = (f"python scripts/eval_emotion.py --model {args.model}" + (f" --cv-epochs {args.cv_epochs}" if args.cv_epochs else "")
                          + (" --attach-fusion" if args.attach_fusion else ""))
    write_reports(folder, results)
    return 0


def cv_network_probs(train_fs, folds, recipe: dict, cv_epochs: int, seed: int) -> dict[str, np.ndarray]:
    """Out-of-fold CNN probabilities ``{condition: (n, 4)}``: one network trained per fold; cached under /tmp."""
    path = CACHE / f"{recipe['name']}-cv{len(folds)}x{cv_epochs}ep-seed{seed}-oof.npz"
    if path.exists():
        data = np.load(path)
        return {c: data[c] for c in CONDITIONS}
    t0 = time.time()
    out = {c: np.zeros((len(train_fs.paths), len(LABELS))) for c in CONDITIONS}
    for f, test_idx in enumerate(folds):
        train_idx = np.setdiff1d(np.arange(len(train_fs.paths)), test_idx)
        print(f"fold {f + 1}/{len(folds)}: test speakers {sorted(set(train_fs.speakers[i] for i in test_idx))}", flush=True)
        trained = fit(train_fs, train_idx, epochs=cv_epochs, seed=seed + f, steps_per_epoch=recipe["steps_per_epoch"],
                      crop_frames=recipe["crop_frames"], progress=False)
        spk = [train_fs.speakers[i] for i in test_idx]
        for c in CONDITIONS:
            feats = _features(train_fs, test_idx, c)
            out[c][test_idx] = predict_features(trained, feats, speaker_stats(feats, spk))
        print(f"  done ({time.time() - t0:.0f} s)", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)
    return out


def write_reports(folder: Path, results: dict) -> None:
    """evaluation.json, evaluation.md and the metrics section of MODEL_CARD.md (``--report-only`` redoes the last two)."""
    md = to_markdown(results)
    (folder / "evaluation.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    (folder / "evaluation.md").write_text(md, encoding="utf-8")
    card = folder / "MODEL_CARD.md"
    card.write_text(replace_metrics(card.read_text(encoding="utf-8"), md), encoding="utf-8")
    print(md)


def inference_speed(model, paths: list[str]) -> dict:
    """Seconds of CPU time (one thread) per minute of turn audio for score_turns, at 8 and 16 kHz.

    Turns: the given clips concatenated into one 2-minute stream per party, cut into turns of 1-9 s.
    """
    from analyzer.emotion import score_turns

    audio = np.concatenate([read_clip(p)[0] for p in paths])
    out = {}
    for rate in (8000, 16000):
        x = augment.resample(audio, 16000, rate)
        x = np.tile(x, int(np.ceil(240 * rate / x.size)))[: 240 * rate]
        rng = np.random.default_rng(0)
        clips, speakers, pos = [], [], 0
        while pos < x.size:
            n = int(rng.uniform(1.0, 9.0) * rate)
            clips.append(x[pos : pos + n])
            speakers.append("agent" if len(clips) % 2 else "customer")
            pos += n
        score_turns(model, clips[:4], rate, speakers[:4])  # warm-up
        t = time.process_time()
        score_turns(model, clips, rate, speakers)
        seconds = time.process_time() - t
        out[f"{rate}_hz_s_per_audio_min"] = round(seconds / (x.size / rate / 60), 3)
    return out


def _argmax(p):
    return None if p is None else p.argmax(1)


def _row(test: str, condition: str, y, pred, base, fused=None, functionals_only=None) -> dict:
    """``uar``/``confusion``: network alone; ``fused_*``: network + functionals (the shipped model); ``baseline_*``: SVM."""
    row = {"test": test, "condition": condition, "n": int(len(y)), "classes": [LABELS[k] for k in sorted(set(y.tolist()))],
           "uar": round(uar(y, pred), 3), "confusion": confusion(y, pred)}
    for key, value in (("fused", fused), ("functionals_lr", functionals_only), ("baseline", base)):
        if value is not None:
            row[f"{key}_uar"] = round(uar(y, value), 3)
            row[f"{key}_confusion"] = confusion(y, value)
    return row


def to_markdown(results: dict) -> str:
    def cell(r, key):
        return f"{r[key]:.3f}" if key in r else "-"

    def arousal_cell(r, key):
        return f"{arousal_uar(r[key]):.3f}" if key in r else "-"

    fusion = results.get("fusion") or {}
    lines = [f"Model `{results['model']}` ({results['licence']}). UAR = mean recall over the classes present; chance = 1/number of classes.",
             f"CV folds retrain the network with {results.get('cv_epochs', 'the recipe')} epochs and refit the functionals part "
             f"and the SVM on the training folds. Reproduce: `{results['command']}`.", "",
             "Columns: **fused** = the shipped model (network + functionals classifier, weighted geometric mean of their "
             "probabilities); CNN = the network alone; functionals LR = the functionals classifier alone; baseline = "
             "functionals + RBF-SVM. Arousal columns: the same predictions collapsed to high (angry, happy) vs low "
             "(neutral, sad), 2-class UAR.", ""]
    if fusion:
        lines += [f"Network weight w (p = p_net^w p_fun^(1-w)): chosen per CV fold on the other folds' out-of-fold predictions "
                  f"({fusion['fold_network_weights']}); the shipped model uses {fusion['network_weight_all_folds']}, chosen on all "
                  f"folds' out-of-fold predictions of the training corpora. Mean CV UAR by w: "
                  + ", ".join(f"{k}: {v:.3f}" for k, v in fusion["cv_mean_uar_by_network_weight"].items()) + ".", ""]
    lines += ["| test | audio | n | classes | fused UAR | CNN UAR | functionals LR UAR | baseline UAR (functionals+SVM) "
              "| fused arousal UAR | CNN arousal UAR | baseline arousal UAR |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["rows"]:
        lines.append(f"| {r['test']} | {r['condition']} | {r['n']} | {len(r['classes'])} | {cell(r, 'fused_uar')} | {r['uar']:.3f} "
                     f"| {cell(r, 'functionals_lr_uar')} | {cell(r, 'baseline_uar')} | {arousal_cell(r, 'fused_confusion')} "
                     f"| {arousal_uar(r['confusion']):.3f} | {arousal_cell(r, 'baseline_confusion')} |")
    if "speed" in results:
        sp = results["speed"]
        lines += ["", f"Inference speed (score_turns, one thread, CPU time incl. features and functionals): {sp['8000_hz_s_per_audio_min']} s "
                  f"per minute of 8 kHz turn audio, {sp['16000_hz_s_per_audio_min']} s per minute at 16 kHz."]
    lines += ["", "Confusion matrices of the fused model (rows = true, columns = predicted; order " + ", ".join(LABELS) + "):", ""]
    for r in results["rows"]:
        if "no speaker" in r["test"]:
            continue
        lines.append(f"- {r['test']}, {r['condition']}: `{r.get('fused_confusion', r['confusion'])}`")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
