#!/usr/bin/env python3
"""Overlap-detector study on cached simulated mono calls (build.py): fit a frame classifier on training seeds,
pick a threshold on the validation seed, score interruptions with eval_pacing's scorer.

    OMP_NUM_THREADS=1 python scripts/research/mono_overlap/study.py --train 11,12 --val 5 [--report 1]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from analyzer.config import AnalysisConfig  # noqa: E402
from analyzer.intervals import AGENT, CUSTOMER, Segment, frames_to_segments, segments_to_frames, smooth_frames  # noqa: E402
import overlap as o  # noqa: E402
from eval_pacing import Tally  # noqa: E402

CACHE = Path(os.environ.get("OVERLAP_CACHE", "/work/ovl_cache"))  # build.py --out
CONFIG = AnalysisConfig().replace(emotion={"enabled": False}, prosody={"enabled": False})


def calls(seed: int, conditions=("original", "hard-cases")):
    for c in conditions:
        for p in sorted(CACHE.glob(f"{c}_s{seed}_*.npz")):
            z = np.load(p)
            meta = json.loads(p.with_suffix(".json").read_text())
            yield p.stem, z, meta


def segs(dicts):
    return [Segment(d["start_s"], d["end_s"], d["speaker"]) for d in dicts]


def design(z, meta, variant):
    """The product's design matrix (analyzer.overlap.design_matrix) of a cached call's speech frames."""
    speech = z["speech"]
    feats = o.fill_pitch(z["feats"].astype(np.float32), speech)
    if "z" in variant:  # every feature z-scored over the call's speech frames (voice-independent scale)
        f = feats[speech]
        feats[speech] = (f - f.mean(0)) / (f.std(0) + 1e-6)
    rows = np.flatnonzero(speech)
    change = o.change_features(segs(meta["diarized"]), len(speech))
    if "ch" not in variant:
        change = np.zeros_like(change)
    X = o.design_matrix(feats, change, rows)
    y = (z["truth_a"] & z["truth_c"])[rows]
    return X, y, rows


def fit_mlp(X, y, *, hidden=(128, 64), epochs=4, seed=0):
    import torch

    torch.manual_seed(seed)
    mean, std = X.mean(0), X.std(0) + 1e-6
    Xt = torch.from_numpy(((X - mean) / std).astype(np.float32))
    yt = torch.from_numpy(y.astype(np.float32))
    layers, d = [], X.shape[1]
    for h in hidden:
        layers += [torch.nn.Linear(d, h), torch.nn.ReLU()]
        d = h
    layers.append(torch.nn.Linear(d, 1))
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-5)
    pos = float(y.mean())
    lossf = torch.nn.BCEWithLogitsLoss()
    g = torch.Generator().manual_seed(seed)
    for ep in range(epochs):
        perm = torch.randperm(len(Xt), generator=g)
        tot = 0.0
        for i in range(0, len(perm), 512):
            b = perm[i : i + 512]
            opt.zero_grad()
            loss = lossf(net(Xt[b]).squeeze(1), yt[b])
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(b)
        print(f"  epoch {ep} loss {tot / len(perm):.4f} (pos {pos:.3f})", flush=True)
    net.eval()

    def predict(Xn):
        with torch.inference_mode():
            return torch.sigmoid(net(torch.from_numpy(((Xn - mean) / std).astype(np.float32))).squeeze(1)).numpy()

    return predict, (net, mean, std)


def auc(score, y):
    from sklearn.metrics import roc_auc_score, average_precision_score

    return roc_auc_score(y, score), average_precision_score(y, score)


def overlap_runs(p, rows, n, thr, *, smooth_s=0.11, min_s=0.2, low=None, shrink_s=0.0):
    full = np.zeros(n, np.float32)
    full[rows] = p
    mask = np.zeros(n, bool)
    mask[rows] = True
    runs = [(r.start_s + shrink_s, r.end_s - shrink_s) for r in o.overlap_runs(full, mask, threshold=thr, smooth_s=smooth_s,
                                                                                 min_s=0.0, low_threshold=low)]
    return [(a, b) for a, b in runs if b - a >= min_s - 1e-9]


RUN_GAP_S = 0.2


def attribute(diarized, runs):
    return o.attribute_overlap(diarized, [Segment(a, b) for a, b in runs], min_silence_s=0.2, run_gap_s=RUN_GAP_S)


def score_events(items, thr, **kw):
    """items: [(meta, p, rows, n)] -> (tally summary, overlap-frame P/R)"""
    tally = Tally()
    tp = det = tru = 0
    for meta, p, rows, n, yfull in items:
        d = segs(meta["diarized"])
        runs = overlap_runs(p, rows, n, thr, **kw) if thr is not None else []
        final = attribute(d, runs)
        tally.add(meta["truth"], final, CONFIG)
        m = segments_to_frames(runs and [Segment(a, b) for a, b in runs] or [], n, 0.01)
        tp += int(np.sum(m & yfull)); det += int(m.sum()); tru += int(yfull.sum())
    s = tally.summary()
    c = tally.event_counts.get("interruption", [0, 0, 0, 0])
    s["interruption_detected"] = f"{c[3]}/{c[1]}"
    return s, (tp / max(det, 1), tp / max(tru, 1))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", default="11,12")
    ap.add_argument("--val", default="5")
    ap.add_argument("--report", default="")
    ap.add_argument("--variant", default="ac+ch")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--hidden", default="128,64")
    ap.add_argument("--thresholds", default="0.2,0.3,0.4,0.5,0.6,0.7,0.8")
    ap.add_argument("--save")
    ap.add_argument("--train-corpus", default="", help="emodb: train on the EmoDB-only calls; ',emodb': on both")
    ap.add_argument("--smooth-s", type=float, default=0.11)
    ap.add_argument("--min-s", type=float, default=0.2)
    args = ap.parse_args()
    variant = args.variant.split("+")
    Xs, ys = [], []
    for seed in map(int, args.train.split(",")):
        suffixes = [f"-{c}" if c else "" for c in args.train_corpus.split(",")]
        for name, z, meta in calls(seed, tuple(f"{c}{sfx}" for sfx in suffixes for c in ("original", "hard-cases"))):
            X, y, _ = design(z, meta, variant)
            Xs.append(X); ys.append(y)
    X, y = np.concatenate(Xs), np.concatenate(ys)
    print(f"train frames {len(y)}, overlap share {y.mean():.3f}, dims {X.shape[1]}", flush=True)
    t0 = time.process_time()
    predict, model = fit_mlp(X, y, hidden=tuple(int(h) for h in args.hidden.split(",")), epochs=args.epochs)
    print(f"fit {time.process_time() - t0:.1f} s CPU", flush=True)
    if args.save:
        import torch
        torch.save({"state": model[0].state_dict(), "mean": model[1], "std": model[2], "variant": variant,
                    "hidden": args.hidden}, args.save)
    for label, seeds in (("val", args.val), ("report", args.report)):
        if not seeds:
            continue
        for cond in ("original", "hard-cases"):
            items, allp, ally = [], [], []
            for seed in map(int, seeds.split(",")):
                for name, z, meta in calls(seed, (cond,)):
                    Xv, yv, rows = design(z, meta, variant)
                    p = predict(Xv)
                    allp.append(p); ally.append(yv)
                    items.append((meta, p, rows, len(z["speech"]), z["truth_a"] & z["truth_c"]))
            if not items:
                continue
            a, ap_ = auc(np.concatenate(allp), np.concatenate(ally))
            print(f"\n[{label} seeds {seeds} {cond}] frame AUC {a:.3f} AP {ap_:.3f} (overlap share {np.concatenate(ally).mean():.3f})")
            print("| threshold | interruptions P | R | det | overlap frames P | R | backchannel P / R | missed changes | within 100 ms |")
            for thr in [None] + [float(t) for t in args.thresholds.split(",")]:
                s, (fp, fr) = score_events(items, thr, smooth_s=args.smooth_s, min_s=args.min_s)
                ip, ir = s.get("interruption_precision"), s.get("interruption_recall")
                print(f"| {thr} | {'-' if ip is None else f'{ip:.2f}'} | {ir or 0:.2f} | {s.get('interruption_detected', '')} | {fp:.2f} | {fr:.2f} | "
                      f"{s['backchannel_precision'] or 0:.2f} / {s['backchannel_recall']:.2f} | {s['missed_changes_share']:.3f} | {s['fto_within_100ms_share']:.3f} |",
                      flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
