"""Why customer_ends_angry fired on calm calls and which aws_lca turns are angry (issue 13 diagnosis; research only).

    python scripts/research/emotion_decision/diagnose.py [--model open]

Runs the calls of scripts/eval_emotion_calls.py (TurEV + ASED, evaluation-only) and the two aws_lca calls through
the pipeline once (evidence cached in /tmp by tune_emotion_decision.pipeline_evidence), then re-applies the decision
layer offline and prints, per calm and escalation call, which trigger of the OLD default rule (end valence < -0.3,
or a last-two turn angry with p_angry >= 0.6, no angry floor) fired, the customer's mean p_angry over the last
third against the earlier turns (the new rule's evidence), and every scored aws_lca turn with its speaker-relative
and absolute evidence. Nothing here chooses a parameter: the choices are made on training-corpus calls by
``tune_emotion_decision.py --pipeline``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

import eval_emotion_calls as ev  # noqa: E402
import tune_emotion_decision as tune  # noqa: E402
from analyzer.config import EmotionConfig  # noqa: E402
from analyzer.emotion import load_model  # noqa: E402
from analyzer.metrics.emotion import customer_end_anger  # noqa: E402

OLD = {"relative_weight": 0.5, "prior": (0.4, 0.2, 0.2, 0.2), "temperature": 0.856, "uncertain_below": 0.4,
       "uncertain_angry_below": 0.0}


def old_triggers(call: dict) -> list[str]:
    cust = [t for t in call["turns"] if t["speaker"] == "customer" and t["emotion_label"] is not None]
    out = []
    v = call["metrics"]["customer_valence_end"]
    if v is not None and v < -0.3:
        out.append(f"valence {v:.2f}")
    last = cust[-2:]
    if last and 2 * sum(t["emotion_label"] == "angry" and t["p_angry"] >= 0.6 for t in last) >= len(last):
        out.append("last turns angry")
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="open")
    args = ap.parse_args()
    calls = ev.build_calls(10) + [("aws_lca", "real", ev.CORPORA_ROOT / "calls" / "aws_lca" / f"{n}.flac") for n in ev.AWS_CALLS]
    evidence = tune.pipeline_evidence(args.model, calls)
    new = {k: v for k, v in EmotionConfig().decision_for(load_model(args.model).config).items() if k != "absolute_reference"}
    counts: dict[tuple, int] = {}
    for c in evidence:
        if c["trajectory"] not in ("calm", "escalation"):
            continue
        old = tune.decided_call(c, OLD)
        why = old_triggers(old)
        key = (c["trajectory"], "+".join(w.split()[0] for w in why) or "none")
        counts[key] = counts.get(key, 0) + 1
        anger = customer_end_anger(old["turns"])
        labels = " ".join(t["emotion_label"][0] for t in old["turns"] if t["speaker"] == "customer" and t["emotion_label"])
        rise = f"end {anger['end']:.2f} before {anger['before']:.2f} rise {anger['rise']:+.2f}" if anger else "no thirds"
        print(f"{c['corpus']:5s} {c['name']:15s} old rule: {', '.join(why) or '-':28s} {rise:36s} {labels}")
    print("\nold rule's triggers by trajectory:", {f"{k[0]}: {k[1]}": v for k, v in sorted(counts.items())})
    for c in evidence:
        if c["trajectory"] != "real":
            continue
        print(f"\n{c['name']} (speaker, start s, length s, label with the new decision layer, p_angry; relative | absolute evidence)")
        decided = tune.decided_call(c, new)
        for t, raw in zip(decided["turns"], c["turns"]):
            if t["emotion_label"] is None:
                continue
            rel, ab = np.round(raw["p_relative"], 2), np.round(raw["p_absolute"], 2)
            print(f"  {t['speaker']:8s} {t['start_s']:6.1f} {t['end_s'] - t['start_s']:5.1f} {t['emotion_label']:7s} "
                  f"{t['p_angry']:.2f}  {rel} | {ab}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
