#!/usr/bin/env python3
"""Second stage (study): score each interruption the overlap runs create, with a logistic regression fitted on
cross-fitted frame probabilities of the training calls; drop the runs whose interruption scores low.

    OMP_NUM_THREADS=1 python scripts/research/mono_overlap/rescore.py --train 11 --train-corpus emodb --val 5
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import study  # noqa: E402
from analyzer.intervals import Segment  # noqa: E402
from analyzer.turns import analyse_conversation  # noqa: E402

VARIANT = ["ac", "ch"]


def load(seeds, suffix):
    out = []
    for seed in seeds:
        for name, z, meta in study.calls(seed, (f"original{suffix}", f"hard-cases{suffix}")):
            X, y, rows = study.design(z, meta, VARIANT)
            out.append((name, X, y, rows, len(z["speech"]), z["truth_a"] & z["truth_c"], meta))
    return out


def event_rows(meta, p, rows, n, post):
    """(features, label, run index) per interruption event the runs create."""
    runs = study.overlap_runs(p, rows, n, post["thr"], smooth_s=post["smooth"], min_s=post["min"], low=post["low"])
    diar = study.segs(meta["diarized"])
    final = study.attribute(diar, runs)
    conv = analyse_conversation(final, study.CONFIG.turns)
    full = np.zeros(n, np.float32)
    full[rows] = p
    ti = [(e["speaker"], e["start_s"]) for e in meta["truth"]["interruptions"]]
    changes = sorted((a.end_s + b.start_s) / 2 for a, b in zip(sorted(diar), sorted(diar)[1:]) if a.speaker != b.speaker)
    out = []
    for e in conv.events:
        if e.kind != "interruption":
            continue
        k = next((i for i, (a, b) in enumerate(runs) if a <= e.start_s + 0.05 and b >= e.start_s - 0.25), None)
        if k is None:
            continue
        a, b = runs[k]
        seg = full[int(a / 0.01):int(b / 0.01)]
        listener = next((s for s in conv.segments if s.speaker == e.speaker and s.start_s <= e.start_s + 1e-6 <= s.end_s), None)
        dchange = min((abs(c - (a + b) / 2) for c in changes), default=5.0)
        feats = [b - a, e.end_s - e.start_s, float(seg.mean()) if len(seg) else 0, float(seg.max()) if len(seg) else 0,
                 (listener.duration_s if listener else 0.0), min(dchange, 3.0), 1.0 if e.outcome == "successful" else 0.0]
        label = any(s == e.speaker and abs(t - e.start_s) <= 0.5 for s, t in ti)
        out.append((feats, label, k))
    return out, runs, diar


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", default="11")
    ap.add_argument("--train-corpus", default="")
    ap.add_argument("--val", default="5")
    ap.add_argument("--thr", type=float, default=0.6)
    ap.add_argument("--low", type=float, default=0.25)
    ap.add_argument("--min", type=float, default=0.3)
    args = ap.parse_args()
    post = {"thr": args.thr, "low": args.low, "min": args.min, "smooth": 0.11}
    suffix = f"-{args.train_corpus}" if args.train_corpus else ""
    train = load([int(s) for s in args.train.split(",")], suffix)
    folds = [train[0::2], train[1::2]]
    ev_X, ev_y = [], []
    for f in (0, 1):
        fit_on, pred_on = folds[1 - f], folds[f]
        pred, _ = study.fit_mlp(np.concatenate([t[1] for t in fit_on]), np.concatenate([t[2] for t in fit_on]), epochs=4)
        for name, X, y, rows, n, yfull, meta in pred_on:
            for feats, label, _ in event_rows(meta, pred(X), rows, n, post)[0]:
                ev_X.append(feats); ev_y.append(label)
    from sklearn.linear_model import LogisticRegression

    ev_X, ev_y = np.array(ev_X), np.array(ev_y)
    print(f"training events {len(ev_y)}, true {ev_y.mean():.2f}")
    mu, sd = ev_X.mean(0), ev_X.std(0) + 1e-9
    lr = LogisticRegression(C=1.0, max_iter=1000).fit((ev_X - mu) / sd, ev_y)
    print("coef", np.round(lr.coef_[0], 2))
    pred, _ = study.fit_mlp(np.concatenate([t[1] for t in train]), np.concatenate([t[2] for t in train]), epochs=4)
    for cond in ("original", "hard-cases"):
        items = []
        for name, z, meta in study.calls(int(args.val), (cond,)):
            X, y, rows = study.design(z, meta, VARIANT)
            items.append((meta, pred(X), rows, len(z["speech"]), z["truth_a"] & z["truth_c"]))
        print(f"\n[{cond}, val seed {args.val}] | tau | interruptions P | R | det/true |")
        for tau in (None, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
            tally = study.Tally()
            for meta, p, rows, n, yfull in items:
                evs, runs, diar = event_rows(meta, p, rows, n, post)
                drop = set()
                if tau is not None:
                    for feats, _, k in evs:
                        if lr.predict_proba(((np.array([feats]) - mu) / sd))[0, 1] < tau:
                            drop.add(k)
                kept = [r for i, r in enumerate(runs) if i not in drop]
                tally.add(meta["truth"], study.attribute(diar, kept), study.CONFIG)
            s = tally.summary()
            c = tally.event_counts["interruption"]
            print(f"| {tau} | {s['interruption_precision'] or 0:.2f} | {s['interruption_recall']:.2f} | {c[3]}/{c[1]} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
