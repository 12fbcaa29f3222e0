"""Model-card text for emotion model folders (shipped and user-trained)."""

from __future__ import annotations

ATTRIBUTION = {
    "emodb": "EmoDB: Burkhardt, Paeschke, Rolfes, Sendlmeier, Weiss (2005), A Database of German Emotional Speech, Interspeech. Licence CC0 1.0 (as published by audEERING's audb).",
    "ravdess": "RAVDESS (speech part): Livingstone & Russo (2018), The Ryerson Audio-Visual Database of Emotional Speech and Song, PLoS ONE 13(5): e0196391. Licence CC BY-NC-SA 4.0.",
    "nemo": "nEMO: Christop (2024), nEMO: Dataset of Emotional Speech in Polish, LREC-COLING. Licence CC BY-NC-SA 4.0.",
    "tess": "TESS: Dupuis & Pichora-Fuller (2010), Toronto emotional speech set, University of Toronto. CC BY-NC-ND 4.0 (evaluation only, never trained on).",
    "turev": "TurEV-DB: Canpolat, Ormanoglu, Zeyrek (2020), SLTU-CCURL. CC BY-NC-ND 4.0 (evaluation only, never trained on).",
    "ased": "ASED v1 (Amharic): Retta, Almekhlafi, Sutcliffe, Mhamed, Ali, Feng (2022), A New Amharic Speech Emotion Dataset and "
            "Classification Benchmark, ACM TALLIP, doi 10.1145/3529759. No licence file (evaluation only, never trained on).",
}

METRICS_BEGIN = "<!-- metrics:begin -->"
METRICS_END = "<!-- metrics:end -->"


def model_card(*, name: str, licence: str, licence_text: str, training_data: list[str], n_clips: int, n_speakers: int,
               size_bytes: int, n_params: int, training: dict, data_note: str = "", metrics_md: str = "") -> str:
    """Markdown model card; ``metrics_md`` goes between markers that eval_emotion.py rewrites."""
    attributions = "\n".join(f"- {ATTRIBUTION.get(c, c)}" for c in training_data)
    evaluation = "\n".join(f"- {ATTRIBUTION[c]}" for c in ("tess", "turev"))
    train_args = ", ".join(f"{k}={v}" for k, v in training.items())
    return f"""# {name}

Speech emotion model of call-analyzer: 4 classes (`neutral`, `happy`, `angry`, `sad`) per turn of a phone call.

## Licence

**{licence}**. {licence_text}

## Training data

{n_clips} clips from {n_speakers} speakers. {data_note}

{attributions}

Never trained on (not for statistics, early stopping or model selection either), used for cross-corpus tests only:

{evaluation}

## Architecture

- Front end: every clip is resampled to 8000 Hz and turned into 40 log-mel bands between 250 and 3600 Hz
  (25 ms windows, 10 ms hop), so 8 kHz telephone audio and 16 kHz audio are treated identically.
- Input: two channels of the log-mels: absolute (normalised with the training corpora's average statistics)
  and relative to the speaker's own baseline (mean/std per band over the speech frames of all that speaker's
  clips, i.e. of all their turns in a call; per clip when no speaker is given).
- Network: 4 convolution blocks (16-32-64-128 channels, 3x3, batch norm, ReLU, max pooling), mean+std pooling
  over time, a 128-unit layer, a 4-class head and an auxiliary arousal head (high = angry/happy).
- {n_params:,} parameters; weights.pt is {size_bytes / 1e6:.2f} MB (float32). The SHA-256 of weights.pt is in
  config.json and checked when the model is loaded.
- Functionals part (`functionals.json`): 44 eGeMAPS-like functionals of each clip or whole turn (F0 in semitones:
  mean, sd, percentiles, voiced share; jitter-like period perturbation; HNR from Praat's voicing strength;
  loudness mean/sd/percentiles, speech share, shimmer-like level change; spectral slope and centroid; MFCC 1-12
  means and sds), relative to the speaker (z-scored over the speaker's clips / turns in the call), standardised,
  class-balanced multinomial logistic regression (C = 0.1; 4 x 44 coefficients + 4 intercepts, plain JSON), fit on
  the clean and phone-channel versions of the training clips. Its SHA-256 is in config.json and checked at load.
- Fusion: `p = p_network^w * p_functionals^(1-w)`, renormalised; `w` = `fusion.network_weight` in config.json,
  chosen by speaker-grouped 5-fold CV inside the training corpora (out-of-fold predictions; never TESS/TurEV;
  `scripts/eval_emotion.py --attach-fusion`, value under Metrics). A speaker with a single clip (or no speaker
  given) has no baseline for the functionals: the network alone scores it.

## Training

Augmentation (precomputed copies + on-the-fly): speed/pitch change 0.9-1.1, level -20..0 dB, telephone channel
(8 kHz, random band edges 150-400 / 3200-3900 Hz, white/pink/brown noise at 10-30 dB SNR, codec-like
log-magnitude quantisation with random band dropping and bandwidth cut, 8-bit mu-law or A-law), SpecAugment,
random crops (`crop_frames` below, in 10 ms frames). Sampling balanced over (corpus, class); absolute channel normalised per corpus. Loss:
cross-entropy (label smoothing 0.1) + 0.5 x arousal BCE. AdamW + one-cycle schedule, seeded. Parameters:
{train_args}.

## Metrics

{METRICS_BEGIN}
{metrics_md or "(not evaluated yet: run scripts/eval_emotion.py)"}
{METRICS_END}

## Intended use

Scoring the emotional tone of turns in recorded two-party phone calls (call-center QA, coaching), as
probabilities plus derived arousal/valence, to find calls and moments worth a human listen. Not for decisions
about individuals, not for clinical or forensic use, not as a lie or stress detector.

## Known limits

- Trained on acted, read speech (short sentences by actors); real calls are spontaneous and emotions are
  mostly mild, so most real turns come out `neutral` or low-confidence. Treat the probabilities as relative
  signals within a call (the speaker-relative channel helps) rather than absolute truths.
- `happy` vs `angry` (both high arousal) and `neutral` vs `sad` (both low arousal) are the typical
  confusions, more so across languages; arousal transfers better than valence.
- Languages seen in training are listed above; other languages work less well (see the cross-corpus rows).
- Evaluation on simulated phone channels, not on real labelled calls.

## Retrain or fine-tune

```
python scripts/train_emotion.py --model open   # or multi; writes analyzer/models/emotion-<model>-v1
python scripts/eval_emotion.py --model open --attach-fusion   # CV, fusion weight, functionals.json; rewrites the metrics above
call-analyzer train-emotion --data labels.csv --base open --out my-model   # your own clips
```
"""


