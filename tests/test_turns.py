"""Hand-built timelines with exact expected turns, gaps, overlaps, backchannels, interruptions, dead air."""

import pytest

from analyzer.config import TurnConfig
from analyzer.intervals import Segment
from analyzer.turns import BACKCHANNEL, FLOOR, OVERLAP, analyse_conversation

CFG = TurnConfig()


def A(start, end):
    return Segment(start, end, "agent")


def C(start, end):
    return Segment(start, end, "customer")


def turns_of(conv):
    return [(t.speaker, t.start_s, t.end_s) for t in conv.turns]


def test_alternating_turns_with_gaps_give_positive_fto_per_direction():
    conv = analyse_conversation([A(0, 3), C(3.5, 6), A(6.2, 9)], CFG)
    assert turns_of(conv) == [("agent", 0, 3), ("customer", 3.5, 6), ("agent", 6.2, 9)]
    assert [t.fto_s for t in conv.turns] == [None, pytest.approx(0.5), pytest.approx(0.2)]
    gaps = conv.events_of("gap")
    assert [(g.speaker, g.other, g.start_s, g.end_s) for g in gaps] == [("customer", "agent", 3, 3.5), ("agent", "customer", 6, 6.2)]
    assert conv.events_of("overlap") == []


def test_overlapping_transition_gives_negative_fto_and_overlap_event():
    conv = analyse_conversation([A(0, 3), C(2.7, 6)], CFG)
    assert turns_of(conv) == [("agent", 0, 3), ("customer", 2.7, 6)]
    assert conv.turns[1].fto_s == pytest.approx(-0.3)
    (ov,) = conv.events_of("overlap")
    assert (ov.start_s, ov.end_s, ov.speaker) == (2.7, 3, "customer")


def test_same_speaker_segments_form_one_turn_with_pauses():
    conv = analyse_conversation([A(0, 2), A(2.6, 4), A(5.0, 6), C(6.3, 9)], CFG)
    assert turns_of(conv) == [("agent", 0, 6), ("customer", 6.3, 9)]
    agent_turn = conv.turns[0]
    assert agent_turn.speech_s == pytest.approx(4.4)
    assert [(p.start_s, p.end_s) for p in agent_turn.pauses] == [(2, 2.6), (4, 5.0)]
    assert len(conv.events_of("pause", "agent")) == 2


def test_short_listener_segment_inside_speakers_turn_is_a_backchannel_and_does_not_end_the_turn():
    # customer says "mm-hm" while the agent talks, agent keeps going
    conv = analyse_conversation([A(0, 5), C(2.0, 2.4), A(5.5, 8), C(8.4, 11)], CFG)
    assert conv.roles == (FLOOR, BACKCHANNEL, FLOOR, FLOOR)
    assert turns_of(conv) == [("agent", 0, 8), ("customer", 8.4, 11)]
    (bc,) = conv.events_of("backchannel")
    assert (bc.speaker, bc.other, bc.start_s, bc.end_s) == ("customer", "agent", 2.0, 2.4)
    assert conv.events_of("interruption") == []


def test_short_reply_in_a_pause_followed_by_the_holder_is_a_backchannel():
    conv = analyse_conversation([A(0, 4), C(4.2, 4.6), A(4.9, 8)], CFG)
    assert conv.roles[1] == BACKCHANNEL
    assert turns_of(conv) == [("agent", 0, 8)]


def test_short_segment_that_starts_the_listeners_own_turn_is_not_a_backchannel():
    # "yes" (0.5 s) then the customer goes on talking: the customer took the floor
    conv = analyse_conversation([A(0, 4), C(4.3, 4.8), C(5.1, 9), A(9.4, 12)], CFG)
    assert conv.roles == (FLOOR, FLOOR, FLOOR, FLOOR)
    assert turns_of(conv) == [("agent", 0, 4), ("customer", 4.3, 9), ("agent", 9.4, 12)]


def test_reply_split_by_pauses_into_sub_second_segments_takes_the_floor():
    # the customer answers 0.9 s, pauses 0.4 s, adds 0.45 s, then the agent replies: one 1.75 s utterance,
    # a turn of the customer, not two backchannels (seen on noisy lines, where quiet syllables split replies)
    conv = analyse_conversation([A(0, 4), C(4.1, 5.0), C(5.4, 5.85), A(6.3, 9)], CFG)
    assert conv.roles == (FLOOR, FLOOR, FLOOR, FLOOR)
    assert turns_of(conv) == [("agent", 0, 4), ("customer", 4.1, 5.85), ("agent", 6.3, 9)]
    assert conv.events_of("backchannel") == []


def test_two_short_listener_sounds_in_a_pause_shorter_than_a_second_in_all_stay_backchannels():
    # "mm ... yes" (4.1-4.9, 0.8 s in all) and the agent goes on after a 1.0 s pause
    conv = analyse_conversation([A(0, 4), C(4.1, 4.4), C(4.65, 4.9), A(5.0, 8)], CFG)
    assert conv.roles == (FLOOR, BACKCHANNEL, BACKCHANNEL, FLOOR)
    assert turns_of(conv) == [("agent", 0, 8)]


