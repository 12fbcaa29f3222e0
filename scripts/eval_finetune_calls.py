"""Fine-tuning a shipped v2 model on reviewed calls: how much do a team's labels help? Prints and writes bench/finetune_calls.md/.json.

    python scripts/eval_finetune_calls.py [--base open] [--train-calls 36] [--heldout-calls 24] [--ood-calls 8]

1. Simulated stereo 8 kHz mu-law calls (callsim.emotion_calls) from RAVDESS + nEMO, which `open`'s heads (EmoDB only)
   never saw and which we may train on. Each corpus' speakers are split (seeded) into fine-tuning speakers and held-out
   speakers: --train-calls calls from the first, --heldout-calls from the second (trajectories calm, turnaround,
   escalation in turn; 15-45 s of customer speech; calm agents). The reviewer's labels (the simulator's truth standing
   in for a human) are, by default (--labels pipeline), the turns `analyze` finds, each labelled from the true turn it
   overlaps most (as a reviewer labels the turns the review app shows), in the format `call-analyzer annotations`
   exports; --labels truth uses the true turns.
2. Encoder features of every turn's windows are computed once (train-emotion's own code: analyzer.emotion.train.finetune);
   then for label budgets of about 100, 200, 400 turns and all (the first training calls in order) the heads are
   fine-tuned (C by inner grouped CV over the training calls, as train-emotion does), and the shipped and fine-tuned
   models label the held-out calls' turns as analyze would (windows, speaker baseline, decision layer).
   Also for the 200-turn budget: a weak pull toward the shipped weights (C = 1) and 2 augmented copies per turn.
3. The whole pipeline (analyze_file: VAD, turns, emotion) on the held-out calls with the shipped model and the 200-turn
   model (2 augmented copies), VAD turns matched to the true turn they overlap most (scripts/eval_emotion_calls.py).
4. Out of domain, evaluation-only: --ood-calls calls per corpus of TurEV (Turkish) and ASED (Amharic) with the same
   trajectories, labelled by the shipped and the 200-turn fine-tuned model: does fine-tuning on one line's calls cost
   accuracy on speech it was not tuned for? (TurEV/ASED are never trained on.)
Per-turn 4-class UAR = mean recall over classes, over the labelled rows. One thread, seeded.
"""

from __future__ import annotations

import argparse
import csv
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyzer.emotion.functionals import uar  # noqa: E402
from analyzer.emotion.model import LABELS, load_model  # noqa: E402
from analyzer.emotion.train.finetune import WindowFeatures, decided_labels, finetune_encoder, item_features  # noqa: E402
from analyzer.emotion.train.labelled import read_labelled_csv  # noqa: E402
from callsim.emotion_calls import (LABELS_CSV_COLUMNS, TRAJECTORIES, EmotionCallParams, emotion_cohort,  # noqa: E402
                                   emotion_corpus_index, reviewer_rows, simulate_emotion_call, write_emotion_call)
from callsim.simulate import call_seed  # noqa: E402

CORPORA_ROOT = ROOT.parent / "shared" / "corpora"
WORK = Path("/tmp/call-analyzer-finetune-calls")
BUDGETS = (100, 200, 400)


def split_speakers(corpus: str, seed: int) -> tuple[list[str], list[str]]:
    """(fine-tuning speaker ids, held-out speaker ids) of one corpus: a seeded shuffle, two thirds / one third."""
    ids = sorted(s.speaker_id for s in emotion_corpus_index(CORPORA_ROOT, corpus) if set(LABELS) <= set(s.clips))
    order = np.random.default_rng(seed).permutation(len(ids))
    cut = int(round(len(ids) * 2 / 3))
    return [ids[k] for k in order[:cut]], [ids[k] for k in order[cut:]]


def designs(n_calls: int, pools: dict[str, list[str]], seed: int) -> list[EmotionCallParams]:
    """``n_calls`` calls spread over the corpora of ``pools`` (speaker ids), agent and customer two different speakers."""
    out = []
    corpora = sorted(pools)
    for i in range(n_calls):
        rng = np.random.default_rng(call_seed(seed, i))
        corpus = corpora[i % len(corpora)]
        agent, customer = rng.choice(pools[corpus], size=2, replace=False)
        out.append(EmotionCallParams(seed=call_seed(seed, i), corpus=corpus, trajectory=tuple(TRAJECTORIES)[i % 3],
                                     customer_speech_s=float(rng.uniform(15, 45)), agent_speaker=str(agent), customer_speaker=str(customer)))
    return out


