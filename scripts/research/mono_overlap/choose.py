#!/usr/bin/env python3
"""Pick the post-processing of a saved overlap MLP on the validation seed (never the report seed), then score it on
the report seed, and print the report seed's precision-recall curve over the threshold.

Rule, fixed before any report-seed run: over the grid, maximise min(P_o / 0.7, R_o / 0.5, P_h / 0.7, R_h / 0.5)
(o = original recipe, h = hard cases; the bar is P >= 0.7 at R >= 0.5 in both), ties to the higher precision.

    OMP_NUM_THREADS=1 python scripts/research/mono_overlap/choose.py --model /work/ovl_cache/mlp_emodb_s11_12.pt --val 5 --report 1
"""
from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import study  # noqa: E402
import sweep  # noqa: E402

GRID = {"gap": (0.2, 0.3), "low": (None, 0.25, 0.4), "min": (0.3, 0.4, 0.5), "thr": (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)}
CONDITIONS = ("original", "hard-cases")


def score(preds, gap, low, mn, thr):
    study.RUN_GAP_S = gap
    out = {}
    for cond in CONDITIONS:
        s, (fp, fr) = study.score_events(preds[cond], thr, smooth_s=0.11, min_s=mn, low=low)
        out[cond] = (s["interruption_precision"] or 0.0, s["interruption_recall"] or 0.0, s["interruption_detected"],
                     fp, fr, s["backchannel_precision"] or 0.0, s["backchannel_recall"] or 0.0, s["missed_changes_share"])
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--val", type=int, default=5)
    ap.add_argument("--report", type=int, default=0)
    args = ap.parse_args()
    val = sweep.predictions(args.model, args.val, CONDITIONS)
    best = None
    for gap, low, mn, thr in itertools.product(*GRID.values()):
        if low is not None and low >= thr:
            continue
        r = score(val, gap, low, mn, thr)
        key = (min(r["original"][0] / 0.7, r["original"][1] / 0.5, r["hard-cases"][0] / 0.7, r["hard-cases"][1] / 0.5),
               min(r["original"][0], r["hard-cases"][0]))
        if best is None or key > best[0]:
            best = (key, (gap, low, mn, thr), r)
    (key, (gap, low, mn, thr), r) = best
    name = Path(args.model).stem
    print(f"{name}: chosen on seed {args.val}: run_gap_s {gap}, low {low}, min_s {mn}, threshold {thr} (score {key[0]:.3f})")
    for cond in CONDITIONS:
        p, rec, det, fp, fr, bp, br, miss = r[cond]
        print(f"  val {cond}: interruptions P {p:.2f} R {rec:.2f} ({det}); overlap frames P {fp:.2f} R {fr:.2f}; "
              f"backchannels {bp:.2f}/{br:.2f}; missed changes {miss:.3f}")
    if not args.report:
        return 0
    rep = sweep.predictions(args.model, args.report, CONDITIONS)
    base = score(rep, 0.2, None, 0.2, 2.0)  # threshold above 1: no runs (the shipped nulls' segments)
    r = score(rep, gap, low, mn, thr)
    print(f"\n{name} on report seed {args.report} with the chosen setting:")
    print("| condition | interruptions P | R | detected/true | overlap frames P / R | backchannels P / R (none: ) | missed changes (none: ) |")
    print("|---|---|---|---|---|---|---|")
    for cond in CONDITIONS:
        p, rec, det, fp, fr, bp, br, miss = r[cond]
        b = base[cond]
        print(f"| {cond} | {p:.2f} | {rec:.2f} | {det} | {fp:.2f} / {fr:.2f} | {bp:.2f} / {br:.2f} ({b[5]:.2f} / {b[6]:.2f}) | "
              f"{miss:.1%} ({b[7]:.1%}) |")
    print(f"\nPrecision-recall curve on seed {args.report} over the threshold (run_gap_s {gap}, min_s {mn}, low {low} "
          "where below the threshold):")
    print("| threshold | original P | R | hard cases P | R |")
    print("|---|---|---|---|---|")
    for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
        rr = score(rep, gap, low if (low is not None and low < t) else None, mn, t)
        print(f"| {t} | {rr['original'][0]:.2f} | {rr['original'][1]:.2f} | {rr['hard-cases'][0]:.2f} | {rr['hard-cases'][1]:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
