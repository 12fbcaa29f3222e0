"""Capture the per-turn evidence (p_relative, p_absolute) of the real pipeline on simulated and real calls, so
the decision layer and the QA rules can be re-applied offline (research; no parameter is chosen here).

    python scripts/research/emotion_decision/capture.py --model open --set eval|train

eval  = the calls of scripts/eval_emotion_calls.py (TurEV + ASED, evaluation-only) and the two aws_lca calls;
train = the same kind of calls built from RAVDESS + nEMO (training corpora; the only set parameters may be
        chosen on). Output: /tmp/emo-diag/<model>-<set>.json, one entry per call: trajectory, corpus, the
        pipeline turns (speaker, start_s, end_s, true label of the overlapped true turn or None) with the
        evidence of the scored ones.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import analyzer.emotion.scoring as scoring  # noqa: E402
from analyzer.config import AnalysisConfig  # noqa: E402
from analyzer.pipeline import analyze_file  # noqa: E402
from callsim.emotion_calls import TRAJECTORIES, emotion_cohort, simulate_emotion_call, write_emotion_call  # noqa: E402

OUT = Path("/tmp/emo-diag")
CORPORA_ROOT = ROOT.parent / "shared" / "corpora"
TRAIN_SEEDS = {"ravdess": 6101, "nemo": 6202}


def build(corpora_seeds: dict, n: int, work: Path) -> list:
    out = []
    for corpus, seed in corpora_seeds.items():
        for k, trajectory in enumerate(TRAJECTORIES):
            for i, params in enumerate(emotion_cohort(corpus, trajectory, n, seed=seed + 10 * k)):
                name = f"{trajectory}_{i:03d}"
                wav = work / corpus / f"{name}.wav"
                if not (wav.exists() and (wav.parent / f"{name}.truth.json").exists()):
                    write_emotion_call(simulate_emotion_call(params, corpora_root=CORPORA_ROOT), wav.parent, name)
                out.append((corpus, trajectory, wav))
    return out


def true_label(turn: dict, truth: dict | None):
    if truth is None:
        return None
    best, best_overlap = None, 0.0
    for g in truth["turns"]:
        if g["speaker"] != turn["speaker"]:
            continue
        overlap = min(turn["end_s"], g["end_s"]) - max(turn["start_s"], g["start_s"])
        if overlap > best_overlap:
            best, best_overlap = g, overlap
    if best is not None and best_overlap >= 0.5 * (turn["end_s"] - turn["start_s"]):
        return best["label"]
    return None


def run(model: str, calls: list) -> list:
    captured = []
    original = scoring.turn_evidence

    def recording(*a, **kw):
        ids, rel, ab = original(*a, **kw)
        captured.append((ids, rel, ab))
        return ids, rel, ab

    scoring.turn_evidence = recording
    config = AnalysisConfig().replace(emotion={"model": model})
    out = []
    try:
        for corpus, trajectory, wav in calls:
            captured.clear()
            result = analyze_file(wav, config, call_id=wav.stem).to_dict()
            truth_path = wav.parent / f"{wav.stem}.truth.json"
            truth = json.loads(truth_path.read_text()) if truth_path.exists() else None
            turns = result["turns"]
            rows = []
            # the pipeline scores chunks in turn order; one chunk for these short calls
            assert len(captured) == 1, len(captured)
            ids, rel, ab = captured[0]
            ev = {i: (rel[k].tolist(), ab[k].tolist()) for k, i in enumerate(ids)}
            for j, t in enumerate(turns):
                r = {"speaker": t["speaker"], "start_s": t["start_s"], "end_s": t["end_s"], "truth": true_label(t, truth)}
                if j in ev:
                    r["p_relative"], r["p_absolute"] = ev[j]
                rows.append(r)
            out.append({"corpus": corpus, "trajectory": trajectory, "name": wav.stem, "turns": rows,
                        "customer_speech_s": truth["customer_speech_s"] if truth else None})
    finally:
        scoring.turn_evidence = original
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="open")
    ap.add_argument("--set", default="eval", choices=("eval", "train"))
    ap.add_argument("--calls", type=int, default=10)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    if args.set == "eval":
        import eval_emotion_calls as ev

        calls = ev.build_calls(args.calls)
        calls += [("aws_lca", "real", CORPORA_ROOT / "calls" / "aws_lca" / f"{n}.flac") for n in ev.AWS_CALLS]
    else:
        calls = build(TRAIN_SEEDS, args.calls, Path("/tmp/emo-diag/train-calls"))
    data = run(args.model, calls)
    (OUT / f"{args.model}-{args.set}.json").write_text(json.dumps(data))
    print(f"{args.model} {args.set}: {len(data)} calls, {sum(len(c['turns']) for c in data)} turns")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
