"""Call-level emotion metrics from the scored turn rows (SPEC's per-call emotion keys)."""

from __future__ import annotations

import numpy as np

from ..config import EmotionConfig

_DEFAULT = EmotionConfig()  # defaults live in analyzer/config.py
KEYS = ("customer_valence_start", "customer_valence_end", "customer_turnaround", "customer_angry_share",
        "agent_angry_share", "agent_valence_mean", "peak_customer_anger", "peak_customer_anger_s")


def _weighted_mean(values, weights) -> float | None:
    w = np.asarray(weights, dtype=np.float64)
    if w.size == 0 or w.sum() <= 0:
        return None
    return float(np.average(np.asarray(values, dtype=np.float64), weights=w))


def _scored(turns: list[dict], speaker: str) -> list[dict]:
    rows = [t for t in turns if t.get("speaker") == speaker and t.get("valence") is not None]
    return sorted(rows, key=lambda t: t["start_s"])


def _thirds(dur: np.ndarray, *, trajectory_share: float, min_trajectory_speech_s: float,
            min_trajectory_turns: int) -> tuple[np.ndarray, np.ndarray] | str:
    """Masks of the turns (durations ``dur`` in s, in time order, laid end to end) whose midpoint lies in the first /
    last ``trajectory_share`` of the speech time, or the reason there is no trajectory (too little speech or too few turns)."""
    total = float(dur.sum())
    if total < min_trajectory_speech_s or len(dur) < min_trajectory_turns:
        return (f"customer has {total:.1f} s in {len(dur)} scored turn(s); the trajectory needs at least "
                f"{min_trajectory_speech_s:g} s in {min_trajectory_turns} turns")
    mid = np.cumsum(dur) - dur / 2  # each turn's midpoint in customer speech time
    return mid < trajectory_share * total, mid > (1 - trajectory_share) * total


def customer_end_anger(turns: list[dict], *, trajectory_share: float = _DEFAULT.trajectory_share,
                       min_trajectory_speech_s: float = _DEFAULT.min_trajectory_speech_s,
                       min_trajectory_turns: int = _DEFAULT.min_trajectory_turns) -> dict | None:
    """The customer's anger at the end of the call against their own earlier baseline (QA rule ``customer_ending_angry``).

    ``{"end": mean p_angry over the last third, "before": mean p_angry of the turns before it, "rise": end - before,
    "turns": the last third's turn rows}``: scored customer turns, the same last third as ``customer_valence_end``,
    means weighted by turn duration (s). None when the trajectory is undefined (see :func:`call_emotion_summary`)
    or every turn lies in the last third.
    """
    customer = [t for t in _scored(turns, "customer") if t.get("p_angry") is not None]
    if not customer:
        return None
    dur = np.array([t["end_s"] - t["start_s"] for t in customer])
    thirds = _thirds(dur, trajectory_share=trajectory_share, min_trajectory_speech_s=min_trajectory_speech_s,
                     min_trajectory_turns=min_trajectory_turns)
    if isinstance(thirds, str) or not thirds[1].any() or thirds[1].all():
        return None
    last = thirds[1]
    p = np.array([t["p_angry"] for t in customer], dtype=np.float64)
    end, before = _weighted_mean(p[last], dur[last]), _weighted_mean(p[~last], dur[~last])
    return {"end": end, "before": before, "rise": end - before, "turns": [t for t, k in zip(customer, last) if k]}