def write_calls(name: str, params: list[EmotionCallParams], *, labels: str = "truth") -> Path:
    """The calls (written once under WORK and reused) and their reviewer labels CSV; returns the CSV.

    ``labels="pipeline"``: the rows are the analysis' turns (analyze without emotion), labelled from the truth, as a
    reviewer labels the turns the review app shows; ``"truth"``: the true turns."""
    from analyzer.config import AnalysisConfig
    from analyzer.pipeline import analyze_file

    folder = WORK / name
    rows = []
    no_emotion = AnalysisConfig().replace(emotion={"enabled": False})
    for i, p in enumerate(params):
        call_id = f"{name}{i:03d}"
        wav = folder / f"{call_id}.wav"
        truth_path = folder / f"{call_id}.truth.json"
        if wav.exists() and truth_path.exists():
            truth = json.loads(truth_path.read_text())
        else:
            call = simulate_emotion_call(p, corpora_root=CORPORA_ROOT)
            truth = call.truth
            write_emotion_call(call, folder, call_id)
        turns = analyze_file(wav, no_emotion, call_id=call_id).to_dict()["turns"] if labels == "pipeline" else None
        rows += reviewer_rows(wav, truth, call_id, turns)
    with open(folder / f"labels-{labels}.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=LABELS_CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return folder / f"labels-{labels}.csv"


def only_version_0(feats: WindowFeatures) -> WindowFeatures:
    keep = feats.version == 0
    return WindowFeatures(feats.x[keep], feats.item[keep], feats.version[keep], feats.weight[keep], feats.scored)


def budget_indices(items, train_n: int, budget: int | None) -> np.ndarray:
    """The first training calls (in order) until at least ``budget`` turns (None: all training calls)."""
    if budget is None:
        return np.arange(train_n)
    calls, count = [], 0
    for g in dict.fromkeys(it.group for it in items[:train_n]):
        if count >= budget:
            break
        calls.append(g)
        count += sum(it.group == g for it in items[:train_n])
    return np.array([i for i in range(train_n) if items[i].group in calls])


def recall(y, p) -> dict:
    return {LABELS[k]: round(float(np.mean(p[y == k] == k)), 3) for k in sorted(set(y.tolist()))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="open")
    ap.add_argument("--train-calls", type=int, default=36)
    ap.add_argument("--heldout-calls", type=int, default=24)
    ap.add_argument("--ood-calls", type=int, default=8, help="TurEV and ASED calls each (evaluation only); 0 = skip")
    ap.add_argument("--seed", type=int, default=18)
    ap.add_argument("--labels", choices=("pipeline", "truth"), default="pipeline",
                    help="rows = the analysis' turns labelled from the truth (as a reviewer labels them; default) or the true turns")
    ap.add_argument("--no-pipeline", dest="pipeline", action="store_false",
                    help="skip running analyze on the held-out calls with both models")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "finetune_calls.md")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    t0 = time.time()
    base = load_model(args.base)
    pools = {c: split_speakers(c, args.seed) for c in ("ravdess", "nemo")}
    train_csv = write_calls("train", designs(args.train_calls, {c: p[0] for c, p in pools.items()}, args.seed), labels=args.labels)
    held_csv = write_calls("heldout", designs(args.heldout_calls, {c: p[1] for c, p in pools.items()}, args.seed + 1), labels=args.labels)
    items_train, items_held = read_labelled_csv(train_csv), read_labelled_csv(held_csv)
    items = items_train + items_held
    n_tr = len(items_train)
    test = np.arange(n_tr, len(items))
    print(f"{len(items_train)} training turns ({args.train_calls} calls), {len(items_held)} held-out turns "
          f"({args.heldout_calls} calls); speakers {json.dumps(pools)}; built in {time.time() - t0:.0f} s", flush=True)
    t1 = time.process_time()
    cache = WORK / f"features-{base.name}-{args.seed}-{args.train_calls}-{args.heldout_calls}-{args.labels}.pkl"
    if cache.exists():  # features of the same calls (under /tmp, never in the repository)
        feats_aug, feature_cpu = pickle.loads(cache.read_bytes())
    else:
        feats_aug = item_features(base, items, n_augmented=2, versions_for=set(range(n_tr)))
        feature_cpu = time.process_time() - t1
        cache.write_bytes(pickle.dumps((feats_aug, feature_cpu)))
    feats = only_version_0(feats_aug)
    rows = []

    def run(name, budget, f, c=None):
        train = budget_indices(items, n_tr, budget)
        tc = time.process_time()
        _, rep = finetune_encoder(base, items, split=(train, test), feats=f, strength_c=c, seed=0, n_augmented=0, progress=False)
        h = rep["heldout"]
        rows.append({"variant": name, "train_turns": rep["train"]["n_turns"], "train_calls": rep["train"]["n_calls"],
                     "c": rep["strength_c"], "inner_cv": rep["inner_cv_uar"], "heldout_turns": h["n_turns"],
                     "heldout_calls": h["n_calls"], "class_counts": h["class_counts"], "uar_shipped": h["uar_shipped"],
                     "uar_finetuned": h["uar_finetuned"], "recall_shipped": h["recall_shipped"],
                     "recall_finetuned": h["recall_finetuned"], "fit_cpu_s": round(time.process_time() - tc, 1)})
        print(f"  {name}: {rows[-1]['train_turns']} turns, C={rows[-1]['c']}: held-out UAR {h['uar_shipped']:.3f} -> "
              f"{h['uar_finetuned']:.3f} ({h['n_turns']} turns)", flush=True)
        return rep

    for budget in BUDGETS + (None,):
        run(f"fine-tuned, ~{budget or 'all'} turns", budget, feats)
    run("fine-tuned, ~200 turns, weak pull (C = 1)", 200, feats, c=1.0)
    run("fine-tuned, ~200 turns, 2 augmented copies", 200, feats_aug)

    pipeline = None
    if args.pipeline:
        from analyzer.config import AnalysisConfig
        from analyzer.emotion.train.finetune import refit_model
        from analyzer.pipeline import analyze_file
        from eval_emotion_calls import matched_labels

        row = next(r for r in rows if r["variant"] == "fine-tuned, ~200 turns, 2 augmented copies")
        train = budget_indices(items, n_tr, 200)
        tuned = base if row["c"] is None else refit_model(base, feats_aug, items, train, row["c"])
        pairs = {"shipped": [], "fine-tuned": []}
        for wav in sorted((WORK / "heldout").glob("heldout*.wav")):
            truth = json.loads(wav.with_suffix(".truth.json").read_text())
            for name, model in (("shipped", base), ("fine-tuned", tuned)):
                result = analyze_file(wav, AnalysisConfig(), call_id=wav.stem, emotion_model=model).to_dict()
                pairs[name] += [(p[1], p[2]) for p in matched_labels(result, truth)]
        pipeline = {name: {"turns": len(v), "uar": round(uar(np.array([a for a, _ in v]), np.array([b for _, b in v])), 4)}
                    for name, v in pairs.items()}
        print(f"  whole pipeline on the held-out calls (VAD turns matched to true turns), ~200 turns + 2 copies: "
              f"UAR {pipeline['shipped']['uar']:.3f} -> {pipeline['fine-tuned']['uar']:.3f} ({pipeline['shipped']['turns']} turns)", flush=True)

    ood = None
    if args.ood_calls:
        from analyzer.emotion.train.finetune import refit_model

        params = [p for corpus, seed in (("turev", 5101), ("ased", 5202)) for k, traj in enumerate(TRAJECTORIES)
                  for p in emotion_cohort(corpus, traj, max(1, args.ood_calls // 3), seed=seed + 10 * k)]
        ood_items = read_labelled_csv(write_calls("ood", params))
        ood_feats = item_features(base, ood_items, n_augmented=0, progress=False)
        train = budget_indices(items, n_tr, 200)
        idx = np.arange(len(ood_items))
        y, before = decided_labels(base, ood_feats, ood_items, idx)
        ood = {"calls": len(params), "turns": int(len(y)), "uar_shipped": round(uar(y, before), 4), "recall_shipped": recall(y, before)}
        for key, variant, f in (("finetuned", "fine-tuned, ~200 turns", feats),
                                ("finetuned_augmented", "fine-tuned, ~200 turns, 2 augmented copies", feats_aug)):
            c = next(r["c"] for r in rows if r["variant"] == variant)
            tuned = base if c is None else refit_model(base, f, items, train, c)
            _, after = decided_labels(tuned, ood_feats, ood_items, idx)
            ood[f"uar_{key}"], ood[f"recall_{key}"] = round(uar(y, after), 4), recall(y, after)
        print(f"  out of domain (TurEV + ASED, {len(params)} calls, {len(y)} turns): UAR {ood['uar_shipped']:.3f} -> "
              f"{ood['uar_finetuned']:.3f} (~200 turns), {ood['uar_finetuned_augmented']:.3f} (~200 turns, 2 copies)")

    report = {"base": base.name, "labels": args.labels, "seed": args.seed, "speakers": pools, "train_calls": args.train_calls, "heldout_calls": args.heldout_calls,
              "feature_cpu_s": round(feature_cpu, 1), "rows": rows, "pipeline": pipeline, "out_of_domain": ood, "wall_s": round(time.time() - t0)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    args.out.write_text(markdown(report, args) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({report['wall_s']} s)")


def markdown(report: dict, args) -> str:
    lines = ["# Fine-tuning on reviewed calls (simulated)", "",
             f"Produced by `python scripts/eval_finetune_calls.py --base {args.base} --train-calls {args.train_calls} "
             f"--heldout-calls {args.heldout_calls} --ood-calls {args.ood_calls} --seed {args.seed}`. Base model `{report['base']}`. "
             f"Calls: RAVDESS + nEMO, 8 kHz stereo mu-law; labelled rows: {report['labels']} turns ('pipeline': the turns analyze finds, "
             "each labelled from the true turn it overlaps most, as a reviewer labels the app's turns; the simulator's truth as the reviewer); "
             "fine-tuning and held-out calls use disjoint corpus speakers. UAR = per-turn 4-class UAR on the held-out calls' "
             "labelled turns, labelled as analyze labels them (4 s windows, speaker baseline, decision layer). "
             f"Encoder features: {report['feature_cpu_s']} s CPU for all turns, once.", "",
             "| variant | training turns (calls) | C | held-out turns (calls) | shipped UAR | fine-tuned UAR | recall shipped | recall fine-tuned |",
             "|---|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        lines.append(f"| {r['variant']} | {r['train_turns']} ({r['train_calls']}) | {r['c'] if r['c'] is not None else 'kept shipped'} | "
                     f"{r['heldout_turns']} ({r['heldout_calls']}) | {r['uar_shipped']:.3f} | **{r['uar_finetuned']:.3f}** | "
                     f"{r['recall_shipped']} | {r['recall_finetuned']} |")
    held = report["rows"][0]["class_counts"]
    lines += ["", f"Held-out class counts: {held}."]
    pipe = report.get("pipeline")
    if pipe:
        lines += ["", f"Whole pipeline (`analyze_file`: VAD turns, each matched to the true turn it overlaps most) on the held-out calls, "
                  f"the ~200-turn model with 2 augmented copies: UAR {pipe['shipped']['uar']:.3f} (shipped) -> "
                  f"{pipe['fine-tuned']['uar']:.3f} (fine-tuned), {pipe['shipped']['turns']} scored turns."]
    ood = report["out_of_domain"]
    if ood:
        lines += ["", f"Out of domain (TurEV + ASED calls, evaluation-only, {ood['calls']} calls, {ood['turns']} turns): UAR "
                  f"{ood['uar_shipped']:.3f} (shipped) -> {ood['uar_finetuned']:.3f} (~200 turns) / {ood['uar_finetuned_augmented']:.3f} "
                  f"(~200 turns, 2 augmented copies); recall {ood['recall_shipped']} -> {ood['recall_finetuned']} / "
                  f"{ood['recall_finetuned_augmented']}."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
