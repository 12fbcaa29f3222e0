"""Choose an encoder emotion model's (v2, v3) decision layer on OUT-OF-FOLD scores of training-corpus calls (issue 13, third pass).

    python scripts/tune_emotion_decision_oof.py --model multi [--write]     # or --model open (report only)

The objective was written down before the first run: bench/emotion_decision_oof_objective.md. In short:

1. Simulated stereo 8 kHz calls (callsim.emotion_calls) from the training corpora EmoDB, RAVDESS and nEMO,
   ``--calls-per-trajectory`` per corpus and trajectory. The speakers of each corpus are dealt into 5 folds
   (``speaker_folds``, seed 0, as scripts/train_emotion_encoder.py's CV); a call's agent and customer are both
   speakers of one fold.
2. Every call goes through the real pipeline (``analyze_file``); the pooled encoder features of its windows are
   recorded (cached under /tmp). Each call is then scored by heads refit with the model's own recipe (its
   config.json ``training``: corpora, pooled blocks and statistics, C, augmented copies; the cached clip
   features of scripts/train_emotion_encoder.py; the relative-head weight of heads.json) on the training clips WITHOUT that fold's speakers. So ``multi``, whose heads
   saw all three corpora, is judged on speakers its heads did not see; corpora a model never trained on
   (RAVDESS, nEMO for ``open``) are scored by the shipped heads.
3. Stage A: grid over relative_weight x neutral prior x uncertain_below x uncertain_angry_below, temperature
   fitted by NLL per (weight, prior); choice = max per-turn UAR minus the share of truly neutral turns labelled
   angry (ties: lower NLL, then the higher angry floor).
4. Stage B: the ``customer_ends_angry`` triggers with stage A's layer (max escalations - calm firing, calm at
   most 5 %, ties to fewer turnarounds, then the shipped rule if tied, else the highest thresholds), and the
   lowest ``agent_angry`` floor at which at most 5 % of the calm-agent calls fail.

Prints and writes ``--out`` (default bench/emotion_decision_oof_<model>.md and .json). ``--write`` stores stage A's
choice as the model folder's ``decision`` block in its config.json (read by analyze, see EmotionConfig.
decision_for); the heads and their checksum are not touched. Re-run after the heads change (the clip features
and the calls' window features are cached; a re-run with new heads takes a few minutes). One thread, seeded.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import pickle
import sys
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from analyzer.config import EmotionConfig  # noqa: E402
from analyzer.emotion import LABELS, load_model  # noqa: E402
from analyzer.emotion.encoder import POOL_STATS  # noqa: E402
from analyzer.emotion.functionals import uar  # noqa: E402
from analyzer.emotion.scoring import decide, pooled_evidence  # noqa: E402
from callsim.emotion_calls import (TRAJECTORIES, EmotionCallParams, emotion_corpus_index, simulate_emotion_call,  # noqa: E402
                                   write_emotion_call)
from callsim.simulate import call_seed  # noqa: E402
from tune_emotion_decision import _true_label, decided_call, ending_rule_grid, fit_temperature  # noqa: E402

CORPORA_ROOT = ROOT.parent / "shared" / "corpora"
CALLS_DIR = Path("/tmp/call-analyzer-emotion-oof-calls")
CACHE = Path("/tmp/call-analyzer-emotion-oof-cache")
TRAINING = ("emodb", "ravdess", "nemo")
N_FOLDS, FOLD_SEED, CALL_SEED = 5, 0, 7301
WEIGHTS, NEUTRAL_PRIORS = (0.0, 0.25, 0.5, 0.75, 1.0), (0.25, 0.4, 0.55, 0.7)
UNCERTAIN, ANGRY_FLOORS = (0.0, 0.4, 0.5, 0.6), (0.0, 0.5, 0.6, 0.7, 0.8)
SHIPPED_RULE = {"anger_rise_above": 0.15, "end_anger_above": 0.8, "last_turns": 2, "min_confidence": 0.8}


def speaker_fold_of(corpora: tuple[str, ...]) -> dict[str, int]:
    """Fold of every speaker (``corpus:id``) of ``corpora``, dealt as scripts/train_emotion_encoder.py deals them."""
    from analyzer.emotion.train.corpora import list_clips
    from analyzer.emotion.train.encoder_heads import speaker_folds

    clips = [c for corpus in corpora for c in list_clips(corpus, CORPORA_ROOT)]
    folds = speaker_folds([c.speaker for c in clips], [c.corpus for c in clips], n_folds=N_FOLDS, seed=FOLD_SEED)
    return {c.speaker: int(f) for c, f in zip(clips, folds)}


def design_calls(corpora: tuple[str, ...], n_per: int, fold_of: dict[str, int], *, seed: int = CALL_SEED
                 ) -> list[tuple[EmotionCallParams, int]]:
    """(call design, fold) for ``n_per`` calls per corpus and trajectory; agent and customer from the same fold.

    Call ``i`` goes to fold ``i % 5`` (the next fold with two usable speakers if that one has fewer).
    """
    out = []
    for c, corpus in enumerate(corpora):
        index = emotion_corpus_index(CORPORA_ROOT, corpus)
        for k, trajectory in enumerate(TRAJECTORIES):
            needed = set(TRAJECTORIES[trajectory])
            for i in range(n_per):
                design_seed = call_seed(seed + 101 * c + 10 * k, i)
                rng = np.random.default_rng(design_seed)
                for step in range(N_FOLDS):
                    fold = (i + step) % N_FOLDS
                    members = [s for s in index if fold_of.get(f"{corpus}:{s.speaker_id}") == fold]
                    customers = [s for s in members if needed <= set(s.clips)]
                    if customers and any("neutral" in s.clips and s is not cu for s in members for cu in customers):
                        break
                else:
                    raise SystemExit(f"{corpus}: no fold has an agent and a customer for {trajectory}")
                customer = customers[rng.integers(len(customers))]
                agents = [s for s in members if "neutral" in s.clips and s.speaker_id != customer.speaker_id]
                if not agents:  # this customer is the fold's only agent candidate: take another customer
                    customer = next(cu for cu in customers if any(s.speaker_id != cu.speaker_id for s in members if "neutral" in s.clips))
                    agents = [s for s in members if "neutral" in s.clips and s.speaker_id != customer.speaker_id]
                agent = agents[rng.integers(len(agents))]
                out.append((EmotionCallParams(seed=design_seed, corpus=corpus, trajectory=trajectory,
                                              customer_speech_s=float(rng.uniform(15.0, 60.0)),
                                              agent_speaker=agent.speaker_id, customer_speaker=customer.speaker_id), fold))
    return out


def pooled_layout(model) -> dict:
    """What the pooled window features of ``model`` depend on: the encoder's weights (sha256), the blocks run
    (``layer``), int8, the pooled blocks and the statistics over frames (v2 folders: ``(layer,)``, mean and std)."""
    encoder = model.config["encoder"]
    return {"sha256": encoder["sha256"], "layer": int(encoder["layer"]), "int8": bool(encoder.get("int8", False)),
            "blocks": list(model.blocks), "stats": list(model.stats)}


def calls_cache_key(model, designs: list[EmotionCallParams]) -> str:
    """Cache key (16 hex digits) of the calls' recorded window features: the model's :func:`pooled_layout` and
    the call designs (the heads do not enter: the features do not depend on them)."""
    payload = [pooled_layout(model), [dataclasses.asdict(p) for p in designs]]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:16]


def record_calls(designs: list[tuple[EmotionCallParams, int]], model_name: str) -> list[dict]:
    """Every call through ``analyze_file``, recording the windows and pooled features the emotion stage scored.

    One dict per call: corpus, trajectory, fold, speakers, ``turns`` (pipeline turns: speaker, start_s, end_s,
    truth) and the scored chunk's ``windows`` (AudioWindows), ``features`` and ``speakers``. Cached in /tmp (the
    features depend only on the encoder, not on the heads).
    """
    import torch

    import analyzer.emotion.scoring as scoring
    from analyzer.config import AnalysisConfig
    from analyzer.pipeline import analyze_file

    loaded = load_model(model_name)
    path = CACHE / f"calls-{calls_cache_key(loaded, [p for p, _ in designs])}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    torch.set_num_threads(1)
    captured, original = [], scoring._audio_model_evidence

    def recording(model, clips, sample_rate_hz, speakers, **kw):
        windows = scoring.audio_windows(clips, sample_rate_hz, **kw)
        features = model.features(windows.clips_16k)  # (0, d) when nothing is scored
        captured.append((windows, features, list(speakers)))
        if not windows.ids:
            return [], np.zeros((0, len(LABELS))), np.zeros((0, len(LABELS)))
        return (windows.ids, *pooled_evidence(model, features, windows, speakers))

    scoring._audio_model_evidence = recording
    out, t0 = [], time.time()
    try:
        for n, (params, fold) in enumerate(designs):
            name = f"{params.trajectory}_{params.seed}"
            wav = CALLS_DIR / params.corpus / f"{name}.wav"
            if not (wav.exists() and (wav.parent / f"{name}.truth.json").exists()):
                write_emotion_call(simulate_emotion_call(params, corpora_root=CORPORA_ROOT), wav.parent, name)
            truth = json.loads((wav.parent / f"{name}.truth.json").read_text())
            captured.clear()
            result = analyze_file(wav, AnalysisConfig().replace(emotion={"model": model_name}), call_id=name,
                                  emotion_model=loaded).to_dict()
            if len(captured) != 1:
                raise RuntimeError(f"{wav}: scored in {len(captured)} chunks; expected one")
            windows, features, speakers = captured[0]
            out.append({"corpus": params.corpus, "trajectory": params.trajectory, "fold": fold, "name": name,
                        "agent": truth["agent_speaker"], "customer": truth["customer_speaker"],
                        "turns": [{"speaker": t["speaker"], "start_s": t["start_s"], "end_s": t["end_s"],
                                   "truth": _true_label(t, truth)} for t in result["turns"]],
                        "windows": windows, "features": features, "speakers": speakers})
            if (n + 1) % 20 == 0:
                print(f"  {n + 1}/{len(designs)} calls recorded ({time.time() - t0:.0f} s)", flush=True)
    finally:
        scoring._audio_model_evidence = original
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL))
    return out


def head_recipe(model) -> dict:
    """The pooled-feature layout the heads were trained on (config.json ``training``: layer, int8, blocks, stats;
    v2 folders name no blocks/stats: ``(layer,)``, mean and std). Raises SystemExit if it is not the layout the
    model scores calls with (``encoder``), since the refit heads would then not fit the calls' features."""
    training = model.config["training"]
    layout = {"layer": int(training["layer"]), "int8": bool(training["int8"]),
              "blocks": tuple(int(b) for b in training.get("blocks", [training["layer"]])),
              "stats": tuple(training.get("stats", POOL_STATS))}
    scored = pooled_layout(model)
    if (layout["layer"], layout["int8"], list(layout["blocks"]), list(layout["stats"])) != \
            (scored["layer"], scored["int8"], scored["blocks"], scored["stats"]):
        raise SystemExit(f"{model.name}: config.json's training block ({layout}) and encoder block ({scored}) disagree "
                         "on the pooled features; retrain the folder")
    return layout


