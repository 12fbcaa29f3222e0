"""What stricter settings would cost on the OUT-OF-FOLD training-corpus calls (research; chooses nothing).

    python scripts/research/emotion_decision/oof_costs.py --model multi

Reads the cached calls of scripts/tune_emotion_decision_oof.py (run it first), scores them with the fold heads and
prints, for the model's configured decision layer: per angry floor (uncertain_angry_below) the per-turn UAR, angry
recall and false angry share; and the sign accuracy of customer_turnaround on the trajectory calls for the configured
layer and for the raw model (relative head only, flat prior, T = 1, no uncertain label).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from analyzer.config import EmotionConfig  # noqa: E402
from analyzer.emotion import load_model  # noqa: E402
from analyzer.emotion.functionals import uar  # noqa: E402
from analyzer.emotion.scoring import decide  # noqa: E402
import tune_emotion_decision_oof as oof  # noqa: E402
from tune_emotion_decision import decided_call  # noqa: E402

RAW = {"relative_weight": 1.0, "prior": (0.25,) * 4, "temperature": 1.0, "uncertain_below": 0.0, "uncertain_angry_below": 0.0}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="multi")
    args = ap.parse_args()
    model = load_model(args.model)
    fold_of = oof.speaker_fold_of(oof.TRAINING)
    calls = oof.record_calls(oof.design_calls(oof.TRAINING, 12, fold_of), args.model)
    ev = oof.evidence_calls(calls, oof.fold_heads(model, fold_of), out_of_fold=True)
    layer = {k: v for k, v in EmotionConfig().decision_for(model.config).items() if k != "absolute_reference"}
    p_rel, p_abs, y, _, _ = oof.labelled_arrays(ev)
    print(f"{args.model}, configured layer {layer}; {len(y)} labelled turns of {len(ev)} out-of-fold calls")
    print("| angry floor | UAR | angry recall | false angry (neutral turns) |\n|---|---|---|---|")
    for floor in (0.6, 0.7, 0.8, 0.85, 0.9, 0.95):
        _, labels, _ = decide(p_rel, p_abs, **{**layer, "uncertain_angry_below": floor})
        print(f"| {floor} | {uar(y, labels):.3f} | {np.mean(labels[y == 2] == 2):.3f} | {np.mean(labels[y == 0] == 2):.3f} |")
    for name, decision in (("configured", layer), ("raw", RAW)):
        want = {"turnaround": 1, "escalation": -1}
        rows = [(c["trajectory"], decided_call(c, decision)["metrics"].get("customer_turnaround")) for c in ev
                if c["trajectory"] in want]
        right = sum(1 for t, v in rows if v is not None and np.sign(v) == want[t])
        print(f"turnaround sign right, {name}: {right}/{len(rows)} = {right / len(rows):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
