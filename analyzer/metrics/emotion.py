"""Call-level emotion metrics from the scored turn rows (SPEC's per-call emotion keys)."""

from __future__ import annotations

import numpy as np

from ..config import EmotionConfig


def _weighted_mean(values, weights) -> float | None:
    w = np.asarray(weights, dtype=np.float64)
    if w.size == 0 or w.sum() <= 0:
        return None
    return float(np.average(np.asarray(values, dtype=np.float64), weights=w))


def call_emotion_metrics(turns: list[dict], *, window_s: float = EmotionConfig.valence_window_s) -> dict:
    """SPEC's per-call emotion keys from turn rows (keys ``speaker``, ``start_s``, ``end_s``, ``valence``, ``p_angry``, ``emotion_label``).

    Only scored turns count (``valence`` not None); means and shares are weighted by turn duration (s).
    ``customer_valence_start`` / ``_end``: duration-weighted mean valence of the customer turns that
    overlap the first / last ``window_s`` seconds of the customer's scored speech time (turns laid end to end) (the two overlap when the
    customer speaks less than 2 x ``window_s``); ``customer_turnaround`` = end - start.
    ``*_angry_share``: share of the party's scored speech time whose label is ``angry``.
    ``peak_customer_anger``: highest ``p_angry`` of a customer turn; ``peak_customer_anger_s``: its start.
    Keys are None when the party has no scored turn.
    """
    def scored(speaker: str) -> list[dict]:
        rows = [t for t in turns if t.get("speaker") == speaker and t.get("valence") is not None]
        return sorted(rows, key=lambda t: t["start_s"])

    customer, agent = scored("customer"), scored("agent")
    out = dict.fromkeys(("customer_valence_start", "customer_valence_end", "customer_turnaround", "customer_angry_share",
                         "agent_angry_share", "agent_valence_mean", "peak_customer_anger", "peak_customer_anger_s"))
    if customer:
        dur = np.array([t["end_s"] - t["start_s"] for t in customer])
        val = np.array([t["valence"] for t in customer])
        before = np.concatenate([[0.0], np.cumsum(dur)[:-1]])  # customer speech before each turn
        after = np.concatenate([np.cumsum(dur[::-1])[::-1][1:], [0.0]])  # customer speech after each turn
        first, last = before < window_s, after < window_s
        out["customer_valence_start"] = _weighted_mean(val[first], dur[first])
        out["customer_valence_end"] = _weighted_mean(val[last], dur[last])
        if out["customer_valence_start"] is not None and out["customer_valence_end"] is not None:
            out["customer_turnaround"] = out["customer_valence_end"] - out["customer_valence_start"]
        out["customer_angry_share"] = _weighted_mean([t["emotion_label"] == "angry" for t in customer], dur)
        peak = max(customer, key=lambda t: t["p_angry"])
        out["peak_customer_anger"], out["peak_customer_anger_s"] = float(peak["p_angry"]), float(peak["start_s"])
    if agent:
        dur = [t["end_s"] - t["start_s"] for t in agent]
        out["agent_angry_share"] = _weighted_mean([t["emotion_label"] == "angry" for t in agent], dur)
        out["agent_valence_mean"] = _weighted_mean([t["valence"] for t in agent], dur)
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}
