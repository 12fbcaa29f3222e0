"""Property-based tests of the time model (hypothesis): invariants that must hold for any two-party timeline.

Times are multiples of 1/64 s so that shifting a timeline is exact in floating point
(a shift must not move a duration across a threshold by rounding).
"""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from analyzer.config import TurnConfig
from analyzer.intervals import AGENT, CUSTOMER, Segment, gaps, support, total_s
from analyzer.metrics.pacing import pacing_metrics
from analyzer.turns import BACKCHANNEL, FLOOR, analyse_conversation

TICK_S = 1 / 64
CONFIG = TurnConfig()


@st.composite
def one_speaker(draw, speaker: str) -> list[Segment]:
    """Disjoint segments of one speaker: alternating silences and speech, 1/64 s to ~8 s each."""
    n = draw(st.integers(min_value=0, max_value=12))
    t, segments = draw(st.integers(0, 200)), []
    for _ in range(n):
        duration = draw(st.integers(min_value=1, max_value=500))
        segments.append(Segment(t * TICK_S, (t + duration) * TICK_S, speaker))
        t += duration + draw(st.integers(min_value=1, max_value=500))
    return segments


timelines = st.tuples(one_speaker(AGENT), one_speaker(CUSTOMER)).map(lambda pair: sorted(pair[0] + pair[1]))


def _shift(segments: list[Segment], ticks: int) -> list[Segment]:
    return [Segment(s.start_s + ticks * TICK_S, s.end_s + ticks * TICK_S, s.speaker) for s in segments]


@settings(max_examples=150, deadline=None)
@given(timelines)
def test_turns_of_one_speaker_never_overlap_and_speakers_alternate(segments):
    conv = analyse_conversation(segments, CONFIG)
    for speaker in (AGENT, CUSTOMER):
        own = [t for t in conv.turns if t.speaker == speaker]
        for before, after in zip(own, own[1:]):
            assert before.end_s <= after.start_s
    for before, after in zip(conv.turns, conv.turns[1:]):
        assert before.speaker != after.speaker
        assert before.start_s <= after.start_s
        assert after.fto_s == after.start_s - before.end_s
    assert [t.index for t in conv.turns] == list(range(len(conv.turns)))


@settings(max_examples=150, deadline=None)
@given(timelines)
def test_every_segment_has_one_role_and_speech_time_adds_up(segments):
    conv = analyse_conversation(segments, CONFIG)
    assert len(conv.roles) == len(conv.segments) == len(segments)
    floor = [s for s, role in zip(conv.segments, conv.roles) if role == FLOOR]
    assert sorted(s for t in conv.turns for s in t.segments) == sorted(floor)
    for speaker in (AGENT, CUSTOMER):
        in_turns = sum(t.speech_s for t in conv.turns if t.speaker == speaker)
        outside = sum(s.duration_s for s, role in zip(conv.segments, conv.roles) if role != FLOOR and s.speaker == speaker)
        assert abs(in_turns + outside - total_s(s for s in segments if s.speaker == speaker)) < 1e-9
    metrics = pacing_metrics(conv, duration_s=max((s.end_s for s in segments), default=0.0) + 1.0)
    assert abs(metrics["speech_s_agent"] - total_s(s for s in segments if s.speaker == AGENT)) < 1e-3
    assert metrics["turns_agent"] + metrics["turns_customer"] == len(conv.turns)


@settings(max_examples=150, deadline=None)
@given(timelines)
def test_events_are_consistent_with_turns_and_roles(segments):
    conv = analyse_conversation(segments, CONFIG)
    transitions = [e for e in conv.events if e.kind in ("gap", "overlap")]
    assert len(transitions) == max(len(conv.turns) - 1, 0)
    assert all((e.kind == "gap") == (e.fto_s > 0) for e in transitions)
    assert len(conv.events_of("backchannel")) == conv.roles.count(BACKCHANNEL)
    for event in conv.events:
        assert event.start_s <= event.end_s
    for event in conv.events_of("interruption"):
        assert event.speaker != event.other and event.outcome in ("successful", "attempt")
    for event in conv.events_of("dead_air"):
        assert event.duration_s >= CONFIG.dead_air_s
        assert not any(s.overlap_s(Segment(event.start_s, event.end_s)) > 0 for s in segments)


@settings(max_examples=150, deadline=None)
@given(timelines, st.integers(min_value=-50, max_value=5000))
def test_shifting_every_time_changes_no_metric_and_shifts_every_event(segments, ticks):
    if segments and ticks < 0:
        ticks = max(ticks, -int(round(segments[0].start_s / TICK_S)))  # keep times >= 0
    duration_s = 400.0
    conv = analyse_conversation(segments, CONFIG)
    moved = analyse_conversation(_shift(segments, ticks), CONFIG)
    assert moved.roles == conv.roles
    assert pacing_metrics(moved, duration_s) == pacing_metrics(conv, duration_s)
    assert [(e.kind, e.speaker, e.outcome, e.fto_s) for e in moved.events] == [
        (e.kind, e.speaker, e.outcome, e.fto_s) for e in conv.events]
    for a, b in zip(moved.events, conv.events):
        assert a.start_s == b.start_s + ticks * TICK_S and a.end_s == b.end_s + ticks * TICK_S


@settings(max_examples=100, deadline=None)
@given(timelines)
def test_swapping_the_parties_swaps_their_metrics(segments):
    # who "starts first" is only defined when no two segments start at the same instant
    assume(len({s.start_s for s in segments}) == len(segments))
    swap = {AGENT: CUSTOMER, CUSTOMER: AGENT}
    swapped = sorted(Segment(s.start_s, s.end_s, swap[s.speaker]) for s in segments)
    a = pacing_metrics(analyse_conversation(segments, CONFIG), 400.0)
    b = pacing_metrics(analyse_conversation(swapped, CONFIG), 400.0)
    assert a["speech_s_agent"] == b["speech_s_customer"] and a["turns_agent"] == b["turns_customer"]
    assert a["interruptions_by_agent"] == b["interruptions_by_customer"]
    assert a["backchannels_agent"] == b["backchannels_customer"]
    assert a["agent_latency_median_s"] == b["customer_latency_median_s"]
    assert a["dead_air_count"] == b["dead_air_count"] and a["overlap_ratio"] == b["overlap_ratio"]


@settings(max_examples=150, deadline=None)
@given(timelines)
def test_speech_and_silence_tile_the_span_of_the_call(segments):
    if not segments:
        return
    merged = support(segments)
    silences = gaps(segments)
    span = max(s.end_s for s in segments) - min(s.start_s for s in segments)
    assert abs(total_s(merged) + total_s(silences) - span) < 1e-9
    for before, after in zip(merged, merged[1:]):
        assert before.end_s < after.start_s
