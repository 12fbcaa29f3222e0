"""The index page's transcript search: a compact inverted index of the words said in every call.

``index.html`` must work opened from disk (``file://``), where a page may not ``fetch`` a local
file, so the index is a generated script next to it (:data:`SEARCH_INDEX_NAME`) that the page
adds as a ``<script>`` element the first time the search box is used. It assigns one object::

    window.callAnalyzerSearch = {"format": "call-analyzer/search/1", "stamp": "...",
                                 "ids": [call_id, ...],           # calls with a transcript
                                 "terms": ["a", "about", ...],    # every distinct word, sorted
                                 "postings": ["0,1,3", ...]}      # per term: the calls that said it

A posting is the ascending list of positions in ``ids``, stored as the gaps between them in base 36
(``"0,1,3"`` = calls 0, 1 and 4). The size grows with the number of distinct words per call, not
with the call's length (a word said 40 times in a call costs one posting), see
docs/words.md "Search in the index page" for the measured size per hour of transcript.

Words are normalised the same way here and in the page's script (:func:`search_terms`):
Unicode NFKD, combining marks dropped (``é`` -> ``e``), lower case, split at every character
that is not a letter or a digit (``don't`` -> ``don``, ``t``). Only the words' text goes in:
no times, no speaker, no confidences (the call page has those).
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from pathlib import Path

SEARCH_INDEX_NAME = "search-index.js"  # next to index.html
SEARCH_FORMAT = "call-analyzer/search/1"
_TOKEN = re.compile(r"[^\W_]+")


def search_terms(text: str) -> list[str]:
    """The words of ``text`` as the search sees them: NFKD, marks dropped, lower case, split at
    non-letters/digits. ``"Grüß Gott, don't"`` -> ``["gruß", "gott", "don", "t"]``."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", str(text)) if not unicodedata.category(c).startswith("M"))
    return _TOKEN.findall(folded.lower())


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def call_terms(call: dict) -> set[str]:
    """The distinct search terms of one call's transcribed turns (empty without a transcript)."""
    terms: set[str] = set()
    for turn in call.get("turns") or []:
        if turn.get("text"):
            terms.update(search_terms(turn["text"]))
    return terms


def build_search_index(calls: list[dict]) -> dict | None:
    """The inverted index of the calls' transcripts (pure), or None when no call has a transcript."""
    ids: list[str] = []
    by_term: dict[str, list[int]] = {}
    for call in calls:
        terms = call_terms(call)
        if not terms:
            continue
        number = len(ids)
        ids.append(str(call.get("call_id", "")))
        for term in terms:
            by_term.setdefault(term, []).append(number)
    if not ids:
        return None
    terms = sorted(by_term)
    postings = []
    for term in terms:
        numbers, previous = by_term[term], 0
        gaps = []
        for k, number in enumerate(numbers):
            gaps.append(_base36(number if k == 0 else number - previous))
            previous = number
        postings.append(",".join(gaps))
    body = {"format": SEARCH_FORMAT, "ids": ids, "terms": terms, "postings": postings}
    stamp = hashlib.sha256(json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()[:16]
    return {**body, "stamp": stamp}


def search_index_script(index: dict) -> str:
    """The text of :data:`SEARCH_INDEX_NAME`: one assignment, the JSON escaped for a script (no ``</script>``)."""
    data = json.dumps(index, ensure_ascii=False, separators=(",", ":"))
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    data = data.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return ("/* call-analyzer: words said in each call, for the search box of index.html (docs/words.md) */\n"
            f"window.callAnalyzerSearch = {data};\n")


def write_search_index(calls: list[dict], folder: Path) -> dict | None:
    """Write ``folder/search-index.js`` for ``calls`` (or remove a stale one when no call has a
    transcript); returns ``{"file", "stamp", "calls", "terms", "bytes"}`` or None."""
    from .writers import atomic_write_text

    path = Path(folder) / SEARCH_INDEX_NAME
    index = build_search_index(calls)
    if index is None:
        path.unlink(missing_ok=True)
        return None
    text = search_index_script(index)
    atomic_write_text(path, text)
    return {"file": SEARCH_INDEX_NAME, "stamp": index["stamp"], "calls": len(index["ids"]),
            "terms": len(index["terms"]), "bytes": len(text.encode("utf-8"))}