def test_successful_interruption_speaker_stops_within_two_seconds_and_interrupter_keeps_floor():
    conv = analyse_conversation([A(0, 6), C(5.0, 9), A(9.5, 12)], CFG)
    (itr,) = conv.events_of("interruption")
    assert (itr.speaker, itr.other, itr.outcome) == ("customer", "agent", "successful")
    assert (itr.start_s, itr.end_s) == (5.0, 6)
    assert conv.turns[1].fto_s == pytest.approx(-1.0)


def test_interruption_attempt_when_speaker_keeps_talking_over_the_listener():
    # customer talks 1.5 s over the agent, who never stops: no turn for the customer
    conv = analyse_conversation([A(0, 10), C(4.0, 5.5), C(10.3, 13)], CFG)
    assert conv.roles == (FLOOR, OVERLAP, FLOOR)
    assert turns_of(conv) == [("agent", 0, 10), ("customer", 10.3, 13)]
    (itr,) = conv.events_of("interruption")
    assert (itr.speaker, itr.outcome) == ("customer", "attempt")


def test_interruption_attempt_when_speaker_continues_more_than_two_seconds():
    conv = analyse_conversation([A(0, 8), C(5.0, 12)], CFG)
    (itr,) = conv.events_of("interruption")
    assert itr.outcome == "attempt"  # agent went on 3 s after the customer started


def test_overlap_below_threshold_is_not_an_interruption():
    conv = analyse_conversation([A(0, 5), C(4.9, 8)], CFG)
    assert conv.events_of("interruption") == []
    assert conv.turns[1].fto_s == pytest.approx(-0.1)


def test_backchannel_never_counts_as_interruption_even_when_overlapping():
    conv = analyse_conversation([A(0, 6), C(3.0, 3.6), A(6.2, 7)], CFG)
    assert conv.roles[1] == BACKCHANNEL
    assert conv.events_of("interruption") == []


def test_dead_air_and_hold_events_from_silence_between_anyones_speech():
    conv = analyse_conversation([A(0, 2), C(2.5, 4), A(10, 12), C(40, 42)], CFG)
    dead = conv.events_of("dead_air")
    holds = conv.events_of("hold")
    assert [(d.start_s, d.end_s) for d in dead] == [(4, 10), (12, 40)]
    assert [(h.start_s, h.end_s) for h in holds] == [(12, 40)]


def test_silence_just_under_dead_air_threshold_is_no_event():
    conv = analyse_conversation([A(0, 2), C(6.99, 9)], CFG)
    assert conv.events_of("dead_air") == []


def test_thresholds_are_parameters():
    cfg = TurnConfig(backchannel_max_s=0.3, dead_air_s=3.0)
    conv = analyse_conversation([A(0, 5), C(2.0, 2.4), A(5.5, 8), C(11.5, 13)], cfg)
    assert conv.roles[1] == OVERLAP  # 0.4 s is no longer short enough to be a backchannel
    assert [(d.start_s, d.end_s) for d in conv.events_of("dead_air")] == [(8, 11.5)]


def test_single_speaker_call_is_one_turn_without_transitions():
    conv = analyse_conversation([A(0, 2), A(3, 5)], CFG)
    assert turns_of(conv) == [("agent", 0, 5)]
    assert conv.events_of("gap") == [] and conv.events_of("overlap") == []


def test_empty_call_has_no_turns_or_events():
    conv = analyse_conversation([], CFG)
    assert conv.turns == () and conv.events == ()


def test_tiny_overlap_at_a_turn_start_is_not_an_interruption_even_if_the_old_speaker_backchannels_later():
    # customer starts 0.03 s before the agent ends, and the agent later says "mm-hm" inside the customer's turn
    conv = analyse_conversation([A(0, 4), C(3.97, 9), A(6.0, 6.4), A(9.3, 12)], CFG)
    assert conv.events_of("interruption") == []
    assert [b.speaker for b in conv.events_of("backchannel")] == ["agent"]


# --- short answers vs backchannels (issue 14) ---------------------------------------------------


def test_short_answer_after_a_question_in_clean_silence_is_a_turn():
    # agent asks (0-4), 0.5 s gap, "Express, please" (0.96 s), 1.2 s later the agent goes on: the agent's
    # 2.66 s silence is a yield, so the answer is the customer's turn (it used to be a backchannel)
    conv = analyse_conversation([A(0, 4), C(4.5, 5.46), A(6.66, 10)], CFG)
    assert conv.roles == (FLOOR, FLOOR, FLOOR)
    assert turns_of(conv) == [("agent", 0, 4), ("customer", 4.5, 5.46), ("agent", 6.66, 10)]
    assert [t.fto_s for t in conv.turns[1:]] == [pytest.approx(0.5), pytest.approx(1.2)]
    assert conv.events_of("backchannel") == [] and conv.events_of("pause", "agent") == []