def call_emotion_summary(turns: list[dict], *, trajectory_share: float = _DEFAULT.trajectory_share,
                         min_trajectory_speech_s: float = _DEFAULT.min_trajectory_speech_s,
                         min_trajectory_turns: int = _DEFAULT.min_trajectory_turns,
                         min_party_speech_s: float = _DEFAULT.min_party_speech_s) -> tuple[dict, dict]:
    """SPEC's per-call emotion keys and, for every key that is null, the reason: ``(metrics, null_reasons)``.

    Turn rows need ``speaker``, ``start_s``, ``end_s``, ``valence``, ``p_angry``, ``emotion_label``; only
    scored turns count (``valence`` not None); means and shares are weighted by turn duration (s).

    - ``customer_valence_start`` / ``_end``: mean valence of the customer turns whose midpoint lies in the
      first / last ``trajectory_share`` (a third) of the customer's scored speech time (turns laid end to
      end), so the two never share a turn and the trajectory works on short calls. Null, with a reason,
      when the customer has less than ``min_trajectory_speech_s`` of scored speech or fewer than
      ``min_trajectory_turns`` scored turns, or a third holds no turn midpoint (one long turn).
    - ``customer_turnaround`` = end - start (positive: the customer ended happier); null whenever either is.
    - ``customer_angry_share`` / ``agent_angry_share``: share of the party's scored speech **time** whose
      label is ``angry`` (time-weighted, not a count of turns); ``agent_valence_mean``: time-weighted mean
      valence. Null when the party has less than ``min_party_speech_s`` of scored speech.
    - ``peak_customer_anger``: highest ``p_angry`` of a customer turn; ``peak_customer_anger_s``: its start.
    """
    out = dict.fromkeys(KEYS)
    reasons: dict[str, str] = {}
    customer, agent = _scored(turns, "customer"), _scored(turns, "agent")
    if customer:
        dur = np.array([t["end_s"] - t["start_s"] for t in customer])
        val = np.array([t["valence"] for t in customer])
        total = float(dur.sum())
        thirds = _thirds(dur, trajectory_share=trajectory_share, min_trajectory_speech_s=min_trajectory_speech_s,
                         min_trajectory_turns=min_trajectory_turns)
        if isinstance(thirds, str):
            why = thirds
        else:
            first, last = thirds
            out["customer_valence_start"] = _weighted_mean(val[first], dur[first])
            out["customer_valence_end"] = _weighted_mean(val[last], dur[last])
            why = "no customer turn has its midpoint in the first or last third of the customer's speech (one turn dominates)"
        if out["customer_valence_start"] is not None and out["customer_valence_end"] is not None:
            out["customer_turnaround"] = out["customer_valence_end"] - out["customer_valence_start"]
        else:
            for key in ("customer_valence_start", "customer_valence_end", "customer_turnaround"):
                reasons[key] = why
        if total >= min_party_speech_s:
            out["customer_angry_share"] = _weighted_mean([t["emotion_label"] == "angry" for t in customer], dur)
        else:
            reasons["customer_angry_share"] = f"customer has {total:.1f} s of scored speech (< {min_party_speech_s:g} s)"
        peak = max(customer, key=lambda t: t["p_angry"])
        out["peak_customer_anger"], out["peak_customer_anger_s"] = float(peak["p_angry"]), float(peak["start_s"])
    else:
        reasons.update(dict.fromkeys([k for k in KEYS if k.startswith(("customer", "peak"))],
                                     "no scored customer turn (emotion off, or every turn shorter than min_turn_s)"))
    if agent:
        dur = np.array([t["end_s"] - t["start_s"] for t in agent])
        if dur.sum() >= min_party_speech_s:
            out["agent_angry_share"] = _weighted_mean([t["emotion_label"] == "angry" for t in agent], dur)
            out["agent_valence_mean"] = _weighted_mean([t["valence"] for t in agent], dur)
        else:
            for key in ("agent_angry_share", "agent_valence_mean"):
                reasons[key] = f"agent has {dur.sum():.1f} s of scored speech (< {min_party_speech_s:g} s)"
    else:
        for key in ("agent_angry_share", "agent_valence_mean"):
            reasons[key] = "no scored agent turn (emotion off, or every turn shorter than min_turn_s)"
    metrics = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}
    return metrics, reasons


def call_emotion_metrics(turns: list[dict], **params) -> dict:
    """The metrics of :func:`call_emotion_summary` (without the null reasons)."""
    return call_emotion_summary(turns, **params)[0]
