"""Self-contained HTML pages for trainers: one page per call and an index of all calls.

Pages have inline CSS and JS, load nothing from the network and work opened
from disk. Every value from a result (call_ids, labels, messages) goes through
jinja2 autoescaping; JSON for scripts is embedded with jinja2's ``tojson``
(which escapes ``<``, ``>``, ``&`` and ``'``). ``neutralise_csv_cell`` protects
CSV/Excel outputs against formula injection.
"""

from __future__ import annotations

import functools
import math
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..emotion.model import LABELS as EMOTION_LABELS
from ..metrics.catalog import METRICS, format_value, metric_info
from .tables import separation_fields
from .writers import neutralise_csv_cell, neutralise_csv_frame  # noqa: F401 - re-exported for callers of this module
from .writers import output_relpath

TIMELINE_EVENT_LANES = (
    ("gaps", "gaps & overlaps", ("gap", "overlap")),
    ("interruptions", "interruptions", ("interruption",)),
    ("backchannels", "backchannels", ("backchannel",)),
    ("silence", "dead air & holds", ("dead_air", "hold")),
)
METRIC_GROUPS = (
    ("Talk", ("duration_s", "talk_ratio_agent", "speech_s_agent", "speech_s_customer", "longest_monologue_s",
              "longest_customer_story_s")),
    ("Turn-taking", ("turns_agent", "turns_customer", "interactivity_per_min", "agent_latency_median_s",
                     "agent_latency_p90_s", "customer_latency_median_s", "interruptions_by_agent",
                     "interruptions_by_customer", "backchannels_agent", "backchannels_customer", "overlap_ratio")),
    ("Silence", ("silence_ratio", "dead_air_count", "dead_air_total_s", "longest_silence_s", "holds")),
    ("Pace & voice", ("speech_rate_agent_sps", "speech_rate_customer_sps", "articulation_rate_agent_sps",
                      "rate_mismatch_sps", "pause_rate_agent_per_min", "mean_pause_agent_s",
                      "pitch_median_agent_st", "pitch_sd_agent_st", "pitch_range_agent_st", "energy_sd_agent_db")),
    ("Emotion", ("customer_valence_start", "customer_valence_end", "customer_turnaround", "customer_angry_share",
                 "agent_angry_share", "agent_valence_mean", "peak_customer_anger", "peak_customer_anger_s")),
)
INDEX_COLUMNS = (
    ("duration_s", "duration"), ("talk_ratio_agent", "agent talk share"),
    ("agent_latency_median_s", "agent latency"), ("interruptions_by_agent", "agent interrupts"),
    ("dead_air_count", "dead air"), ("longest_silence_s", "longest silence"),
    ("speech_rate_agent_sps", "agent rate"), ("customer_valence_end", "customer end mood"),
    ("customer_turnaround", "customer turnaround"),
)
# Page wording where the catalogue label misleads (the emotion metrics' names belong to the emotion module).
PAGE_LABELS = {
    "agent_angry_share": "share of agent speaking time that sounds angry (turns weighted by length)",
    "customer_angry_share": "share of customer speaking time that sounds angry (turns weighted by length)",
}
TIME_IN_CALL_METRICS = ("peak_customer_anger_s",)  # values that are a moment of the call: shown as a link that plays it
PITCH_HZ_METRICS = ("pitch_median_agent_st", "pitch_median_customer_st")  # absolute levels: also shown in Hz
PITCH_REFERENCE_HZ = 100.0  # semitones are re 100 Hz (docs/result-schema.md)
ENVELOPE_HEIGHT = 24  # px of one envelope lane (the SVG viewBox height)


def page_href(call_id: str) -> str:
    """Relative URL of a call's page from the folder holding the index: ``<call_id>.html``,
    percent-encoded per path component (so '#', '?', '%', '<' in file names stay part of the path);
    long ids are hash-shortened like every output name (:func:`analyzer.outputs.writers.output_relpath`)."""
    return quote(output_relpath(call_id.replace("\\", "/"), ".html"), safe="/")


