"""Per-turn emotion scores and per-call emotion metrics (pure functions over arrays and dicts)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .features import HOP_S, LOG_FLOOR, SPEECH_RANGE_DB, EmotionInputError, check_clip, log_mel, peak_normalise, to_feature_rate
from .functionals import functionals
from ..config import EmotionConfig
from .model import LABELS

_DEFAULT = EmotionConfig()  # the decision layer's defaults live in analyzer/config.py

# Circumplex coordinates of each class; arousal and valence are their probability-weighted means.
AROUSAL_OF_CLASS = np.array([-0.3, 0.5, 1.0, -1.0])  # neutral, happy, angry, sad
VALENCE_OF_CLASS = np.array([0.0, 1.0, -1.0, -0.6])


def arousal_valence(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arousal and valence in [-1, 1] from class probabilities ``(n, 4)`` (order ``LABELS``).

    ``arousal = -0.3 p_neutral + 0.5 p_happy + 1.0 p_angry - 1.0 p_sad``
    ``valence =  0.0 p_neutral + 1.0 p_happy - 1.0 p_angry - 0.6 p_sad``
    (a calm neutral voice is mildly low-arousal; sadness is less negative in valence than anger).
    """
    probs = np.atleast_2d(np.asarray(probs, dtype=np.float64))
    return probs @ AROUSAL_OF_CLASS, probs @ VALENCE_OF_CLASS


def _windows(n_frames: int, window_frames: int, hop_frames: int) -> list[tuple[int, int]]:
    """Frame ranges covering ``n_frames``: one range if short, else hops with the last window flush with the end."""
    if n_frames <= window_frames + hop_frames // 2:
        return [(0, n_frames)]
    starts = list(range(0, n_frames - window_frames + 1, hop_frames))
    if starts[-1] + window_frames < n_frames:
        starts.append(n_frames - window_frames)
    return [(s, s + window_frames) for s in starts]


def _speech_weight(features: np.ndarray, reference_db: float) -> float:
    energy_db = 10.0 / np.log(10.0) * np.log(np.exp(features).sum(axis=1) + LOG_FLOOR)
    return float(max(np.sum(energy_db >= reference_db - SPEECH_RANGE_DB), 1))