def test_short_answer_after_a_hold_is_a_turn():
    conv = analyse_conversation([A(0, 4), C(30.0, 30.6), A(31.0, 35)], CFG)
    assert [t.speaker for t in conv.turns] == ["agent", "customer", "agent"]
    assert [h.start_s for h in conv.events_of("hold")] == [4]


def test_short_answer_after_dead_air_is_a_turn():
    conv = analyse_conversation([A(0, 4), C(10.0, 10.8), A(11.1, 14)], CFG)
    assert [t.speaker for t in conv.turns] == ["agent", "customer", "agent"]
    assert conv.turns[1].fto_s == pytest.approx(6.0)


def test_quick_exchange_of_short_turns_alternates_turns():
    # "Hello?" "Hi." "Is that John?" "Yes." "Great, ..." : every utterance is a turn
    segs = [A(0, 0.8), C(1.1, 1.6), A(1.9, 2.8), C(3.1, 3.5), A(3.8, 8)]
    conv = analyse_conversation(segs, CFG)
    assert conv.roles == (FLOOR,) * 5
    assert [t.speaker for t in conv.turns] == ["agent", "customer", "agent", "customer", "agent"]
    assert [round(t.fto_s, 2) for t in conv.turns[1:]] == [0.3, 0.3, 0.3, 0.3]


def test_backchannel_in_overlap_with_the_holders_speech_stays_a_backchannel():
    conv = analyse_conversation([A(0, 6), C(3.0, 3.4), C(4.5, 5.2), A(6.3, 9), C(9.5, 12)], CFG)
    assert conv.roles == (FLOOR, BACKCHANNEL, BACKCHANNEL, FLOOR, FLOOR)
    assert turns_of(conv) == [("agent", 0, 9), ("customer", 9.5, 12)]


def test_backchannel_in_a_short_pause_of_the_holder_stays_a_backchannel():
    # the agent pauses 0.9 s and the customer says "mm-hm" inside it: not a yield
    conv = analyse_conversation([A(0, 4), C(4.15, 4.6), A(4.9, 8)], CFG)
    assert conv.roles == (FLOOR, BACKCHANNEL, FLOOR)
    (bc,) = conv.events_of("backchannel")
    assert (bc.speaker, bc.other) == ("customer", "agent")


def test_short_answer_overlapping_the_end_of_a_question_is_a_turn():
    # "yes" starts 0.1 s before the question ends; the agent goes on 1.5 s after the question
    conv = analyse_conversation([A(0, 4), C(3.9, 4.4), A(5.5, 9)], CFG)
    assert [t.speaker for t in conv.turns] == ["agent", "customer", "agent"]
    assert conv.turns[1].fto_s == pytest.approx(-0.1)


def test_backchannel_needs_the_holder_to_have_the_floor_first():
    # a 0.6 s "Hello?" does not hold the floor yet: the 0.4 s reply is a turn, not a backchannel
    conv = analyse_conversation([A(0, 0.6), C(0.9, 1.3), A(1.6, 5)], CFG)
    assert [t.speaker for t in conv.turns] == ["agent", "customer", "agent"]


def test_pause_and_floor_thresholds_are_parameters():
    segs = [A(0, 4), C(4.3, 4.8), A(5.2, 8)]  # holder's silence 1.2 s: a yield by default
    assert analyse_conversation(segs, CFG).roles[1] == FLOOR
    assert analyse_conversation(segs, TurnConfig(backchannel_pause_max_s=1.5)).roles[1] == BACKCHANNEL
    assert analyse_conversation(segs, TurnConfig(floor_min_s=5.0)).roles[1] == FLOOR


# --- mono: speaker changes inside continuous speech (issue 14) -----------------------------------


def test_mono_change_inside_continuous_speech_has_no_measured_fto():
    from analyzer.metrics.pacing import latencies, turn_rows

    # the mixed channel spoke 0-5 s without a pause; diarization put the change at 3.0 s
    mixed = [Segment(0, 5, "unknown"), Segment(5.6, 8, "unknown"), Segment(8.4, 10, "unknown")]
    conv = analyse_conversation([A(0, 3), C(3, 5), A(5.6, 8), C(8.4, 10)], CFG, mixed_speech=mixed)
    assert [t.fto_measured for t in conv.turns] == [True, False, True, True]
    assert [(e.kind, e.start_s) for e in conv.events if e.kind in ("gap", "overlap", "switch")] == [
        ("switch", 3), ("gap", 5), ("gap", 8)]
    assert latencies(conv, "customer") == [pytest.approx(0.4)]  # the 0.00 s "latency" is left out
    assert [r["fto_s"] for r in turn_rows(conv)] == [None, None, 0.6, 0.4]


def test_mono_change_across_a_silence_keeps_its_measured_fto():
    mixed = [Segment(0, 3, "unknown"), Segment(3.3, 5, "unknown")]
    conv = analyse_conversation([A(0, 3), C(3.3, 5)], CFG, mixed_speech=mixed)
    assert conv.turns[1].fto_measured and conv.turns[1].fto_s == pytest.approx(0.3)
