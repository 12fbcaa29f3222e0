"""Two-speaker diarization of mono calls (analyzer.diarize): pure helpers on hand-built frames,
then measured behaviour on simulated mono calls, a one-speaker file and AMI meetings."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from analyzer.audio import probe
from analyzer.config import AnalysisConfig
from analyzer.diarize import (
    FRAME_S,
    DiarizationConfig,
    absorb_short_runs,
    count_voices,
    diarize,
    embedding_windows,
    frame_scores,
    labelled_segments,
    pick_agent,
    speech_spans,
    viterbi_two_voices,
    window_scores_to_frames,
)
from analyzer.errors import ConfigError
from analyzer.intervals import AGENT, Segment

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))


# ----------------------------------------------------------------------------- pure helpers


def test_speech_segments_become_disjoint_frame_spans():
    speech = [Segment(0.5, 1.0), Segment(0.9, 1.2), Segment(2.0, 2.5)]
    assert speech_spans(speech, 1000) == [(50, 120), (200, 250)]


def test_long_speech_is_tiled_with_windows_ending_at_its_end_and_short_speech_is_skipped():
    windows = embedding_windows([(0, 30), (100, 350), (400, 460)], window_frames=120, hop_frames=60, min_frames=40)
    assert windows.tolist() == [[100, 220], [160, 280], [220, 340], [230, 350], [400, 460]]


def test_frames_get_the_mean_score_of_the_windows_covering_them():
    frames = window_scores_to_frames(np.array([[0, 4], [2, 6]]), np.array([1.0, -1.0]), 8)
    assert frames.tolist() == [1.0, 1.0, 0.0, 0.0, -1.0, -1.0, 0.0, 0.0]


def test_viterbi_switches_voice_at_the_quiet_frame_not_where_the_scores_flip():
    # one speech span, voice 0 then voice 1; the scores flip at frame 10, the quiet dip is at 12
    score = np.array([4.0] * 10 + [-4.0] * 10)
    level = np.full(20, -20.0)
    level[12] = -50.0
    config = DiarizationConfig(switch_penalty=30.0, quiet_switch_penalty=1.0, quiet_db=15.0)
    labels = viterbi_two_voices(score, [(0, 20)], level, config=config)
    assert labels.tolist() == [0] * 12 + [1] * 8


def test_a_pause_between_spans_makes_switching_cheap():
    score = np.array([1.0] * 5 + [-1.0] * 5)
    level = np.full(10, -20.0)
    config = DiarizationConfig(switch_penalty=100.0, pause_switch_penalty=0.5)
    assert viterbi_two_voices(score, [(0, 5), (5, 10)], level, config=config).tolist() == [0] * 5 + [1] * 5
    assert viterbi_two_voices(score, [(0, 10)], level, config=config).tolist() in ([0] * 10, [1] * 10)


def test_runs_shorter_than_the_minimum_go_to_the_longer_neighbour():
    labels = np.array([0] * 10 + [1] * 3 + [0] * 5 + [1] * 20, dtype=np.int8)
    out = absorb_short_runs(labels, [(0, 38)], min_frames=5)
    assert out.tolist() == [0] * 18 + [1] * 20


def test_quiet_frames_at_a_voice_change_inside_a_span_belong_to_neither_voice():
    labels = np.array([-1] * 100 + [0] * 10 + [1] * 10, dtype=np.int8)
    level = np.full(20, -20.0)
    level[8:12] = -60.0  # a 40 ms gap the VAD bridged
    segments = labelled_segments(labels, [(100, 120)], np.concatenate([np.full(100, -90.0), level]), quiet_db=15.0)
    assert [(round(s.start_s, 2), round(s.end_s, 2), s.speaker) for s in segments] == [(1.0, 1.08, "0"), (1.12, 1.2, "1")]


def test_a_few_outlying_frames_cannot_pay_for_a_speaker_change_once_the_llr_is_clipped():
    # 3 s of one voice (LLR +1 a frame) with a 50 ms burst the other voice's model fits far better (LLR -40): a
    # word onset, not a speaker. Unclipped, the burst pays for two switches (5 x 41 > 2 x 30); clipped to +-3 it
    # does not (5 x 4 < 60). A real change (1.5 s of each voice) is kept either way.
    config = DiarizationConfig()
    spans, level, mask = [(0, 300)], np.full(300, -20.0), np.ones(300, bool)
    llr = np.ones(300)
    llr[100:105] = -40.0
    no_emb = np.zeros(300)
    unclipped = viterbi_two_voices(frame_scores(llr, no_emb, mask, embedding_weight=1.0, llr_clip=0.0), spans, level,
                                   config=config)
    assert set(unclipped[100:105]) == {1} and set(unclipped[:100]) == {0}
    clipped = viterbi_two_voices(frame_scores(llr, no_emb, mask, embedding_weight=1.0, llr_clip=3.0), spans, level,
                                 config=config)
    assert set(clipped) == {0}
    change = np.r_[np.ones(150), -np.ones(150)]
    decoded = viterbi_two_voices(frame_scores(change, no_emb, mask, embedding_weight=1.0, llr_clip=3.0), spans, level,
                                 config=config)
    assert list(decoded) == [0] * 150 + [1] * 150
    assert config.frame_llr_clip == 3.0


def _seg(a, b, voice):
    return Segment(a, b, str(voice))


def test_agent_rules_first_most_and_longest_monologue():
    segments = [_seg(0.0, 2.0, 1), _seg(2.5, 4.0, 0), _seg(4.5, 12.0, 0), _seg(12.5, 13.5, 1)]
    score = np.zeros(int(14 / FRAME_S))
    score[:200] = -3.0  # the opening 2 s sound like voice 1
    assert pick_agent(segments, score, rule="first", min_turn_s=1.0) == (1, 1.0)
    voice, confidence = pick_agent(segments, score, rule="most", min_turn_s=1.0)
    assert voice == 0 and confidence == pytest.approx((9.0 / 12.0 - 0.5) * 4.0 if 9 / 12 < 0.75 else 1.0)
    voice, confidence = pick_agent(segments, score, rule="longest-monologue", min_turn_s=1.0)
    assert voice == 0 and confidence == pytest.approx(1 - 2.0 / 9.5)


def test_unknown_agent_rule_and_bad_windows_are_config_errors():
    with pytest.raises(ConfigError, match="agent rule"):
        DiarizationConfig(agent="loudest")
    with pytest.raises(ConfigError, match="min_window_s"):
        DiarizationConfig(window_s=1.0, min_window_s=1.5)


def test_one_voice_needs_tight_windows_not_just_similar_centroids():
    config = DiarizationConfig()
    measured = dict(third_similarity=0.95, minority=0.4, config=config)
    # a one-speaker telephone call (measured: one_05) and one EmoDB speaker (speaker 08)
    assert count_voices(similarity=0.81, spread=0.926, fit=0.974, **measured) == 1
    assert count_voices(similarity=0.936, spread=0.889, fit=0.904, **measured) == 1
    # auto_repairs_49 (a real two-party call): centroids 0.92 alike, but the windows are loose
    assert count_voices(similarity=0.917, spread=0.801, fit=0.818, **measured) == 2
    # a tiny second group is one voice whatever the measures
    assert count_voices(similarity=0.5, spread=0.7, fit=0.8, third_similarity=0.7, minority=0.03, config=config) == 1


def test_a_third_voice_needs_loose_windows_and_a_distinct_third_group():
    config = DiarizationConfig()
    # AMI trn04 (3 speakers): loose fit, distinct third group
    assert count_voices(similarity=0.772, spread=0.793, fit=0.843, third_similarity=0.758, minority=0.4, config=config) == 3
    # aws auto_repairs_40: the two voices fit as loosely, but no distinct third group
    assert count_voices(similarity=0.769, spread=0.799, fit=0.849, third_similarity=0.941, minority=0.4, config=config) == 2
    # a two-party simulated call with a distinct third group (the customer's angry vs neutral speech), tight fit
    assert count_voices(similarity=0.691, spread=0.80, fit=0.851, third_similarity=0.772, minority=0.4, config=config) == 2


# ----------------------------------------------------------------------------- measured behaviour (real speech)

SIM_CALLS = 3  # call_seed(1, 0..2): the first three calls of scripts/eval_diarization.py --seed 1


@pytest.fixture(scope="module")
def simulated_mono(corpora, tmp_path_factory):
    """Three simulated mono telephone calls (audible truth), their VAD speech, diarization and truth."""
    pytest.importorskip("pyannote.metrics", reason="DER is computed with pyannote.metrics (dev dependency)")
    import torch

    from callsim.simulate import SimulationParams, call_seed, simulate_call, write_call
    from eval_diarization import vad_speech

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("mono")
    calls = []
    for i in range(SIM_CALLS):
        call = simulate_call(SimulationParams(seed=call_seed(1, i), truth_threshold_db=None), corpora_root=corpora)
        info = probe(write_call(call, out, f"m{i}", mono=True))
        speech = vad_speech(info, AnalysisConfig())
        calls.append((info, speech, diarize(info, speech), call.truth))
    return calls


def _truth_segments(truth):
    return [Segment(s["start_s"], s["end_s"], s["speaker"]) for s in truth["segments"]]


def test_simulated_mono_calls_meet_the_measured_der_and_agent_bars(simulated_mono):
    from eval_diarization import agent_correct, der

    ders = [der(_truth_segments(truth), list(result.segments))["der"] for _, _, result, truth in simulated_mono]
    # measured 0.023 / 0.014 / 0.056 (20 calls: mean 0.046, see docs/diarization.md)
    assert max(ders) <= 0.10 and np.mean(ders) <= 0.06
    assert all(agent_correct(_truth_segments(truth), list(result.segments)) for _, _, result, truth in simulated_mono)
    assert all(result.n_speakers_estimate == 2 and result.separation_confidence > 0.3 for _, _, result, _ in simulated_mono)
    assert all(0.3 < result.agent_confidence <= 1.0 for _, _, result, _ in simulated_mono)


def test_speaker_changes_on_simulated_mono_calls_are_timed_within_150_ms(simulated_mono):
    from callsim.evaluation import Transition
    from eval_diarization import fto_share, turn_transitions

    shares = []
    for _, _, result, truth in simulated_mono:
        true_changes = [Transition(t["time_s"], t["to"], t["from"], t["fto_s"]) for t in truth["transitions"]]
        shares.append(fto_share(true_changes, turn_transitions(list(result.segments)))[0])
    assert np.mean(shares) >= 0.75  # measured 0.86 / 0.90 / 0.79


def test_diarization_segments_stay_inside_the_speech_it_was_given(simulated_mono):
    from analyzer.intervals import total_s

    for _, speech, result, _ in simulated_mono:
        assert {s.speaker for s in result.segments} == {"agent", "customer"}
        assert list(result.segments) == sorted(result.segments)
        inside = sum(seg.overlap_s(sp) for seg in result.segments for sp in speech)
        assert inside == pytest.approx(sum(s.duration_s for s in result.segments), abs=0.02)
        assert sum(s.duration_s for s in result.segments) <= total_s(speech) + 0.02


def test_small_decoding_blocks_give_the_same_diarization(simulated_mono):
    from eval_diarization import der

    info, speech, result, _ = simulated_mono[0]
    small = diarize(info, speech, config=DiarizationConfig(block_s=7.0))
    assert der(list(result.segments), list(small.segments), collar_s=0.0)["der"] < 0.02


def test_mfccs_kept_from_pass_one_give_exactly_the_diarization_of_reading_the_file_again(simulated_mono, monkeypatch):
    import analyzer.diarize as diarize_module

    info, speech, kept, _ = simulated_mono[0]
    monkeypatch.setattr(diarize_module, "_MFCC_KEEP_MAX_FRAMES", 0)  # every call too long to keep: pass 2 re-reads
    reread = diarize(info, speech)
    assert reread == kept


def test_a_one_speaker_recording_is_reported_as_one_voice_with_a_warning(corpora, tmp_path):
    files = sorted((corpora / "emodb").glob("08*N*.flac"))[:8]
    parts = []
    for f in files:
        audio, rate = sf.read(f, dtype="float32")
        parts += [audio, np.zeros(int(0.7 * rate), np.float32)]
    path = tmp_path / "one_voice.wav"
    sf.write(path, np.concatenate(parts), 16000)
    info = probe(path)
    from eval_diarization import vad_speech

    result = diarize(info, vad_speech(info, AnalysisConfig()))
    assert result.n_speakers_estimate == 1
    assert any("one voice" in w for w in result.warnings)
    assert {s.speaker for s in result.segments} == {AGENT} and result.agent_confidence == 0.0


@pytest.mark.parametrize("excerpt", ["trn00", "trn04", "trn08", "tst00"])  # every excerpt with >= 3 speakers of >= 3 s each
def test_meetings_with_more_than_two_speakers_are_estimated_at_three_with_a_warning(corpora, excerpt):
    from eval_diarization import vad_speech

    info = probe(corpora / "calls" / "ami_meetings" / f"{excerpt}.flac")
    # the voice-count rule was set on webrtc's speech without the noise check (docs/diarization.md)
    result = diarize(info, vad_speech(info, AnalysisConfig().replace(vad={"noise_check": "off"})))
    assert result.n_speakers_estimate == 3
    assert any("more than two speakers" in w for w in result.warnings)
    # with the default noise check, trn00 (re-checked) is estimated at 2 voices, but still carries a warning
    checked = diarize(info, vad_speech(info, AnalysisConfig()))
    assert checked.warnings


def test_a_two_speaker_meeting_excerpt_is_not_called_three(corpora):
    from eval_diarization import vad_speech

    info = probe(corpora / "calls" / "ami_meetings" / "dev01.flac")  # 2 annotated speakers
    result = diarize(info, vad_speech(info, AnalysisConfig()))
    assert result.n_speakers_estimate == 2 and not result.warnings


def _telephone_call(corpora, out, name, *, seed, agent_speaker, customer_speaker=None, n_turns=30, **kw):
    from callsim.simulate import SimulationParams, simulate_call

    params = SimulationParams(seed=seed, n_turns=n_turns, truth_threshold_db=None, agent_speaker=agent_speaker,
                              customer_speaker=customer_speaker, **kw)
    return simulate_call(params, corpora_root=corpora)


def test_a_three_speaker_telephone_call_is_estimated_at_three(corpora, tmp_path):
    """A transferred/conference-like mono call: a customer talks with one agent and a second agent, 15 s
    chunks of the two simulated calls interleaved (telephone channel). This mix is one of the 2 of 12
    such synthetic calls the detector finds (docs/diarization.md: on telephone audio a third voice is
    mostly not told from one party's change of emotion)."""
    from callsim.simulate import call_seed
    from eval_diarization import vad_speech

    a = _telephone_call(corpora, tmp_path, "a", seed=call_seed(10, 6), agent_speaker="ravdess:14", customer_speaker="emodb:13")
    b = _telephone_call(corpora, tmp_path, "b", seed=call_seed(11, 6), agent_speaker="ravdess:13", customer_speaker="emodb:13",
                        n_turns=14)
    chunk = 15 * a.sample_rate_hz
    parts = []
    for k in range(0, max(len(a.mono), len(b.mono)), chunk):
        parts += [a.mono[k : k + chunk], b.mono[k : k + chunk]]
    path = tmp_path / "three.wav"
    sf.write(path, np.concatenate(parts), a.sample_rate_hz, subtype="ULAW")
    info = probe(path)
    result = diarize(info, vad_speech(info, AnalysisConfig()))
    assert result.n_speakers_estimate == 3
    assert any("more than two speakers" in w for w in result.warnings)


@pytest.mark.parametrize("index, speaker", [(0, "ravdess:15"), (3, "emodb:09")])
def test_a_one_speaker_telephone_recording_is_one_voice(corpora, tmp_path, index, speaker):
    """The agent's channel alone of a simulated stereo call (no crosstalk): one voice on a telephone line."""
    from callsim.simulate import call_seed
    from eval_diarization import vad_speech

    call = _telephone_call(corpora, tmp_path, "one", seed=call_seed(9, index), agent_speaker=speaker, crosstalk_db=-90.0)
    path = tmp_path / "one.wav"
    sf.write(path, call.stereo[:, 0], call.sample_rate_hz, subtype="ULAW")
    info = probe(path)
    result = diarize(info, vad_speech(info, AnalysisConfig()))
    assert result.n_speakers_estimate == 1 and any("one voice" in w for w in result.warnings)


def test_a_real_stereo_call_read_as_a_mono_mix_matches_its_stereo_analysis(corpora):
    """--mono-mix path: the reader averages the channels; reference = our stereo VAD per channel."""
    pytest.importorskip("pyannote.metrics", reason="DER is computed with pyannote.metrics (dev dependency)")
    from analyzer.frames import extract_frames
    from analyzer.vad import channel_segments
    from eval_diarization import agent_correct, der, vad_speech

    info = probe(corpora / "calls" / "aws_lca" / "auto_repairs_40.flac")
    stereo = AnalysisConfig().replace(emotion={"enabled": False}, prosody={"enabled": False})
    frames = extract_frames(info, stereo, prosody=False)
    reference = channel_segments(frames.vad, frames.energy_db, list(stereo.audio.channels), stereo.vad)
    result = diarize(info, vad_speech(info, stereo.replace(audio={"mono_mix": True})))
    assert der(reference, list(result.segments))["der"] <= 0.03  # measured 0.009 (docs/diarization.md)
    assert agent_correct(reference, list(result.segments))
    assert result.n_speakers_estimate == 2 and not result.warnings


def test_a_real_two_party_call_with_similar_voices_is_neither_one_voice_nor_three(corpora):
    """auto_repairs_49 mixed to mono: centroids 0.92 alike (the old one-voice rule had 0.01 of margin)."""
    from eval_diarization import vad_speech

    info = probe(corpora / "calls" / "aws_lca" / "auto_repairs_49.flac")
    config = AnalysisConfig().replace(emotion={"enabled": False}, prosody={"enabled": False}, audio={"mono_mix": True})
    result = diarize(info, vad_speech(info, config))
    assert result.n_speakers_estimate == 2
    assert not any("one voice" in w or "more than two" in w for w in result.warnings)
    m, config = result.voice_measures, DiarizationConfig()
    assert m["similarity"] > 0.9 and m["spread"] < config.one_voice_spread - 0.05  # measured 0.917 / 0.801


def test_missing_speaker_encoder_weights_are_a_config_error_naming_the_file(tmp_path):
    from analyzer.speaker_encoder import load_voice_encoder

    missing = tmp_path / "weights.pt"
    with pytest.raises(ConfigError, match="reinstall call-analyzer") as err:
        load_voice_encoder(missing)
    assert str(missing) in str(err.value)


def test_vendored_speaker_encoder_gives_resemblyzers_embeddings():
    resemblyzer = pytest.importorskip("resemblyzer", reason="the comparison needs the original resemblyzer installed")
    import torch

    from analyzer.speaker_encoder import load_voice_encoder

    mels = torch.from_numpy(np.random.default_rng(0).random((3, 160, 40), dtype=np.float32))
    with torch.no_grad():
        ours = load_voice_encoder()(mels).numpy()
        theirs = resemblyzer.VoiceEncoder("cpu", verbose=False).eval()(mels).numpy()
    assert np.array_equal(ours, theirs)


# ----------------------------------------------------------------------------- one party split by its manner (issue 14)


def _alternating_windows(groups: list[int], rng) -> tuple[np.ndarray, np.ndarray]:
    """Call-centred unit 'embeddings' around three fixed directions, one window per speech segment, in time order
    (each window in its own segment, so every neighbour pair lies across a pause)."""
    from analyzer.diarize import _unit

    axes = np.eye(8)[:3] * np.array([[1.0], [1.0], [1.0]])
    emb = _unit(np.stack([axes[g] + 0.15 * rng.standard_normal(8) for g in groups]))
    windows = np.array([(100 * i, 100 * i + 60) for i in range(len(groups))])
    return emb, windows


def test_a_party_split_by_its_manner_of_speaking_is_joined_again_by_turn_taking():
    """Agent = group 0; the customer speaks calmly (group 1) early and angrily (group 2) late. A two-way split
    that joins the angry customer with the agent changes party at few pauses; the turn-taking split does at all."""
    from analyzer.diarize import _three_groups, alternation_split

    rng = np.random.default_rng(0)
    groups = [0, 1] * 10 + [0, 2] * 10
    emb, windows = _alternating_windows(groups, rng)
    wrong_two_way = np.where(np.isin(groups, [0, 2]), 1.0, -1.0).astype(np.float32)
    score = alternation_split(emb, windows, wrong_two_way, emb, _three_groups(emb), within_weight=0.5)
    agent = np.array(groups) == 0
    assert np.all((score > 0) == agent) or np.all((score < 0) == agent)


def test_turn_taking_keeps_a_two_way_split_that_already_alternates():
    """Agent and customer alternate; the agent has two manners (groups 0 and 1). The two-way split is right, and
    no split of the three groups alternates more, so it is kept as it was."""
    from analyzer.diarize import _three_groups, alternation_split

    rng = np.random.default_rng(1)
    groups = [0, 2, 1, 2] * 10
    emb, windows = _alternating_windows(groups, rng)
    right = np.where(np.array(groups) == 2, -1.0, 1.0).astype(np.float32)
    score = alternation_split(emb, windows, right, emb, _three_groups(emb), within_weight=0.5)
    assert np.array_equal(score > 0, right > 0)


@pytest.fixture(scope="module")
def same_gender_hard_case(corpora, tmp_path_factory):
    """Hard-case call 12 of seed 1 (emodb:03 agent / emodb:15 customer, two men of one corpus; the customer's
    calm and angry turns are as far apart for the speaker encoder as the two men), mixed to mono."""
    import torch

    from callsim.simulate import HARD_CASES, SimulationParams, call_seed, simulate_call, write_call
    from eval_pacing import _first_voice
    from eval_diarization import vad_speech

    torch.set_num_threads(1)
    call = simulate_call(SimulationParams(seed=call_seed(1, 12), truth_threshold_db=None, **HARD_CASES), corpora_root=corpora)
    info = probe(write_call(call, tmp_path_factory.mktemp("hard"), "m12", mono=True))
    config = AnalysisConfig()
    speech = _first_voice(info, vad_speech(info, config), ["unknown"], config)
    return info, speech, call.truth


def test_a_same_gender_pair_is_split_by_speaker_not_by_emotion_and_its_agent_identified(same_gender_hard_case):
    pytest.importorskip("pyannote.metrics", reason="DER is computed with pyannote.metrics (dev dependency)")
    from eval_diarization import agent_correct, der

    info, speech, truth = same_gender_hard_case
    ref = _truth_segments(truth)
    result = diarize(info, speech)
    k2_only = diarize(info, speech, config=DiarizationConfig(alternation_split=False))
    assert agent_correct(ref, list(result.segments))
    assert der(ref, list(result.segments))["der"] < 0.05  # measured 0.011
    assert der(ref, list(k2_only.segments))["der"] > 0.10  # measured 0.195: the customer's angry turns went to the agent


def test_no_speaker_change_inside_continuous_speech_of_one_party(same_gender_hard_case):
    """Inside a stretch of at least 1.5 s where only one party speaks (0.3 s from its ends), diarization gives all
    speech to that one party: no voice change is made up inside one speaker's continuous speech."""
    info, speech, truth = same_gender_hard_case
    result = diarize(info, speech)
    ref = _truth_segments(truth)
    checked = 0
    for seg in ref:
        others = [o for o in ref if o.speaker != seg.speaker and o.overlap_s(seg) > 0]
        if seg.duration_s < 1.5 or others:
            continue
        inner = Segment(seg.start_s + 0.3, seg.end_s - 0.3, seg.speaker)
        speakers = {h.speaker for h in result.segments if h.overlap_s(inner) > 0.05}
        assert speakers == {seg.speaker}, (seg, speakers)
        checked += 1
    assert checked >= 10