def turn_evidence(model, clips: list[np.ndarray], sample_rate_hz: int, speakers: list[str], *, min_turn_s: float = _DEFAULT.min_turn_s,
                  window_s: float = _DEFAULT.window_s, hop_s: float = _DEFAULT.hop_s, absolute_reference: str = _DEFAULT.absolute_reference
                  ) -> tuple[list[int], np.ndarray, np.ndarray]:
    """The two kinds of evidence the decision layer combines, for every scorable turn.

    Returns ``(ids, p_relative, p_absolute)``: ``ids`` = indices of the scored clips (turns shorter than
    ``min_turn_s`` seconds and all-silent turns are left out), and two ``(len(ids), 4)`` probability arrays:

    - ``p_relative``: the model as trained, each turn judged against its speaker's baseline (speech
      frames of all that speaker's scored turns in ``clips``; fused with the functionals part, z-scored
      over the speaker's turns). Strong for changes within a call, but it forces a calm speaker's turns
      to spread over the classes.
    - ``p_absolute``: the network alone with each turn as its own baseline (the per-clip normalisation
      of ``predict(..., speakers=None)``): what the turn sounds like whatever the speaker's other turns do.

    Turns longer than ``window_s`` are cut into windows every ``hop_s`` seconds; a turn's probabilities
    are the mean of its windows' weighted by each window's number of speech frames. Every window runs
    alone through the network (``INFERENCE_BATCH`` = 1), so a turn's evidence does not depend on which
    other turns are scored with it except through its speaker's baseline.
    """
    if len(speakers) != len(clips):
        raise EmotionInputError(f"got {len(clips)} turns but {len(speakers)} speakers; pass one speaker per turn")
    if hop_s <= 0 or window_s < hop_s:
        raise EmotionInputError(f"window_s={window_s} and hop_s={hop_s} must satisfy 0 < hop_s <= window_s")
    min_turn_s = max(min_turn_s, 0.25)
    if getattr(model, "scores_audio", False):
        return _audio_model_evidence(model, clips, sample_rate_hz, speakers, min_turn_s=min_turn_s, window_s=window_s,
                                     hop_s=hop_s)
    turn_feats: dict[int, np.ndarray] = {}
    turn_funcs: dict[int, np.ndarray] = {}
    fused = bool(getattr(model, "fused", False))
    for i in _scored_turns(clips, sample_rate_hz, min_turn_s):
        clip_8k = to_feature_rate(peak_normalise(np.asarray(clips[i], dtype=np.float32).reshape(-1)), sample_rate_hz)
        turn_feats[i] = log_mel(clip_8k)
        if fused:
            turn_funcs[i] = functionals(clip_8k, turn_feats[i])
    ids = list(turn_feats)
    if not ids:
        return [], np.zeros((0, len(LABELS))), np.zeros((0, len(LABELS)))
    window_frames = int(round(window_s / HOP_S))
    hop_frames = max(1, int(round(hop_s / HOP_S)))
    win_feats, win_speakers, win_turn, win_weight = [], [], [], []
    for i, feats in turn_feats.items():
        reference_db = 10.0 / np.log(10.0) * float(np.log(np.exp(feats).sum(axis=1) + LOG_FLOOR).max())
        for a, b in _windows(feats.shape[0], window_frames, hop_frames):
            win_feats.append(feats[a:b])
            win_speakers.append(speakers[i])
            win_turn.append(i)
            win_weight.append(_speech_weight(feats[a:b], reference_db))
    all_feats = [turn_feats[i] for i in ids]
    relative = model.predict_features(win_feats, speakers=win_speakers, stats_feats=all_feats,
                                      stats_speakers=[speakers[i] for i in ids])
    if absolute_reference == "global":  # the relative channel normalised like the absolute one (training statistics)
        from .model import run_network

        stats = [(model.global_mean, model.global_std)] * len(win_feats)
        absolute = run_network(model.inference_net, win_feats, stats, model.global_mean, model.global_std)
    else:
        own = [f"turn {i}" for i in win_turn]  # each turn is its own baseline
        absolute = model.predict_features(win_feats, speakers=own, stats_feats=all_feats,
                                          stats_speakers=[f"turn {i}" for i in ids])
    win_turn_arr, weights = np.array(win_turn), np.array(win_weight)
    p_relative, p_absolute = _pool(relative, ids, win_turn_arr, weights), _pool(absolute, ids, win_turn_arr, weights)
    if fused:
        p_relative = model.fuse(p_relative, np.array([turn_funcs[i] for i in ids]), [speakers[i] for i in ids])
    return ids, p_relative, p_absolute


def _scored_turns(clips: list[np.ndarray], sample_rate_hz: int, min_turn_s: float) -> list[int]:
    """Indices of the turns that get a score: at least ``min_turn_s`` long and not all silent (NaN/inf raise)."""
    ids = []
    for i, clip in enumerate(clips):
        clip = np.asarray(clip, dtype=np.float32).reshape(-1)
        if clip.size < min_turn_s * sample_rate_hz:
            continue
        if clip.size and np.all(np.isfinite(clip)) and float(np.max(np.abs(clip))) < 1e-6:
            continue  # silent turn: nothing to judge
        check_clip(clip, sample_rate_hz, label=f"turn {i}")
        ids.append(i)
    return ids


AUDIO_MODEL_RATE_HZ = 16000  # models that score audio windows (``model.scores_audio``) take 16 kHz


def _audio_model_evidence(model, clips, sample_rate_hz, speakers, *, min_turn_s, window_s, hop_s):
    """:func:`turn_evidence` for models that score audio windows (``model.scores_audio``, e.g. encoder models).

    Such a model offers ``features(windows_16k) -> (n, d)`` and ``predict_pooled(x, speakers)``: with one
    speaker per window it judges each window against its speaker's windows (and on its own, fused as the
    model was trained), with ``speakers=None`` on its own only. Those are ``p_relative`` and ``p_absolute``;
    windows and their speech-frame weights as for the log-mel models (10 ms frames within
    ``SPEECH_RANGE_DB`` of the turn's loudest), each window passed alone. ``absolute_reference`` does not
    apply (the model's own absolute judgement is the absolute evidence).
    """
    windows = audio_windows(clips, sample_rate_hz, min_turn_s=min_turn_s, window_s=window_s, hop_s=hop_s)
    if not windows.ids:
        return [], np.zeros((0, len(LABELS))), np.zeros((0, len(LABELS)))
    return (windows.ids, *pooled_evidence(model, model.features(windows.clips_16k), windows, speakers))


