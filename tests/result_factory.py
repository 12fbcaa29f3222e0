"""Hand-made call results conforming to docs/result-schema.md (schema call-analyzer/call/1).

Used by the compare, QA and HTML tests so they do not depend on the pipeline.
``make_result`` builds an alternating agent/customer conversation whose turns,
events and metrics agree with each other for the quantities the tests control.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

LABELS = ("neutral", "happy", "angry", "sad")


def _emotion(valence: float, rng: np.random.Generator, *, angry: bool = False) -> dict:
    """Probabilities leaning happy for positive valence, angry for negative; valence = p_happy - p_angry - 0.5 p_sad."""
    if angry:
        p = np.array([0.15, 0.03, 0.77, 0.05])
    else:
        happy = max(0.0, valence)
        anger = max(0.0, -valence)
        p = np.array([0.5, 0.1 + happy, 0.1 + anger, 0.1]) + rng.uniform(0, 0.05, 4)
    p = p / p.sum()
    label = LABELS[int(np.argmax(p))]
    return {"emotion_label": label, **{f"p_{n}": round(float(v), 4) for n, v in zip(LABELS, p)},
            "arousal": round(float(p[2] + p[1] - p[3] - 0.5 * p[0]), 3),
            "valence": round(float(p[1] - p[2] - 0.5 * p[3]), 3), "emotion_confidence": round(float(p.max()), 4)}


def make_result(call_id: str = "call-0001", *, duration_s: float = 120.0, agent_latency_s: float = 0.6,
                agent_interruptions: int = 1, valence_start: float = 0.0, valence_end: float = 0.0,
                dead_air_s: tuple[float, ...] = (), agent_angry_turns: tuple[int, ...] = (),
                emotion: bool = True, metrics: dict | None = None, seed: int = 0, n_turns: int | None = None,
                path: str | None = None) -> dict:
    """A schema-conformant call result.

    Turns alternate agent/customer starting with the agent; each agent turn
    starts ``agent_latency_s`` (jittered) after the customer's turn; dead air
    silences of the given lengths are inserted before agent turns 2, 4, ...;
    ``agent_interruptions`` interruption events by the agent are placed in
    customer turns. Customer valence moves linearly from ``valence_start``
    to ``valence_end``. ``metrics`` overrides computed metric values.
    """
    rng = np.random.default_rng(seed)
    turns, events, t = [], [], 0.3
    dead = list(dead_air_s)
    i = 0
    while True:
        speaker = "agent" if i % 2 == 0 else "customer"
        if i > 0:
            if speaker == "agent":
                gap = max(0.05, agent_latency_s + rng.normal(0, 0.1))
                if dead and i % 4 == 2:
                    gap = dead.pop(0)
            else:
                gap = max(0.05, 0.5 + rng.normal(0, 0.1))
            prev = turns[-1]
            events.append({"kind": "gap", "speaker": speaker, "start_s": round(prev["end_s"], 3),
                           "end_s": round(prev["end_s"] + gap, 3), "fto_s": round(gap, 3), "other": prev["speaker"]})
            if gap >= 5.0:
                events.append({"kind": "dead_air", "speaker": None, "start_s": round(prev["end_s"], 3),
                               "end_s": round(prev["end_s"] + gap, 3)})
            t = prev["end_s"] + gap
        dur = float(rng.uniform(2.0, 6.0))
        if (n_turns is not None and i >= n_turns) or (n_turns is None and t + dur > duration_s - 0.5):
            break
        turn = {"index": i, "speaker": speaker, "start_s": round(t, 3), "end_s": round(t + dur, 3),
                "duration_s": round(dur, 3), "speech_s": round(dur * 0.9, 3), "n_pauses": 1, "pause_s": round(dur * 0.1, 3),
                "fto_s": None if i == 0 else round(events[-1]["fto_s"] if events[-1]["kind"] == "gap" else events[-2]["fto_s"], 3),
                "syllables": int(dur * 4), "speech_rate_sps": 4.0, "articulation_rate_sps": 4.4,
                "pitch_median_st": 12.0, "pitch_sd_st": 2.0, "intensity_mean_db": -25.0}
        if emotion:
            frac = t / max(duration_s, 1e-9)
            valence = valence_start + (valence_end - valence_start) * frac if speaker == "customer" else 0.1
            turn.update(_emotion(valence, rng, angry=speaker == "agent" and (i // 2) in agent_angry_turns))
        else:
            turn.update({"emotion_label": None, "p_neutral": None, "p_happy": None, "p_angry": None, "p_sad": None,
                         "arousal": None, "valence": None, "emotion_confidence": None})
        turns.append(turn)
        i += 1
    if n_turns is not None:
        duration_s = turns[-1]["end_s"] + 0.5
    customer_turns = [x for x in turns if x["speaker"] == "customer"]
    for k in range(agent_interruptions):
        host = customer_turns[(k * 3 + 1) % len(customer_turns)]
        start = host["start_s"] + 0.4 * host["duration_s"] + 0.01 * k
        events.append({"kind": "interruption", "speaker": "agent", "start_s": round(start, 3),
                       "end_s": round(start + 0.6, 3), "other": "customer",
                       "outcome": "successful" if k % 2 == 0 else "attempt"})
    for host in customer_turns[::5]:
        events.append({"kind": "backchannel", "speaker": "agent", "start_s": round(host["start_s"] + 1.0, 3),
                       "end_s": round(host["start_s"] + 1.4, 3), "other": "customer"})
    events.append({"kind": "overlap", "speaker": "customer", "start_s": round(turns[1]["start_s"], 3),
                   "end_s": round(turns[1]["start_s"] + 0.3, 3), "fto_s": -0.3, "other": "agent"})
    events.sort(key=lambda e: (e["start_s"], e["end_s"]))
    agent_gaps = [e["fto_s"] for e in events if e["kind"] == "gap" and e["speaker"] == "agent"]
    speech = {p: sum(x["speech_s"] for x in turns if x["speaker"] == p) for p in ("agent", "customer")}
    dead = [e for e in events if e["kind"] == "dead_air"]
    minutes = duration_s / 60
    m = {
        "duration_s": round(duration_s, 3),
        "talk_ratio_agent": round(speech["agent"] / (speech["agent"] + speech["customer"]), 3),
        "speech_s_agent": round(speech["agent"], 3), "speech_s_customer": round(speech["customer"], 3),
        "silence_ratio": 0.2, "overlap_ratio": 0.02,
        "turns_agent": sum(x["speaker"] == "agent" for x in turns),
        "turns_customer": len(customer_turns),
        "interactivity_per_min": round((len(turns) - 1) / minutes, 3),
        "longest_monologue_s": max(x["duration_s"] for x in turns if x["speaker"] == "agent"),
        "longest_customer_story_s": max(x["duration_s"] for x in customer_turns),
        "agent_latency_median_s": round(float(np.median(agent_gaps)), 3),
        "agent_latency_p90_s": round(float(np.percentile(agent_gaps, 90)), 3),
        "customer_latency_median_s": 0.5, "customer_latency_p90_s": 0.7,
        "interruptions_by_agent": agent_interruptions, "interruptions_by_customer": 0,
        "interruptions_by_agent_per_min": round(agent_interruptions / minutes, 3),
        "interruptions_by_customer_per_min": 0.0,
        "interruptions_successful_by_agent": (agent_interruptions + 1) // 2, "interruptions_successful_by_customer": 0,
        "backchannels_agent": len(customer_turns[::5]), "backchannels_customer": 0,
        "dead_air_count": len(dead), "dead_air_total_s": round(sum(e["end_s"] - e["start_s"] for e in dead), 3),
        "longest_silence_s": round(max([e["fto_s"] for e in events if e["kind"] == "gap"], default=0.0), 3),
        "holds": 0,
        "speech_rate_agent_sps": 4.0, "speech_rate_customer_sps": 3.8,
        "articulation_rate_agent_sps": 4.4, "articulation_rate_customer_sps": 4.2,
        "pause_rate_agent_per_min": 6.0, "pause_rate_customer_per_min": 5.0,
        "mean_pause_agent_s": 0.4, "mean_pause_customer_s": 0.45,
        "pitch_median_agent_st": 12.0, "pitch_range_agent_st": 8.0, "pitch_sd_agent_st": 2.5,
        "pitch_median_customer_st": 10.0, "pitch_range_customer_st": 7.0, "pitch_sd_customer_st": 2.2,
        "energy_sd_agent_db": 5.0, "energy_sd_customer_db": 5.5, "rate_mismatch_sps": 0.6,
    }
    emo_keys = ("customer_valence_start", "customer_valence_end", "customer_turnaround", "customer_angry_share",
                "agent_angry_share", "agent_valence_mean", "peak_customer_anger", "peak_customer_anger_s")
    if emotion:
        cval = [x["valence"] for x in customer_turns]
        agent_turns = [x for x in turns if x["speaker"] == "agent"]
        peak = max(customer_turns, key=lambda x: x["p_angry"])
        m.update({
            "customer_valence_start": round(float(np.mean(cval[:3])), 3),
            "customer_valence_end": round(float(np.mean(cval[-3:])), 3),
            "customer_turnaround": round(float(np.mean(cval[-3:]) - np.mean(cval[:3])), 3),
            "customer_angry_share": round(sum(x["emotion_label"] == "angry" for x in customer_turns) / len(customer_turns), 3),
            "agent_angry_share": round(sum(x["emotion_label"] == "angry" for x in agent_turns) / len(agent_turns), 3),
            "agent_valence_mean": round(float(np.mean([x["valence"] for x in agent_turns])), 3),
            "peak_customer_anger": peak["p_angry"], "peak_customer_anger_s": peak["start_s"],
        })
    else:
        m.update({k: None for k in emo_keys})
    m.update(metrics or {})
    segments = [{"speaker": x["speaker"], "start_s": x["start_s"], "end_s": x["end_s"]} for x in turns]
    return {
        "schema": "call-analyzer/call/1", "call_id": call_id,
        "path": path or f"/data/calls/{call_id}.wav", "content_sha256": "0" * 64,
        "duration_s": round(duration_s, 3), "mode": "stereo", "sample_rate_hz": 8000, "analysis_rate_hz": 8000,
        "channels": {"agent": 0, "customer": 1},
        "versions": {"call_analyzer": "0.2.0", "emotion_model": "emotion-open-v1" if emotion else None,
                     "emotion_licence": "CC0-1.0" if emotion else None},
        "params": {"turns": {"dead_air_s": 5.0, "hold_s": 20.0}}, "params_digest": "test",
        "metrics": m, "turns": turns, "segments": segments, "events": events,
        "emotion": {"model": "emotion-open-v1", "licence": "CC0-1.0", "enabled": emotion},
        "qa": None, "warnings": [],
    }


def write_results(out_dir: Path, results: list[dict]) -> Path:
    """Write results as ``out_dir/calls/<call_id>.json`` (sub-folders as in call_id); returns out_dir."""
    for result in results:
        target = Path(out_dir) / "calls" / (result["call_id"] + ".json")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(result), encoding="utf-8")
    return Path(out_dir)


def synthetic_cohort(n_per_group: int = 30, *, seed: int = 0) -> tuple[list[dict], dict[str, str]]:
    """Won calls: quicker agent answers, fewer agent interruptions, customer mood improving;
    lost calls: the opposite. Pitch variation, speech rate and customer backchannels are drawn
    from the same distribution in both groups (null metrics). Returns (results, call_id -> outcome)."""
    rng = np.random.default_rng(seed)
    results, labels = [], {}
    for outcome in ("won", "lost"):
        won = outcome == "won"
        for k in range(n_per_group):
            cid = f"{outcome}/call-{k:03d}"
            v0 = float(rng.normal(-0.2, 0.15))
            turnaround = float(rng.normal(0.35 if won else -0.15, 0.15))
            results.append(make_result(
                cid, duration_s=float(rng.uniform(90, 200)), seed=int(rng.integers(1 << 30)),
                agent_latency_s=float(rng.normal(0.6 if won else 1.0, 0.15)),
                agent_interruptions=int(rng.poisson(1.0 if won else 4.0)),
                valence_start=v0, valence_end=v0 + turnaround,
                metrics={"pitch_sd_agent_st": round(float(rng.normal(2.5, 0.6)), 3),
                         "speech_rate_agent_sps": round(float(rng.normal(4.0, 0.5)), 3),
                         "backchannels_customer": int(rng.poisson(3)),
                         "energy_sd_agent_db": round(float(rng.normal(5.0, 1.0)), 3)}))
            labels[cid] = outcome
    return results, labels