def fold_heads(model, fold_of: dict[str, int]) -> dict[int, object]:
    """The model with heads refit by its own recipe without each fold's speakers (``None`` key: the shipped model).

    A fold none of whose speakers is in the model's training corpora keeps the shipped heads. The refit on all clips
    must reproduce the shipped heads (checked: the recipe is the one the heads were made with).
    """
    from analyzer.emotion.train.encoder_heads import concat_sets, corpus_encoder_features, fit_heads

    training = model.config["training"]
    layout = head_recipe(model)
    encoder = types.SimpleNamespace(n_layers=layout["layer"], int8=layout["int8"])  # cache key only
    fs = concat_sets([corpus_encoder_features(c, encoder, n_augmented=int(training["n_augmented"]), root=CORPORA_ROOT,
                                              blocks=layout["blocks"], stats=layout["stats"])
                      for c in training["corpora"]])
    recipe = {"c_relative": float(training["c_relative"]), "c_absolute": float(training["c_absolute"])}
    check = fit_heads(fs, np.arange(len(fs.paths)), **recipe)
    if not all(np.allclose(a.coef, b.coef, atol=1e-6) and np.allclose(a.intercept, b.intercept, atol=1e-6)
               for a, b in zip(check, (model.relative, model.absolute))):
        raise SystemExit(f"{model.name}: refitting the recipe on all clips does not give the shipped heads; "
                         "the features cache or the recipe differs from the one the heads were made with")
    print(f"  the recipe refit on all {len(fs.paths)} clips reproduces the shipped heads (blocks {list(layout['blocks'])}, "
          f"{'+'.join(layout['stats'])}, C {recipe['c_relative']}/{recipe['c_absolute']}; fold heads keep the shipped "
          f"relative-head weight {model.relative_weight})", flush=True)
    out = {None: model}
    for f in range(N_FOLDS):
        keep = np.array([fold_of.get(s) != f for s in fs.speakers])
        if keep.all():
            out[f] = model
            continue
        relative, absolute = fit_heads(fs, np.where(keep)[0], **recipe)
        out[f] = dataclasses.replace(model, relative=relative, absolute=absolute)
        print(f"  fold {f}: heads refit without {int((~keep).sum())} clips of {len({s for s, k in zip(fs.speakers, keep) if not k})} speakers",
              flush=True)
    return out