@dataclass(frozen=True, eq=False)
class AudioWindows:
    """The 16 kHz windows an audio-scoring model judges: ``clips_16k[k]`` belongs to clip ``turn[k]`` with
    ``weight[k]`` speech frames (10 ms); ``ids`` = the scored clips (see :func:`audio_windows`)."""

    ids: list[int]
    clips_16k: list[np.ndarray]
    turn: np.ndarray
    weight: np.ndarray


def audio_windows(clips: list[np.ndarray], sample_rate_hz: int, *, min_turn_s: float = _DEFAULT.min_turn_s,
                  window_s: float = _DEFAULT.window_s, hop_s: float = _DEFAULT.hop_s) -> AudioWindows:
    """Cut the scorable clips (at least ``min_turn_s`` s, not silent) into the windows an audio model scores:
    each clip peak-normalised, resampled to 16 kHz, cut every ``hop_s`` into ``window_s`` windows (the last
    flush with the end), each weighted by its speech frames (within ``SPEECH_RANGE_DB`` of the clip's loudest)."""
    import soxr

    ids = _scored_turns(clips, sample_rate_hz, max(min_turn_s, 0.25))
    frame = AUDIO_MODEL_RATE_HZ // 100
    window, hop = int(round(window_s * AUDIO_MODEL_RATE_HZ)), max(1, int(round(hop_s * AUDIO_MODEL_RATE_HZ)))
    win_clips, win_turn, win_weight = [], [], []
    for i in ids:
        x = peak_normalise(np.asarray(clips[i], dtype=np.float32).reshape(-1))
        if sample_rate_hz != AUDIO_MODEL_RATE_HZ:
            x = soxr.resample(x, sample_rate_hz, AUDIO_MODEL_RATE_HZ, quality="HQ").astype(np.float32)
        n = max(1, x.size // frame)
        frames = x[: n * frame].reshape(n, frame) if x.size >= frame else x.reshape(1, -1)
        energy_db = 10.0 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
        speech = energy_db >= energy_db.max() - SPEECH_RANGE_DB
        for a, b in _windows(x.size, window, hop):
            win_clips.append(x[a:b])
            win_turn.append(i)
            win_weight.append(float(max(int(speech[a // frame: max(b // frame, a // frame + 1)].sum()), 1)))
    return AudioWindows(ids, win_clips, np.array(win_turn, dtype=int), np.array(win_weight))


def pooled_evidence(model, features: np.ndarray, windows: AudioWindows, speakers: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(p_relative, p_absolute)`` per scored clip from the windows' pooled encoder ``features``: each window
    judged against its speaker's windows (``speakers``: one per clip) and on its own, then pooled per clip."""
    win_speakers = [speakers[i] for i in windows.turn]
    relative, absolute = model.predict_pooled(features, win_speakers), model.predict_pooled(features, None)
    return (_pool(relative, windows.ids, windows.turn, windows.weight),
            _pool(absolute, windows.ids, windows.turn, windows.weight))


def _pool(probs: np.ndarray, ids: list[int], win_turn: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-turn probabilities ``(len(ids), 4)``: each turn's windows averaged, weighted by their speech frames."""
    out = np.zeros((len(ids), probs.shape[1]))
    for k, i in enumerate(ids):
        sel = win_turn == i
        p = (probs[sel] * weights[sel, None]).sum(axis=0) / weights[sel].sum()
        out[k] = p / p.sum()
    return out


def decide(p_relative: np.ndarray, p_absolute: np.ndarray, *, relative_weight: float = _DEFAULT.relative_weight,
           prior: tuple[float, ...] = _DEFAULT.prior, temperature: float = _DEFAULT.temperature,
           uncertain_below: float = _DEFAULT.uncertain_below, uncertain_angry_below: float = _DEFAULT.uncertain_angry_below
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The decision layer: per-turn probabilities ``(n, 4)``, labels ``(n,)`` (class indices) and uncertain flags ``(n,)``.

    ``log p = [w log p_relative + (1 - w) log p_absolute + log prior] / temperature``, renormalised, with
    ``w`` = ``relative_weight`` and ``prior`` the expected class shares of conversational speech (the models
    were trained class-balanced, so adding ``log prior`` is Bayes' rule for the new class shares).
    A turn whose largest probability is below ``uncertain_below``, or whose largest probability is
    ``angry`` but below ``uncertain_angry_below``, is *uncertain*: labelled ``neutral`` (index 0) with its
    probabilities and low confidence kept, instead of a confident-looking wrong class (an angry label
    fails critical QA rules, so it needs stronger evidence than the others).
    """
    p_relative, p_absolute = np.atleast_2d(p_relative), np.atleast_2d(p_absolute)
    if len(p_relative) == 0:
        return np.zeros((0, len(LABELS))), np.zeros(0, dtype=int), np.zeros(0, dtype=bool)
    prior_arr = np.asarray(prior, dtype=np.float64)
    logp = (relative_weight * np.log(np.clip(p_relative, 1e-12, 1.0))
            + (1.0 - relative_weight) * np.log(np.clip(p_absolute, 1e-12, 1.0))
            + np.log(prior_arr / prior_arr.sum())) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    p = np.exp(logp)
    p /= p.sum(axis=1, keepdims=True)
    top = p.argmax(axis=1)
    uncertain = (p.max(axis=1) < uncertain_below) | ((top == LABELS.index("angry")) & (p.max(axis=1) < uncertain_angry_below))
    labels = np.where(uncertain, 0, top)
    return p, labels, uncertain


def score_turns(model, clips: list[np.ndarray], sample_rate_hz: int, speakers: list[str], *, min_turn_s: float = _DEFAULT.min_turn_s,
                window_s: float = _DEFAULT.window_s, hop_s: float = _DEFAULT.hop_s, absolute_reference: str = _DEFAULT.absolute_reference,
                relative_weight: float = _DEFAULT.relative_weight,
                prior: tuple[float, ...] = _DEFAULT.prior, temperature: float = _DEFAULT.temperature,
                uncertain_below: float = _DEFAULT.uncertain_below,
                uncertain_angry_below: float = _DEFAULT.uncertain_angry_below) -> list[dict | None]:
    """Emotion of every turn, one entry per clip (one party's audio per turn, at ``sample_rate_hz``).

    ``None`` for turns shorter than ``min_turn_s`` seconds and for all-silent turns. The evidence is
    :func:`turn_evidence` (speaker-relative and absolute), the probabilities and label are :func:`decide`'s
    (defaults: :class:`analyzer.config.EmotionConfig`). Each turn is peak-normalised first (recording gain
    does not matter). Returns dicts with ``emotion_label``, ``p_neutral``, ``p_happy``, ``p_angry``, ``p_sad``,
    ``arousal``, ``valence``, ``emotion_confidence`` (the largest probability) and ``emotion_uncertain``
    (True: the label is ``neutral`` because no class reached ``uncertain_below``, or the top class was
    ``angry`` below ``uncertain_angry_below``). Raises
    :class:`EmotionInputError` for NaN/inf samples.
    """
    ids, p_relative, p_absolute = turn_evidence(model, clips, sample_rate_hz, speakers, min_turn_s=min_turn_s,
                                                window_s=window_s, hop_s=hop_s, absolute_reference=absolute_reference)
    probs, labels, uncertain = decide(p_relative, p_absolute, relative_weight=relative_weight, prior=prior,
                                      temperature=temperature, uncertain_below=uncertain_below,
                                      uncertain_angry_below=uncertain_angry_below)
    return turn_rows(len(clips), ids, probs, labels, uncertain)


def turn_rows(n_clips: int, ids: list[int], probs: np.ndarray, labels: np.ndarray, uncertain: np.ndarray) -> list[dict | None]:
    """One dict per clip (None where not scored) from :func:`decide`'s output for the clips ``ids``."""
    out: list[dict | None] = [None] * n_clips
    for k, i in enumerate(ids):
        p = probs[k]
        arousal, valence = arousal_valence(p)
        out[i] = {
            "emotion_label": LABELS[int(labels[k])],
            "p_neutral": float(p[0]), "p_happy": float(p[1]), "p_angry": float(p[2]), "p_sad": float(p[3]),
            "arousal": float(arousal[0]), "valence": float(valence[0]), "emotion_confidence": float(p.max()),
            "emotion_uncertain": bool(uncertain[k]),
        }
    return out
