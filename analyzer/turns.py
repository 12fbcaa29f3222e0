"""Turn-taking: speech segments of two parties -> turns and conversational events.

Implements SPEC's time model. Segments are walked in order of start time while
tracking who holds the floor. A segment of the listener is one of:

* ``backchannel``: shorter than ``backchannel_max_s``; the holder had the floor
  (``floor_min_s`` of speech in its turn) and had not yielded (the segment
  overlaps the holder's speech, or lies in a silence of the holder of at most
  ``backchannel_pause_max_s``); and the floor holder goes on speaking (or
  resumes) before the listener's speech from this segment on (its segments up
  to the holder's next speech) lasts ``backchannel_max_s``. A short segment
  after dead air, a hold or any longer silence of the holder, or answering a
  short turn, is a turn (a short answer);
* ``overlap``: lies entirely inside one segment of the holder (the listener
  spoke over the holder, who never stopped: at most an interruption attempt);
* ``floor``: anything else; the listener takes the floor and a new turn starts.

A turn is the run of one party's ``floor`` segments until the other takes the
floor::

    agent     ====== ===            ==========
    customer          ~~  (bc)   =======
    turns     [agent 0    ]      [cust ]
                                    [agent    ]   (overlap: FTO < 0)
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

from .config import TurnConfig
from .intervals import FRAME_HOP_S, Segment, gaps, support

FLOOR, BACKCHANNEL, OVERLAP = "floor", "backchannel", "overlap"


@dataclass(frozen=True)
class Turn:
    """One party's turn: its floor-taking segments between two floor changes."""

    index: int
    speaker: str
    segments: tuple[Segment, ...]
    fto_s: float | None = None  # floor transfer offset into this turn; None for the first turn
    fto_measured: bool = True  # False: the change was placed inside continuous speech (mono diarization boundary)

    @property
    def start_s(self) -> float:
        return self.segments[0].start_s

    @property
    def end_s(self) -> float:
        return max(s.end_s for s in self.segments)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def speech_s(self) -> float:
        """Phonation time: seconds covered by the turn's own segments."""
        return float(sum(s.duration_s for s in support(self.segments)))

    @property
    def pauses(self) -> list[Segment]:
        """Silences of the speaker inside the turn (between its segments)."""
        return [Segment(g.start_s, g.end_s, self.speaker) for g in gaps(self.segments)]


@dataclass(frozen=True)
class Event:
    """Something that happens at a time: gap, overlap, backchannel, interruption, pause, dead_air, hold."""

    kind: str
    start_s: float
    end_s: float
    speaker: str | None = None
    other: str | None = None
    outcome: str | None = None
    fto_s: float | None = None

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "speaker": self.speaker, "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3)}
        for key in ("other", "outcome", "fto_s"):
            value = getattr(self, key)
            if value is not None:
                out[key] = round(value, 3) if isinstance(value, float) else value
        return out


@dataclass(frozen=True)
class Conversation:
    """Everything the time model derives from the segments of one call."""

    segments: tuple[Segment, ...]
    roles: tuple[str, ...]  # FLOOR / BACKCHANNEL / OVERLAP, one per segment
    turns: tuple[Turn, ...]
    events: tuple[Event, ...] = field(default=())

    def events_of(self, kind: str, speaker: str | None = None) -> list[Event]:
        return [e for e in self.events if e.kind == kind and (speaker is None or e.speaker == speaker)]


class _Track:
    """One speaker's disjoint segments, indexed for O(log n) look-ups by time."""

    def __init__(self, segments: list[Segment]):
        self.segments = segments
        self.starts = [s.start_s for s in segments]
        self.ends = [s.end_s for s in segments]

    def active_at(self, time_s: float) -> Segment | None:
        """The segment covering ``time_s``, if any."""
        i = bisect_right(self.starts, time_s) - 1
        return self.segments[i] if i >= 0 and self.ends[i] > time_s else None

    def next_speech_after(self, time_s: float) -> float | None:
        """Earliest time >= ``time_s`` at which this speaker speaks."""
        i = bisect_right(self.ends, time_s)
        return max(self.starts[i], time_s) if i < len(self.segments) else None

    def spoke_before(self, time_s: float) -> bool:
        return bool(self.starts) and self.starts[0] < time_s

    def end_of_run(self, until_s: float) -> float:
        """End of the last segment that starts before ``until_s`` (segments are disjoint, so ends are sorted)."""
        i = bisect_left(self.starts, until_s) - 1
        return self.ends[i] if i >= 0 else float("-inf")


def _tracks(segments: list[Segment]) -> dict[str, _Track]:
    by_speaker: dict[str, list[Segment]] = {}
    for seg in segments:
        by_speaker.setdefault(seg.speaker, []).append(seg)
    return {spk: _Track(segs) for spk, segs in by_speaker.items()}