def evidence_calls(calls: list[dict], models: dict, *, out_of_fold: bool) -> list[dict]:
    """Calls in tune_emotion_decision's pipeline format (turns with ``p_relative`` / ``p_absolute`` on the scored
    ones), scored by the fold's heads (``out_of_fold``) or by the shipped heads."""
    out = []
    for c in calls:
        model = models[c["fold"]] if out_of_fold else models[None]
        turns = [dict(t) for t in c["turns"]]
        if c["windows"].ids:
            rel, ab = pooled_evidence(model, c["features"], c["windows"], c["speakers"])
            for k, i in enumerate(c["windows"].ids):
                turns[i]["p_relative"], turns[i]["p_absolute"] = rel[k].tolist(), ab[k].tolist()
        out.append({"corpus": c["corpus"], "trajectory": c["trajectory"], "name": c["name"], "turns": turns})
    return out


def labelled_arrays(calls: list[dict]):
    """(p_relative, p_absolute, y, speaker, trajectory) of every scored pipeline turn with a true label."""
    rel, ab, y, spk, traj = [], [], [], [], []
    for c in calls:
        for t in c["turns"]:
            if "p_relative" in t and t["truth"] is not None:
                rel.append(t["p_relative"])
                ab.append(t["p_absolute"])
                y.append(LABELS.index(t["truth"]))
                spk.append(t["speaker"])
                traj.append(c["trajectory"])
    return np.array(rel), np.array(ab), np.array(y), np.array(spk), np.array(traj)