def page_path(html_dir: str | Path, call_id: str) -> Path:
    """Where :func:`write_call_page` output for ``call_id`` goes under ``html_dir`` (matches :func:`page_href`)."""
    return Path(html_dir) / output_relpath(call_id, ".html")


def relative_href(target: str | Path, from_dir: str | Path) -> str:
    """Percent-encoded relative URL of ``target`` (e.g. the audio file) as seen from a page in ``from_dir``."""
    rel = os.path.relpath(os.path.abspath(target), os.path.abspath(from_dir))
    return quote(Path(rel).as_posix(), safe="/")


@functools.lru_cache(maxsize=1)
def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).resolve().parent / "templates")),
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )
    env.filters["clock"] = clock
    env.filters["fmt_metric"] = lambda value, key: format_value(value, metric_info(key).unit)
    return env


def render(template: str, **context: Any) -> str:
    """Render one of ``analyzer/templates`` with autoescaping."""
    return _environment().get_template(template).render(**context)


def clock(seconds: float | None) -> str:
    """``m:ss.s`` (or ``h:mm:ss``) for a time in seconds."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    seconds = max(0.0, float(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h)}:{int(m):02d}:{int(s):02d}" if h >= 1 else f"{int(m)}:{s:04.1f}"


def _pct(time_s: float, duration_s: float) -> float:
    return round(100.0 * min(max(time_s, 0.0), duration_s) / duration_s, 4)


def _top_class(turn: dict) -> tuple[float, str]:
    """The turn's most probable emotion class and its probability (0-1), whatever label the decision gave."""
    return max(((turn.get(f"p_{n}") or 0.0, n) for n in EMOTION_LABELS))


def _turn_tooltip(turn: dict) -> str:
    head = f"{turn.get('speaker')} turn {turn.get('index', '')}: {clock(turn['start_s'])}-{clock(turn['end_s'])}"
    label = turn.get("emotion_label")
    if not label:
        return head + " (no emotion score)"
    probs = sorted(((turn.get(f"p_{n}") or 0.0, n) for n in EMOTION_LABELS), reverse=True)
    parts = " · ".join(f"{n} {100 * p:.0f}%" for p, n in probs)
    extra = "".join(f", {k} {turn[k]:+.2f}" for k in ("valence", "arousal") if turn.get(k) is not None)
    rate = f", {turn['speech_rate_sps']:.1f} syll/s" if turn.get("speech_rate_sps") is not None else ""
    pitch = turn.get("pitch_median_st")
    pitch_text = f", pitch {pitch:.1f} st ({semitones_to_hz(pitch):.0f} Hz)" if pitch is not None else ""
    if turn.get("emotion_uncertain"):
        top_p, top = _top_class(turn)
        label += (f" (uncertain: the top class, {top} at {100 * top_p:.0f}%, did not reach its decision threshold,"
                  " so the turn counts as neutral)")
    return f"{head}\n{label}: {parts}{extra}{rate}{pitch_text}"


def semitones_to_hz(semitones: float) -> float:
    """Frequency in Hz of a pitch in semitones re :data:`PITCH_REFERENCE_HZ` (100 Hz)."""
    return PITCH_REFERENCE_HZ * 2.0 ** (float(semitones) / 12.0)


def metric_label(key: str) -> str:
    """The page's label of a metric: :data:`PAGE_LABELS` where the catalogue wording misleads."""
    return PAGE_LABELS.get(key) or metric_info(key).label


def _metric_row(key: str, value: Any) -> dict[str, Any]:
    """One row of a metric table: label, text, and ``time`` (seconds) when the value is a moment of the call."""
    info = metric_info(key)
    text = format_value(value, info.unit)
    if key in PITCH_HZ_METRICS and value is not None:
        text += f" ({semitones_to_hz(value):.0f} Hz)"
    time_s = float(value) if key in TIME_IN_CALL_METRICS and value is not None else None
    return {"label": metric_label(key), "text": text, "key": key, "time": time_s,
            "clock": clock(time_s) if time_s is not None else ""}


