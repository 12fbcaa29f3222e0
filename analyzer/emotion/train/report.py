"""The before/after report of ``train-emotion`` (pure functions over arrays and dicts)."""

from __future__ import annotations

import numpy as np

from ..functionals import uar
from ..model import LABELS
from .labelled import LabelledItem


def evaluation(y: np.ndarray, before: np.ndarray, after: np.ndarray, items: list[LabelledItem], ids: list[int]) -> dict:
    """The before/after figures of the held-out turns: UAR, recall per class, counts."""
    def recalls(p):
        return {LABELS[k]: round(float(np.mean(p[y == k] == k)), 3) for k in sorted(set(y.tolist()))}

    return {"n_turns": int(len(y)), "n_calls": len({items[i].group for i in ids}),
            "n_speakers": len({items[i].speaker for i in ids}),
            "class_counts": {LABELS[k]: int(np.sum(y == k)) for k in range(len(LABELS)) if np.any(y == k)},
            "uar_shipped": round(uar(y, before), 4) if len(y) else None, "uar_finetuned": round(uar(y, after), 4) if len(y) else None,
            "recall_shipped": recalls(before), "recall_finetuned": recalls(after)}


def summary_lines(report: dict) -> list[str]:
    """The before/after figures as printed by ``train-emotion`` (and written into the card)."""
    tr = report["train"]
    groups = "call(s)" if report["kind"] == "turns" else "speaker group(s)"
    lines = [f"training: {tr['n_turns']} {report['kind']} from {tr['n_calls']} {groups}, {tr['n_speakers']} speaker(s) "
             f"({', '.join(f'{k} {v}' for k, v in tr['class_counts'].items())}); {report['n_unscored']} row(s) too short or silent, skipped",
             report["method"] if "method" in report else
             "strength: " + ("kept the shipped heads (no C beat them in the inner CV)" if report["kept_shipped_heads"]
                             else f"C = {report['strength_c']}" + (" (inner CV by call: " + ", ".join(
                                 f"{k} {v:.3f}" for k, v in report["inner_cv_uar"].items()) + ")" if report["inner_cv_uar"] else ""))]
    h = report["heldout"]
    if h is None:
        lines.append("held-out: none (--holdout 0, or a single call/speaker): no before/after figures")
    else:
        lines.append(f"held-out: {h['n_turns']} {report['kind']} from {h['n_calls']} {groups}, {h['n_speakers']} speaker(s) "
                     f"({', '.join(f'{k} {v}' for k, v in h['class_counts'].items())})")
        if h["uar_shipped"] is None:
            lines.append(f"held-out UAR: {h['uar_finetuned']:.3f} (trained from scratch: no base model to compare with)")
        else:
            lines.append(f"held-out UAR: shipped {report['base']} {h['uar_shipped']:.3f} -> fine-tuned {h['uar_finetuned']:.3f} "
                         f"({h['uar_finetuned'] - h['uar_shipped']:+.3f})")
    return lines