def stage_a(calls: list[dict]) -> tuple[dict, list[dict]]:
    """The grid of the declared objective; returns (choice, all rows)."""
    p_rel, p_abs, y, _, traj = labelled_arrays(calls)
    rows = []
    for w, neutral in itertools.product(WEIGHTS, NEUTRAL_PRIORS):
        prior = (neutral,) + ((1 - neutral) / 3,) * 3
        logp = w * np.log(np.clip(p_rel, 1e-12, 1)) + (1 - w) * np.log(np.clip(p_abs, 1e-12, 1)) + np.log(prior)
        t = fit_temperature(logp, y)
        for unc, floor in itertools.product(UNCERTAIN, ANGRY_FLOORS):
            p, labels, uncertain = decide(p_rel, p_abs, relative_weight=w, prior=prior, temperature=t, uncertain_below=unc,
                                          uncertain_angry_below=floor)
            neutral_turns, calm = y == 0, traj == "calm"
            rows.append({"relative_weight": w, "prior_neutral": neutral, "temperature": round(t, 3), "uncertain_below": unc,
                         "uncertain_angry_below": floor, "uar": uar(y, labels),
                         "false_angry": float(np.mean(labels[neutral_turns] == 2)),
                         "false_angry_calm_calls": float(np.mean(labels[calm] == 2)),
                         "angry_recall": float(np.mean(labels[y == 2] == 2)) if np.any(y == 2) else float("nan"),
                         "uncertain_share": float(uncertain.mean()),
                         "nll": float(np.mean(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1))))})
    for r in rows:
        r["objective"] = round(r["uar"] - r["false_angry"], 3)
    best = max(rows, key=lambda r: (r["objective"], -r["nll"], r["uncertain_angry_below"]))
    return best, rows