def _turn_aria(turn: dict) -> str:
    label = turn.get("emotion_label") or "no emotion score"
    return (f"{turn.get('speaker') or 'unknown'} turn {turn.get('index', '')}, {clock(turn['start_s'])} to "
            f"{clock(turn['end_s'])}, {label}")


def _turn_list_row(turn: dict) -> dict[str, Any]:
    """A row of the turn list: time, party, length, FTO, emotion (and its probability)."""
    label = turn.get("emotion_label")
    prob = turn.get(f"p_{label}") if label else None
    prob_text = "" if prob is None else f"{100 * prob:.0f}%"
    if label and turn.get("emotion_uncertain"):
        top_p, top = _top_class(turn)
        prob_text = f"uncertain (top: {top} {100 * top_p:.0f}%)"
    fto = turn.get("fto_s")
    return {"index": turn.get("index"), "start": round(float(turn["start_s"]), 3), "end": round(float(turn["end_s"]), 3),
            "clock": clock(turn["start_s"]), "speaker": turn.get("speaker") or "unknown",
            "length": f"{float(turn['end_s']) - float(turn['start_s']):.1f} s",
            "fto": "" if fto is None else f"{fto:+.2f} s", "emotion": label or "",
            "prob": prob_text}


def mode_summary(call: dict) -> dict[str, Any]:
    """How the parties were obtained, in words, and whether that makes the figures less reliable:
    ``{"text", "caution"}`` (caution: mono or mono-mix, the parties come from diarization)."""
    mode = call.get("mode") or "unknown"
    mono_mix = bool(((call.get("params") or {}).get("audio") or {}).get("mono_mix"))
    diarization = call.get("diarization") or {}
    if mode == "stereo":
        channels = call.get("channels") or {}
        sides = {0: "left", 1: "right"}
        where = ", ".join(f"{party} {sides.get(ch, ch)}" for party, ch in sorted(channels.items(), key=lambda kv: kv[1]))
        return {"text": f"stereo: one party per channel ({where})" if where else "stereo", "caution": False}
    what = "mono-mix: a stereo file mixed to mono (--mono-mix)" if mono_mix else "mono: both parties on one channel"
    parts = [what + "; the parties were separated by speaker diarization"]
    for key, name in (("agent_confidence", "agent choice"), ("separation_confidence", "separation")):
        if diarization.get(key) is not None:
            parts.append(f"{name} confidence {float(diarization[key]):.2f}")
    return {"text": ", ".join(parts), "caution": True}


def envelope_paths(envelope: dict | None, duration_s: float) -> list[dict[str, str]]:
    """SVG area paths (viewBox ``0 0 1000 ENVELOPE_HEIGHT``, stretched to the timeline width) of the
    result's loudness envelope: ``[{"name", "d"}]``, one per channel; empty without an envelope."""
    if not envelope or not envelope.get("db") or duration_s <= 0:
        return []
    bin_s, floor = float(envelope["bin_s"]), float(envelope.get("floor_db", -70.0))
    out = []
    for name, values in envelope["db"].items():
        if not values:
            continue
        top = max(max(values), floor + 1.0)
        points = []
        for k, value in enumerate(values):
            x = 1000.0 * min(k * bin_s, duration_s) / duration_s
            y = ENVELOPE_HEIGHT * (1.0 - (max(value, floor) - floor) / (top - floor))
            points.append(f"{x:.1f},{y:.1f}")
        end_x = 1000.0 * min(len(values) * bin_s, duration_s) / duration_s
        out.append({"name": str(name), "d": f"M0,{ENVELOPE_HEIGHT} L" + " L".join(points) +
                    f" L{end_x:.1f},{ENVELOPE_HEIGHT} Z"})
    return out


