"""Choose the emotion decision layer's parameters (analyzer/config.py, EmotionConfig) on simulated calls
built from TRAINING corpora only (never TESS, TurEV, ASED or real calls).

    python scripts/tune_emotion_decision.py --model open --corpora ravdess,nemo [--calls-per-trajectory 12]
    python scripts/tune_emotion_decision.py --model open --pipeline      # stage 3 (see tune_pipeline)

Builds calm / turnaround / escalation calls (callsim.emotion_calls; 15-60 s of customer speech), scores
the true turns of both parties with the model (``turn_evidence``: speaker-relative and absolute
evidence), caches that evidence in /tmp, and grid-searches relative_weight x neutral prior x
uncertain_below, with the temperature fitted (negative log-likelihood of the true turn labels) for each
combination, for both kinds of absolute evidence (absolute_reference turn / global). Choice: the highest
per-turn 4-class UAR (both parties) minus the share of truly neutral turns labelled angry; ties to the
better calibrated (lower negative log-likelihood of the true labels). The QA rule thresholds are then
chosen on the same calls with the configured decision layer (see tune_rules). Prints the grid's best rows and the choice; the corpora it is run on must
be speakers the model never saw for the numbers to mean anything (``open`` was trained on EmoDB only,
so RAVDESS + nEMO calls are unseen speakers for it).

Stage 3 (``--pipeline``, issue 13's second pass): the calls go through the real pipeline (VAD, turn-taking,
``analyze_file``), so the evidence is that of the turns a user gets, not of the true turns; with the decision
layer configured in analyzer/config.py it chooses ``uncertain_angry_below`` and then the triggers of the
``customer_ends_angry`` rule (:func:`tune_pipeline`).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyzer.emotion import LABELS, load_model  # noqa: E402
from analyzer.emotion.functionals import uar  # noqa: E402
from analyzer.config import EmotionConfig  # noqa: E402
from analyzer.emotion.scoring import decide, turn_evidence, turn_rows  # noqa: E402
from callsim.emotion_calls import TRAJECTORIES, emotion_cohort, simulate_emotion_call  # noqa: E402

CORPORA_ROOT = ROOT.parent / "shared" / "corpora"  # --corpora-root overrides
CACHE = Path("/tmp/call-analyzer-emotion-decision-cache")
REFERENCES = ("turn", "global")


def call_evidence(model, params, absolute_reference: str) -> dict:
    """Evidence for the true turns of one simulated call: party, true label, p_relative, p_absolute."""
    call = simulate_emotion_call(params, corpora_root=CORPORA_ROOT)
    turns = call.truth["turns"]
    ch = {"agent": 0, "customer": 1}
    clips = [call.stereo[int(t["start_s"] * call.sample_rate_hz): int(t["end_s"] * call.sample_rate_hz), ch[t["speaker"]]]
             for t in turns]
    ids, p_rel, p_abs = turn_evidence(model, clips, call.sample_rate_hz, [t["speaker"] for t in turns],
                                      absolute_reference=absolute_reference)
    return {"speaker": [turns[i]["speaker"] for i in ids], "label": [LABELS.index(turns[i]["label"]) for i in ids],
            "start_s": [turns[i]["start_s"] for i in ids], "end_s": [turns[i]["end_s"] for i in ids],
            "p_relative": p_rel.tolist(), "p_absolute": p_abs.tolist(), "trajectory": params.trajectory,
            "corpus": params.corpus, "customer_speech_s": call.truth["customer_speech_s"]}


def collect(model_name: str, corpora: list[str], n_per: int, seed: int, absolute_reference: str) -> list[dict]:
    CACHE.mkdir(parents=True, exist_ok=True)
    model = load_model(model_name)
    if getattr(model, "scores_audio", False):  # encoder models: absolute_reference does not apply, same evidence
        absolute_reference = REFERENCES[0]
    weights = model.config.get("heads_sha256") or model.config.get("weights_sha256") or ""  # encoder models: their heads
    key = f"{model_name}-{weights[:12]}-{'_'.join(corpora)}-{n_per}-{seed}-{absolute_reference}.json"
    path = CACHE / key
    if path.exists():
        return json.loads(path.read_text())
    calls = []
    for corpus in corpora:
        for k, trajectory in enumerate(TRAJECTORIES):
            for params in emotion_cohort(corpus, trajectory, n_per, seed=seed + 100 * k):
                calls.append(call_evidence(model, params, absolute_reference))
        print(f"  evidence: {corpus} done ({len(calls)} calls)", flush=True)
    path.write_text(json.dumps(calls))
    return calls


def fit_temperature(logp: np.ndarray, y: np.ndarray) -> float:
    """Temperature minimising the mean negative log-likelihood of ``y`` under softmax(logp / T)."""
    best_t, best = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.3), np.log(5.0), 60)):
        z = logp / t
        z = z - z.max(axis=1, keepdims=True)
        nll = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]))
        if nll < best:
            best_t, best = float(t), nll
    return best_t


def expected_calibration_error(p: np.ndarray, y: np.ndarray, *, n_bins: int = 10) -> float:
    """ECE of the top-class probability: mean |accuracy - confidence| over 10 equal-width bins, weighted by count."""
    conf, right = p.max(axis=1), p.argmax(axis=1) == y
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    return float(sum(abs(right[bins == b].mean() - conf[bins == b].mean()) * np.mean(bins == b)
                     for b in range(n_bins) if np.any(bins == b)))


def cross_corpus_calibration(calls: list[dict], w: float, prior: tuple, corpora: list[str]) -> None:
    """Temperature fitted on one corpus's calls, tested on the other's (speakers grouped by corpus): ECE and NLL."""
    if len(corpora) < 2:
        return
    print("\n| T fitted on | tested on | T | ECE raw model | ECE fitted T | NLL raw | NLL fitted T |\n|---|---|---|---|---|---|---|")
    for fit_c, test_c in ((corpora[0], corpora[1]), (corpora[1], corpora[0])):
        def stack(c):
            sel = [x for x in calls if x["corpus"] == c]
            return (np.concatenate([np.array(x["p_relative"]) for x in sel]), np.concatenate([np.array(x["p_absolute"]) for x in sel]),
                    np.concatenate([np.array(x["label"]) for x in sel]))
        fr, fa, fy = stack(fit_c)
        tr, ta, ty = stack(test_c)
        t = fit_temperature(w * np.log(np.clip(fr, 1e-12, 1)) + (1 - w) * np.log(np.clip(fa, 1e-12, 1)) + np.log(prior), fy)
        p_fit, _, _ = decide(tr, ta, relative_weight=w, prior=prior, temperature=t, uncertain_below=0.0, uncertain_angry_below=0.0)
        nll = lambda p: float(np.mean(-np.log(np.clip(p[np.arange(len(ty)), ty], 1e-12, 1))))  # noqa: E731
        print(f"| {fit_c} | {test_c} | {t:.2f} | {expected_calibration_error(tr, ty):.3f} | "
              f"{expected_calibration_error(p_fit, ty):.3f} | {nll(tr):.3f} | {nll(p_fit):.3f} |")


def evaluate(p_rel, p_abs, y, w, prior, temperature, uncertain):
    p, labels, unc = decide(p_rel, p_abs, relative_weight=w, prior=prior, temperature=temperature, uncertain_below=uncertain,
                            uncertain_angry_below=0.0)
    neutral = y == 0
    return {"uar": uar(y, labels), "false_angry": float(np.mean(labels[neutral] == 2)) if neutral.any() else 0.0,
            "uncertain_share": float(unc.mean()), "nll": float(np.mean(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1))))}


def main(argv=None) -> int:
    global CORPORA_ROOT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="open")
    ap.add_argument("--corpora", default="ravdess,nemo")
    ap.add_argument("--calls-per-trajectory", type=int, default=12)
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--pipeline", action="store_true",
                    help="stage 3: the angry floor and the customer_ends_angry rule on the real pipeline's turns "
                         "(VAD, turns) of training-corpus calls, with the configured decision layer")
    ap.add_argument("--corpora-root", default=str(CORPORA_ROOT), help="the shared corpora folder (default: %(default)s)")
    args = ap.parse_args(argv)
    CORPORA_ROOT = Path(args.corpora_root)
    corpora = args.corpora.split(",")
    bad = set(corpora) - {"emodb", "ravdess", "nemo"}
    if bad:
        ap.error(f"tuning may use training corpora only (emodb, ravdess, nemo); got {', '.join(sorted(bad))}")
    if args.pipeline:
        calls = pipeline_evidence(args.model, build_calls(corpora, args.calls_per_trajectory, PIPELINE_SEED))
        tune_pipeline(calls, EmotionConfig().decision_for(load_model(args.model).config))
        return 0
    rows, evidence = [], {}
    for reference in REFERENCES:
        calls = collect(args.model, corpora, args.calls_per_trajectory, args.seed, reference)
        evidence[reference] = calls
        p_rel = np.concatenate([np.array(c["p_relative"]) for c in calls])
        p_abs = np.concatenate([np.array(c["p_absolute"]) for c in calls])
        y = np.concatenate([np.array(c["label"]) for c in calls])
        corpus = np.concatenate([[c["corpus"]] * len(c["label"]) for c in calls])
        for w, neutral_share in itertools.product((0.0, 0.25, 0.5, 0.75, 1.0), (0.25, 0.4, 0.55, 0.7)):
            prior = (neutral_share,) + ((1 - neutral_share) / 3,) * 3
            logp = (w * np.log(np.clip(p_rel, 1e-12, 1)) + (1 - w) * np.log(np.clip(p_abs, 1e-12, 1)) + np.log(prior))
            t = fit_temperature(logp, y)
            for unc in (0.0, 0.4, 0.5, 0.6):
                m = evaluate(p_rel, p_abs, y, w, prior, t, unc)
                per = {c: evaluate(p_rel[corpus == c], p_abs[corpus == c], y[corpus == c], w, prior, t, unc)["uar"]
                       for c in corpora}
                rows.append({"absolute_reference": reference, "relative_weight": w, "prior_neutral": neutral_share,
                             "temperature": round(t, 3), "uncertain_below": unc, **m, **{f"uar_{c}": v for c, v in per.items()}})
    print(f"{len(calls)} calls, {len(y)} turns, true label shares " +
          ", ".join(f"{lab} {np.mean(y == k):.2f}" for k, lab in enumerate(LABELS)))
    best = max(rows, key=lambda r: (round(r["uar"] - r["false_angry"], 3), -r["nll"]))
    rows.sort(key=lambda r: -(r["uar"] - r["false_angry"]))
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows[:25]:
        print("| " + " | ".join(f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")
    base = evaluate(p_rel, p_abs, y, 1.0, (0.25,) * 4, 1.0, 0.0)
    print(f"\nraw model (relative evidence only, uniform prior, T=1): UAR {base['uar']:.3f}, "
          f"false angry {base['false_angry']:.3f}, NLL {base['nll']:.3f}")
    print(f"choice (max UAR minus false-angry share of neutral turns, ties to lower NLL): {json.dumps(best)}")
    config = EmotionConfig()
    configured = config.decision_for(load_model(args.model).config)
    print(f"configured (analyzer/config.py, or the model folder's own decision block): {configured}")
    decision = {k: v for k, v in configured.items() if k != "absolute_reference"}
    cross_corpus_calibration(evidence[config.absolute_reference], decision["relative_weight"], decision["prior"], corpora)
    tune_rules(evidence[config.absolute_reference], decision)
    return 0


def tune_rules(calls: list[dict], decision: dict) -> None:
    """Thresholds of the QA emotion rules on the same calls, with the configured decision layer.

    customer_ends_angry: (valence_below, min_confidence) maximising firing on escalations minus firing on
    calm calls, with at most 5 % of calm calls firing. agent_angry: the lowest min_confidence (grid) at which
    at most 5 % of the calls (all with calm agents) would fail.
    """
    from analyzer.metrics.emotion import call_emotion_summary
    from analyzer.qa import evaluate, parse_rules

    rows_by_call = []
    for c in calls:
        p, labels, unc = decide(np.array(c["p_relative"]), np.array(c["p_absolute"]), **decision)
        rows = turn_rows(len(labels), list(range(len(labels))), p, labels, unc)
        for r, spk, a, b in zip(rows, c["speaker"], c["start_s"], c["end_s"]):
            r.update(speaker=spk, start_s=a, end_s=b)
        rows_by_call.append((c["trajectory"], {"turns": rows, "metrics": call_emotion_summary(rows)[0]}))
    print("\n| valence_below | min_confidence | fires on escalation | fires on calm | fires on turnaround |\n|---|---|---|---|---|")
    results = []
    for below, conf in itertools.product((-0.2, -0.3, -0.4, -0.5), (0.4, 0.5, 0.6, 0.7)):
        rules = parse_rules({"rules": [{"id": "end", "type": "customer_ending_angry", "valence_below": below,
                                        "last_turns": 2, "min_confidence": conf, "severity": "critical", "weight": 20}]})
        fire = {t: np.mean([bool(evaluate(rules, call)["failed"]) for tr, call in rows_by_call if tr == t]) for t in TRAJECTORIES}
        results.append((below, conf, fire))
        print(f"| {below} | {conf} | {fire['escalation']:.2f} | {fire['calm']:.2f} | {fire['turnaround']:.2f} |")
    ok = [r for r in results if r[2]["calm"] <= 0.05] or results
    below, conf, fire = max(ok, key=lambda r: (round(r[2]["escalation"] - r[2]["calm"], 3), r[1]))
    print(f"customer_ends_angry choice: valence_below {below}, min_confidence {conf} "
          f"(escalation {fire['escalation']:.2f}, calm {fire['calm']:.2f})")
    agent_p = [max([r["p_angry"] for r, in zip(call["turns"]) if r["speaker"] == "agent" and r["emotion_label"] == "angry"] or [0.0])
               for _, call in rows_by_call]
    for conf in (0.5, 0.6, 0.7, 0.8, 0.9):
        share = float(np.mean(np.array(agent_p) >= conf))
        print(f"agent_angry min_confidence {conf}: {share:.2f} of calls (calm agents) would fail")


PIPELINE_SEED = 6101  # + 101 per corpus, + 10 per trajectory
PIPELINE_WORK = Path("/tmp/call-analyzer-emotion-decision-calls")


def build_calls(corpora: list[str], n_per: int, seed: int) -> list[tuple[str, str, Path]]:
    """(corpus, trajectory, wav) of simulated stereo calls written once into /tmp (written again if missing)."""
    from callsim.emotion_calls import write_emotion_call

    out = []
    for c, corpus in enumerate(corpora):
        for k, trajectory in enumerate(TRAJECTORIES):
            for i, params in enumerate(emotion_cohort(corpus, trajectory, n_per, seed=seed + 101 * c + 10 * k)):
                name = f"{trajectory}_{i:03d}"
                wav = PIPELINE_WORK / corpus / f"{name}.wav"
                if not (wav.exists() and (wav.parent / f"{name}.truth.json").exists()):
                    write_emotion_call(simulate_emotion_call(params, corpora_root=CORPORA_ROOT), wav.parent, name)
                out.append((corpus, trajectory, wav))
    return out


def _true_label(turn: dict, truth: dict | None) -> str | None:
    """Label of the true turn of the same speaker that covers at least half of ``turn``, else None."""
    best, best_overlap = None, 0.0
    for g in (truth or {}).get("turns", []):
        overlap = min(turn["end_s"], g["end_s"]) - max(turn["start_s"], g["start_s"])
        if g["speaker"] == turn["speaker"] and overlap > best_overlap:
            best, best_overlap = g, overlap
    return best["label"] if best is not None and best_overlap >= 0.5 * (turn["end_s"] - turn["start_s"]) else None


def pipeline_evidence(model: str, calls: list[tuple[str, str, Path]]) -> list[dict]:
    """Every call through ``analyze_file`` (default config, ``model``), recording the evidence the decision layer got.

    One dict per call: corpus, trajectory, name and its pipeline turns (speaker, start_s, end_s, ``truth``: the
    overlapped true turn's label or None) with ``p_relative`` / ``p_absolute`` on the scored ones. Cached in /tmp.
    """
    import torch

    import analyzer.emotion.scoring as scoring
    from analyzer.config import AnalysisConfig
    from analyzer.pipeline import analyze_file

    loaded = load_model(model)
    key = hashlib.sha256(json.dumps([model, loaded.config.get("heads_sha256") or loaded.config.get("weights_sha256"),
                                     [str(w) for _, _, w in calls]]).encode()).hexdigest()[:16]
    path = CACHE / f"pipeline-{model}-{key}.json"
    if path.exists():
        return json.loads(path.read_text())
    torch.set_num_threads(1)
    captured, original = [], scoring.turn_evidence

    def recording(*a, **kw):
        captured.append(original(*a, **kw))
        return captured[-1]

    scoring.turn_evidence = recording
    config, out = AnalysisConfig().replace(emotion={"model": model}), []
    try:
        for corpus, trajectory, wav in calls:
            captured.clear()
            result = analyze_file(wav, config, call_id=wav.stem, emotion_model=loaded).to_dict()
            truth_path = wav.parent / f"{wav.stem}.truth.json"
            truth = json.loads(truth_path.read_text()) if truth_path.exists() else None
            if len(captured) != 1:  # the calls are far shorter than a chunk (emotion.chunk_s)
                raise RuntimeError(f"{wav}: scored in {len(captured)} chunks; pipeline_evidence expects one")
            ids, rel, ab = captured[0]
            evidence = {i: (rel[k].tolist(), ab[k].tolist()) for k, i in enumerate(ids)}
            rows = []
            for j, t in enumerate(result["turns"]):
                row = {"speaker": t["speaker"], "start_s": t["start_s"], "end_s": t["end_s"], "truth": _true_label(t, truth)}
                if j in evidence:
                    row["p_relative"], row["p_absolute"] = evidence[j]
                rows.append(row)
            out.append({"corpus": corpus, "trajectory": trajectory, "name": wav.stem, "turns": rows})
    finally:
        scoring.turn_evidence = original
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out))
    return out


def decided_call(call: dict, decision: dict) -> dict:
    """A call dict for the QA rules (``turns`` with the emotion keys, ``metrics``) from recorded evidence and ``decision``."""
    from analyzer.metrics.emotion import call_emotion_summary

    rows = [{"speaker": t["speaker"], "start_s": t["start_s"], "end_s": t["end_s"], "truth": t["truth"],
             "emotion_label": None, "valence": None} for t in call["turns"]]
    scored = [k for k, t in enumerate(call["turns"]) if "p_relative" in t]
    if scored:
        p, labels, unc = decide(np.array([call["turns"][k]["p_relative"] for k in scored]),
                                np.array([call["turns"][k]["p_absolute"] for k in scored]), **decision)
        for k, emo in zip(scored, turn_rows(len(scored), list(range(len(scored))), p, labels, unc)):
            rows[k].update(emo)
    return {"turns": rows, "metrics": call_emotion_summary(rows)[0]}


def ending_rule_grid(decided: list[tuple[str, dict]]) -> list[tuple[dict, dict]]:
    """(customer_ending_angry parameters, firing share per trajectory) for every combination of its triggers
    (valence_below; last_turns 2 with a floor; anger_rise_above; end_anger_above) on ``decided`` (trajectory, call)."""
    from analyzer.qa import evaluate as qa_evaluate, parse_rules

    results = []
    for below, conf, rise, end in itertools.product((None, -0.3), (None, 0.6, 0.7, 0.8), (None, 0.1, 0.15, 0.2, 0.25, 0.3),
                                                    (None, 0.6, 0.7, 0.8)):
        params = {k: v for k, v in (("valence_below", below), ("anger_rise_above", rise), ("end_anger_above", end)) if v is not None}
        if conf is not None:
            params.update(last_turns=2, min_confidence=conf)
        if not params:
            continue
        rules = parse_rules({"rules": [{"id": "end", "type": "customer_ending_angry", "severity": "critical", "weight": 20, **params}]})
        fire = {tr: float(np.mean([bool(qa_evaluate(rules, call)["failed"]) for t, call in decided if t == tr])) for tr in TRAJECTORIES}
        results.append((params, fire))
    return results


def tune_pipeline(calls: list[dict], configured: dict) -> None:
    """Stage 3, on the pipeline's turns with the configured decision layer (analyzer/config.py).

    1. ``uncertain_angry_below`` (grid 0, 0.5, ..., 0.8): the same choice as stage 1, highest per-turn UAR (both
       parties) minus the share of truly neutral turns labelled angry.
    2. ``customer_ends_angry``: every combination of its triggers (valence_below; last_turns 2 with a floor;
       anger_rise_above; end_anger_above), as stage 2: the largest firing on escalations minus firing on calm calls
       with at most 5 % of calm calls firing, ties to fewer turnarounds firing.
    """
    decision = {k: v for k, v in configured.items() if k != "absolute_reference"}
    turns = sum(len(c["turns"]) for c in calls)
    print(f"{len(calls)} calls through the pipeline, {turns} turns; configured: {decision}")
    print("\n| uncertain_angry_below | UAR | false angry (neutral turns) | angry recall | UAR - false angry |\n|---|---|---|---|---|")
    scores = []
    for floor in (0.0, 0.5, 0.6, 0.7, 0.8):
        y, yhat = [], []
        for c in calls:
            for t in decided_call(c, {**decision, "uncertain_angry_below": floor})["turns"]:
                if t["emotion_label"] is not None and t["truth"] is not None:
                    y.append(LABELS.index(t["truth"]))
                    yhat.append(LABELS.index(t["emotion_label"]))
        y, yhat = np.array(y), np.array(yhat)
        u, fa, rec = uar(y, yhat), float(np.mean(yhat[y == 0] == 2)), float(np.mean(yhat[y == 2] == 2))
        scores.append((round(u - fa, 3), floor))
        print(f"| {floor} | {u:.3f} | {fa:.3f} | {rec:.3f} | {u - fa:.3f} |")
    print(f"uncertain_angry_below choice: {max(scores, key=lambda r: (r[0], -r[1]))[1]}")
    decided = [(c["trajectory"], decided_call(c, decision)) for c in calls]
    print("\n| valence_below | last_turns (min_confidence) | anger_rise_above | end_anger_above | escalation | calm | turnaround |"
          "\n|---|---|---|---|---|---|---|")
    results = ending_rule_grid(decided)
    for params, fire in results:
        conf = params.get("min_confidence")
        print(f"| {params.get('valence_below')} | {conf} | {params.get('anger_rise_above')} | {params.get('end_anger_above')} | "
              f"{fire['escalation']:.2f} | {fire['calm']:.2f} | {fire['turnaround']:.2f} |")
    ok = [r for r in results if r[1]["calm"] <= 0.05] or results
    best = max(round(f["escalation"] - f["calm"], 3) for _, f in ok)
    ties = [r for r in ok if round(r[1]["escalation"] - r[1]["calm"], 3) == best]
    least = min(f["turnaround"] for _, f in ties)
    print(f"customer_ends_angry: best escalation - calm {best:.2f}; the tied choices with the fewest turnarounds firing "
          f"({least:.2f}):")
    for params, fire in ties:
        if fire["turnaround"] == least:
            print(f"  {params}: escalation {fire['escalation']:.2f}, calm {fire['calm']:.2f}")
    agent_p = [max([t["p_angry"] for t in call["turns"] if t["speaker"] == "agent" and t["emotion_label"] == "angry"] or [0.0])
               for _, call in decided]
    for conf in (0.7, 0.8, 0.9):
        print(f"agent_angry min_confidence {conf}: {np.mean(np.array(agent_p) >= conf):.2f} of calls (calm agents) would fail")


if __name__ == "__main__":
    raise SystemExit(main())