def classify_segments(segments: list[Segment], config: TurnConfig) -> list[str]:
    """Role of each segment (sorted by start) given who holds the floor when it starts."""
    tracks = _tracks(segments)
    roles: list[str] = []
    holder: str | None = None
    turn_speech: list[Segment] = []  # the holder's floor segments in its current turn
    for seg in segments:
        if holder is None or seg.speaker == holder:
            if holder != seg.speaker:
                turn_speech = []
            holder = seg.speaker
            roles.append(FLOOR)
            turn_speech.append(seg)
            continue
        held, own = tracks[holder], tracks[seg.speaker]
        if seg.duration_s < config.backchannel_max_s and _is_backchannel(seg, held, own, turn_speech, config):
            roles.append(BACKCHANNEL)
        elif (covering := held.active_at(seg.start_s)) is not None and covering.end_s >= seg.end_s:
            roles.append(OVERLAP)
        else:
            roles.append(FLOOR)
            holder = seg.speaker
            turn_speech = [seg]
    return roles


def _is_backchannel(seg: Segment, holder: _Track, listener: _Track, turn_speech: list[Segment], config: TurnConfig) -> bool:
    """Is the short listener segment ``seg`` a backchannel of the floor holder?

    All of: the holder had the floor (its turn so far, counting whole segments that start before ``seg``
    ends, has ``floor_min_s`` of speech); the holder had not yielded: every silence of the holder that
    ``seg`` starts or ends in (from the holder's last speech to its next) is at most
    ``backchannel_pause_max_s`` (none: ``seg`` lies inside the holder's speech); and the holder speaks again before the
    listener has said ``backchannel_max_s`` (see :func:`_holder_keeps_floor`)::

        agent     ======  ======      agent   =====            ======
        customer        ~~            customer        ~~~~
                   (backchannel:                 (answer: the agent's silence
                    0.8 s pause)                  of 2.3 s is a yield)
    """
    if sum(s.duration_s for s in turn_speech if s.start_s < seg.end_s) < config.floor_min_s:
        return False
    if any(b - a > config.backchannel_pause_max_s for a, b in _holder_silences(seg, holder)):
        return False
    return _holder_keeps_floor(seg, holder, listener, config.backchannel_max_s)


def _holder_silences(seg: Segment, holder: _Track) -> list[tuple[float, float]]:
    """The holder's silences (start_s, end_s) that ``seg`` starts or ends in (from the holder's last speech to its
    next; the end is +inf if the holder never speaks again)."""
    out = []
    for time_s in (seg.start_s, seg.end_s):
        if holder.active_at(time_s) is None and holder.spoke_before(time_s):
            after = holder.next_speech_after(time_s)
            out.append((holder.end_of_run(time_s), float("inf") if after is None else after))
    return out


def _holder_keeps_floor(seg: Segment, holder: _Track, listener: _Track, backchannel_max_s: float) -> bool:
    """Was the holder speaking before ``seg``, and does it speak again before the listener has said
    ``backchannel_max_s`` or more?

    The listener's speech counts from ``seg``'s start to the end of its last segment that starts before
    the holder speaks again, so a reply split by short pauses into several sub-second segments
    (``C 0.9 s, pause 0.4 s, C 0.5 s``, then the agent) is one 1.8 s utterance that takes the floor,
    not two backchannels::

        agent     ======              =====      agent     ======        =====
        customer         ~~~~~  ~~~                customer         ~~~
                         [customer's turn]                          (backchannel)
    """
    if not holder.spoke_before(seg.start_s):
        return False
    holder_next = holder.next_speech_after(seg.end_s)
    if holder_next is None:
        return False
    return listener.end_of_run(holder_next) - seg.start_s < backchannel_max_s


def build_turns(segments: list[Segment], roles: list[str], mixed_speech: list[Segment] | None = None) -> list[Turn]:
    """Group consecutive floor segments of one speaker into turns and attach each turn's FTO.

    ``mixed_speech``: on a mono call, the speech segments of the one mixed channel before diarization.
    A speaker change that lies inside one of them with no silence between the two turns (FTO under one
    10 ms frame) was placed by diarization inside continuous speech: its FTO is not a measured gap and
    the turn gets ``fto_measured=False``.
    """
    groups: list[tuple[str, list[Segment]]] = []
    for seg, role in zip(segments, roles):
        if role != FLOOR:
            continue
        if groups and groups[-1][0] == seg.speaker:
            groups[-1][1].append(seg)
        else:
            groups.append((seg.speaker, [seg]))
    turns: list[Turn] = []
    for index, (speaker, segs) in enumerate(groups):
        fto, measured = None, True
        if turns:
            fto = segs[0].start_s - turns[-1].end_s
            measured = not (mixed_speech and fto < SWITCH_GAP_S and _same_span(mixed_speech, turns[-1].end_s, segs[0].start_s))
        turns.append(Turn(index, speaker, tuple(segs), fto, measured))
    return turns


