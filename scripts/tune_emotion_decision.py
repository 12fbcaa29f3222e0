"""Choose the emotion decision layer's parameters (analyzer/config.py, EmotionConfig) on simulated calls
built from TRAINING corpora only (never TESS, TurEV, ASED or real calls).

    python scripts/tune_emotion_decision.py --model open --corpora ravdess,nemo [--calls-per-trajectory 12]

Builds calm / turnaround / escalation calls (callsim.emotion_calls; 15-60 s of customer speech), scores
the true turns of both parties with the model (``turn_evidence``: speaker-relative and absolute
evidence), caches that evidence in /tmp, and grid-searches relative_weight x neutral prior x
uncertain_below, with the temperature fitted (negative log-likelihood of the true turn labels) for each
combination. Choice: among the combinations within 0.01 of the best per-turn 4-class UAR (both parties)
that label at most 6 % of the truly neutral turns angry, the best calibrated one (lowest negative
log-likelihood of the true labels), ties to the fewer false angry turns. Prints the grid's best rows and the choice; the corpora it is run on must
be speakers the model never saw for the numbers to mean anything (``open`` was trained on EmoDB only,
so RAVDESS + nEMO calls are unseen speakers for it).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analyzer.emotion import LABELS, load_model  # noqa: E402
from analyzer.emotion.functionals import uar  # noqa: E402
from analyzer.emotion.scoring import decide, turn_evidence  # noqa: E402
from callsim.emotion_calls import TRAJECTORIES, emotion_cohort, simulate_emotion_call  # noqa: E402

CORPORA_ROOT = ROOT.parent / "shared" / "corpora"
CACHE = Path("/tmp/call-analyzer-emotion-decision-cache")
MAX_FALSE_ANGRY = 0.06
UAR_TOLERANCE = 0.01


def call_evidence(model, params) -> dict:
    """Evidence for the true turns of one simulated call: party, true label, p_relative, p_absolute."""
    call = simulate_emotion_call(params, corpora_root=CORPORA_ROOT)
    turns = call.truth["turns"]
    ch = {"agent": 0, "customer": 1}
    clips = [call.stereo[int(t["start_s"] * call.sample_rate_hz): int(t["end_s"] * call.sample_rate_hz), ch[t["speaker"]]]
             for t in turns]
    ids, p_rel, p_abs = turn_evidence(model, clips, call.sample_rate_hz, [t["speaker"] for t in turns])
    return {"speaker": [turns[i]["speaker"] for i in ids], "label": [LABELS.index(turns[i]["label"]) for i in ids],
            "start_s": [turns[i]["start_s"] for i in ids], "end_s": [turns[i]["end_s"] for i in ids],
            "p_relative": p_rel.tolist(), "p_absolute": p_abs.tolist(), "trajectory": params.trajectory,
            "corpus": params.corpus, "customer_speech_s": call.truth["customer_speech_s"]}


def collect(model_name: str, corpora: list[str], n_per: int, seed: int) -> list[dict]:
    CACHE.mkdir(parents=True, exist_ok=True)
    model = load_model(model_name)
    key = f"{model_name}-{model.config.get('weights_sha256', '')[:12]}-{'_'.join(corpora)}-{n_per}-{seed}.json"
    path = CACHE / key
    if path.exists():
        return json.loads(path.read_text())
    calls = []
    for corpus in corpora:
        for k, trajectory in enumerate(TRAJECTORIES):
            for params in emotion_cohort(corpus, trajectory, n_per, seed=seed + 100 * k):
                calls.append(call_evidence(model, params))
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


def evaluate(p_rel, p_abs, y, w, prior, temperature, uncertain):
    p, labels, unc = decide(p_rel, p_abs, relative_weight=w, prior=prior, temperature=temperature, uncertain_below=uncertain)
    neutral = y == 0
    return {"uar": uar(y, labels), "false_angry": float(np.mean(labels[neutral] == 2)) if neutral.any() else 0.0,
            "uncertain_share": float(unc.mean()), "nll": float(np.mean(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1))))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="open")
    ap.add_argument("--corpora", default="ravdess,nemo")
    ap.add_argument("--calls-per-trajectory", type=int, default=12)
    ap.add_argument("--seed", type=int, default=20261201)
    args = ap.parse_args(argv)
    corpora = args.corpora.split(",")
    bad = set(corpora) - {"emodb", "ravdess", "nemo"}
    if bad:
        ap.error(f"tuning may use training corpora only (emodb, ravdess, nemo); got {', '.join(sorted(bad))}")
    calls = collect(args.model, corpora, args.calls_per_trajectory, args.seed)
    p_rel = np.concatenate([np.array(c["p_relative"]) for c in calls])
    p_abs = np.concatenate([np.array(c["p_absolute"]) for c in calls])
    y = np.concatenate([np.array(c["label"]) for c in calls])
    corpus = np.concatenate([[c["corpus"]] * len(c["label"]) for c in calls])
    print(f"{len(calls)} calls, {len(y)} turns, true label shares " +
          ", ".join(f"{lab} {np.mean(y == k):.2f}" for k, lab in enumerate(LABELS)))
    rows = []
    for w, neutral_share in itertools.product((0.0, 0.25, 0.5, 0.75, 1.0), (0.25, 0.4, 0.55, 0.7)):
        prior = (neutral_share,) + ((1 - neutral_share) / 3,) * 3
        pr = np.asarray(prior)
        logp = (w * np.log(np.clip(p_rel, 1e-12, 1)) + (1 - w) * np.log(np.clip(p_abs, 1e-12, 1)) + np.log(pr))
        t = fit_temperature(logp, y)
        for unc in (0.0, 0.4, 0.5, 0.6):
            m = evaluate(p_rel, p_abs, y, w, prior, t, unc)
            per = {c: evaluate(p_rel[corpus == c], p_abs[corpus == c], y[corpus == c], w, prior, t, unc)["uar"] for c in corpora}
            rows.append({"relative_weight": w, "prior_neutral": neutral_share, "temperature": round(t, 3),
                         "uncertain_below": unc, **m, **{f"uar_{c}": v for c, v in per.items()}})
    top = max(r["uar"] for r in rows)
    ok = [r for r in rows if r["uar"] >= top - UAR_TOLERANCE and r["false_angry"] <= MAX_FALSE_ANGRY] or rows
    best = min(ok, key=lambda r: (round(r["nll"], 3), r["false_angry"]))
    rows.sort(key=lambda r: -r["uar"])
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows[:25]:
        print("| " + " | ".join(f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")
    base = evaluate(p_rel, p_abs, y, 1.0, (0.25,) * 4, 1.0, 0.0)
    print(f"\nraw model (relative evidence only, uniform prior, T=1): UAR {base['uar']:.3f}, "
          f"false angry {base['false_angry']:.3f}, NLL {base['nll']:.3f}")
    print(f"choice (UAR within {UAR_TOLERANCE} of the best, false angry <= {MAX_FALSE_ANGRY}, lowest NLL): {json.dumps(best)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
