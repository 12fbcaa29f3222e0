"""Rule and angry-gate variants on captured evidence (offline): how often customer_ends_angry would fire."""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from offline import call_result, default_decision, load  # noqa: E402


def cust(r):
    return [t for t in r["turns"] if t["speaker"] == "customer" and t["emotion_label"] is not None]


def last_third(rows, share=1 / 3):
    dur = np.array([t["end_s"] - t["start_s"] for t in rows])
    if dur.sum() < 9 or len(rows) < 3:
        return None
    mid = np.cumsum(dur) - dur / 2
    sel = mid > (1 - share) * dur.sum()
    return [t for t, s in zip(rows, sel) if s]


def angry(t, conf):
    return t["emotion_label"] == "angry" and t["p_angry"] >= conf


def fires(r, *, last_turns=0, conf=0.6, share=None, valence=None):
    rows = cust(r)
    if not rows:
        return False
    f = False
    if last_turns:
        last = rows[-last_turns:]
        f |= sum(angry(t, conf) for t in last) * 2 >= len(last)
    if share is not None:
        lt = last_third(rows)
        if lt:
            d = np.array([t["end_s"] - t["start_s"] for t in lt])
            a = np.array([angry(t, conf) for t in lt])
            f |= (d * a).sum() / d.sum() >= share
    if valence is not None:
        v = r["metrics"]["customer_valence_end"]
        f |= v is not None and v < valence
    return bool(f)


def rates(calls, decision, **rule):
    res = [(c, call_result(c, decision)) for c in calls if c["trajectory"] != "real"]
    out = {}
    for tr in ("escalation", "calm", "turnaround"):
        sel = [r for c, r in res if c["trajectory"] == tr]
        out[tr] = np.mean([fires(r, **rule) for r in sel])
    return out


def thirds(rows, share=1 / 3):
    dur = np.array([t["end_s"] - t["start_s"] for t in rows])
    if dur.sum() < 9 or len(rows) < 3:
        return None
    mid = np.cumsum(dur) - dur / 2
    return dur, mid < share * dur.sum(), mid > (1 - share) * dur.sum()


def anger_features(r, key="p_angry"):
    rows = cust(r)
    th = thirds(rows) if rows else None
    if th is None:
        return None
    dur, first, last = th
    if not first.any() or not last.any():
        return None
    p = np.array([t[key] if key == "p_angry" else t[key][2] for t in rows])
    a_end = float(np.average(p[last], weights=dur[last]))
    a_start = float(np.average(p[first], weights=dur[first]))
    rest = ~last
    a_rest = float(np.average(p[rest], weights=dur[rest]))
    return a_end, a_start, a_rest


def fires2(r, *, last_turns=0, conf=0.6, valence=None, rise=None, end_above=None):
    f = fires(r, last_turns=last_turns, conf=conf, valence=valence) if (last_turns or valence is not None) else False
    feats = anger_features(r)
    if feats:
        a_end, _, a_rest = feats
        if rise is not None and a_end - a_rest > rise:
            f = True
        if end_above is not None and a_end > end_above:
            f = True
    return f


def grid(calls, decision):
    res = [(c["trajectory"], call_result(c, decision)) for c in calls if c["trajectory"] != "real"]
    rows = []
    for lt, conf, val, rise, end in itertools.product((0, 2), (0.6, 0.7, 0.8), (None, -0.3), (None, 0.1, 0.15, 0.2, 0.25, 0.3),
                                                     (None, 0.6, 0.7, 0.8)):
        if lt == 0 and conf != 0.6:
            continue
        kw = dict(last_turns=lt, conf=conf, valence=val, rise=rise, end_above=end)
        rate = {tr: float(np.mean([fires2(r, **kw) for t, r in res if t == tr])) for tr in ("escalation", "calm", "turnaround")}
        rows.append((kw, rate))
    return rows


def gate_rows(r, floor=0.0, margin=None):
    """Angry labels need p_angry >= floor and (margin) p_angry - the speaker's leave-one-out time-weighted mean p_angry >= margin."""
    rows = [dict(t) for t in r["turns"]]
    for spk in ("agent", "customer"):
        sc = [t for t in rows if t["speaker"] == spk and t["emotion_label"] is not None]
        if not sc:
            continue
        d = np.array([t["end_s"] - t["start_s"] for t in sc])
        p = np.array([t["p_angry"] for t in sc])
        tot, wsum = (d * p).sum(), d.sum()
        for k, t in enumerate(sc):
            if t["emotion_label"] != "angry":
                continue
            base = (tot - d[k] * p[k]) / (wsum - d[k]) if wsum > d[k] else 0.0
            if p[k] < floor or (margin is not None and p[k] - base < margin):
                t["emotion_label"] = "neutral"
                t["emotion_uncertain"] = True
    return rows


def turn_measures(calls, decision, floor=0.0, margin=None):
    from analyzer.emotion import LABELS
    from analyzer.emotion.functionals import uar
    y, yh, agent_angry, agent_n, real = [], [], 0, 0, {"agent": [0, 0], "customer": [0, 0]}
    for c in calls:
        r = call_result(c, decision)
        rows = gate_rows(r, floor, margin)
        for t in rows:
            if t["emotion_label"] is None:
                continue
            if c["trajectory"] == "real":
                real[t["speaker"]][0] += t["emotion_label"] == "angry"
                real[t["speaker"]][1] += 1
                continue
            if t["truth"] is None:
                continue
            y.append(LABELS.index(t["truth"]))
            yh.append(LABELS.index(t["emotion_label"]))
    y, yh = np.array(y), np.array(yh)
    out = {"uar": round(uar(y, yh), 3), "false_angry": round(float(np.mean(yh[y == 0] == 2)), 3),
           "angry_recall": round(float(np.mean(yh[y == 2] == 2)), 3)}
    if real["agent"][1]:
        out["aws"] = f"{real['agent'][0]}/{real['agent'][1]} {real['customer'][0]}/{real['customer'][1]}"
    return out
