#!/usr/bin/env python3
"""Cached-call harness for mono diarization experiments (issue 14): simulate once, diarize many times.

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD python scripts/research/mono_changes/harness.py build --seed 5 --condition hard-cases
    OMP_NUM_THREADS=1 PYTHONPATH=$PWD python scripts/research/mono_changes/harness.py run --seed 5 --condition hard-cases \
        [--params-json '{...}'] [--diagnose]

``build`` writes the mono WAV, the truth and our VAD's speech segments (after the pipeline's drop of non-speech
before the first voice, and without it) per call into ``/tmp/monocache/<condition>_s<seed>/``. ``run`` diarizes the
cached calls and prints DER (pyannote collar=0.5 total, as eval_diarization), missed speaker changes and turn
count error (as eval_pacing's mono row), agent identification; ``--diagnose`` classifies every missed change by
type and cause (see ``classify``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from analyzer.audio import probe  # noqa: E402
from analyzer.config import AnalysisConfig, TurnConfig  # noqa: E402
from analyzer.diarize import DiarizationConfig, diarize  # noqa: E402
from analyzer.intervals import AGENT, CUSTOMER, UNKNOWN, Segment  # noqa: E402
from analyzer.turns import analyse_conversation  # noqa: E402
from callsim.evaluation import Transition, match_transitions, transitions_from_turns  # noqa: E402

CACHE = Path(os.environ.get("MONOCACHE", "/tmp/monocache"))
CORPORA = REPO.parent / "shared" / "corpora"


def cache_dir(seed: int, condition: str) -> Path:
    return CACHE / f"{condition}_s{seed}"


def build(seed: int, condition: str, n: int) -> None:
    import soundfile as sf  # noqa: F401

    from analyzer.frames import extract_frames
    from analyzer.vad import channel_segments
    from callsim.simulate import HARD_CASES, SimulationParams, call_seed, simulate_call, write_call
    from eval_pacing import _first_voice

    out = cache_dir(seed, condition)
    out.mkdir(parents=True, exist_ok=True)
    config = AnalysisConfig().replace(emotion={"enabled": False}, prosody={"enabled": False})
    for i in range(n):
        if (out / f"m{i}.speech.json").exists():
            continue
        params = SimulationParams(seed=call_seed(seed, i), truth_threshold_db=None, snr_db=20.0,
                                  **(HARD_CASES if condition == "hard-cases" else {}))
        call = simulate_call(params, corpora_root=CORPORA)
        wav = write_call(call, out, f"m{i}", mono=True)
        info = probe(wav)
        frames = extract_frames(info, config, prosody=False)
        raw = channel_segments(frames.vad, frames.energy_db, [UNKNOWN], config.vad)
        kept = _first_voice(info, raw, [UNKNOWN], config)
        (out / f"m{i}.speech.json").write_text(json.dumps({"raw": [s.to_dict() for s in raw],
                                                           "first_voice": [s.to_dict() for s in kept]}))
        print(f"built {out.name} m{i}: {info.duration_s:.0f} s, dropped {len(raw) - len(kept)} leading segments", flush=True)


def load_calls(seed: int, condition: str, n: int) -> list[dict]:
    out = cache_dir(seed, condition)
    calls = []
    for i in range(n):
        sp = json.loads((out / f"m{i}.speech.json").read_text())
        calls.append({"i": i, "wav": out / f"m{i}.wav", "truth": json.loads((out / f"m{i}.truth.json").read_text()),
                      "speech": {k: [Segment(s["start_s"], s["end_s"], s["speaker"]) for s in v] for k, v in sp.items()}})
    return calls


def score_call(call: dict, result, *, with_truth_turns: bool = False) -> dict:
    from eval_diarization import agent_correct, der

    truth = call["truth"]
    ref = [Segment(s["start_s"], s["end_s"], s["speaker"]) for s in truth["segments"]]
    hyp = sorted(result.segments)
    d = der(ref, hyp)
    conv = analyse_conversation(hyp, TurnConfig())
    detected = transitions_from_turns([{"speaker": t.speaker, "start_s": t.start_s, "end_s": t.end_s} for t in conv.turns])
    true_changes = [Transition(t["time_s"], t["to"], t["from"], t["fto_s"]) for t in truth["transitions"]]
    m = match_transitions(true_changes, detected)
    return {"der": d["der"], "missed_s": d["missed"], "fa": d["false_alarm"], "conf": d["confusion"], "scored_s": d["scored_s"],
            "n_changes": m["n_true"], "missed_changes": m["missed"],
            "turn_err": abs(len(conv.turns) - len(truth["turns"])) / max(len(truth["turns"]), 1),
            "agent_ok": agent_correct(ref, hyp), "n_speakers": result.n_speakers_estimate, "conv": conv,
            "measures": dict(result.voice_measures), "pair": (truth["speakers"]["agent"]["corpus_speaker"], truth["speakers"]["customer"]["corpus_speaker"]),
            "detected": detected}


def _label_share(hyp: list[Segment], a: float, b: float, speaker: str) -> float:
    """Share of [a, b] that the hypothesis gives to ``speaker`` (of the part it labels at all)."""
    own = sum(max(0.0, min(b, s.end_s) - max(a, s.start_s)) for s in hyp if s.speaker == speaker)
    any_ = sum(max(0.0, min(b, s.end_s) - max(a, s.start_s)) for s in hyp)
    return own / any_ if any_ > 0 else float("nan")


def classify(call: dict, scored: dict, speech: list[Segment]) -> list[dict]:
    """Every true change with its type and, if missed, its cause.

    type: ``short_after_pause`` (new turn < 1.2 s of speech, FTO >= 0.2 s), ``quick_exchange`` (new and previous turn
    both < 1.2 s), ``in_speech`` (FTO < 0.2 s: the VAD sees no pause; includes overlaps), ``long`` (the rest).
    cause (missed only): ``one_voice`` (call taken as one voice), ``agent_wrong`` (the call's roles swapped: every
    change has the wrong direction), ``merged`` (new turn's first segment mostly labelled the previous speaker, and it
    shares a VAD segment with the previous turn), ``short_unembedded`` (own VAD segment < 0.4 s, wrong label),
    ``wrong_voice`` (own VAD segment with an embedding, wrong label), ``cascade`` (the new turn is labelled right, but
    the end of the previous turn was labelled as the new speaker too: the second change of a mislabelled turn),
    ``backchannel`` (right labels, the turn rule took the new segment for a backchannel), ``other`` (right labels,
    no detected change within 1 s in that direction).
    """
    truth = call["truth"]
    turns = truth["turns"]
    hyp = sorted(scored["conv"].segments)
    changes = [Transition(t["time_s"], t["to"], t["from"], t["fto_s"]) for t in truth["transitions"]]
    found = match_transitions(changes, scored["detected"])["found"]
    true_segs = [Segment(s["start_s"], s["end_s"], s["speaker"]) for s in truth["segments"]]
    bc_starts = {round(e.start_s, 2) for e in scored["conv"].events if e.kind == "backchannel"}
    rows = []
    for k, (tr, ok) in enumerate(zip(truth["transitions"], found)):
        new, prev = turns[k + 1], turns[k]
        short_new = new["speech_s"] < 1.2
        if tr["fto_s"] < 0.2:
            kind = "in_speech"
        elif short_new and prev["speech_s"] < 1.2:
            kind = "quick_exchange"
        elif short_new:
            kind = "short_after_pause"
        else:
            kind = "long"
        row = {"call": call["i"], "time_s": tr["time_s"], "to": tr["to"], "fto_s": tr["fto_s"], "kind": kind,
               "truth_kind": tr["kind"], "found": ok, "new_speech_s": new["speech_s"]}
        if not ok:
            first = next(s for s in true_segs if s.speaker == new["speaker"] and s.end_s > new["start_s"] - 1e-6)
            a, b = first.start_s, first.end_s
            share = _label_share(hyp, a, b, new["speaker"])
            pa = max(prev["start_s"], prev["end_s"] - 1.0)
            prev_share = _label_share(hyp, pa, prev["end_s"], prev["speaker"])
            vad = [s for s in speech if s.end_s > a and s.start_s < b]
            span = vad[0] if vad else None
            shared = span is not None and span.start_s < prev["end_s"] - 0.05
            if scored["n_speakers"] == 1:
                cause = "one_voice"
            elif not scored["agent_ok"]:
                cause = "agent_wrong"
            elif not share >= 0.5:
                if shared:
                    cause = "merged"
                elif span is not None and span.duration_s < 0.4:
                    cause = "short_unembedded"
                else:
                    cause = "wrong_voice"
            elif not prev_share >= 0.5:
                cause = "cascade"
            elif any(abs(x - a) < 0.3 for x in bc_starts):
                cause = "backchannel"
            else:
                cause = "other"
            row.update(cause=cause, new_share=round(share, 2), prev_share=round(prev_share, 2),
                       span_s=None if span is None else round(span.duration_s, 2), seg_s=round(b - a, 2))
        rows.append(row)
    return rows


def run(calls: list[dict], dconfig: DiarizationConfig, *, speech_key: str = "first_voice", diagnose: bool = False,
        verbose: bool = False) -> dict:
    rows, diag, cpu = [], [], 0.0
    for call in calls:
        info = probe(call["wav"])
        t0 = time.process_time()
        result = diarize(info, call["speech"][speech_key], config=dconfig)
        cpu += time.process_time() - t0
        s = score_call(call, result)
        rows.append(s)
        if diagnose:
            diag += classify(call, s, call["speech"][speech_key])
        if verbose:
            print(f"  m{call['i']:2d}: DER {s['der']:.3f} missed {s['missed_changes']}/{s['n_changes']} turn_err {s['turn_err']:.3f} "
                  f"agent {'ok' if s['agent_ok'] else 'WRONG'} n_spk {s['n_speakers']}", flush=True)
    scored = np.array([r["scored_s"] for r in rows])
    summ = {
        "der_mean": float(np.mean([r["der"] for r in rows])),
        "der_pooled": float(np.sum([r["der"] * w for r, w in zip(rows, scored)]) / scored.sum()),
        "missed_changes": sum(r["missed_changes"] for r in rows) / max(sum(r["n_changes"] for r in rows), 1),
        "turn_err": float(np.mean([r["turn_err"] for r in rows])),
        "agent_ok": int(sum(r["agent_ok"] for r in rows)),
        "one_voice": int(sum(r["n_speakers"] == 1 for r in rows)),
        "conf_mean": float(np.mean([r["conf"] for r in rows])),
        "miss_mean": float(np.mean([r["missed_s"] for r in rows])),
        "diar_cpu_s": cpu,
    }
    return {"summary": summ, "calls": rows, "diag": diag}


def print_diag(diag: list[dict]) -> None:
    from collections import Counter

    kinds = Counter(r["kind"] for r in diag)
    missed = Counter(r["kind"] for r in diag if not r["found"])
    print("  by type (missed / all):", ", ".join(f"{k} {missed[k]}/{kinds[k]}" for k in sorted(kinds)))
    causes = Counter((r["kind"], r["cause"]) for r in diag if not r["found"])
    by_cause = Counter(r["cause"] for r in diag if not r["found"])
    print("  by cause:", ", ".join(f"{c} {n}" for c, n in by_cause.most_common()))
    for (k, c), n in sorted(causes.items()):
        print(f"    {k:18s} {c:18s} {n}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["build", "run"])
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--condition", choices=["original", "hard-cases"], default="hard-cases")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--params-json", default="{}")
    ap.add_argument("--speech", choices=["first_voice", "raw"], default="first_voice")
    ap.add_argument("--diagnose", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if args.cmd == "build":
        build(args.seed, args.condition, args.n)
        return 0
    import torch

    torch.set_num_threads(1)
    out = run(load_calls(args.seed, args.condition, args.n), DiarizationConfig(**json.loads(args.params_json)),
              speech_key=args.speech, diagnose=args.diagnose, verbose=args.verbose)
    s = out["summary"]
    print(f"{args.condition} seed {args.seed} {args.params_json}: DER {s['der_mean']:.4f} (pooled {s['der_pooled']:.4f}; "
          f"miss {s['miss_mean']:.4f} conf {s['conf_mean']:.4f}) missed changes {s['missed_changes']:.4f} turn err "
          f"{s['turn_err']:.4f} agent {s['agent_ok']}/{len(out['calls'])} one-voice {s['one_voice']} cpu {s['diar_cpu_s']:.1f} s")
    if args.diagnose:
        print_diag(out["diag"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
