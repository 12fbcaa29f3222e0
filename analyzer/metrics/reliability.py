"""Which metrics of a call cannot be trusted, and why (issue 14).

A metric that cannot be measured on a call is ``None`` with a reason; one that is
measured but may be wrong keeps its value with a reason. Both reasons go into the
result's ``unreliable_metrics`` ({metric key: reason}); QA rules on those metrics are
"not applicable" (:mod:`analyzer.qa`). Pure functions over the metrics dict.

The rule, one place for it:

* **mono** (one mixed channel): overlapped speech of the two parties is not detected,
  so ``overlap_ratio`` and every interruption count are ``None`` (never a confident 0);
  backchannels spoken over the other party are not seen, so the backchannel counts are
  lower bounds (kept, flagged). Speaker changes that diarization placed inside
  continuous speech have no measured FTO: latencies use the measured changes only, and
  are flagged when some changes were left out (``None`` when none is left).
* **more than two voices** (diarization's speaker-count estimate >= 3): speech was forced
  into two parties, so every party metric is flagged.
* **one voice** (estimate 1): all speech went to the agent; every party metric is flagged
  (the customer's are ``None`` already).
"""

from __future__ import annotations

from ..turns import Conversation

PARTY_INDEPENDENT = frozenset({"duration_s", "silence_ratio", "dead_air_count", "dead_air_total_s", "longest_silence_s", "holds"})

MONO_OVERLAP = ("not measured on a mono call: overlapped speech of the two parties is not detected on one mixed "
                "channel")
PARTLY = "partly measured"  # a note that leaves the metric usable (QA rules on it still apply)
MONO_BACKCHANNELS = ("lower bound on a mono call: backchannels spoken over the other party are not detected on one "
                     "mixed channel")


def _not_measured_on_mono(metrics: dict) -> list[str]:
    keys = ["overlap_ratio"]
    keys += [k for k in metrics if k.startswith(("interruptions_by_", "interruptions_successful_by_"))]
    return keys


def unreliable_metrics(metrics: dict, conv: Conversation, *, mono: bool, n_speakers_estimate: int | None) -> tuple[dict, dict[str, str]]:
    """``metrics`` with the unmeasurable ones set to ``None``, and {metric key: reason} for every metric that is
    ``None`` for that reason or measured but unreliable."""
    metrics = dict(metrics)
    notes: dict[str, str] = {}
    if mono:
        for key in _not_measured_on_mono(metrics):
            metrics[key] = None
            notes[key] = MONO_OVERLAP
        for key in ("backchannels_agent", "backchannels_customer"):
            notes[key] = MONO_BACKCHANNELS
        for party, prefix in (("agent", "agent_latency_"), ("customer", "customer_latency_")):
            changes = [t for t in conv.turns if t.speaker == party and t.fto_s is not None]
            unmeasured = sum(not t.fto_measured for t in changes)
            if unmeasured:
                where = (f"{unmeasured} of {len(changes)} changes to the {party} were placed by diarization inside "
                         "continuous speech and have no measured gap")
                reason = (f"not measured: {where}" if unmeasured == len(changes)
                          else f"{PARTLY}: {where}; the others are used")
                for key in (k for k in metrics if k.startswith(prefix)):
                    notes[key] = reason
    if n_speakers_estimate is not None and n_speakers_estimate != 2:
        reason = ("more than two voices: speech was forced into two parties" if n_speakers_estimate >= 3
                  else "one voice found: all speech was given to the agent")
        for key in metrics:
            if key not in PARTY_INDEPENDENT:
                notes[key] = f"{notes[key]}; {reason}" if key in notes else reason
    return metrics, notes
