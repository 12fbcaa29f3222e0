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
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..emotion.model import LABELS as EMOTION_LABELS
from ..metrics.catalog import METRICS, format_value, metric_info
from .writers import neutralise_csv_cell, neutralise_csv_frame  # noqa: F401 - re-exported for callers of this module

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


def page_href(call_id: str) -> str:
    """Relative URL of a call's page from the folder holding the index: ``<call_id>.html``,
    percent-encoded per path component (so '#', '?', '%', '<' in file names stay part of the path)."""
    return quote(call_id.replace("\\", "/") + ".html", safe="/")


def page_path(html_dir: str | Path, call_id: str) -> Path:
    """Where :func:`write_call_page` output for ``call_id`` goes under ``html_dir`` (matches :func:`page_href`)."""
    return Path(html_dir) / (call_id + ".html")


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


def _turn_tooltip(turn: dict) -> str:
    head = f"{turn.get('speaker')} turn {turn.get('index', '')}: {clock(turn['start_s'])}-{clock(turn['end_s'])}"
    label = turn.get("emotion_label")
    if not label:
        return head + " (no emotion score)"
    probs = sorted(((turn.get(f"p_{n}") or 0.0, n) for n in EMOTION_LABELS), reverse=True)
    parts = " · ".join(f"{n} {100 * p:.0f}%" for p, n in probs)
    extra = "".join(f", {k} {turn[k]:+.2f}" for k in ("valence", "arousal") if turn.get(k) is not None)
    rate = f", {turn['speech_rate_sps']:.1f} syll/s" if turn.get("speech_rate_sps") is not None else ""
    return f"{head}\n{label}: {parts}{extra}{rate}"


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


def call_page_context(call: dict, *, audio_href: str | None) -> dict[str, Any]:
    """Everything the call page template shows, computed from one result dict (pure)."""
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
            "emotion": turn.get("emotion_label") or "none", "title": _turn_tooltip(turn),
        })
    lanes = []
    for lane_id, title, kinds in TIMELINE_EVENT_LANES:
        items = []
        for event in call.get("events") or []:
            if event.get("kind") in kinds:
                start, end = float(event["start_s"]), float(event["end_s"])
                items.append({"kind": event["kind"], "speaker": event.get("speaker") or "none",
                              "start": round(start, 3), "end": round(end, 3), "left": _pct(start, duration_s),
                              "width": max(_pct(end, duration_s) - _pct(start, duration_s), 0.0),
                              "title": _event_tooltip(event)})
        lanes.append({"id": lane_id, "title": title, "items": items})
    qa = call.get("qa") if isinstance(call.get("qa"), dict) else None
    qa_marks = []
    for failure in (qa or {}).get("failed") or []:
        for start, end in failure.get("times") or []:
            qa_marks.append({"kind": "qa", "speaker": "none", "start": round(float(start), 3), "left": _pct(float(start), duration_s),
                             "width": max(_pct(float(end), duration_s) - _pct(float(start), duration_s), 0.0),
                             "title": f"QA: {failure.get('message') or failure.get('rule')} at {clock(start)}",
                             "severity": str(failure.get("severity") or "minor")})
    if qa_marks:
        lanes.append({"id": "qa", "title": "QA failures", "items": qa_marks})
    groups = []
    for title, keys in METRIC_GROUPS:
        rows = [(metric_info(k).label, format_value(metrics.get(k), metric_info(k).unit), k)
                for k in keys if k in metrics]
        if rows:
            groups.append({"title": title, "rows": rows})
    n_ticks = 10
    step = _nice_step(duration_s / n_ticks)
    ticks = [{"left": _pct(t, duration_s), "label": clock(t).split(".")[0]}
             for t in [k * step for k in range(int(duration_s // step) + 1)]]
    return {
        "call_id": str(call.get("call_id", "")), "path": str(call.get("path") or ""), "mode": call.get("mode"),
        "duration_s": duration_s, "audio_href": audio_href, "turns": turns,
        "speakers": ["agent", "customer"] + sorted({t["speaker"] for t in turns} - {"agent", "customer"}), "lanes": lanes, "ticks": ticks,
        "metric_groups": groups, "qa": qa, "warnings": [str(w) for w in call.get("warnings") or []],
        "emotion_enabled": bool((call.get("emotion") or {}).get("enabled")),
        "transcript": [{"speaker": t.get("speaker") or "unknown", "start": round(float(t["start_s"]), 3),
                        "words": t["words"]} for t in call.get("turns") or [] if t.get("words")],
        "transcript_info": call.get("asr") or {},
        "script_data": {"duration_s": duration_s, "call_id": str(call.get("call_id", "")), "n_turns": len(turns)},
    }


def _nice_step(raw_s: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if step >= raw_s:
            return float(step)
    return 3600.0 * math.ceil(raw_s / 3600.0)


def write_call_page(call: dict, out_path: Path, *, audio_href: str | None) -> Path:
    """Write one call's page (timeline, metrics, QA, audio player) to ``out_path``.

    audio_href: URL of the audio relative to the page's folder (see :func:`relative_href`),
    or None for a page without a player.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    html = render("call.html.j2", **call_page_context(call, audio_href=audio_href))
    out_path.write_text(html, encoding="utf-8")
    return out_path


def index_context(calls: list[dict], *, page_hrefs: dict[str, str]) -> dict[str, Any]:
    """Rows of the index table (pure)."""
    columns = [{"key": k, "label": short, "title": METRICS[k].label} for k, short in INDEX_COLUMNS]
    rows = []
    for call in calls:
        metrics = call.get("metrics") or {}
        qa = call.get("qa") if isinstance(call.get("qa"), dict) else {}
        call_id = str(call.get("call_id", ""))
        cells = []
        for key, _ in INDEX_COLUMNS:
            value = metrics.get(key)
            cells.append({"sort": "" if value is None else value, "text": format_value(value, METRICS[key].unit)})
        failed = qa.get("failed") or []
        rows.append({
            "call_id": call_id, "href": page_hrefs.get(call_id), "cells": cells,
            "qa_score": qa.get("score"), "qa_failed": ", ".join(str(f.get("rule")) for f in failed),
            "n_warnings": len(call.get("warnings") or []),
        })
    return {"columns": columns, "rows": rows, "n_calls": len(rows)}


def write_index(calls: list[dict], out_path: Path, *, page_hrefs: dict[str, str]) -> Path:
    """Write the index of all calls (key metrics and QA score, sortable and filterable),
    linking each call_id to ``page_hrefs[call_id]`` (relative URL, see :func:`page_href`)."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(render("index.html.j2", **index_context(calls, page_hrefs=page_hrefs)), encoding="utf-8")
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
    relative path to the analysed file) and ``<out>/<index_name>`` linking them. Returns the index path."""
    out_dir = Path(out_dir)
    hrefs = {}
    for result in results:
        call_id = str(result["call_id"])
        target = page_path(out_dir / html_dir, call_id)
        write_call_page(result, target, audio_href=audio_href_for(result, target.parent))
        hrefs[call_id] = quote(html_dir, safe="/") + "/" + page_href(call_id)
    return write_index(results, out_dir / index_name, page_hrefs=hrefs)
