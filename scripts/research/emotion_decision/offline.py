"""Re-apply the decision layer and the customer/agent QA rules to captured evidence (capture.py) offline."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from analyzer.config import EmotionConfig  # noqa: E402
from analyzer.emotion import LABELS  # noqa: E402
from analyzer.emotion.functionals import uar  # noqa: E402
from analyzer.emotion.scoring import decide, turn_rows  # noqa: E402
from analyzer.metrics.emotion import call_emotion_summary  # noqa: E402
from analyzer.qa import evaluate, load_default_rules, parse_rules  # noqa: E402

OUT = Path("/tmp/emo-diag")


def load(model: str, which: str) -> list:
    return json.loads((OUT / f"{model}-{which}.json").read_text())


def call_result(call: dict, decision: dict, metrics_kw: dict | None = None) -> dict:
    scored = [t for t in call["turns"] if "p_relative" in t]
    rows = [dict(speaker=t["speaker"], start_s=t["start_s"], end_s=t["end_s"], truth=t["truth"]) for t in call["turns"]]
    if scored:
        p, labels, unc = decide(np.array([t["p_relative"] for t in scored]), np.array([t["p_absolute"] for t in scored]), **decision)
        emo = turn_rows(len(scored), list(range(len(scored))), p, labels, unc)
        k = 0
        for r, t in zip(rows, call["turns"]):
            if "p_relative" in t:
                r.update(emo[k])
                r["p_relative"], r["p_absolute"] = t["p_relative"], t["p_absolute"]
                k += 1
    for r in rows:
        r.setdefault("valence", None)
        r.setdefault("emotion_label", None)
    metrics, reasons = call_emotion_summary(rows, **(metrics_kw or {}))
    return {"turns": rows, "metrics": metrics}


def rules_of(spec: list | None):
    if spec is None:
        return load_default_rules()
    return parse_rules({"rules": spec})


def measures(calls: list, decision: dict, rules, metrics_kw=None, rule_id="customer_ends_angry") -> dict:
    res = [(c, call_result(c, decision, metrics_kw)) for c in calls]
    out = {}
    sim = [(c, r) for c, r in res if c["trajectory"] != "real"]
    pairs = [(LABELS.index(t["truth"]), LABELS.index(t["emotion_label"])) for c, r in sim for t in r["turns"]
             if t["speaker"] == "customer" and t["emotion_label"] is not None and t["truth"] is not None]
    if pairs:
        y, yh = np.array(pairs).T
        out["uar"] = round(uar(y, yh), 3)
    want = {"turnaround": 1, "escalation": -1}
    traj = [(c, r) for c, r in sim if c["trajectory"] in want]
    if traj:
        out["sign"] = round(np.mean([r["metrics"]["customer_turnaround"] is not None and np.sign(r["metrics"]["customer_turnaround"]) == want[c["trajectory"]] for c, r in traj]), 3)
    for tr in ("escalation", "calm", "turnaround"):
        sel = [r for c, r in sim if c["trajectory"] == tr]
        if sel:
            out[tr] = round(np.mean([any(f["rule"] == rule_id for f in evaluate(rules, r)["failed"]) for r in sel]), 3)
    real = [r for c, r in res if c["trajectory"] == "real"]
    for spk in ("agent", "customer"):
        sc = [t for r in real for t in r["turns"] if t["speaker"] == spk and t["emotion_label"] is not None]
        if sc:
            out[f"aws_{spk}"] = f"{sum(t['emotion_label'] == 'angry' for t in sc)}/{len(sc)}"
    return out


def default_decision() -> dict:
    d = EmotionConfig().decision()
    d.pop("absolute_reference")
    return d
