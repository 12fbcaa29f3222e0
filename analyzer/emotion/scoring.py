"""Per-turn emotion scores and per-call emotion metrics (pure functions over arrays and dicts)."""

from __future__ import annotations

import numpy as np

from ..config import EmotionConfig
from .features import HOP_S, LOG_FLOOR, SPEECH_RANGE_DB, EmotionInputError, check_clip, log_mel, peak_normalise, to_feature_rate
from .functionals import functionals
from .model import LABELS

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
    """Frame (or sample) ranges covering ``n_frames``: one range if short, else hops with the last window flush with the end."""
    if n_frames <= window_frames + hop_frames // 2:
        return [(0, n_frames)]
    starts = list(range(0, n_frames - window_frames + 1, hop_frames))
    if starts[-1] + window_frames < n_frames:
        starts.append(n_frames - window_frames)
    return [(s, s + window_frames) for s in starts]


def _speech_weight(features: np.ndarray, reference_db: float) -> float:
    energy_db = 10.0 / np.log(10.0) * np.log(np.exp(features).sum(axis=1) + LOG_FLOOR)
    return float(max(np.sum(energy_db >= reference_db - SPEECH_RANGE_DB), 1))


def score_turns(model, clips: list[np.ndarray], sample_rate_hz: int, speakers: list[str], *,
                min_turn_s: float = EmotionConfig.min_turn_s, window_s: float = EmotionConfig.window_s,
                hop_s: float = EmotionConfig.hop_s) -> list[dict | None]:
    """Emotion of every turn, one entry per clip (one party's audio per turn, at ``sample_rate_hz``).

    ``None`` for turns shorter than ``min_turn_s`` seconds and for all-silent turns.
    Each turn is peak-normalised (recording gain does not matter, as in training) and judged against its speaker's baseline (speech frames of all
    that speaker's scored turns in ``clips``). Turns longer than ``window_s`` are cut
    into windows every ``hop_s`` seconds; all windows of all turns run in one batch,
    and a turn's probabilities are the mean of its windows' probabilities weighted by
    each window's number of speech frames. A fused model (``model.fused``) then combines
    each turn's network probabilities with its functionals classifier's, computed on the
    whole turn and judged against the speaker's other scored turns. Returns dicts with ``emotion_label``,
    ``p_neutral``, ``p_happy``, ``p_angry``, ``p_sad``, ``arousal``, ``valence``,
    ``emotion_confidence`` (max probability). Raises :class:`EmotionInputError` for
    NaN/inf samples.
    """
    if len(speakers) != len(clips):
        raise EmotionInputError(f"got {len(clips)} turns but {len(speakers)} speakers; pass one speaker per turn")
    if hop_s <= 0 or window_s < hop_s:
        raise EmotionInputError(f"window_s={window_s} and hop_s={hop_s} must satisfy 0 < hop_s <= window_s")
    min_turn_s = max(min_turn_s, 0.25)
    turn_feats: dict[int, np.ndarray] = {}
    turn_funcs: dict[int, np.ndarray] = {}
    fused = bool(getattr(model, "fused", False))
    if getattr(model, "scores_audio", False):  # encoder models take the turns' audio, not log-mels
        ids = _scored_turns(clips, sample_rate_hz, min_turn_s)
        turn_probs = turn_probabilities(model, [clips[i] for i in ids], sample_rate_hz, [speakers[i] for i in ids],
                                        window_s=window_s, hop_s=hop_s)
        return _rows(len(clips), ids, turn_probs)
    for i in _scored_turns(clips, sample_rate_hz, min_turn_s):
        clip_8k = to_feature_rate(peak_normalise(np.asarray(clips[i], dtype=np.float32).reshape(-1)), sample_rate_hz)
        turn_feats[i] = log_mel(clip_8k)
        if fused:
            turn_funcs[i] = functionals(clip_8k, turn_feats[i])
    if not turn_feats:
        return [None] * len(clips)
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
    ids = list(turn_feats)
    probs = model.predict_features(win_feats, speakers=win_speakers, stats_feats=[turn_feats[i] for i in ids],
                                   stats_speakers=[speakers[i] for i in ids])
    win_turn_arr, weights = np.array(win_turn), np.array(win_weight)
    turn_probs = np.zeros((len(ids), len(LABELS)))
    for k, i in enumerate(ids):
        sel = win_turn_arr == i
        p = (probs[sel] * weights[sel, None]).sum(axis=0) / weights[sel].sum()
        turn_probs[k] = p / p.sum()
    if fused:
        turn_probs = model.fuse(turn_probs, np.array([turn_funcs[i] for i in ids]), [speakers[i] for i in ids])
    return _rows(len(clips), ids, turn_probs)


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


