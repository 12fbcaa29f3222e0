#!/usr/bin/env python3
"""Post-processing sweep of a saved overlap MLP (study.py --save) on cached calls: thresholds, smoothing, minimum run,
and a breakdown of the false interruptions.

    OMP_NUM_THREADS=1 python scripts/research/mono_overlap/sweep.py --model /work/ovl_cache/mlp_all_s11.pt --seed 5
"""
from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import study  # noqa: E402
from analyzer.intervals import Segment  # noqa: E402
from analyzer.turns import analyse_conversation  # noqa: E402


def predictions(model_path: str, seed: int, conditions):
    cache = Path(model_path).with_suffix(f".pred_s{seed}.pkl")
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    import torch

    saved = torch.load(model_path, weights_only=False)
    hidden = tuple(int(h) for h in saved["hidden"].split(","))
    layers, d = [], len(saved["mean"])
    for h in hidden:
        layers += [torch.nn.Linear(d, h), torch.nn.ReLU()]
        d = h
    layers.append(torch.nn.Linear(d, 1))
    net = torch.nn.Sequential(*layers)
    net.load_state_dict(saved["state"])
    net.eval()
    out = {}
    for cond in conditions:
        items = []
        for name, z, meta in study.calls(seed, (cond,)):
            X, y, rows = study.design(z, meta, saved["variant"])
            with torch.inference_mode():
                p = torch.sigmoid(net(torch.from_numpy(((X - saved["mean"]) / saved["std"]).astype(np.float32))).squeeze(1)).numpy()
            items.append((meta, p, rows, len(z["speech"]), z["truth_a"] & z["truth_c"]))
        out[cond] = items
    cache.write_bytes(pickle.dumps(out))
    return out


def breakdown(items, thr, smooth_s, min_s):
    """Each detected interruption: matched / wrong speaker / true overlap there but no true interruption / no overlap."""
    kinds = {"matched": 0, "wrong_speaker": 0, "overlap_no_interruption": 0, "backchannel_there": 0, "no_overlap": 0}
    for meta, p, rows, n, y in items:
        runs = study.overlap_runs(p, rows, n, thr, smooth_s=smooth_s, min_s=min_s)
        final = study.attribute(study.segs(meta["diarized"]), runs)
        conv = analyse_conversation(final, study.CONFIG.turns)
        truth = meta["truth"]
        ti = [(e["speaker"], e["start_s"]) for e in truth["interruptions"]]
        tb = [(e["speaker"], e["start_s"]) for e in truth["backchannels"]]
        for e in conv.events:
            if e.kind != "interruption":
                continue
            if any(s == e.speaker and abs(t - e.start_s) <= 0.5 for s, t in ti):
                kinds["matched"] += 1
            elif any(abs(t - e.start_s) <= 0.5 for s, t in ti):
                kinds["wrong_speaker"] += 1
            elif any(abs(t - e.start_s) <= 0.7 for s, t in tb):
                kinds["backchannel_there"] += 1
            elif y[int(e.start_s / 0.01): int(e.end_s / 0.01) + 1].any():
                kinds["overlap_no_interruption"] += 1
            else:
                kinds["no_overlap"] += 1
    return kinds


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--conditions", default="original,hard-cases")
    ap.add_argument("--thresholds", default="0.3,0.4,0.5,0.6,0.7")
    ap.add_argument("--smooth", default="0.11")
    ap.add_argument("--min", default="0.2")
    ap.add_argument("--breakdown", action="store_true")
    ap.add_argument("--low", default="none")
    ap.add_argument("--shrink", default="0")
    args = ap.parse_args()
    preds = predictions(args.model, args.seed, args.conditions.split(","))
    for cond, items in preds.items():
        print(f"\n[{Path(args.model).stem} seed {args.seed} {cond}]")
        print("| smooth_s | min_s | low | shrink_s | threshold | interruptions P | R | det/true | overlap frames P / R | backchannels P / R |")
        print("|---|---|---|---|---|---|---|---|")
        for sm in map(float, args.smooth.split(",")):
            for mn in map(float, args.min.split(",")):
              for low in [None if v == "none" else float(v) for v in args.low.split(",")]:
               for sh in map(float, args.shrink.split(",")):
                for thr in map(float, args.thresholds.split(",")):
                    s, (fp, fr) = study.score_events(items, thr, smooth_s=sm, min_s=mn, low=low, shrink_s=sh)
                    ip, ir = s.get("interruption_precision"), s.get("interruption_recall") or 0
                    print(f"| {sm} | {mn} | {low} | {sh} | {thr} | {'-' if ip is None else f'{ip:.2f}'} | {ir:.2f} | {s['interruption_detected']} | "
                          f"{fp:.2f} / {fr:.2f} | {s['backchannel_precision'] or 0:.2f} / {s['backchannel_recall']:.2f} |", flush=True)
                    if args.breakdown:
                        print("   ", breakdown(items, thr, sm, mn))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def missed(items, thr, smooth_s, min_s):
    """Each true interruption: found / found with the other speaker / a run covers it but no interruption event /
    no run, split by the true overlap's length."""
    kinds = {}
    for meta, p, rows, n, y in items:
        runs = study.overlap_runs(p, rows, n, thr, smooth_s=smooth_s, min_s=min_s)
        final = study.attribute(study.segs(meta["diarized"]), runs)
        conv = analyse_conversation(final, study.CONFIG.turns)
        found = [e for e in conv.events if e.kind == "interruption"]
        for t in meta["truth"]["interruptions"]:
            ov = t.get("overlap_s", None)
            if any(e.speaker == t["speaker"] and abs(e.start_s - t["start_s"]) <= 0.5 for e in found):
                k = "found"
            elif any(abs(e.start_s - t["start_s"]) <= 0.5 for e in found):
                k = "other_speaker"
            elif any(a < t["start_s"] + 1.0 and b > t["start_s"] - 0.2 for a, b in runs):
                k = "run_but_no_event"
            else:
                k = "no_run"
            kinds.setdefault(k, []).append(ov)
    return {k: (len(v), v[:12]) for k, v in kinds.items()}