def replace_metrics(card: str, metrics_md: str) -> str:
    """The card with the text between the metrics markers replaced."""
    head, _, rest = card.partition(METRICS_BEGIN)
    _, _, tail = rest.partition(METRICS_END)
    return f"{head}{METRICS_BEGIN}\n{metrics_md}\n{METRICS_END}{tail}"


LICENCE_NOTES = {
    "CC-BY-NC-SA-4.0": "The base model was trained on CC BY-NC-SA 4.0 corpora (RAVDESS, nEMO), so this fine-tuned model inherits "
                       "**CC BY-NC-SA 4.0**: non-commercial use only, attribution, share alike.",
    "CC0-1.0": "The base model's heads were trained on EmoDB only (CC0 1.0) and its encoder is OpenAI's Whisper base (MIT): the base "
               "adds no restriction beyond keeping the MIT notice of the Whisper weights.",
}


def before_after_md(report: dict) -> str:
    """The "Before / after on the held-out calls" section of a fine-tuned model's card."""
    h = report.get("heldout")
    if h is None:
        body = ("No held-out calls (`--holdout 0`, or the data hold a single call/speaker): no before/after figures; the model "
                "was not checked on calls it did not see.")
    elif h.get("uar_shipped") is None:
        body = f"Trained from scratch: no base model to compare with; UAR on {h['n_turns']} held-out rows {h['uar_finetuned']:.3f}."
    else:
        body = ("| held-out turns | calls | speakers | classes | base model UAR | fine-tuned UAR |\n|---|---|---|---|---|---|\n"
                f"| {h['n_turns']} | {h['n_calls']} | {h['n_speakers']} | "
                f"{', '.join(f'{k} {v}' for k, v in h['class_counts'].items())} | {h['uar_shipped']:.3f} | {h['uar_finetuned']:.3f} |\n\n"
                f"Recall per class, base: {h['recall_shipped']}; fine-tuned: {h['recall_finetuned']}.")
    return f"""## Before / after on the held-out calls

Whole calls (for clips: speakers) held out, seeded (seed {report['seed']}), share {report['holdout_share']}; a speaker is
`call_id/speaker`, so no call and no call's speaker is on both sides. The model in this folder was fit on the other calls
only, so these figures describe it. Per-turn 4-class UAR (mean recall over the classes present), turns labelled as
`analyze` labels them (4 s windows, speaker baseline over the speaker's held-out turns, the decision layer):

{body}
"""


def finetune_card(*, name: str, licence: str, report: dict, data: str, command: str, lines: list[str]) -> str:
    """Model card of an encoder model fine-tuned by ``train-emotion``: base, licence inheritance, data, before/after figures."""
    return f"""# {name}

Emotion model fine-tuned by `call-analyzer train-emotion` from **{report['base']}** (4 classes: `neutral`, `happy`,
`angry`, `sad`). Use it with `call-analyzer analyze ... --emotion-model PATH/{name}`.

## Licence

**{licence}** (inherited from {report['base']}). {LICENCE_NOTES.get(licence, "See the base model's card.")}
The rights in the fine-tuning data ({data}) are the data owner's and apply in addition.

## Base model and method

- Base: {report['base']} ({report['base_licence']}); its card lists its own training data. The frozen Whisper-base encoder
  (MIT) is unchanged; its SHA-256 is in config.json and checked at load.
- Both linear heads (speaker-relative and absolute) warm-started from the base's weights and refit on the user's windows
  (4 s windows as `analyze` cuts turns; the audio as given{' plus ' + str(report['n_augmented']) + ' augmented copies' if report['n_augmented'] else ''}),
  class-balanced logistic regression with the penalty `||W - W_base||^2 / (2 C)` toward the base weights.
  C chosen by grouped CV over the training calls only: {'kept the base heads (no C beat them)' if report['kept_shipped_heads'] else report['strength_c']}.
  Inner-CV UAR by C: {report['inner_cv_uar'] or 'not run (one training call)'}.
- The relative-head weight and the decision layer (prior, temperature, uncertain -> neutral) are the shipped ones.

## Data

{chr(10).join('- ' + line for line in lines)}

{before_after_md(report)}
## Reproduce

```
{command}
```
"""