def _rows(n_turns: int, ids: list[int], turn_probs: np.ndarray) -> list[dict | None]:
    """One row per turn: the scored turns' labels, probabilities, arousal, valence and confidence; None for the others."""
    out: list[dict | None] = [None] * n_turns
    for k, i in enumerate(ids):
        p = turn_probs[k]
        arousal, valence = arousal_valence(p)
        out[i] = {
            "emotion_label": LABELS[int(np.argmax(p))],
            "p_neutral": float(p[0]), "p_happy": float(p[1]), "p_angry": float(p[2]), "p_sad": float(p[3]),
            "arousal": float(arousal[0]), "valence": float(valence[0]), "emotion_confidence": float(p.max()),
        }
    return out


def _energy_db(clip: np.ndarray, frame: int) -> np.ndarray:
    """Energy (dB) of consecutive ``frame``-sample frames (a clip shorter than a frame is one frame)."""
    n = max(1, clip.size // frame)
    x = clip[: n * frame].reshape(n, frame) if clip.size >= frame else clip.reshape(1, -1)
    return 10.0 * np.log10(np.mean(x.astype(np.float64) ** 2, axis=1) + 1e-12)


def turn_probabilities(model, clips: list[np.ndarray], sample_rate_hz: int, speakers: list[str], *,
                       window_s: float, hop_s: float) -> np.ndarray:
    """Probabilities ``(n_turns, 4)`` of an encoder model (``model.scores_audio``) for validated turns, one speaker each.

    Each turn is peak-normalised and resampled to 16 kHz, cut into windows as for the CNN models
    (``window_s`` every ``hop_s``, the last flush with the turn's end); every window runs through the
    encoder alone (so a turn's score never depends on the other turns), is judged against its speaker's
    windows in ``clips`` and on its own (``model.predict_pooled``), and a turn's probabilities are its
    windows' mean weighted by their speech frames (10 ms frames within ``SPEECH_RANGE_DB`` of the turn's loudest).
    """
    from .encoder import ENCODER_RATE_HZ, to_16k

    frame = ENCODER_RATE_HZ // 100
    window, hop = int(round(window_s * ENCODER_RATE_HZ)), max(1, int(round(hop_s * ENCODER_RATE_HZ)))
    win_clips, win_speakers, win_turn, win_weight = [], [], [], []
    for k, clip in enumerate(clips):
        x = to_16k(peak_normalise(np.asarray(clip, dtype=np.float32).reshape(-1)), sample_rate_hz)
        reference_db = float(_energy_db(x, frame).max())
        for a, b in _windows(x.size, window, hop):
            win_clips.append(x[a:b])
            win_speakers.append(speakers[k])
            win_turn.append(k)
            win_weight.append(max(int(np.sum(_energy_db(x[a:b], frame) >= reference_db - SPEECH_RANGE_DB)), 1))
    if not win_clips:
        return np.zeros((0, len(LABELS)))
    probs = model.predict_pooled(model.features(win_clips), win_speakers)
    win_turn_arr, weights = np.asarray(win_turn), np.asarray(win_weight, dtype=np.float64)
    out = np.zeros((len(clips), probs.shape[1]))
    for k in range(len(clips)):
        sel = win_turn_arr == k
        p = (probs[sel] * weights[sel, None]).sum(axis=0) / weights[sel].sum()
        out[k] = p / p.sum()
    return out