def _event_tooltip(event: dict) -> str:
    kind = event["kind"].replace("_", " ")
    who = f" by {event['speaker']}" if event.get("speaker") else ""
    extra = ""
    if event.get("fto_s") is not None:
        extra = f", FTO {event['fto_s']:+.2f} s"
    if event.get("outcome"):
        extra += f", {event['outcome']}"
    dur = float(event["end_s"]) - float(event["start_s"])
    return f"{kind}{who}: {clock(event['start_s'])} ({dur:.1f} s){extra}"


def call_page_context(call: dict, *, audio_href: str | None, nav: dict | None = None) -> dict[str, Any]:
    """Everything the call page template shows, computed from one result dict (pure).

    nav: links of the page, ``{"index": href, "prev": (href, call_id) | None, "next": ...}`` (the
    index order, see :func:`write_pages`); None for a page on its own.
    """
    metrics = call.get("metrics") or {}
    duration_s = float(call.get("duration_s") or metrics.get("duration_s") or 0.0)
    ends = [float(t["end_s"]) for t in call.get("turns") or []] + [float(e["end_s"]) for e in call.get("events") or []]
    duration_s = max([duration_s, *ends, 1e-3])
    turns = []
    for turn in call.get("turns") or []:
        start, end = float(turn["start_s"]), float(turn["end_s"])
        turns.append({
            "speaker": turn.get("speaker") or "unknown", "start": round(start, 3), "end": round(end, 3),
            "left": _pct(start, duration_s), "width": max(_pct(end, duration_s) - _pct(start, duration_s), 0.0),
            "emotion": turn.get("emotion_label") or "none", "title": _turn_tooltip(turn), "aria": _turn_aria(turn),
        })
    lanes = []
    for lane_id, title, kinds in TIMELINE_EVENT_LANES:
        items = []
        for event in call.get("events") or []:
            if event.get("kind") in kinds:
                start, end = float(event["start_s"]), float(event["end_s"])
                tip = _event_tooltip(event)
                items.append({"kind": event["kind"], "speaker": event.get("speaker") or "none",
                              "start": round(start, 3), "end": round(end, 3), "left": _pct(start, duration_s),
                              "width": max(_pct(end, duration_s) - _pct(start, duration_s), 0.0),
                              "title": tip, "aria": tip})
        lanes.append({"id": lane_id, "title": title, "items": items})
    qa = call.get("qa") if isinstance(call.get("qa"), dict) else None
    qa_marks = []
    for failure in (qa or {}).get("failed") or []:
        for start, end in failure.get("times") or []:
            tip = f"QA: {failure.get('message') or failure.get('rule')} at {clock(start)}"
            qa_marks.append({"kind": "qa", "speaker": "none", "start": round(float(start), 3), "left": _pct(float(start), duration_s),
                             "width": max(_pct(float(end), duration_s) - _pct(float(start), duration_s), 0.0),
                             "title": tip, "aria": tip, "severity": str(failure.get("severity") or "minor")})
    if qa_marks:
        lanes.append({"id": "qa", "title": "QA failures", "items": qa_marks})
    groups = []
    for title, keys in METRIC_GROUPS:
        rows = [_metric_row(k, metrics.get(k)) for k in keys if k in metrics]
        if rows:
            groups.append({"title": title, "rows": rows})
    n_ticks = 10
    step = _nice_step(duration_s / n_ticks)
    ticks = [{"left": _pct(t, duration_s), "label": clock(t).split(".")[0]}
             for t in [k * step for k in range(int(duration_s // step) + 1)]]
    event_starts = sorted({item["start"] for lane in lanes for item in lane["items"]})
    return {
        "call_id": str(call.get("call_id", "")), "path": str(call.get("path") or ""), "mode": call.get("mode"),
        "mode_summary": mode_summary(call),
        "nav": {key: (nav or {}).get(key) for key in ("index", "prev", "next")},
        "duration_s": duration_s, "audio_href": audio_href, "turns": turns,
        "turn_list": [_turn_list_row(t) for t in sorted(call.get("turns") or [], key=lambda t: float(t["start_s"]))],
        "speakers": ["agent", "customer"] + sorted({t["speaker"] for t in turns} - {"agent", "customer"}), "lanes": lanes, "ticks": ticks,
        "envelope": envelope_paths(call.get("envelope"), duration_s), "envelope_height": ENVELOPE_HEIGHT,
        "metric_groups": groups, "qa": qa, "warnings": [str(w) for w in call.get("warnings") or []],
        "separation": separation_fields(call) if call.get("mode") == "mono" else None,
        "unreliable": _by_reason(call.get("unreliable_metrics") or {}),
        "emotion_enabled": bool((call.get("emotion") or {}).get("enabled")),
        "transcript": [{"speaker": t.get("speaker") or "unknown", "start": round(float(t["start_s"]), 3),
                        "words": t["words"]} for t in call.get("turns") or [] if t.get("words")],
        "transcript_info": call.get("asr") or {},
        "script_data": {"duration_s": duration_s, "call_id": str(call.get("call_id", "")), "n_turns": len(turns),
                        "turn_starts": sorted(t["start"] for t in turns), "event_starts": event_starts},
    }


def _by_reason(notes: dict[str, str]) -> list[tuple[str, list[str]]]:
    """{metric: reason} as [(reason, [metrics])], reasons in first-seen order."""
    grouped: dict[str, list[str]] = {}
    for key, reason in notes.items():
        grouped.setdefault(str(reason), []).append(str(key))
    return list(grouped.items())


def _nice_step(raw_s: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if step >= raw_s:
            return float(step)
    return 3600.0 * math.ceil(raw_s / 3600.0)


def write_call_page(call: dict, out_path: Path, *, audio_href: str | None, nav: dict | None = None) -> Path:
    """Write one call's page (timeline, metrics, QA, audio player) to ``out_path``.

    audio_href: URL of the audio relative to the page's folder (see :func:`relative_href`),
    or None for a page without a player. nav: links to the index and the previous/next call
    (see :func:`call_page_context`).
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    html = render("call.html.j2", **call_page_context(call, audio_href=audio_href, nav=nav))
    out_path.write_text(html, encoding="utf-8")
    return out_path


INDEX_PAGE_SIZE = 100  # rows per page of the index (the page can show 50-1000)


def rule_title(rule_id: str) -> str:
    """A rule id in words for people: ``dead_air_over_10s`` -> ``dead air over 10 s``."""
    words = str(rule_id).replace("_", " ").strip()
    return re.sub(r"(\d)(s|min)\b", r"\1 \2", words)


def duration_clock(seconds: float | None) -> str:
    """``m:ss`` (or ``h:mm:ss``) for a duration in seconds, rounded to the second."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    total = int(round(max(0.0, float(seconds))))
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _index_cell_text(key: str, value: Any) -> str:
    return duration_clock(value) if key == "duration_s" else format_value(value, METRICS[key].unit)


def index_context(calls: list[dict], *, page_hrefs: dict[str, str], search: dict | None = None) -> dict[str, Any]:
    """Rows of the index table (pure). Rows after the first page are rendered ``hidden``; the
    page script pages, sorts, filters, totals and exports them. ``search``: the transcript search
    index written beside the page (:func:`analyzer.outputs.search_index.write_search_index`), or None."""
    columns = [{"key": k, "label": short, "title": METRICS[k].label, "unit": METRICS[k].unit,
                "csv": f"{k} (0-1)" if METRICS[k].unit == "share" else k,
                "total": METRICS[k].unit == "count" or k == "duration_s"} for k, short in INDEX_COLUMNS]
    rows = []
    for number, call in enumerate(calls):
        metrics = call.get("metrics") or {}
        qa = call.get("qa") if isinstance(call.get("qa"), dict) else {}
        call_id = str(call.get("call_id", ""))
        cells = []
        for key, _ in INDEX_COLUMNS:
            value = metrics.get(key)
            cells.append({"sort": "" if value is None else value, "text": _index_cell_text(key, value)})
        failed = [str(f.get("rule")) for f in qa.get("failed") or []]
        rows.append({
            "call_id": call_id, "path": str(call.get("path") or ""), "href": page_hrefs.get(call_id), "cells": cells,
            "qa_score": qa.get("score"), "qa_failed": ", ".join(failed),
            "qa_failed_text": ", ".join(rule_title(r) for r in failed),
            "n_warnings": len(call.get("warnings") or []), "hidden": number >= INDEX_PAGE_SIZE,
            "separation": [{"sort": "" if v is None else v, "text": "" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))}
                           for v in separation_fields(call).values()],
        })
    units = {c["key"]: c["unit"] for c in columns}
    search_data = {"file": quote(search["file"]), "stamp": search["stamp"], "calls": search["calls"]} if search else None
    return {"columns": columns, "rows": rows, "n_calls": len(rows), "page_size": INDEX_PAGE_SIZE,
            "search": search_data,
            "script_data": {"page_size": INDEX_PAGE_SIZE, "units": [units[k] for k, _ in INDEX_COLUMNS], "search": search_data,
                            "keys": [k for k, _ in INDEX_COLUMNS], "totals": [c["total"] for c in columns],
                            "csv_columns": ["call_id", "qa_score"] + [c["csv"] for c in columns] +
                            ["failed_rules", "n_warnings", "agent_confidence", "separation_confidence",
                             "n_speakers_estimate"]}}


def write_index(calls: list[dict], out_path: Path, *, page_hrefs: dict[str, str]) -> Path:
    """Write the index of all calls (key metrics and QA score, sortable and filterable, searchable by
    call id, path and the words said), linking each call_id to ``page_hrefs[call_id]`` (relative URL,
    see :func:`page_href`). The words go in ``search-index.js`` beside it (:mod:`.search_index`),
    written only when some call has a transcript."""
    from .search_index import write_search_index

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    search = write_search_index(calls, out_path.parent)
    out_path.write_text(render("index.html.j2", **index_context(calls, page_hrefs=page_hrefs, search=search)),
                        encoding="utf-8")
    return out_path


def audio_href_for(result: dict, page_dir: str | Path) -> str | None:
    """Relative URL from ``page_dir`` to the call's audio file (``result["path"]``); a file:// URI
    when no relative path exists (another drive), None without a path."""
    audio = result.get("path")
    if not audio:
        return None
    try:
        return relative_href(audio, page_dir)
    except ValueError:
        return Path(os.path.abspath(audio)).as_uri()


def write_pages(out_dir: str | Path, results: list[dict], *, html_dir: str = "html",
                index_name: str = "index.html") -> Path:
    """All pages of a results folder: ``<out>/<html_dir>/<call_id>.html`` per call (audio linked by
    relative path to the analysed file; links to the index and to the previous/next call in the
    order of ``results``, the index's initial order) and ``<out>/<index_name>`` linking them.
    Returns the index path."""
    out_dir = Path(out_dir)
    hrefs = {}
    ids = [str(result["call_id"]) for result in results]
    for number, result in enumerate(results):
        call_id = ids[number]
        target = page_path(out_dir / html_dir, call_id)
        nav = {"index": relative_href(out_dir / index_name, target.parent)}
        for key, other in (("prev", number - 1), ("next", number + 1)):
            if 0 <= other < len(ids):
                nav[key] = (relative_href(page_path(out_dir / html_dir, ids[other]), target.parent), ids[other])
        write_call_page(result, target, audio_href=audio_href_for(result, target.parent), nav=nav)
        hrefs[call_id] = quote(html_dir, safe="/") + "/" + page_href(call_id)
    return write_index(results, out_dir / index_name, page_hrefs=hrefs)
