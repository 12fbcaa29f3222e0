"""Call-level metrics from the transcript (present only when transcription is on: ``[asr] enabled``).

Inputs are the turn rows after :func:`analyzer.words.transcribe_turns` (keys ``speaker``,
``start_s``, ``end_s``, ``words``, ``language``). Keys:

- ``words_per_min_agent`` / ``_customer``: recognised words per minute of the party's turn time
  (pauses inside turns included, like ``speech_rate_*_sps``), over transcribed turns.
- ``filler_share_agent`` / ``_customer``: share of the party's words that are fillers of the
  call's language (``AsrConfig.fillers``, ``AsrConfig.filler_words``; None when the language has no list).
- ``agent_questions``: agent sentences ending in ``?`` (the model's punctuation).
- ``customer_question_latency_max_s``: the longest wait from the end of a customer turn whose
  last word ends in ``?`` to the start of the next agent turn (negative = the agent overlapped).
"""

from __future__ import annotations

import string

from ..config import AsrConfig
from .pacing import PARTIES, rounded

_STRIP = string.punctuation + "¿¡«»„“”‘’…—–"


def normalise_word(word: str) -> str:
    """Lower case, surrounding punctuation removed ("Hello," -> "hello")."""
    return word.strip().strip(_STRIP).casefold()


def _is_question(word: str) -> bool:
    return word.rstrip().rstrip("\"'”’»)").endswith(("?", "？", "؟"))


def words_metrics(turns: list[dict], config: AsrConfig = AsrConfig()) -> dict:
    """The transcript keys of ``result['metrics']`` from turn rows (see the module docstring)."""
    metrics: dict = {}
    transcribed = [t for t in turns if t.get("words") is not None]
    language = next((t["language"] for t in transcribed if t.get("language")), None)
    fillers = {normalise_word(f) for f in config.filler_words(language)}
    for party in PARTIES:
        own = [t for t in transcribed if t.get("speaker") == party]
        minutes = sum(t["end_s"] - t["start_s"] for t in own) / 60.0
        words = [normalise_word(w["word"]) for t in own for w in t["words"]]
        words = [w for w in words if w]
        metrics[f"words_per_min_{party}"] = rounded(len(words) / minutes, 1) if minutes > 0 else None
        metrics[f"filler_share_{party}"] = (rounded(sum(w in fillers for w in words) / len(words), 4)
                                            if words and fillers else None)
    metrics["agent_questions"] = sum(_is_question(w["word"]) for t in transcribed if t.get("speaker") == "agent"
                                     for w in t["words"])
    ordered = sorted(turns, key=lambda t: t["start_s"])
    waits = []
    for i, turn in enumerate(ordered):
        if turn.get("speaker") != "customer" or not turn.get("words") or not _is_question(turn["words"][-1]["word"]):
            continue
        answer = next((t for t in ordered[i + 1:] if t.get("speaker") == "agent"), None)
        if answer is not None:
            waits.append(answer["start_s"] - turn["end_s"])
    metrics["customer_question_latency_max_s"] = rounded(max(waits)) if waits else None
    return metrics


def find_phrase(words: list[dict], phrase: str, *, tolerance: float = 0.0) -> list[tuple[float, float]]:
    """Where ``phrase`` was said in ``words`` (dicts with ``word``, ``start_s``, ``end_s``, in time order): the
    (start_s, end_s) of every non-overlapping match, seconds.

    Words are compared lower case without punctuation. ``tolerance`` (0-1) is the share of
    characters that may differ (1 - difflib ratio of the joined words), so 0.2 accepts
    "thank you for calling" for "thanks for calling"; windows of the phrase's word count and one
    word fewer or more are tried, so a dropped or extra word is tolerated too.
    """
    from difflib import SequenceMatcher

    target = [w for w in (normalise_word(p) for p in phrase.split()) if w]
    said = [(normalise_word(w["word"]), w) for w in words]
    said = [(text, w) for text, w in said if text]
    if not target or not said:
        return []
    goal = " ".join(target)
    sizes = sorted({len(target), max(1, len(target) - 1), len(target) + 1})
    hits, i = [], 0
    while i < len(said):
        best, best_ratio = None, -1.0
        for n in sizes:  # the window length whose words are closest to the phrase
            window = said[i:i + n]
            if len(window) < n:
                continue
            text = " ".join(t for t, _ in window)
            ratio = 1.0 if text == goal else SequenceMatcher(None, text, goal).ratio() if tolerance > 0 else 0.0
            if 1 - ratio <= tolerance and ratio > best_ratio:
                best, best_ratio = n, ratio
        if best is None:
            i += 1
            continue
        hits.append((float(said[i][1]["start_s"]), float(said[i + best - 1][1]["end_s"])))
        i += best
    return hits


def word_error_rate(reference: str, hypothesis: str) -> tuple[float, int, int]:
    """(WER, edit count, reference word count): word-level Levenshtein distance (substitutions +
    insertions + deletions) over the reference's word count, after :func:`normalise_word`."""
    ref = [w for w in (normalise_word(x) for x in reference.split()) if w]
    hyp = [w for w in (normalise_word(x) for x in hypothesis.split()) if w]
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, start=1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    edits = row[-1]
    return (edits / len(ref) if ref else float(bool(hyp))), edits, len(ref)