SWITCH_GAP_S = FRAME_HOP_S  # one frame: a mono speaker change with less silence than this is a diarization boundary


def _same_span(spans: list[Segment], a_s: float, b_s: float) -> bool:
    """Do times ``a_s`` <= ``b_s`` lie in one of the (sorted, disjoint) ``spans``?"""
    i = bisect_right([s.start_s for s in spans], a_s) - 1
    return i >= 0 and spans[i].start_s <= a_s and b_s <= spans[i].end_s


def transition_events(turns: list[Turn]) -> list[Event]:
    """One ``gap`` (FTO > 0) or ``overlap`` (FTO <= 0) event per speaker change; ``switch`` (no FTO) where the
    change is a diarization boundary inside continuous speech (not a measured gap)."""
    events = []
    for prev, turn in zip(turns, turns[1:]):
        if not turn.fto_measured:
            events.append(Event("switch", turn.start_s, turn.start_s, speaker=turn.speaker, other=prev.speaker))
            continue
        kind = "gap" if turn.fto_s > 0 else "overlap"
        lo, hi = sorted((prev.end_s, turn.start_s))
        events.append(Event(kind, lo, hi, speaker=turn.speaker, other=prev.speaker, fto_s=turn.fto_s))
    return events


def interruption_events(segments: list[Segment], roles: list[str], turns: list[Turn], config: TurnConfig) -> list[Event]:
    """Listener segments (not backchannels) that start while the floor holder speaks and overlap >= threshold.

    Successful when the interrupted party stops within ``interruption_yield_s``
    and the interrupter keeps the floor (its turn outlasts the interrupted
    speech); otherwise an attempt.
    """
    tracks = _tracks(segments)
    turn_starts = [t.start_s for t in turns]
    events = []
    holder: str | None = None
    for seg, role in zip(segments, roles):
        if holder is None or seg.speaker == holder:
            holder = seg.speaker
            continue
        if role == BACKCHANNEL:
            continue
        held = tracks[holder]
        speaking = held.active_at(seg.start_s)
        # overlap with the segment being talked over, not with the holder's later speech (e.g. a backchannel)
        if speaking is not None and seg.overlap_s(speaking) >= config.interruption_min_overlap_s:
            successful = False
            if role == FLOOR and speaking.end_s - seg.start_s <= config.interruption_yield_s:
                i = bisect_left(turn_starts, seg.start_s)
                successful = i < len(turns) and turns[i].speaker == seg.speaker and turns[i].end_s > speaking.end_s
            events.append(Event(
                "interruption", seg.start_s, min(seg.end_s, speaking.end_s), speaker=seg.speaker, other=holder,
                outcome="successful" if successful else "attempt",
            ))
        if role == FLOOR:
            holder = seg.speaker
    return events


def backchannel_events(segments: list[Segment], roles: list[str]) -> list[Event]:
    events = []
    holder = None
    for seg, role in zip(segments, roles):
        if role == FLOOR:
            holder = seg.speaker
        elif role == BACKCHANNEL:
            events.append(Event("backchannel", seg.start_s, seg.end_s, speaker=seg.speaker, other=holder))
    return events


def silence_events(segments: list[Segment], config: TurnConfig) -> list[Event]:
    """``dead_air`` for each stretch of >= dead_air_s with nobody speaking (between the first and last
    speech of the call), and additionally ``hold`` for those >= hold_s."""
    events = []
    for silence in gaps(segments):
        if silence.duration_s >= config.dead_air_s:
            events.append(Event("dead_air", silence.start_s, silence.end_s))
        if silence.duration_s >= config.hold_s:
            events.append(Event("hold", silence.start_s, silence.end_s))
    return events


def pause_events(turns: list[Turn]) -> list[Event]:
    return [Event("pause", p.start_s, p.end_s, speaker=t.speaker) for t in turns for p in t.pauses]


def analyse_conversation(segments: list[Segment], config: TurnConfig, *, mixed_speech: list[Segment] | None = None) -> Conversation:
    """The whole time model: roles, turns and all events, sorted by time.

    ``mixed_speech``: a mono call's speech before diarization (see :func:`build_turns`).
    """
    segments = sorted(segments)
    roles = classify_segments(segments, config)
    turns = build_turns(segments, roles, sorted(mixed_speech) if mixed_speech else None)
    events = (
        transition_events(turns)
        + interruption_events(segments, roles, turns, config)
        + backchannel_events(segments, roles)
        + pause_events(turns)
        + silence_events(segments, config)
    )
    events.sort(key=lambda e: (e.start_s, e.kind))
    return Conversation(tuple(segments), tuple(roles), tuple(turns), tuple(events))
