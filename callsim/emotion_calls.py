"""Simulated telephone calls with a designed customer emotion trajectory (test oracle for the emotion stage).

Unlike :mod:`callsim.simulate` (timing oracle over the training corpora), this module builds calls
from any labelled corpus, including the evaluation-only TurEV-DB and ASED, so the emotion stage can
be measured on speakers and languages no model saw. A call alternates agent and customer turns;
each turn is one speaker's clips of one label laid end to end (TurEV clips are single ~1 s words, so
a turn holds several), with 0.15-0.35 s pauses inside a turn and 0.3-1.2 s gaps between turns.
The customer's labels follow a trajectory over the call (the turns are split into equal phases):

=============  ===========================
trajectory     customer labels by phase
=============  ===========================
``calm``       neutral
``turnaround`` angry -> neutral -> happy
``escalation`` neutral -> sad -> angry
=============  ===========================

The agent is calm (``neutral`` clips) throughout. Clips are drawn without replacement inside a call
while the speaker has unused clips of that label, then reused (ASED has only 2-3 clips per speaker
and label). Audio: 16 kHz corpus speech, each clip at -20 dBFS active level, per party track ->
8 kHz -> 300-3400 Hz -> line noise at ``snr_db`` -> G.711 mu-law; stereo, left = agent.
Truth: every turn's speaker, start/end (s) and label, the trajectory and the speakers.
Test data only: never train a model on these calls.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from analyzer.errors import AnalyzerError
from analyzer.intervals import AGENT, CUSTOMER

from .simulate import (CORPUS_RATE_HZ, TELEPHONE_BAND_HZ, TELEPHONE_RATE_HZ, CorpusSpeaker, _bandpass, _load_clip,
                       _mulaw_roundtrip, call_seed, corpus_index)

TRUTH_SCHEMA = "call-analyzer/simulated-emotion-truth/1"
TRAJECTORIES = {"calm": ("neutral",), "turnaround": ("angry", "neutral", "happy"), "escalation": ("neutral", "sad", "angry")}
TRAINING_CORPORA = ("emodb", "ravdess", "nemo")
EVALUATION_CORPORA = ("turev", "ased")
_TUREV_LABELS = {"Calm": "neutral", "Happy": "happy", "Angry": "angry", "Sad": "sad"}
_ASED_LABELS = {"01Neutral": "neutral", "03Happy": "happy", "04Sad": "sad", "05Angry": "angry"}


class EmotionSimulationError(AnalyzerError):
    """An emotion-trajectory call cannot be built (corpus missing, no speaker with the labels needed)."""


@dataclass(frozen=True)
class EmotionCallParams:
    """One call's design. ``customer_speech_s``: target customer speech (s), reached turn by turn.

    ``agent_speaker`` / ``customer_speaker``: a corpus speaker id (e.g. ``"03"``) to use instead of a random
    draw (empty: random, as before), so a cohort can keep sets of speakers apart (fine-tuning vs held-out calls).
    """

    seed: int
    corpus: str = "turev"
    trajectory: str = "calm"
    customer_speech_s: float = 40.0
    customer_turn_s: tuple[float, float] = (2.0, 5.0)
    agent_turn_s: tuple[float, float] = (1.5, 4.0)
    snr_db: float = 35.0
    agent_speaker: str = ""
    customer_speaker: str = ""

    def __post_init__(self):
        if self.trajectory not in TRAJECTORIES:
            raise EmotionSimulationError(f"unknown trajectory {self.trajectory!r}; use one of {', '.join(TRAJECTORIES)}")
        if self.corpus not in TRAINING_CORPORA + EVALUATION_CORPORA:
            raise EmotionSimulationError(f"unknown corpus {self.corpus!r}")


@dataclass(frozen=True)
class EmotionCall:
    stereo: np.ndarray  # (n, 2) float32 at sample_rate_hz, left = agent
    sample_rate_hz: int
    truth: dict


def emotion_corpus_index(corpora_root: Path, corpus: str) -> tuple[CorpusSpeaker, ...]:
    """Speakers of one corpus with their clips per project label (TurEV and ASED here, the others via callsim.simulate)."""
    return _index(str(Path(corpora_root).resolve()), corpus)


@functools.lru_cache(maxsize=8)
def _index(root_str: str, corpus: str) -> tuple[CorpusSpeaker, ...]:
    root = Path(root_str)
    if corpus in TRAINING_CORPORA:
        return tuple(s for s in corpus_index(root) if s.corpus == corpus)
    if not (root / corpus).is_dir():
        raise EmotionSimulationError(f"corpus folder {corpus}/ not found; pass corpora_root=<path to shared/corpora>", path=root_str)
    clips: dict[str, dict[str, list[str]]] = {}
    gender: dict[str, str] = {}
    if corpus == "turev":
        for folder, label in _TUREV_LABELS.items():
            for path in sorted((root / "turev" / folder).glob("*.flac")):
                spk = path.stem.split("_")[0]
                clips.setdefault(spk, {}).setdefault(label, []).append(f"turev/{folder}/{path.name}")
                gender[spk] = "unknown"
    else:
        for folder, label in _ASED_LABELS.items():
            for path in sorted((root / "ased" / folder).glob("*.flac")):
                fields = path.stem.split("-")
                spk = fields[4]
                clips.setdefault(spk, {}).setdefault(label, []).append(f"ased/{folder}/{path.name}")
                gender[spk] = "female" if fields[3] == "01" else "male"
    return tuple(CorpusSpeaker(corpus, spk, gender[spk], {k: tuple(v) for k, v in sorted(labels.items())})
                 for spk, labels in sorted(clips.items()))


def customer_labels(trajectory: str, n_turns: int) -> list[str]:
    """The label of each of ``n_turns`` customer turns: the trajectory's phases in equal shares, in order."""
    phases = TRAJECTORIES[trajectory]
    return [phases[min(len(phases) - 1, i * len(phases) // max(n_turns, 1))] for i in range(n_turns)]


class _Picker:
    """Draws a speaker's clips of a label: without replacement until they run out, then again from all."""

    def __init__(self, root_str: str, speaker: CorpusSpeaker, rng: np.random.Generator):
        self.root_str, self.speaker, self.rng = root_str, speaker, rng
        self.left: dict[str, list[str]] = {}

    def clip(self, label: str) -> np.ndarray:
        for _ in range(20):
            if not self.left.get(label):
                pool = list(self.speaker.clips[label])
                self.rng.shuffle(pool)
                self.left[label] = pool
            loaded = _load_clip(self.root_str, self.left[label].pop(), "peak", 35.0, 0.15, 0.2, TELEPHONE_BAND_HZ)
            if loaded is not None:
                return loaded.audio
        raise EmotionSimulationError(f"speaker {self.speaker.key} has no usable {label} clip")

    def turn(self, label: str, target_s: float) -> np.ndarray:
        """Clips of ``label`` laid end to end with 0.15-0.35 s pauses until at least ``target_s`` of audio."""
        parts = [self.clip(label)]
        while sum(len(p) for p in parts) / CORPUS_RATE_HZ < target_s:
            parts.append(np.zeros(int(self.rng.uniform(0.15, 0.35) * CORPUS_RATE_HZ), np.float32))
            parts.append(self.clip(label))
        return np.concatenate(parts)


def _speakers(index: tuple[CorpusSpeaker, ...], labels: set[str], rng: np.random.Generator, *, agent_id: str = "",
              customer_id: str = "") -> tuple[CorpusSpeaker, CorpusSpeaker]:
    customers = [s for s in index if labels <= set(s.clips) and customer_id in ("", s.speaker_id)]
    if not customers:
        raise EmotionSimulationError(f"no speaker {customer_id or ''} has clips of all of {sorted(labels)}".replace("  ", " "))
    customer = customers[rng.integers(len(customers))]
    agents = [s for s in index if "neutral" in s.clips and s.speaker_id != customer.speaker_id and agent_id in ("", s.speaker_id)]
    if not agents:
        raise EmotionSimulationError(f"no agent speaker {agent_id} with neutral clips other than the customer")
    return agents[rng.integers(len(agents))], customer


def simulate_emotion_call(params: EmotionCallParams, *, corpora_root: Path) -> EmotionCall:
    """Build one call (deterministic in ``params``); see the module docstring."""
    rng = np.random.default_rng(params.seed)
    root_str = str(Path(corpora_root).resolve())
    index = emotion_corpus_index(corpora_root, params.corpus)
    agent, customer = _speakers(index, set(TRAJECTORIES[params.trajectory]), rng, agent_id=params.agent_speaker,
                                customer_id=params.customer_speaker)
    pick = {AGENT: _Picker(root_str, agent, rng), CUSTOMER: _Picker(root_str, customer, rng)}
    # customer turns first (their number decides the phases), then interleave agent turns
    cust_audio: list[np.ndarray] = []
    total = 0.0
    mean_turn_s = float(np.mean(params.customer_turn_s))
    n_turns = max(3, int(round(params.customer_speech_s / mean_turn_s)))
    labels = customer_labels(params.trajectory, n_turns)
    for label in labels:
        cust_audio.append(pick[CUSTOMER].turn(label, rng.uniform(*params.customer_turn_s)))
        total += len(cust_audio[-1]) / CORPUS_RATE_HZ
    pieces: list[tuple[str, str, np.ndarray]] = []
    for label, audio in zip(labels, cust_audio):
        pieces.append((AGENT, "neutral", pick[AGENT].turn("neutral", rng.uniform(*params.agent_turn_s))))
        pieces.append((CUSTOMER, label, audio))
    pieces.append((AGENT, "neutral", pick[AGENT].turn("neutral", rng.uniform(*params.agent_turn_s))))
    gaps = rng.uniform(0.3, 1.2, len(pieces))
    n16 = int((sum(len(a) for _, _, a in pieces) / CORPUS_RATE_HZ + gaps.sum() + 1.0) * CORPUS_RATE_HZ)
    tracks = {AGENT: np.zeros(n16, np.float32), CUSTOMER: np.zeros(n16, np.float32)}
    turns, t = [], 0.5
    for (party, label, audio), gap in zip(pieces, gaps):
        a = int(t * CORPUS_RATE_HZ)
        tracks[party][a : a + len(audio)] += audio
        turns.append({"speaker": party, "start_s": round(a / CORPUS_RATE_HZ, 3),
                      "end_s": round((a + len(audio)) / CORPUS_RATE_HZ, 3), "label": label})
        t += len(audio) / CORPUS_RATE_HZ + gap
    channels = []
    for party in (AGENT, CUSTOMER):
        x = soxr.resample(tracks[party], CORPUS_RATE_HZ, TELEPHONE_RATE_HZ, quality="HQ").astype(np.float32)
        x = _bandpass(x, TELEPHONE_RATE_HZ)
        noise_db = -20.0 - params.snr_db
        x = x + rng.standard_normal(len(x)).astype(np.float32) * np.float32(10 ** (noise_db / 20))
        channels.append(x)
    stereo = _mulaw_roundtrip(np.clip(np.stack(channels, axis=1), -0.99, 0.99).astype(np.float32), TELEPHONE_RATE_HZ)
    design = {k: v for k, v in asdict(params).items() if v != "" or k not in ("agent_speaker", "customer_speaker")}
    truth = {"schema": TRUTH_SCHEMA, "params": design, "agent_speaker": agent.key, "customer_speaker": customer.key,
             "customer_speech_s": round(total, 3), "turns": turns,
             "note": "test data built from corpus speech; never train on it"}
    return EmotionCall(np.asarray(stereo, dtype=np.float32), TELEPHONE_RATE_HZ, truth)


def write_emotion_call(call: EmotionCall, out_dir: Path, name: str) -> Path:
    """``<name>.wav`` (G.711 mu-law stereo) and ``<name>.truth.json`` in ``out_dir``; returns the WAV path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wav = out_dir / f"{name}.wav"
    sf.write(wav, call.stereo, call.sample_rate_hz, subtype="ULAW")
    tmp = out_dir / f".{name}.truth.json.tmp{os.getpid()}"
    tmp.write_text(json.dumps(call.truth, indent=1) + "\n", encoding="utf-8")
    tmp.replace(out_dir / f"{name}.truth.json")
    return wav


def emotion_cohort(corpus: str, trajectory: str, n_calls: int, *, seed: int, speech_s: tuple[float, float] = (15.0, 60.0)
                   ) -> list[EmotionCallParams]:
    """Designs of ``n_calls`` calls of one corpus and trajectory, customer speech uniform in ``speech_s`` (s)."""
    out = []
    for i in range(n_calls):
        s = call_seed(seed, i)
        out.append(EmotionCallParams(seed=s, corpus=corpus, trajectory=trajectory,
                                     customer_speech_s=float(np.random.default_rng(s).uniform(*speech_s))))
    return out


LABELS_CSV_COLUMNS = ("path", "start_s", "end_s", "label", "speaker", "channel", "call_id", "turn_index", "machine_label",
                      "annotator", "annotated_at")  # the columns of `call-analyzer annotations RESULTS --out labels.csv`
CHANNEL_OF = {AGENT: 0, CUSTOMER: 1}  # left = agent


def reviewer_rows(wav: Path, truth: dict, call_id: str, turns: list[dict] | None = None) -> list[dict]:
    """A reviewer's export of one call (``LABELS_CSV_COLUMNS`` rows), the simulator's truth standing in for the human.

    ``turns``: the analysis' turns (``result["turns"]``, with ``speaker``, ``start_s``, ``end_s``): each gets the label
    of the true turn of its speaker it overlaps most, if that covers at least half of it (else the reviewer would
    mark it "not a real turn": no row), as a reviewer labels the turns the app shows. Without ``turns``: every true turn.
    """
    path = str(Path(wav).resolve())
    if turns is None:
        return [{"path": path, "start_s": t["start_s"], "end_s": t["end_s"], "label": t["label"], "speaker": t["speaker"],
                 "channel": CHANNEL_OF[t["speaker"]], "call_id": call_id, "turn_index": k, "machine_label": "",
                 "annotator": "simulator-truth", "annotated_at": ""} for k, t in enumerate(truth["turns"])]
    rows = []
    for k, t in enumerate(turns):
        overlaps = [(min(t["end_s"], g["end_s"]) - max(t["start_s"], g["start_s"]), g) for g in truth["turns"] if g["speaker"] == t["speaker"]]
        best, g = max(overlaps, key=lambda o: o[0], default=(0.0, None))
        if g is not None and best >= 0.5 * (t["end_s"] - t["start_s"]):
            rows.append({"path": path, "start_s": t["start_s"], "end_s": t["end_s"], "label": g["label"], "speaker": t["speaker"],
                         "channel": CHANNEL_OF[t["speaker"]], "call_id": call_id, "turn_index": t.get("index", k),
                         "machine_label": t.get("emotion_label") or "", "annotator": "simulator-truth", "annotated_at": ""})
    return rows


def disjoint_speaker_cohort(corpora_root: Path, corpora: tuple[str, ...], *, seed: int, customer_speech_s: float = 30.0,
                            trajectories: tuple[str, ...] = tuple(TRAJECTORIES)) -> list[EmotionCallParams]:
    """One call per pair of corpus speakers, no speaker in two calls (so any split by call is a split by speaker):
    each corpus' speakers shuffled (seeded) and paired agent/customer; the calls cycle through ``trajectories``."""
    rng = np.random.default_rng(seed)
    out = []
    for corpus in corpora:
        speakers = [s for s in emotion_corpus_index(corpora_root, corpus) if {"neutral", "happy", "angry", "sad"} <= set(s.clips)]
        order = rng.permutation(len(speakers))
        for k in range(len(order) // 2):
            agent, customer = speakers[order[2 * k]], speakers[order[2 * k + 1]]
            out.append(EmotionCallParams(seed=call_seed(seed, len(out)), corpus=corpus, trajectory=trajectories[len(out) % len(trajectories)],
                                         customer_speech_s=customer_speech_s, agent_speaker=agent.speaker_id,
                                         customer_speaker=customer.speaker_id))
    return out
