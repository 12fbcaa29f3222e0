"""What each per-call metric means, in words a QA lead or sales trainer uses.

One table, shared by the QA rules (unknown metric names are errors), the
outcome comparison (plain-words findings) and the HTML pages (labels).
No heavy imports here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    """Human description of one metric key of ``result["metrics"]``.

    unit: 's', 'share' (0..1, shown in percent), 'count', 'per_min', 'sps',
        'st', 'db' or 'score' (unitless, e.g. valence in [-1, 1]).
    higher / lower: finding phrases for "the positive group has a higher /
        lower value"; ``{g}`` is the positive group's label, ``{d}`` the
        formatted absolute difference of the medians.
    compare: whether the outcome comparison tests this metric (times of day
        of an event are not comparable quantities).
    """

    key: str
    label: str
    unit: str
    higher: str
    lower: str
    compare: bool = True


def _m(key: str, label: str, unit: str, higher: str | None = None, lower: str | None = None,
       *, compare: bool = True) -> MetricInfo:
    higher = higher or f"{label} is {{d}} higher in {{g}} calls"
    lower = lower or f"{label} is {{d}} lower in {{g}} calls"
    return MetricInfo(key, label, unit, higher, lower, compare)


def _party_metrics() -> list[MetricInfo]:
    out = []
    for party, people in (("agent", "agents"), ("customer", "customers")):
        out += [
            _m(f"speech_rate_{party}_sps", f"{party} speech rate", "sps",
               f"{people} in {{g}} calls speak {{d}} faster", f"{people} in {{g}} calls speak {{d}} slower"),
            _m(f"articulation_rate_{party}_sps", f"{party} articulation rate", "sps",
               f"{people} in {{g}} calls articulate {{d}} faster", f"{people} in {{g}} calls articulate {{d}} slower"),
            _m(f"pause_rate_{party}_per_min", f"{party} pauses per minute of talk", "per_min",
               f"{people} in {{g}} calls pause more often ({{d}} more)",
               f"{people} in {{g}} calls pause less often ({{d}} fewer)"),
            _m(f"mean_pause_{party}_s", f"{party} mean pause", "s",
               f"{people} in {{g}} calls pause {{d}} longer", f"{people} in {{g}} calls pause {{d}} shorter"),
            _m(f"pitch_median_{party}_st", f"{party} median pitch", "st",
               f"{people} in {{g}} calls speak {{d}} higher", f"{people} in {{g}} calls speak {{d}} lower"),
            _m(f"pitch_range_{party}_st", f"{party} pitch range", "st",
               f"{people} in {{g}} calls use a {{d}} wider pitch range",
               f"{people} in {{g}} calls use a {{d}} narrower pitch range"),
            _m(f"pitch_sd_{party}_st", f"{party} pitch variation", "st",
               f"{people} in {{g}} calls sound livelier (pitch SD {{d}} higher)",
               f"{people} in {{g}} calls sound more monotone (pitch SD {{d}} lower)"),
            _m(f"energy_sd_{party}_db", f"{party} loudness variation", "db",
               f"{people} in {{g}} calls vary their loudness more ({{d}})",
               f"{people} in {{g}} calls vary their loudness less ({{d}})"),
        ]
    return out


_METRIC_LIST: list[MetricInfo] = [
    _m("duration_s", "call duration", "s", "{g} calls last {d} longer", "{g} calls are {d} shorter"),
    _m("talk_ratio_agent", "agent talk share", "share",
       "agents in {g} calls talk more ({d} more of the talk time)",
       "agents in {g} calls talk less ({d} less of the talk time)"),
    _m("speech_s_agent", "agent speech time", "s",
       "agents in {g} calls speak {d} more", "agents in {g} calls speak {d} less"),
    _m("speech_s_customer", "customer speech time", "s",
       "customers in {g} calls speak {d} more", "customers in {g} calls speak {d} less"),
    _m("silence_ratio", "silence share", "share",
       "{g} calls have more silence ({d} more of the call)", "{g} calls have less silence ({d} less of the call)"),
    _m("overlap_ratio", "overlap share", "share",
       "{g} calls have more overlapping speech ({d} more of the call)",
       "{g} calls have less overlapping speech ({d} less of the call)"),
    _m("turns_agent", "agent turns", "count",
       "agents in {g} calls take {d} more turns", "agents in {g} calls take {d} fewer turns"),
    _m("turns_customer", "customer turns", "count",
       "customers in {g} calls take {d} more turns", "customers in {g} calls take {d} fewer turns"),
    _m("interactivity_per_min", "speaker changes per minute", "per_min",
       "{g} calls are more interactive ({d} more speaker changes)",
       "{g} calls are less interactive ({d} fewer speaker changes)"),
    _m("longest_monologue_s", "longest agent monologue", "s",
       "agents in {g} calls hold longer monologues ({d} longer)",
       "agents in {g} calls keep monologues {d} shorter"),
    _m("longest_customer_story_s", "longest customer turn", "s",
       "customers in {g} calls get to talk {d} longer at a stretch",
       "customers in {g} calls talk {d} shorter at a stretch"),
    _m("agent_latency_median_s", "agent response latency (median)", "s",
       "agents in {g} calls answer {d} later", "agents in {g} calls answer {d} sooner"),
    _m("agent_latency_p90_s", "agent response latency (90th percentile)", "s",
       "agents in {g} calls have slower slowest answers ({d} later at the 90th percentile)",
       "agents in {g} calls have quicker slowest answers ({d} sooner at the 90th percentile)"),
    _m("customer_latency_median_s", "customer response latency (median)", "s",
       "customers in {g} calls answer {d} later", "customers in {g} calls answer {d} sooner"),
    _m("customer_latency_p90_s", "customer response latency (90th percentile)", "s",
       "customers in {g} calls answer {d} later at the 90th percentile",
       "customers in {g} calls answer {d} sooner at the 90th percentile"),
    _m("interruptions_by_agent", "agent interruptions", "count",
       "agents in {g} calls interrupt more ({d} more per call)",
       "agents in {g} calls interrupt less ({d} fewer per call)"),
    _m("interruptions_by_customer", "customer interruptions", "count",
       "customers in {g} calls interrupt more ({d} more per call)",
       "customers in {g} calls interrupt less ({d} fewer per call)"),
    _m("interruptions_by_agent_per_min", "agent interruptions per minute", "per_min",
       "agents in {g} calls interrupt more often ({d} more)", "agents in {g} calls interrupt less often ({d} fewer)"),
    _m("interruptions_by_customer_per_min", "customer interruptions per minute", "per_min",
       "customers in {g} calls interrupt more often ({d} more)",
       "customers in {g} calls interrupt less often ({d} fewer)"),
    _m("interruptions_successful_by_agent", "successful agent interruptions", "count",
       "agents in {g} calls take the floor by interrupting more ({d} more per call)",
       "agents in {g} calls take the floor by interrupting less ({d} fewer per call)"),
    _m("interruptions_successful_by_customer", "successful customer interruptions", "count",
       "customers in {g} calls take the floor by interrupting more ({d} more per call)",
       "customers in {g} calls take the floor by interrupting less ({d} fewer per call)"),
    _m("backchannels_agent", "agent backchannels (mm-hm, ok)", "count",
       "agents in {g} calls signal listening more ({d} more backchannels)",
       "agents in {g} calls signal listening less ({d} fewer backchannels)"),
    _m("backchannels_customer", "customer backchannels", "count",
       "customers in {g} calls backchannel more ({d} more)", "customers in {g} calls backchannel less ({d} fewer)"),
    _m("dead_air_count", "dead-air events", "count",
       "{g} calls have more dead air ({d} more events)", "{g} calls have less dead air ({d} fewer events)"),
    _m("dead_air_total_s", "total dead air", "s",
       "{g} calls have {d} more dead air", "{g} calls have {d} less dead air"),
    _m("longest_silence_s", "longest silence", "s",
       "the longest silence in {g} calls is {d} longer", "the longest silence in {g} calls is {d} shorter"),
    _m("holds", "holds", "count", "{g} calls have more holds ({d} more)", "{g} calls have fewer holds ({d} fewer)"),
    *_party_metrics(),
    _m("rate_mismatch_sps", "pace mismatch between agent and customer", "sps",
       "agents in {g} calls match the customer's pace less closely ({d} more mismatch)",
       "agents in {g} calls match the customer's pace more closely ({d} less mismatch)"),
    # emotion (null when the emotion model is disabled)
    _m("customer_valence_start", "customer mood at the start (valence, first third of their speech)", "score",
       "customers in {g} calls start in a better mood (valence {d} higher)",
       "customers in {g} calls start in a worse mood (valence {d} lower)"),
    _m("customer_valence_end", "customer mood at the end (valence, last third of their speech)", "score",
       "customers in {g} calls end in a better mood (valence {d} higher)",
       "customers in {g} calls end in a worse mood (valence {d} lower)"),
    _m("customer_turnaround", "customer mood turnaround (end minus start valence)", "score",
       "customers in {g} calls improve more over the call (turnaround {d} higher)",
       "customers in {g} calls improve less over the call (turnaround {d} lower)"),
    _m("customer_angry_share", "share of customer speech time that sounds angry", "share",
       "customers in {g} calls sound angry more of the time ({d} more of their speech time)",
       "customers in {g} calls sound angry less of the time ({d} less of their speech time)"),
    _m("agent_angry_share", "share of agent speech time that sounds angry", "share",
       "agents in {g} calls sound irritated more of the time ({d} more of their speech time)",
       "agents in {g} calls sound irritated less of the time ({d} less of their speech time)"),
    _m("agent_valence_mean", "agent mean valence", "score",
       "agents in {g} calls sound more positive (valence {d} higher)",
       "agents in {g} calls sound less positive (valence {d} lower)"),
    _m("peak_customer_anger", "peak customer anger", "score",
       "customers in {g} calls reach a higher peak of anger ({d})",
       "customers in {g} calls reach a lower peak of anger ({d})"),
    _m("peak_customer_anger_s", "time of peak customer anger", "s", compare=False),
    # transcript (present only with transcription on: analyze --transcribe)
    _m("words_per_min_agent", "agent words per minute", "per_min",
       "agents in {g} calls say {d} more words per minute", "agents in {g} calls say {d} fewer words per minute"),
    _m("words_per_min_customer", "customer words per minute", "per_min",
       "customers in {g} calls say {d} more words per minute",
       "customers in {g} calls say {d} fewer words per minute"),
    _m("filler_share_agent", "agent filler words (um, uh) share", "share",
       "agents in {g} calls use more fillers ({d} more of their words)",
       "agents in {g} calls use fewer fillers ({d} fewer of their words)"),
    _m("filler_share_customer", "customer filler words share", "share",
       "customers in {g} calls use more fillers ({d} more of their words)",
       "customers in {g} calls use fewer fillers ({d} fewer of their words)"),
    _m("agent_questions", "questions asked by the agent", "count",
       "agents in {g} calls ask {d} more questions", "agents in {g} calls ask {d} fewer questions"),
    _m("customer_question_latency_max_s", "longest wait for an answer to a customer question", "s",
       "customers in {g} calls wait {d} longer for an answer at worst",
       "customers in {g} calls wait {d} less for an answer at worst"),
]

METRICS: dict[str, MetricInfo] = {m.key: m for m in _METRIC_LIST}
"""Every metric key of schema ``call-analyzer/call/1``, in display order."""

EMOTION_METRICS: frozenset[str] = frozenset(
    k for k in METRICS if k.startswith(("customer_valence", "customer_turnaround", "customer_angry",
                                        "agent_angry", "agent_valence", "peak_customer"))
)

WORDS_METRICS: frozenset[str] = frozenset(
    k for k in METRICS if k.startswith(("words_per_min", "filler_share", "agent_questions", "customer_question")))
"""Keys present only when transcription is on."""

_UNIT_SUFFIX = {"s": " s", "share": "%", "count": "", "per_min": "/min", "sps": " syll/s",
                "st": " st", "db": " dB", "score": ""}


def metric_info(key: str) -> MetricInfo:
    """The catalogue entry for ``key``, or a generic one for a metric the catalogue does not know."""
    return METRICS.get(key) or _m(key, key.replace("_", " "), _guess_unit(key))


def _guess_unit(key: str) -> str:
    for suffix, unit in (("_s", "s"), ("_sps", "sps"), ("_per_min", "per_min"), ("_st", "st"),
                         ("_db", "db"), ("_ratio", "share"), ("_share", "share")):
        if key.endswith(suffix):
            return unit
    return "score"


def format_value(value: float | None, unit: str, *, difference: bool = False) -> str:
    """A metric value (or a difference of two values) as text with its unit.

    Shares become percent (or percentage points for a difference); seconds get
    two significant decimals below 10 s.
    """
    if value is None or value != value:  # None or NaN
        return "n/a"
    if unit == "share":
        pct = 100.0 * value
        return f"{pct:.1f} percentage points" if difference else f"{pct:.1f}%"
    if unit == "count":
        text = f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
    elif unit == "s" and abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return text + _UNIT_SUFFIX.get(unit, "")
