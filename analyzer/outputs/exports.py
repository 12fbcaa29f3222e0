"""Standard exports of a call's segmentation: RTTM, Audacity labels, Praat TextGrid, JSON Lines.

Pure formatters (result dict -> text) plus :func:`export_results`, which writes one set of
files per call under an output folder (``<out>/<call_id>.<ext>``, sub-folders as in call_id,
over-long names hash-shortened like every output name):

* ``rttm``: ``<call_id>.rttm``, one ``SPEAKER`` line per speech segment, speakers ``agent`` /
  ``customer`` (what pyannote, dscore and md-eval read; file id = call_id with whitespace
  replaced by ``_``).
* ``audacity``: ``<call_id>.agent.txt``, ``<call_id>.customer.txt`` (one label per turn, with
  its emotion) and ``<call_id>.events.txt`` (one label per event); Audacity imports each with
  File > Import > Labels as its own label track.
* ``textgrid``: ``<call_id>.TextGrid`` (Praat long text format; opens in Praat and ELAN): an
  interval tier per party (turns, labelled with the emotion) and one per event group (gaps &
  overlaps, interruptions, backchannels, pauses, dead air & holds). Interval tiers cannot overlap,
  so an event starting inside the previous one of its tier is clipped to start at its end.
* ``jsonl``: ``<call_id>.jsonl``, one JSON object per line: ``{"record": "turn" | "segment" |
  "event", "call_id", ...}`` with the fields of the result.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable, Iterable

from .writers import atomic_write_text, output_relpath

FORMATS = ("rttm", "audacity", "textgrid", "jsonl")
PARTIES = ("agent", "customer")
TEXTGRID_EVENT_TIERS = (
    ("gaps & overlaps", ("gap", "overlap")),
    ("interruptions", ("interruption",)),
    ("backchannels", ("backchannel",)),
    ("pauses", ("pause",)),
    ("dead air & holds", ("dead_air", "hold")),
)


def rttm_file_id(call_id: str) -> str:
    """The RTTM file id of a call: its call_id with whitespace replaced by ``_`` (RTTM fields are blank-separated)."""
    return re.sub(r"\s+", "_", call_id) or "_"


def to_rttm(result: dict) -> str:
    """RTTM lines (``SPEAKER <file> 1 <onset_s> <duration_s> <NA> <NA> <speaker> <NA> <NA>``), one per segment."""
    uri = rttm_file_id(str(result["call_id"]))
    lines = []
    for seg in sorted(result.get("segments") or [], key=lambda s: (float(s["start_s"]), str(s.get("speaker")))):
        start, end = float(seg["start_s"]), float(seg["end_s"])
        if end > start:
            speaker = rttm_file_id(str(seg.get("speaker") or "unknown"))
            lines.append(f"SPEAKER {uri} 1 {start:.3f} {end - start:.3f} <NA> <NA> {speaker} <NA> <NA>")
    return "\n".join(lines) + ("\n" if lines else "")


def _turn_label(turn: dict) -> str:
    label = f"{turn.get('speaker')} turn {turn.get('index')}"
    return f"{label} ({turn['emotion_label']})" if turn.get("emotion_label") else label


def _event_label(event: dict) -> str:
    parts = [event["kind"].replace("_", " ")]
    if event.get("speaker"):
        parts.append(f"by {event['speaker']}")
    if event.get("outcome"):
        parts.append(f"({event['outcome']})")
    if event.get("fto_s") is not None:
        parts.append(f"FTO {float(event['fto_s']):+.2f} s")
    return " ".join(parts)


def _audacity(items: Iterable[tuple[float, float, str]]) -> str:
    return "".join(f"{start:.6f}\t{end:.6f}\t{' '.join(label.split())}\n" for start, end, label in items)


def to_audacity(result: dict) -> dict[str, str]:
    """Audacity label tracks: ``{"agent": text, "customer": text, "events": text}`` (tab-separated start, end, label)."""
    tracks = {}
    for party in PARTIES:
        tracks[party] = _audacity((float(t["start_s"]), float(t["end_s"]), _turn_label(t))
                                  for t in result.get("turns") or [] if t.get("speaker") == party)
    tracks["events"] = _audacity((float(e["start_s"]), float(e["end_s"]), _event_label(e))
                                 for e in sorted(result.get("events") or [], key=lambda e: float(e["start_s"])))
    return tracks


def _praat_string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _interval_tier(name: str, items: list[tuple[float, float, str]], xmax: float) -> list[str]:
    """Praat interval tier lines covering [0, xmax]: the items (clipped so none overlaps the previous) and empty fillers."""
    intervals, t = [], 0.0
    for start, end, label in sorted(items):
        start, end = max(start, t), min(end, xmax)
        if end <= start:
            continue
        if start > t:
            intervals.append((t, start, ""))
        intervals.append((start, end, label))
        t = end
    if t < xmax:
        intervals.append((t, xmax, ""))
    lines = ['        class = "IntervalTier"', f"        name = {_praat_string(name)}", "        xmin = 0",
             f"        xmax = {xmax!r}", f"        intervals: size = {len(intervals)}"]
    for number, (start, end, label) in enumerate(intervals, 1):
        lines += [f"        intervals [{number}]:", f"            xmin = {start!r}", f"            xmax = {end!r}",
                  f"            text = {_praat_string(label)}"]
    return lines


def to_textgrid(result: dict) -> str:
    """A Praat TextGrid (long text format): a tier per party (turns) and per event group."""
    turns, events = result.get("turns") or [], result.get("events") or []
    ends = [float(x["end_s"]) for x in [*turns, *events, *(result.get("segments") or [])]]
    xmax = max([float(result.get("duration_s") or 0.0), *ends, 0.001])
    tiers = [(party, [(float(t["start_s"]), float(t["end_s"]), _turn_label(t)) for t in turns if t.get("speaker") == party])
             for party in PARTIES]
    tiers += [(name, [(float(e["start_s"]), float(e["end_s"]), _event_label(e)) for e in events if e["kind"] in kinds])
              for name, kinds in TEXTGRID_EVENT_TIERS]
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "xmin = 0", f"xmax = {xmax!r}",
             "tiers? <exists>", f"size = {len(tiers)}", "item []:"]
    for number, (name, items) in enumerate(tiers, 1):
        lines.append(f"    item [{number}]:")
        lines += _interval_tier(name, items, xmax)
    return "\n".join(lines) + "\n"


def to_jsonl(result: dict) -> str:
    """One JSON object per line: every turn, segment and event of the call, tagged with ``record``."""
    call_id = result["call_id"]
    records = [{"record": "turn", "call_id": call_id, **t} for t in result.get("turns") or []]
    records += [{"record": "segment", "call_id": call_id, **s} for s in result.get("segments") or []]
    records += [{"record": "event", "call_id": call_id, **e} for e in result.get("events") or []]
    return "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in records)


def export_files(result: dict, fmt: str) -> dict[str, str]:
    """``{file name suffix: text}`` of one call in format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "rttm":
        return {".rttm": to_rttm(result)}
    if fmt == "audacity":
        return {f".{track}.txt": text for track, text in to_audacity(result).items()}
    if fmt == "textgrid":
        return {".TextGrid": to_textgrid(result)}
    if fmt == "jsonl":
        return {".jsonl": to_jsonl(result)}
    raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")


def export_results(results: Iterable[dict], fmt: str, out_dir: str | Path,
                   on_file: Callable[[Path], None] | None = None) -> list[Path]:
    """Write every call of ``results`` in format ``fmt`` under ``out_dir`` (``<call_id><suffix>``); returns the paths."""
    out_dir = Path(out_dir)
    written = []
    for result in results:
        for suffix, text in export_files(result, fmt).items():
            path = out_dir / output_relpath(str(result["call_id"]), suffix)
            atomic_write_text(path, text)
            written.append(path)
            if on_file:
                on_file(path)
    return written