def decision_of(row: dict) -> dict:
    n = row["prior_neutral"]
    return {"relative_weight": row["relative_weight"], "prior": (n,) + (round((1 - n) / 3, 4),) * 3,
            "temperature": row["temperature"], "uncertain_below": row["uncertain_below"],
            "uncertain_angry_below": row["uncertain_angry_below"]}


def decision_row(calls: list[dict], decision: dict) -> dict:
    """Stage A's measures for one given decision layer (e.g. the shipped one) on ``calls``."""
    p_rel, p_abs, y, _, traj = labelled_arrays(calls)
    p, labels, uncertain = decide(p_rel, p_abs, **decision)
    return {"uar": uar(y, labels), "false_angry": float(np.mean(labels[y == 0] == 2)),
            "false_angry_calm_calls": float(np.mean(labels[traj == "calm"] == 2)),
            "angry_recall": float(np.mean(labels[y == 2] == 2)), "uncertain_share": float(uncertain.mean()),
            "nll": float(np.mean(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1))))}


def stage_b(calls: list[dict], decision: dict) -> dict:
    """customer_ends_angry and agent_angry on ``calls`` decided with ``decision`` (the declared rule)."""
    decided = [(c["trajectory"], decided_call(c, decision)) for c in calls]
    results = ending_rule_grid(decided)
    shipped = next(f for p, f in results if p == SHIPPED_RULE)
    ok = [r for r in results if r[1]["calm"] <= 0.05] or results
    best = max(round(f["escalation"] - f["calm"], 3) for _, f in ok)
    ties = [r for r in ok if round(r[1]["escalation"] - r[1]["calm"], 3) == best]
    least = min(f["turnaround"] for _, f in ties)
    ties = [r for r in ties if r[1]["turnaround"] == least]
    if any(p == SHIPPED_RULE for p, _ in ties):
        choice = next(r for r in ties if r[0] == SHIPPED_RULE)
    else:
        def height(p):  # higher thresholds first; a missing trigger counts as the strictest
            return tuple(p.get(k, 9.0) for k in ("end_anger_above", "anger_rise_above", "min_confidence")) + (-p.get("valence_below", -9.0),)
        choice = max(ties, key=lambda r: height(r[0]))
    agent_p = [max([t["p_angry"] for t in call["turns"] if t["speaker"] == "agent" and t["emotion_label"] == "angry"] or [0.0])
               for _, call in decided]
    agent = {conf: float(np.mean(np.array(agent_p) >= conf)) for conf in (0.7, 0.8, 0.9)}
    return {"choice": choice[0], "choice_fire": choice[1], "shipped_fire": shipped, "n_ties": len(ties),
            "ties": [p for p, _ in ties][:12], "agent_angry_fail_share": agent,
            "agent_angry_floor": next((c for c in (0.7, 0.8, 0.9) if agent[c] <= 0.05), None)}


def fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def report(model_name: str, calls: list[dict], variants: dict, source: str, n_per: int, cpu: dict) -> str:
    n_turns = len(next(iter(variants.values()))["y"])
    lines = [f"# Out-of-fold decision-layer tuning: `{model_name}`", "",
             f"`python scripts/tune_emotion_decision_oof.py --model {model_name.split('-')[1]}` "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}); objective declared beforehand in "
             "`bench/emotion_decision_oof_objective.md`. Training corpora only (EmoDB, RAVDESS, nEMO): "
             f"{len(calls)} simulated stereo 8 kHz calls ({n_per} per corpus x trajectory), {n_turns} scored pipeline turns "
             "with a true label; a call's two speakers come from one of 5 speaker folds and are scored by heads refit "
             "without that fold (out of fold). CPU: " + ", ".join(f"{k} {v:.0f} s" for k, v in cpu.items()) + ".", ""]
    for label, v in variants.items():
        best, rows = v["a"]
        lines += [f"## {label}", "", "Stage A, top 10 of the grid (objective = UAR - false angry):", "",
                  "| w | prior neutral | T | uncertain_below | angry floor | UAR | false angry (neutral turns) | angry turns in calm calls | angry recall | uncertain | NLL | objective |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in sorted(rows, key=lambda r: (-r["objective"], r["nll"]))[:10]:
            lines.append("| " + " | ".join(fmt(r[k]) for k in ("relative_weight", "prior_neutral", "temperature", "uncertain_below",
                                                                 "uncertain_angry_below", "uar", "false_angry", "false_angry_calm_calls",
                                                                 "angry_recall", "uncertain_share", "nll", "objective")) + " |")
        s = v["shipped_a"]
        lines += ["", f"Choice: `{json.dumps(decision_of(best))}`: UAR {best['uar']:.3f}, false angry {best['false_angry']:.3f}, "
                      f"angry recall {best['angry_recall']:.3f}, NLL {best['nll']:.3f}.",
                  f"The configured layer ({source}) on the same scores: UAR {s['uar']:.3f}, false angry "
                  f"{s['false_angry']:.3f}, angry turns in calm calls {s['false_angry_calm_calls']:.3f}, angry recall "
                  f"{s['angry_recall']:.3f}, NLL {s['nll']:.3f}, objective {s['uar'] - s['false_angry']:.3f}.", ""]
        b = v["b"]
        lines += [f"Stage B with the choice: customer_ends_angry `{json.dumps(b['choice'])}` fires on escalations "
                  f"{b['choice_fire']['escalation']:.2f}, calm {b['choice_fire']['calm']:.2f}, turnarounds "
                  f"{b['choice_fire']['turnaround']:.2f} ({b['n_ties']} tied); the shipped rule: escalations "
                  f"{b['shipped_fire']['escalation']:.2f}, calm {b['shipped_fire']['calm']:.2f}, turnarounds "
                  f"{b['shipped_fire']['turnaround']:.2f}. agent_angry: share of calm-agent calls failing at floor "
                  + ", ".join(f"{k}: {x:.2f}" for k, x in b["agent_angry_fail_share"].items())
                  + f" (lowest floor at <= 5 %: {b['agent_angry_floor']}).", ""]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=("open", "multi"), required=True)
    ap.add_argument("--calls-per-trajectory", type=int, default=12)
    ap.add_argument("--call-seed", type=int, default=CALL_SEED,
                    help="seed of the call designs (default %(default)s, the shipped choice's; another one checks its stability)")
    ap.add_argument("--write", action="store_true", help="store stage A's out-of-fold choice in the model folder's config.json")
    ap.add_argument("--out", help="report path (default bench/emotion_decision_oof_<model>.md)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    cpu, t0 = {}, time.process_time()
    model = load_model(args.model)
    fold_of = speaker_fold_of(TRAINING)
    designs = design_calls(TRAINING, args.calls_per_trajectory, fold_of, seed=args.call_seed)
    calls = record_calls(designs, args.model)
    cpu["calls (simulation + pipeline, or cache)"] = time.process_time() - t0
    t1 = time.process_time()
    models = fold_heads(model, fold_of)
    cpu["head refits"] = time.process_time() - t1
    shipped = {k: v for k, v in EmotionConfig().decision_for(model.config).items() if k != "absolute_reference"}
    source = "the model folder's own decision block" if model.config.get("decision") else "analyzer/config.py defaults"
    variants = {}
    for label, oof in (("out of fold (heads without the call's speakers)", True), ("in sample (shipped heads)", False)):
        if not oof and model.config["training"]["corpora"] == ["emodb"]:
            continue  # open: only EmoDB calls differ, and the out-of-fold variant is the honest one
        ev = evidence_calls(calls, models, out_of_fold=oof)
        a = stage_a(ev)
        variants[label] = {"a": a, "shipped_a": decision_row(ev, shipped), "b": stage_b(ev, decision_of(a[0])),
                           "decision": decision_of(a[0]), "y": labelled_arrays(ev)[2]}
        print(f"{label}: choice {variants[label]['decision']}", flush=True)
    cpu["grid"] = time.process_time() - t1 - cpu["head refits"]
    text = report(model.name, calls, variants, source, args.calls_per_trajectory, cpu)
    print(text)
    out = Path(args.out or ROOT / "bench" / f"emotion_decision_oof_{args.model}.md")
    out.write_text(text, encoding="utf-8")
    oof = next(iter(variants.values()))
    out.with_suffix(".json").write_text(json.dumps({"model": model.name, "heads_sha256": model.config.get("heads_sha256"),
                                                    "calls": len(calls), "fold_of": fold_of,
                                                    "variants": {k: {"decision": v["decision"], "choice": v["a"][0],
                                                                     "shipped": v["shipped_a"], "rules": v["b"]}
                                                                 for k, v in variants.items()}},
                                                   indent=1, default=str) + "\n", encoding="utf-8")
    if args.write:
        write_decision(Path(model.path), oof["decision"], oof["a"][0], len(calls), args)
    return 0


def write_decision(folder: Path, decision: dict, row: dict, n_calls: int, args) -> None:
    """The ``decision`` block of the model folder's config.json (its own decision layer; see EmotionConfig.decision_for)."""
    path = folder / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["decision"] = {**{k: (list(v) if isinstance(v, tuple) else v) for k, v in decision.items()},
                          "chosen_by": f"python scripts/tune_emotion_decision_oof.py --model {args.model} --write "
                                       + (f"--call-seed {args.call_seed} " if args.call_seed != CALL_SEED else "")
                                       + f"({n_calls} out-of-fold training-corpus calls; objective UAR - false angry "
                                       f"= {row['uar']:.3f} - {row['false_angry']:.3f}; bench/emotion_decision_oof_{args.model}.md)"}
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    card = folder / "MODEL_CARD.md"
    if card.exists():
        card.write_text(with_decision_section(card.read_text(encoding="utf-8"), config["decision"], row, args.model),
                        encoding="utf-8")
    print(f"wrote the decision block into {path} and its section into {card.name}")


DECISION_BEGIN, DECISION_END = "<!-- decision:begin -->", "<!-- decision:end -->"


def with_decision_section(card: str, decision: dict, row: dict, model: str) -> str:
    """The model card with its "Decision layer" section (between the decision markers) replaced, or added before
    "## Intended use" (scripts/train_emotion_encoder.py writes cards without it: re-run this script after it)."""
    values = ", ".join(f"`{k}` = {v}" for k, v in decision.items() if k != "chosen_by")
    section = (f"{DECISION_BEGIN}\n## Decision layer (this model's own)\n\n"
               f"config.json holds this model's own decision layer, which `analyze` uses for every `[emotion]` decision "
               f"field left at its default (docs/emotion.md, \"Decision layer\"; the values used are echoed in each "
               f"result's `emotion.decision`): {values}. Chosen by `python scripts/tune_emotion_decision_oof.py --model "
               f"{model} --write` on out-of-fold scores of simulated calls built from the training corpora (heads refit "
               f"without the call's two speakers; objective declared beforehand in bench/emotion_decision_oof_objective.md): "
               f"per-turn UAR {row['uar']:.3f}, truly neutral turns labelled angry {100 * row['false_angry']:.1f} %, angry "
               f"recall {row['angry_recall']:.3f} there (bench/emotion_decision_oof_{model}.md). Retraining the heads "
               f"rewrites config.json without it: re-run the script.\n{DECISION_END}\n")
    if DECISION_BEGIN in card and DECISION_END in card:
        head, rest = card.split(DECISION_BEGIN, 1)
        return head + section + "\n" + rest.split(DECISION_END, 1)[1].lstrip("\n")
    marker = "## Intended use"
    return card.replace(marker, section + "\n" + marker, 1) if marker in card else card + "\n" + section


if __name__ == "__main__":
    raise SystemExit(main())
