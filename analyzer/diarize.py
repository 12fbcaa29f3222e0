"""Two-speaker diarization of a mono call: who of the two parties speaks when.

Input: the mono channel's smoothed speech segments (from :mod:`analyzer.vad`) and
the file. Output: the same speech, split between ``agent`` and ``customer``.

Stages (audio is read block by block, once for calls with up to ~1.1 h of speech, else twice)::

    pass 1   blocks -> 16 kHz -> mel frames (10 ms) -> speaker embeddings of short
             windows inside speech (resemblyzer's pretrained encoder, vendored)
             + a bounded sample of MFCC frames (+ every speech frame's MFCCs, up to
             ``_MFCC_KEEP_MAX_FRAMES``, so pass 2 need not read the file again)
    cluster  windows -> 2 groups (k-means on call-centred unit embeddings) -> two voice centroids
             -> how many voices (1, 2, 3+) and how clearly they separate
    pass 2   (kept MFCCs, or blocks read again) -> per-frame score: GMM log-likelihood ratio of the two voices
             (MFCC, trained on the sampled frames of confident windows) + the
             windows' embedding score
    decode   Viterbi over speech frames with a switch penalty that is high inside
             loud speech and low at quiet frames and at pauses, so changes land
             in the short silences between speakers
    roles    agent by rule (first speaker, most speech, longest monologue), with a confidence

Memory per call: the speech mask, the frame level and the frame score (~10 bytes
per 10 ms frame, as the VAD keeps), one 256-float embedding per window of
speech (~1.7 kB per second of speech), a fixed-size frame sample and, up to
~1.1 h of speech, 84 bytes of MFCCs per speech frame (at most ~34 MB).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import soxr

from .audio import AudioInfo, iter_blocks
from .config import AGENT_RULES, DiarizationConfig  # noqa: F401 - AGENT_RULES re-exported
from .intervals import AGENT, CUSTOMER, FRAME_HOP_S, Segment, hop_samples
from .mel import mel_filter_bank

FRAME_S = FRAME_HOP_S  # diarization frame hop: the encoder's mel hop is the analysis grid's
ENCODER_RATE_HZ = 16000
_HOP = hop_samples(ENCODER_RATE_HZ)  # samples per frame at 16 kHz
_N_FFT = 400  # 25 ms mel window, as resemblyzer
_N_MELS = 40
_N_MFCC = 20  # c1..c19 used (c0, the level, left out)
_ENCODER_DBFS = -30.0  # resemblyzer normalises utterances to this level
_MFCC_KEEP_MAX_FRAMES = 400_000  # pass 1 keeps every speech frame's MFCCs for pass 2 up to this (76 + 8 bytes a
# frame: ~34 MB, ~1.1 h of speech); longer calls are decoded again in pass 2 instead


@dataclass(frozen=True)
class Diarization:
    """The two parties' speech in a mono call.

    segments: speech segments with speaker ``agent``/``customer``, sorted by start.
    agent_confidence: 0..1, how sure the agent/customer assignment is.
    separation_confidence: 0..1, how clearly two voices were found.
    n_speakers_estimate: 1, 2 or 3 (3 meaning three or more).
    warnings: one line each, for the result's warnings.
    voice_measures: what the estimate was decided on (cosines, see :func:`count_voices`):
        ``similarity``, ``spread``, ``fit``, ``third_similarity``; empty without embeddings.
    """

    segments: tuple[Segment, ...]
    agent_confidence: float
    separation_confidence: float
    n_speakers_estimate: int
    warnings: tuple[str, ...]
    voice_measures: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- public entry point


def diarize(info: AudioInfo, speech: list[Segment], *, config: DiarizationConfig = DiarizationConfig()) -> Diarization:
    """Split a mono call's speech between two voices and name them agent and customer.

    ``speech``: the channel's smoothed speech segments (seconds), any speaker label.
    Reads ``info``'s audio in blocks of ``config.block_s``; a second time only for calls with more than
    ``_MFCC_KEEP_MAX_FRAMES`` speech frames.
    """
    n_frames = int(np.ceil(info.duration_s / FRAME_S))
    spans = speech_spans(speech, n_frames)
    if not spans:
        return Diarization((), 0.0, 0.0, 1, ("no speech to diarize",))
    windows = embedding_windows(spans, window_frames=_frames(config.window_s), hop_frames=_frames(config.hop_s),
                                min_frames=_frames(config.min_window_s))
    speech_mask = spans_to_mask(spans, n_frames)
    stride = max(1, int(np.ceil(speech_mask.sum() / config.max_sample_frames)))
    keep_mfcc = int(speech_mask.sum()) <= _MFCC_KEEP_MAX_FRAMES
    embeddings, level_db, sample_idx, sample_mfcc, speech_mfcc = _first_pass(info, windows, speech_mask, stride, config,
                                                                              keep_mfcc=keep_mfcc)

    voices = cluster_voices(embeddings, windows, config=config)
    measures = {k: round(float(getattr(voices, k)), 3) for k in ("similarity", "spread", "fit", "third_similarity")}
    warnings: list[str] = []
    if voices.n_speakers == 1 or len(windows) < 2:
        segments = tuple(Segment(a * FRAME_S, b * FRAME_S, AGENT) for a, b in spans)
        warnings.append(
            "diarization found one voice only: all speech is given to the agent and customer metrics are null "
            "(one-sided recording, or two very similar voices)"
        )
        return Diarization(segments, 0.0, voices.separation, 1, tuple(warnings), measures)
    if voices.n_speakers >= 3:
        warnings.append(
            f"diarization heard more than two speakers (two voices leave the speech loose, fit {voices.fit:.2f}, and a "
            f"distinct third voice, similarity {voices.third_similarity:.2f}); speech was forced into two parties, so "
            "party metrics are unreliable (conference or transferred call?)"
        )

    window_score = voices.window_score  # > 0: voice 0
    sample_score = _frame_scores_at(windows, window_score, sample_idx)
    frame_model = _train_frame_model(sample_mfcc, sample_score, np.quantile(np.abs(window_score), 0.25), config)
    emb_frame_score = window_scores_to_frames(windows, window_score, n_frames)
    if frame_model is None:
        gmm_llr = np.zeros(n_frames, np.float32)
    else:
        gmm_llr = _frame_llr(speech_mfcc if keep_mfcc else _speech_mfcc_blocks(info, speech_mask, config), frame_model, n_frames)
    # the agent's confidence reads the unclipped score (its thresholds were set on it); decoding the clipped one
    score = frame_scores(gmm_llr, emb_frame_score, speech_mask, embedding_weight=config.embedding_weight, llr_clip=0.0)
    decode_score = frame_scores(gmm_llr, emb_frame_score, speech_mask, embedding_weight=config.embedding_weight,
                                llr_clip=config.frame_llr_clip)
    labels = viterbi_two_voices(decode_score, spans, level_db, config=config)
    labels = absorb_short_runs(labels, spans, min_frames=_frames(config.min_segment_s))
    raw = labelled_segments(labels, spans, level_db, quiet_db=config.quiet_db)

    agent_voice, agent_conf = pick_agent(raw, score, rule=config.agent, min_turn_s=config.min_opener_s)
    names = {agent_voice: AGENT, 1 - agent_voice: CUSTOMER}
    segments = tuple(sorted(Segment(s.start_s, s.end_s, names[int(s.speaker)]) for s in raw))
    agent_conf *= voices.separation ** 0.5
    if voices.n_speakers == 2:
        warnings.extend(confidence_warnings(agent_conf, voices.separation, voices.similarity, config=config))
    return Diarization(segments, round(float(agent_conf), 3), round(float(voices.separation), 3),
                       voices.n_speakers, tuple(warnings), measures)


def confidence_warnings(agent_confidence: float, separation: float, similarity: float, *,
                        config: DiarizationConfig) -> list[str]:
    """The one warning (or none) of a two-voice call whose split is unsure: agent confidence below
    ``min_agent_confidence``, separation below ``min_separation_confidence``, or voices at least
    ``unclear_voice_similarity`` alike; every reason that applies is named."""
    reasons = []
    if similarity >= config.unclear_voice_similarity:
        reasons.append(f"the two voices are hard to tell apart (similarity {similarity:.2f})")
    if agent_confidence < config.min_agent_confidence:
        reasons.append(f"agent confidence {agent_confidence:.2f} < {config.min_agent_confidence:g}")
    if separation < config.min_separation_confidence:
        reasons.append(f"separation confidence {separation:.2f} < {config.min_separation_confidence:g}")
    if not reasons:
        return []
    return [f"diarization is unsure who is who: {'; '.join(reasons)}; party metrics may mix the speakers"]


def _frames(seconds: float) -> int:
    return int(round(seconds / FRAME_S))


# ----------------------------------------------------------------------------- frame grid helpers (pure)


def speech_spans(speech: list[Segment], n_frames: int) -> list[tuple[int, int]]:
    """Speech segments as sorted, disjoint ``[start, end)`` frame spans on the 10 ms grid."""
    spans = []
    for seg in sorted(speech):
        a, b = max(0, int(round(seg.start_s / FRAME_S))), min(n_frames, int(round(seg.end_s / FRAME_S)))
        if b <= a:
            continue
        if spans and a <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], b))
        else:
            spans.append((a, b))
    return spans


def spans_to_mask(spans: list[tuple[int, int]], n_frames: int) -> np.ndarray:
    mask = np.zeros(n_frames, dtype=bool)
    for a, b in spans:
        mask[a:b] = True
    return mask


def embedding_windows(spans: list[tuple[int, int]], *, window_frames: int, hop_frames: int, min_frames: int) -> np.ndarray:
    """``(n, 2)`` int frame spans of embedding windows inside speech.

    A span shorter than ``window_frames`` is one window (if at least ``min_frames``);
    a longer one is tiled at ``hop_frames``, the last window ending at the span's end::

        span     |-------------------|
        windows  |------|
                     |------|
                            |------|
                             |------|
    """
    out = []
    for a, b in spans:
        n = b - a
        if n < min_frames:
            continue
        if n <= window_frames:
            out.append((a, b))
            continue
        starts = list(range(a, b - window_frames + 1, hop_frames))
        if starts[-1] + window_frames < b:
            starts.append(b - window_frames)
        out.extend((s, s + window_frames) for s in starts)
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


def window_scores_to_frames(windows: np.ndarray, scores: np.ndarray, n_frames: int) -> np.ndarray:
    """Per-frame mean of the scores of the windows covering it (0 where none does)."""
    total = np.zeros(n_frames + 1, np.float64)
    count = np.zeros(n_frames + 1, np.float64)
    np.add.at(total, windows[:, 0], scores)
    np.add.at(total, windows[:, 1], -scores)
    np.add.at(count, windows[:, 0], 1.0)
    np.add.at(count, windows[:, 1], -1.0)
    total, count = np.cumsum(total)[:n_frames], np.cumsum(count)[:n_frames]
    return np.where(count > 0.5, total / np.maximum(count, 1.0), 0.0).astype(np.float32)


# ----------------------------------------------------------------------------- audio -> features (streaming)


@functools.lru_cache(maxsize=1)
def load_encoder():
    """Resemblyzer's pretrained speaker encoder (vendored with its weights, :mod:`analyzer.speaker_encoder`),
    on CPU, loaded once per process."""
    from .speaker_encoder import load_voice_encoder

    return load_voice_encoder()


@functools.lru_cache(maxsize=1)
def _dct() -> np.ndarray:
    from scipy.fft import dct

    return dct(np.eye(_N_MELS), type=2, norm="ortho", axis=0)[:, 1:_N_MFCC].astype(np.float32)


def mel_power(wav16: np.ndarray, needed: np.ndarray | None = None) -> np.ndarray:
    """Mel power spectrogram ``(len // 160, 40)`` of 16 kHz audio: frame i is centred on sample 160 i + 80
    (25 ms Hann window, resemblyzer's filterbank).

    ``needed``: optional boolean mask per frame; only those frames are computed (the rest stay 0),
    so silence costs no FFTs."""
    n = len(wav16) // _HOP
    out = np.zeros((n, _N_MELS), np.float32)
    if n == 0:
        return out
    pad = (_N_FFT - _HOP) // 2
    x = np.pad(wav16[: n * _HOP].astype(np.float32), (pad, pad))
    frames = np.lib.stride_tricks.sliding_window_view(x, _N_FFT)[::_HOP][:n]
    rows = np.arange(n) if needed is None else np.flatnonzero(needed[:n])
    if len(rows):
        spec = np.abs(np.fft.rfft(frames[rows] * np.hanning(_N_FFT + 1)[:-1].astype(np.float32), axis=1)) ** 2
        out[rows] = spec.astype(np.float32) @ mel_filter_bank(ENCODER_RATE_HZ, _N_FFT, _N_MELS).T
    return out


def mfcc_from_mel(mel: np.ndarray) -> np.ndarray:
    """Cepstra c1..c19 of a mel power spectrogram (level-independent)."""
    return (np.log(mel + 1e-8) @ _dct()).astype(np.float32)


def _mono_blocks_16k(info: AudioInfo, block_s: float) -> Iterator[np.ndarray]:
    """The file's channels averaged, at 16 kHz, in blocks of ``block_s`` (whole 10 ms frames)."""
    rate = info.analysis_rate_hz
    for block in iter_blocks(info, block_s=block_s, align_samples=hop_samples(rate)):
        mono = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
        if rate != ENCODER_RATE_HZ:
            n_out = len(mono) * ENCODER_RATE_HZ // rate
            mono = soxr.resample(mono, rate, ENCODER_RATE_HZ, quality="HQ")[:n_out]
            if len(mono) < n_out:
                mono = np.pad(mono, (0, n_out - len(mono)))
        yield mono.astype(np.float32)


def _blocks_with_frames(info: AudioInfo, block_s: float, speech_mask: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``(first_frame, wav16, mel)`` per block on the file's 10 ms grid; mel is computed for speech frames only."""
    first = 0
    for wav in _mono_blocks_16k(info, block_s):
        n = len(wav) // _HOP
        needed = np.zeros(n, bool)
        inside = speech_mask[first : first + n]
        needed[: len(inside)] = inside
        yield first, wav, mel_power(wav, needed)
        first += n


def _first_pass(info: AudioInfo, windows: np.ndarray, speech_mask: np.ndarray, stride: int, config: DiarizationConfig, *,
                keep_mfcc: bool = False):
    """Embeddings of every window, level of every frame (dB), a strided sample of speech-frame MFCCs, and with
    ``keep_mfcc`` every block's speech-frame MFCCs ``[(frame indices, mfcc float32)]`` (what pass 2 would compute)."""
    import torch

    encoder = load_encoder()
    n_frames = len(speech_mask)
    level_db = np.full(n_frames, -120.0, np.float32)
    embeddings = np.zeros((len(windows), 256), np.float32)
    sample_idx, sample_mfcc, speech_mfcc = [], [], []
    keep = int(round(config.window_s / FRAME_S)) + 1
    buf_mel = np.zeros((0, _N_MELS), np.float32)
    buf_pow = np.zeros(0, np.float32)
    buf_first = 0
    next_window = 0
    target_pow = 10 ** (_ENCODER_DBFS / 10)
    for first, wav, mel in _blocks_with_frames(info, config.block_s, speech_mask):
        n = min(len(mel), n_frames - first)
        if n <= 0:
            break
        mel = mel[:n]
        frame_pow = np.mean(wav[: n * _HOP].reshape(n, _HOP).astype(np.float64) ** 2, axis=1).astype(np.float32)
        level_db[first : first + n] = 10 * np.log10(np.maximum(frame_pow, 1e-12))
        in_block = np.flatnonzero(speech_mask[first : first + n]) + first
        if keep_mfcc and len(in_block):
            speech_mfcc.append((in_block, mfcc_from_mel(mel[in_block - first])))
        chosen = in_block[in_block % stride == 0]
        if len(chosen):
            sample_idx.append(chosen)
            sample_mfcc.append(mfcc_from_mel(mel[chosen - first]).astype(np.float16))
        buf_mel = np.concatenate([buf_mel, mel])
        buf_pow = np.concatenate([buf_pow, frame_pow])
        end = first + n
        stop = next_window
        while stop < len(windows) and windows[stop, 1] <= end:
            stop += 1
        if stop > next_window:
            embeddings[next_window:stop] = _embed(encoder, torch, buf_mel, buf_pow, buf_first, windows[next_window:stop], target_pow)
            next_window = stop
        cut = max(0, len(buf_mel) - keep)
        if next_window < len(windows):
            cut = min(cut, max(0, windows[next_window, 0] - buf_first))
        buf_mel, buf_pow, buf_first = buf_mel[cut:], buf_pow[cut:], buf_first + cut
    if next_window < len(windows):  # windows running past the decoded audio (rounding at the end)
        embeddings[next_window:] = _embed(encoder, torch, buf_mel, buf_pow, buf_first, windows[next_window:], target_pow)
    idx = np.concatenate(sample_idx) if sample_idx else np.zeros(0, np.int64)
    mfcc = np.concatenate(sample_mfcc) if sample_mfcc else np.zeros((0, _N_MFCC - 1), np.float16)
    return embeddings, level_db, idx, mfcc, speech_mfcc


def _embed(encoder, torch, mel: np.ndarray, frame_pow: np.ndarray, first: int, windows: np.ndarray, target_pow: float) -> np.ndarray:
    """Encoder embeddings of windows (absolute frame spans) within ``mel`` starting at frame ``first``;
    each window's level normalised to -30 dBFS. Windows of equal length go through the LSTM as one batch."""
    out = np.zeros((len(windows), 256), np.float32)
    lengths = np.minimum(windows[:, 1], first + len(mel)) - windows[:, 0]
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        if length <= 0:
            continue
        batch = np.stack([mel[w - first : w - first + length] for w in windows[rows, 0]])
        pw = np.stack([frame_pow[w - first : w - first + length].mean() for w in windows[rows, 0]])
        batch *= (target_pow / np.maximum(pw, 1e-10))[:, None, None].astype(np.float32)
        with torch.inference_mode():
            out[rows] = encoder(torch.from_numpy(batch)).numpy()
    return out


# ----------------------------------------------------------------------------- clustering


@dataclass(frozen=True)
class Voices:
    """Result of clustering the windows: score > 0 means voice 0."""

    window_score: np.ndarray
    n_speakers: int
    separation: float
    similarity: float  # cosine of the two voices' mean embeddings
    spread: float = 1.0  # mean cosine of the windows to the call's mean embedding (one voice: tight)
    fit: float = 1.0  # mean cosine of the windows to their own voice's mean embedding
    third_similarity: float = 1.0  # 3-way split: the closest two groups' cosine (1.0: no sizeable third group)


def cluster_voices(embeddings: np.ndarray, windows: np.ndarray, *, config: DiarizationConfig) -> Voices:
    """Two voices from window embeddings: k-means (10 starts) on the call-centred, unit-length
    embeddings (centring removes what all windows share: channel, codec, language), then every
    window scored by its cosine to the two centroids (score > 0: voice 0).

    Also estimates the number of voices (see :func:`count_voices`). ``separation`` (0..1) is the
    mean silhouette of the split.
    """
    from sklearn.cluster import KMeans

    n = len(embeddings)
    if n < 4:
        return Voices(np.ones(n, np.float32), 1, 0.0, 1.0)
    unit = _unit(embeddings.astype(np.float32))
    centred = _unit(unit - unit.mean(0))
    pick = np.unique(np.linspace(0, n - 1, min(n, config.max_cluster_windows)).round().astype(int))
    km = KMeans(2, n_init=10, random_state=0).fit(centred[pick])
    c0, c1 = _unit(km.cluster_centers_)
    for _ in range(3):  # assign every window, re-estimate the centroids
        first = centred @ c0 - centred @ c1 > 0
        if first.sum() < 2 or (~first).sum() < 2:
            break
        c0, c1 = _unit(centred[first].mean(0)), _unit(centred[~first].mean(0))
    score = (centred @ c0 - centred @ c1).astype(np.float32)
    first = score > 0
    separation = _silhouette(centred, first)
    minority = min(first.mean(), 1 - first.mean())
    spread = float(np.mean(unit @ _unit(unit.mean(0))))
    if minority == 0:
        return Voices(score, 1, separation, 1.0, spread, spread)
    m0, m1 = _unit(unit[first].mean(0)), _unit(unit[~first].mean(0))
    similarity = float(m0 @ m1)
    fit = float(np.mean(np.where(first, unit @ m0, unit @ m1)))
    groups3 = _three_groups(centred[pick])
    third = third_voice_similarity(unit[pick], groups3, config=config)
    n_speakers = count_voices(similarity=similarity, spread=spread, fit=fit, third_similarity=third,
                              minority=minority, config=config)
    if groups3 is not None and config.alternation_split:
        score = alternation_split(centred, windows, score, centred[pick], groups3,
                                  within_weight=config.alternation_within_weight)
    return Voices(score, n_speakers, separation, similarity, spread, fit, third)


def _three_groups(centred: np.ndarray) -> np.ndarray | None:
    """A 3-way k-means split (10 starts) of call-centred unit embeddings; None below 12 windows."""
    from sklearn.cluster import KMeans

    if len(centred) < 12:
        return None
    return KMeans(3, n_init=10, random_state=0).fit_predict(centred)


def alternation_split(centred: np.ndarray, windows: np.ndarray, score2: np.ndarray, fitted: np.ndarray,
                      groups3: np.ndarray, *, within_weight: float) -> np.ndarray:
    """The two-voice window scores, or a split of three sub-voices into two parties when the turn-taking says so.

    k-means with k = 2 can split one party by its manner of speaking (calm vs angry turns) and give one of
    the halves to the other party. Two parties alternate: consecutive windows in different speech segments
    (across a pause) change party far more often than they change manner inside one party. So the three
    groups of ``groups3`` (fitted on the rows ``fitted``) are split into two parties every way (3 ways); a
    split scores ``cross - within_weight * within`` (``cross``: pauses across which the party changes,
    ``within``: pauses between the two groups joined into one party) and replaces the k = 2 split
    (``score2``, which scores its own changes) if it scores higher. Window scores are then the cosine to the
    nearest sub-voice of voice 0 minus that of voice 1 (> 0: voice 0, the side of ``score2 > 0``'s majority).
    """
    cents = _unit(np.stack([fitted[groups3 == g].mean(0) for g in range(3)]))
    sims = centred @ cents.T
    groups = np.argmax(sims, axis=1)
    across = windows[1:, 0] >= windows[:-1, 1]  # consecutive windows in different speech segments
    a, b = groups[:-1][across], groups[1:][across]
    first2 = score2 > 0
    best_score, best = float(np.sum(first2[:-1][across] != first2[1:][across])), None
    for alone in range(3):  # the group that is a party by itself
        part = groups == alone
        cross = float(np.sum(part[:-1][across] != part[1:][across]))
        within = float(np.sum((a != b) & (a != alone) & (b != alone)))
        if cross - within_weight * within > best_score:
            best_score, best = cross - within_weight * within, alone
    if best is None:
        return score2
    own = sims[:, best]
    other = np.max(np.delete(sims, best, axis=1), axis=1)
    score = (own - other).astype(np.float32)
    if np.mean((score > 0) == first2) < 0.5:  # keep voice 0 on the side of the k = 2 split's voice 0
        score = -score
    return score


def count_voices(*, similarity: float, spread: float, fit: float, third_similarity: float, minority: float,
                 config: DiarizationConfig) -> int:
    """1, 2 or 3 (three or more) voices from the clustering's measures (all cosines of unit embeddings).

    One voice: a tiny second group (< 5 % of the windows), or two groups whose centroids are
    ``same_voice_similarity`` alike while all windows sit tight around the call's mean
    (``spread >= one_voice_spread``): two similar voices still spread the windows more than one does.
    Three or more: the two voices leave the windows loose (``fit <= third_voice_fit``) and a 3-way
    split finds a distinct third group (``third_similarity <= third_voice_similarity``).
    """
    if minority < 0.05 or (similarity >= config.same_voice_similarity and spread >= config.one_voice_spread):
        return 1
    if fit <= config.third_voice_fit and third_similarity <= config.third_voice_similarity:
        return 3
    return 2


def third_voice_similarity(unit: np.ndarray, groups: np.ndarray | None, *, config: DiarizationConfig) -> float:
    """Of a 3-way split of the windows (``groups``, :func:`_three_groups`): the highest cosine between two of the
    three groups' (uncentred) mean embeddings; 1.0 if there are too few windows (``None``) or a group holds less
    than ``third_voice_share``."""
    if groups is None:
        return 1.0
    if np.bincount(groups, minlength=3).min() < config.third_voice_share * len(groups):
        return 1.0
    means = _unit(np.stack([unit[groups == g].mean(0) for g in range(3)]))
    sims = means @ means.T
    return float(max(sims[0, 1], sims[0, 2], sims[1, 2]))


def _silhouette(emb: np.ndarray, is_first: np.ndarray) -> float:
    """Mean silhouette (cosine) of a two-way split, clipped to 0..1 (subsampled above 2000 windows)."""
    from sklearn.metrics import silhouette_score

    if is_first.all() or not is_first.any():
        return 0.0
    step = max(1, len(emb) // 2000)
    return float(np.clip(silhouette_score(emb[::step], is_first[::step], metric="cosine"), 0.0, 1.0))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)


# ----------------------------------------------------------------------------- frame model


@dataclass(frozen=True)
class _FrameModel:
    gmms: tuple
    mean: np.ndarray
    std: np.ndarray


def _train_frame_model(sample_mfcc, frame_score, margin: float, config: DiarizationConfig) -> _FrameModel | None:
    """Two diagonal GMMs over MFCC frames: voice 0 on the sampled frames with ``frame_score > margin``,
    voice 1 on those with ``frame_score < -margin``."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    if len(sample_mfcc) < 200:
        return None
    x = sample_mfcc.astype(np.float32)
    mean, std = x.mean(0), x.std(0) + 1e-6
    x = (x - mean) / std
    gmms = []
    for sign in (1, -1):
        rows = frame_score * sign > margin
        if rows.sum() < 5 * config.gmm_components:
            return None
        gmm = GaussianMixture(config.gmm_components, covariance_type="diag", max_iter=50, random_state=0, reg_covar=1e-3)
        with warnings.catch_warnings():  # 50 EM steps are enough for a frame scorer; no need to converge
            warnings.simplefilter("ignore", ConvergenceWarning)
            gmms.append(gmm.fit(x[rows]))
    return _FrameModel(tuple(gmms), mean, std)


def _frame_scores_at(windows: np.ndarray, scores: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Mean score of the windows covering each of ``frames`` (0 where none)."""
    if len(windows) == 0:
        return np.zeros(len(frames), np.float32)
    n = int(max(windows[:, 1].max(), frames.max() + 1))
    return window_scores_to_frames(windows, scores, n)[frames]


def _speech_mfcc_blocks(info: AudioInfo, speech_mask: np.ndarray, config: DiarizationConfig) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Pass 2: the file read again; ``(frame indices, mfcc)`` of every block's speech frames, as pass 1 computes them."""
    n_frames = len(speech_mask)
    for first, _wav, mel in _blocks_with_frames(info, config.block_s, speech_mask):
        n = min(len(mel), n_frames - first)
        if n <= 0:
            break
        idx = np.flatnonzero(speech_mask[first : first + n])
        if len(idx):
            yield idx + first, mfcc_from_mel(mel[idx])


def _frame_llr(blocks, model: _FrameModel, n_frames: int) -> np.ndarray:
    """Per-frame log-likelihood ratio voice 0 vs voice 1 from ``(frame indices, mfcc)`` blocks (0 outside speech)."""
    llr = np.zeros(n_frames, np.float32)
    for idx, mfcc in blocks:
        x = (mfcc - model.mean) / model.std
        llr[idx] = model.gmms[0].score_samples(x) - model.gmms[1].score_samples(x)
    return llr


def frame_scores(gmm_llr: np.ndarray, emb_frame_score: np.ndarray, speech_mask: np.ndarray, *, embedding_weight: float,
                 llr_clip: float) -> np.ndarray:
    """Per-frame score of voice 0 against voice 1 (> 0: voice 0): the GMM log-likelihood ratio, clipped to
    ``+-llr_clip`` (0: not clipped), plus ``embedding_weight`` times the windows' embedding score scaled to that
    ratio's spread. The clip keeps a few outlying frames (a word onset the other voice's model happens to fit,
    |LLR| 20-35 where speech frames mostly lie within +-5) from paying for a speaker change on their own."""
    llr = np.clip(gmm_llr, -llr_clip, llr_clip) if llr_clip > 0 else gmm_llr
    return llr + embedding_weight * _scale_embedding(emb_frame_score, llr, speech_mask)


def _scale_embedding(emb_score: np.ndarray, llr: np.ndarray, speech_mask: np.ndarray) -> np.ndarray:
    """Embedding scores scaled to the frame LLR's spread (so the weight is unit-free)."""
    e, g = emb_score[speech_mask], llr[speech_mask]
    se = float(np.std(e)) if e.size else 0.0
    sg = float(np.std(g)) if g.size and np.any(g) else 1.0
    return emb_score * (sg / se if se > 0 else 0.0)


# ----------------------------------------------------------------------------- decoding


def viterbi_two_voices(score: np.ndarray, spans: list[tuple[int, int]], level_db: np.ndarray, *,
                       config: DiarizationConfig) -> np.ndarray:
    """Best voice (0 or 1) per frame of the speech spans; -1 outside speech.

    Frame log-likelihoods are ``+score/2`` for voice 0 and ``-score/2`` for voice 1.
    A switch costs ``switch_penalty`` between loud frames, ``quiet_switch_penalty``
    at a frame ``quiet_db`` below the span's speech level, and ``pause_switch_penalty``
    from one span to the next.
    """
    labels = np.full(len(score), -1, np.int8)
    if not spans:
        return labels
    idx = np.concatenate([np.arange(a, b) for a, b in spans])
    half = score[idx].astype(np.float64) / 2.0
    cost = np.full(len(idx), config.switch_penalty, np.float64)
    pos = 0
    for a, b in spans:
        n = b - a
        seg_level = level_db[a:b]
        quiet = seg_level < np.percentile(seg_level, 90) - config.quiet_db
        cost[pos : pos + n][quiet] = config.quiet_switch_penalty
        cost[pos] = config.pause_switch_penalty
        pos += n
    path = _viterbi2(half, cost)
    labels[idx] = path
    return labels


def _viterbi2(half: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Two-state Viterbi: emission ``+half`` (state 0) / ``-half`` (state 1), switch into frame t costs ``cost[t]``."""
    n = len(half)
    back = np.zeros((n, 2), dtype=bool)  # True: came from the other state
    s0, s1 = half[0], -half[0]
    h, c = half.tolist(), cost.tolist()
    for t in range(1, n):
        stay0, swap0 = s0, s1 - c[t]
        stay1, swap1 = s1, s0 - c[t]
        if swap0 > stay0:
            back[t, 0] = True
            s0n = swap0
        else:
            s0n = stay0
        if swap1 > stay1:
            back[t, 1] = True
            s1n = swap1
        else:
            s1n = stay1
        s0, s1 = s0n + h[t], s1n - h[t]
    path = np.zeros(n, np.int8)
    state = 0 if s0 >= s1 else 1
    for t in range(n - 1, -1, -1):
        path[t] = state
        if back[t, state]:
            state = 1 - state
    return path


def absorb_short_runs(labels: np.ndarray, spans: list[tuple[int, int]], *, min_frames: int) -> np.ndarray:
    """Inside each speech span, give runs shorter than ``min_frames`` to the longer neighbouring run."""
    labels = labels.copy()
    for a, b in spans:
        seg = labels[a:b]
        changed = True
        while changed:
            changed = False
            bounds = np.concatenate([[0], np.flatnonzero(np.diff(seg)) + 1, [len(seg)]])
            if len(bounds) <= 2:
                break
            lengths = np.diff(bounds)
            k = int(np.argmin(lengths))
            if lengths[k] >= min_frames:
                break
            left = lengths[k - 1] if k > 0 else -1
            right = lengths[k + 1] if k + 1 < len(lengths) else -1
            seg[bounds[k] : bounds[k + 1]] = seg[bounds[k] - 1] if left >= right else seg[bounds[k + 1]]
            changed = True
    return labels


def labelled_segments(labels: np.ndarray, spans: list[tuple[int, int]], level_db: np.ndarray, *,
                      quiet_db: float) -> list[Segment]:
    """Runs of each voice as segments (speaker ``"0"``/``"1"``). Where the voice changes inside a span, the
    quiet frames around the change (a short gap the VAD bridged) belong to neither voice."""
    out: list[Segment] = []
    for a, b in spans:
        seg = labels[a:b]
        bounds = np.concatenate([[0], np.flatnonzero(np.diff(seg)) + 1, [len(seg)]])
        quiet = level_db[a:b] < np.percentile(level_db[a:b], 90) - quiet_db
        runs = [[int(bounds[i]), int(bounds[i + 1]), int(seg[bounds[i]])] for i in range(len(bounds) - 1)]
        for i in range(len(runs) - 1):  # trim quiet frames on both sides of each change
            while runs[i][1] - runs[i][0] > 1 and quiet[runs[i][1] - 1]:
                runs[i][1] -= 1
            while runs[i + 1][1] - runs[i + 1][0] > 1 and quiet[runs[i + 1][0]]:
                runs[i + 1][0] += 1
        out.extend(Segment((a + r0) * FRAME_S, (a + r1) * FRAME_S, str(v)) for r0, r1, v in runs)
    return out


# ----------------------------------------------------------------------------- agent identification


def pick_agent(segments: list[Segment], score: np.ndarray, *, rule: str, min_turn_s: float) -> tuple[int, float]:
    """Which voice (0 or 1) is the agent under ``rule``, and how sure (0..1).

    ``first``: the voice of the first segment of at least ``min_turn_s`` (the call's opener);
    confidence from how one-sided the frame scores of that segment are.
    ``most``: the voice with more speech; confidence grows with the talk-share difference.
    ``longest-monologue``: the voice of the longest run of one voice (segments less than
    1 s apart merged); confidence from the ratio of the two voices' longest runs.
    """
    if not segments:
        return 0, 0.0
    if rule == "first":
        # the call's opener, however short: a listener who starts talking over it comes later
        first = next((s for s in segments if s.duration_s >= min_turn_s), segments[0])
        voice = int(first.speaker)
        votes = score[int(round(first.start_s / FRAME_S)) : int(round(first.end_s / FRAME_S))]
        agree = float(np.mean((votes > 0) == (voice == 0))) if votes.size else 0.5
        return voice, float(np.clip(2 * agree - 1, 0.0, 1.0))
    totals = np.array([sum(s.duration_s for s in segments if s.speaker == str(v)) for v in (0, 1)])
    if rule == "most":
        voice = int(np.argmax(totals))
        share = totals[voice] / max(totals.sum(), 1e-9)
        return voice, float(np.clip((share - 0.5) * 4.0, 0.0, 1.0))
    longest = np.zeros(2)
    for v in (0, 1):
        run_start = run_end = None
        for s in (s for s in segments if s.speaker == str(v)):
            if run_end is not None and s.start_s - run_end < 1.0 and not _other_between(segments, v, run_end, s.start_s):
                run_end = s.end_s
            else:
                run_start, run_end = s.start_s, s.end_s
            longest[v] = max(longest[v], run_end - run_start)
    voice = int(np.argmax(longest))
    ratio = longest[1 - voice] / max(longest[voice], 1e-9)
    return voice, float(np.clip(1.0 - ratio, 0.0, 1.0))


def _other_between(segments: list[Segment], voice: int, start_s: float, end_s: float) -> bool:
    return any(s.speaker != str(voice) and s.start_s < end_s and s.end_s > start_s for s in segments)
