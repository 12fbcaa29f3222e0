"""Evaluate an emotion model recipe honestly, beside a classic functionals + SVM baseline.

    python scripts/eval_emotion.py --model open     # or multi

1. Speaker-independent cross-validation within the training corpora (folds grouped by
   speaker; the network is retrained per fold with a shorter schedule, see --cv-epochs).
2. Cross-corpus tests of the shipped model (models/<name>) on TESS and TurEV, which are
   never trained on.
Each condition is scored on the original 16 kHz audio and through a simulated telephone
channel (8 kHz, 300-3400 Hz, 8-bit mu-law). Speaker normalisation uses each test
speaker's clips in the same condition (as a call gives all turns of a speaker).
Metrics: UAR (mean recall over the classes present) and confusion matrices.
Writes models/<name>/evaluation.{md,json} and the metrics section of MODEL_CARD.md.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analyzer.emotion import augment  # noqa: E402
from analyzer.emotion.card import replace_metrics  # noqa: E402
from analyzer.emotion.corpora import EVAL_ONLY  # noqa: E402
from analyzer.emotion.features import speaker_stats  # noqa: E402
from analyzer.emotion.model import load_model  # noqa: E402
from analyzer.emotion.training import (LABELS, RECIPES, cached_corpus_features, concat_features, fit,  # noqa: E402
                                       predict_features, read_clip)

CACHE = Path("/tmp/call-analyzer-emotion-cache")
CONDITIONS = ("16k", "8k-mulaw")


# ---------------------------------------------------------------- baseline: functionals + SVM

def functionals(clip_8k: np.ndarray) -> np.ndarray:
    """eGeMAPS-like functionals of an 8 kHz clip (F0, loudness, spectral shape, MFCC, jitter/shimmer-ish, HNR)."""
    import librosa
    import parselmouth

    snd = parselmouth.Sound(clip_8k.astype(np.float64), sampling_frequency=8000)
    f0 = snd.to_pitch(time_step=0.01, pitch_floor=75, pitch_ceiling=500).selected_array["frequency"]
    voiced = f0[f0 > 0]
    st = 12 * np.log2(voiced / 100.0) if voiced.size > 2 else np.zeros(3)
    f0_feats = [st.mean(), st.std(), *np.percentile(st, [10, 50, 90]), voiced.size / max(f0.size, 1)]
    periods = 1.0 / voiced if voiced.size > 2 else np.ones(3)
    jitter = np.mean(np.abs(np.diff(periods))) / np.mean(periods)
    hnr = snd.to_harmonicity_cc(time_step=0.01, minimum_pitch=75).values
    hnr = hnr[hnr > -100]
    hnr_feats = [hnr.mean() if hnr.size else 0.0, hnr.std() if hnr.size else 0.0]
    rms = librosa.feature.rms(y=clip_8k, frame_length=200, hop_length=80)[0]
    db = 20 * np.log10(rms + 1e-6)
    act = db > db.max() - 35
    shimmer = np.mean(np.abs(np.diff(db[act]))) if act.sum() > 2 else 0.0
    loud = [db[act].mean(), db[act].std(), *np.percentile(db[act], [10, 50, 90]), act.mean(), shimmer]
    spec = np.abs(librosa.stft(clip_8k, n_fft=256, hop_length=80, win_length=200)) ** 2
    spec = spec[:, act[: spec.shape[1]]] if act[: spec.shape[1]].sum() > 2 else spec
    freqs = librosa.fft_frequencies(sr=8000, n_fft=256)
    band = (freqs > 250) & (freqs < 3600)
    logspec = 10 * np.log10(spec[band] + 1e-10)
    slope = np.polyfit(freqs[band] / 1000.0, logspec, 1)[0]
    centroid = librosa.feature.spectral_centroid(S=spec, sr=8000)[0]
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(librosa.feature.melspectrogram(S=spec, sr=8000, n_mels=40, fmin=250, fmax=3600)), n_mfcc=13)[1:]
    spectral = [slope.mean(), slope.std(), centroid.mean(), centroid.std()]
    out = np.concatenate([f0_feats, [jitter], hnr_feats, loud, spectral, mfcc.mean(axis=1), mfcc.std(axis=1)])
    return np.nan_to_num(out.astype(np.float64))


def baseline_features(corpus: str, paths: list[str]) -> dict[str, np.ndarray]:
    """Functionals of every clip in both conditions, cached under /tmp."""
    path = CACHE / f"{corpus}-functionals.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    print(f"baseline functionals for {corpus} ({len(paths)} clips)", flush=True)
    out = {c: [] for c in CONDITIONS}
    for p in paths:
        audio, rate = read_clip(p)
        audio = audio * (0.5 / (float(np.max(np.abs(audio))) or 1.0))
        out["16k"].append(functionals(augment.resample(audio, rate, 8000)))
        out["8k-mulaw"].append(functionals(augment.simulate_phone(audio, rate)))
    out = {c: np.array(v) for c, v in out.items()}
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(out))
    return out


def speaker_z(x: np.ndarray, speakers: list[str]) -> np.ndarray:
    """Functionals z-normalised per speaker (the baseline gets the same speaker baseline as the network)."""
    x = x.copy()
    for s in set(speakers):
        m = np.array([t == s for t in speakers])
        x[m] = (x[m] - x[m].mean(0)) / (x[m].std(0) + 1e-6)
    return x


def fit_svm(x_train: np.ndarray, y_train: np.ndarray):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return make_pipeline(StandardScaler(), SVC(C=1.0, kernel="rbf", class_weight="balanced")).fit(x_train, y_train)


# ---------------------------------------------------------------- metrics

def uar(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    present = sorted(set(y_true.tolist()))
    return float(np.mean([np.mean(y_pred[y_true == k] == k) for k in present]))


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
    parser.add_argument("--report-only", action="store_true", help="only rewrite evaluation.md and the card from evaluation.json")
    args = parser.parse_args(argv)
    if args.report_only:
        folder = REPO / "models" / RECIPES[args.model]["name"]
        write_reports(folder, json.loads((folder / "evaluation.json").read_text(encoding="utf-8")))
        return 0

    import torch

    torch.set_num_threads(1)
    recipe = RECIPES[args.model]
    folder = REPO / "models" / recipe["name"]
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
    else:
        cv_epochs = args.cv_epochs or max(1, int(round(recipe["epochs"] * 0.6)))
        results["cv_epochs"] = cv_epochs
        folds = speaker_folds(train_fs.speakers, args.folds)
        pred = {c: np.zeros(len(train_fs.paths), dtype=int) for c in CONDITIONS}
        base_pred = {c: np.zeros(len(train_fs.paths), dtype=int) for c in CONDITIONS}
        for f, test_idx in enumerate(folds):
            train_idx = np.setdiff1d(np.arange(len(train_fs.paths)), test_idx)
            print(f"fold {f + 1}/{args.folds}: test speakers {sorted(set(train_fs.speakers[i] for i in test_idx))}", flush=True)
            trained = fit(train_fs, train_idx, epochs=cv_epochs, seed=args.seed + f, steps_per_epoch=recipe["steps_per_epoch"], crop_frames=recipe["crop_frames"], progress=False)
            spk = [train_fs.speakers[i] for i in test_idx]
            spk_train = [train_fs.speakers[i] for i in train_idx]
            xb_train = np.concatenate([speaker_z(base_train[c][train_idx], spk_train) for c in CONDITIONS])
            svm = fit_svm(xb_train, np.concatenate([y_train_all[train_idx]] * len(CONDITIONS)))
            for c in CONDITIONS:
                feats = _features(train_fs, test_idx, c)
                pred[c][test_idx] = predict_features(trained, feats, speaker_stats(feats, spk)).argmax(1)
                base_pred[c][test_idx] = svm.predict(speaker_z(base_train[c][test_idx], spk))
            print(f"  done ({time.time() - t0:.0f} s): fold UAR 16k {uar(y_train_all[test_idx], pred['16k'][test_idx]):.3f}", flush=True)
        groups = [("all", np.arange(len(train_fs.paths)))] if len(recipe["corpora"]) > 1 else []
        groups += [(k, np.array([i for i, q in enumerate(train_fs.corpora) if q == k])) for k in recipe["corpora"]]
        for name, idx in groups:
            for c in CONDITIONS:
                results["rows"].append(_row(f"CV {args.folds}-fold by speaker: {name}", c, y_train_all[idx], pred[c][idx], base_pred[c][idx]))

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
            p = model.predict_features(feats, speakers=fs.speakers).argmax(1)
            b = svm_all.predict(speaker_z(base[c], fs.speakers))
            results["rows"].append(_row(f"cross-corpus: {corpus}", c, y, p, b))
            p_utt = model.predict_features(feats, speakers=None).argmax(1)
            results["rows"].append(_row(f"cross-corpus: {corpus} (no speaker baseline)", c, y, p_utt, None))
    results["speed"] = inference_speed(model, train_fs.paths[:40])
    results["seconds"] = round(time.time() - t0)
    results["command"] = f"python scripts/eval_emotion.py --model {args.model}" + (f" --cv-epochs {args.cv_epochs}" if args.cv_epochs else "")
    write_reports(folder, results)
    return 0


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


def _row(test: str, condition: str, y, pred, base) -> dict:
    row = {"test": test, "condition": condition, "n": int(len(y)), "classes": [LABELS[k] for k in sorted(set(y.tolist()))],
           "uar": round(uar(y, pred), 3), "confusion": confusion(y, pred)}
    if base is not None:
        row["baseline_uar"] = round(uar(y, base), 3)
        row["baseline_confusion"] = confusion(y, base)
    return row


def to_markdown(results: dict) -> str:
    lines = [f"Model `{results['model']}` ({results['licence']}). UAR = mean recall over the classes present; chance = 1/number of classes.",
             f"CV folds retrain the network with {results.get('cv_epochs', 'the recipe')} epochs. Reproduce: `{results['command']}`.", "",
             "Arousal columns: the same predictions collapsed to high (angry, happy) vs low (neutral, sad), 2-class UAR.", "",
             "| test | audio | n | classes | CNN UAR | baseline UAR (functionals+SVM) | CNN arousal UAR | baseline arousal UAR |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results["rows"]:
        base = f"{r['baseline_uar']:.3f}" if "baseline_uar" in r else "-"
        base_ar = f"{arousal_uar(r['baseline_confusion']):.3f}" if "baseline_confusion" in r else "-"
        lines.append(f"| {r['test']} | {r['condition']} | {r['n']} | {len(r['classes'])} | {r['uar']:.3f} | {base} "
                     f"| {arousal_uar(r['confusion']):.3f} | {base_ar} |")
    if "speed" in results:
        sp = results["speed"]
        lines += ["", f"Inference speed (score_turns, one thread, CPU time incl. features): {sp['8000_hz_s_per_audio_min']} s "
                  f"per minute of 8 kHz turn audio, {sp['16000_hz_s_per_audio_min']} s per minute at 16 kHz."]
    lines += ["", "Confusion matrices of the CNN (rows = true, columns = predicted; order " + ", ".join(LABELS) + "):", ""]
    for r in results["rows"]:
        if "no speaker" in r["test"]:
            continue
        lines.append(f"- {r['test']}, {r['condition']}: `{r['confusion']}`")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
