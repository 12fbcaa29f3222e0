"""Emotion models, per-turn scoring and call-level emotion metrics."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from analyzer.emotion import (LABELS, EmotionInputError, ModelError, arousal_valence, call_emotion_metrics, load_model,
                              score_turns)
from analyzer.emotion.model import MODELS_DIR
from analyzer.emotion.scoring import decide, turn_evidence
from analyzer.metrics.emotion import call_emotion_summary
from analyzer.errors import AnalyzerError

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
V1 = {"open": "emotion-open-v1", "multi": "emotion-multi-v1"}  # the CNN + functionals models these tests are about
needs_corpora = pytest.mark.skipif(not (CORPORA / "emodb").is_dir(), reason=f"shared corpora not found at {CORPORA}")

# EmoDB speaker 03 (male) and 08 (female): clear angry (W) and neutral (N) sentences.
ANGRY = ["03a01Wa", "03a04Wc", "08a01Wa", "08b02Wd"]
NEUTRAL = ["03a01Nc", "03a04Nc", "08a01Na", "08b02Nb"]


def _read(name: str) -> tuple[np.ndarray, int]:
    audio, rate = sf.read(CORPORA / "emodb" / f"{name}.flac", dtype="float32")
    return audio, rate


def _tone(seconds: float, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


@pytest.mark.parametrize("name, licence", [("open", "CC0-1.0"), ("multi", "CC-BY-NC-SA-4.0")])
def test_shipped_models_load_offline_with_their_licence(name, licence):
    model = load_model(V1[name])
    assert model.name == f"emotion-{name}-v1"
    assert model.licence == licence
    assert model.labels == LABELS
    assert load_model(V1[name]) is model  # cached per process
    assert (MODELS_DIR / model.name / "weights.pt").stat().st_size < 20e6


@pytest.mark.parametrize("name", ["open", "multi"])
def test_shipped_models_are_fused_with_a_checksummed_functionals_part(name):
    import json

    from analyzer.emotion.model import sha256_file

    model = load_model(V1[name])
    folder = MODELS_DIR / model.name
    fusion = json.loads((folder / "config.json").read_text())["fusion"]
    assert fusion["functionals_sha256"] == sha256_file(folder / fusion["functionals_file"])
    assert model.fused and 0.0 < model.network_weight < 1.0
    assert model.functionals_classifier.coef.shape == (4, 44)


def test_tampered_functionals_fail_the_checksum_with_a_clear_message(tmp_path):
    folder = tmp_path / "tampered"
    shutil.copytree(MODELS_DIR / "emotion-open-v1", folder)
    text = (folder / "functionals.json").read_text()
    (folder / "functionals.json").write_text(text.replace("0", "1", 1))  # one digit changed
    with pytest.raises(ModelError, match="functionals.json checksum mismatch") as info:
        load_model(str(folder))
    assert "\n" not in str(info.value) and "restore" in str(info.value)
    (folder / "functionals.json").unlink()
    with pytest.raises(ModelError, match="lacks functionals.json"):
        load_model(str(folder))


def test_tampered_weights_fail_the_checksum_with_a_clear_message(tmp_path):
    folder = tmp_path / "tampered"
    shutil.copytree(MODELS_DIR / "emotion-open-v1", folder)
    data = bytearray((folder / "weights.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "weights.pt").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum mismatch") as info:
        load_model(str(folder))
    assert "\n" not in str(info.value) and "restore" in str(info.value)


def test_missing_model_folder_says_how_to_fix(tmp_path):
    with pytest.raises(ModelError, match="--emotion-model open, multi or a folder"):
        load_model(str(tmp_path / "nope"))


def test_probabilities_have_one_row_per_clip_and_sum_to_one():
    model = load_model(V1["open"])
    clips = [_tone(1.0), _tone(2.5), _tone(6.0)]
    probs = model.predict(clips, 16000)
    assert probs.shape == (3, 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    assert np.all(probs >= 0)


def test_scores_are_deterministic():
    model = load_model(V1["open"])
    clips = [_tone(1.5), _tone(3.0)]
    np.testing.assert_array_equal(model.predict(clips, 16000, speakers=["a", "a"]), model.predict(clips, 16000, speakers=["a", "a"]))


@needs_corpora
@pytest.mark.parametrize("name", ["open", "multi"])
def test_shipped_model_tells_clear_angry_from_neutral(name):
    model = load_model(V1[name])
    clips, speakers = [], []
    for n in ANGRY + NEUTRAL:
        audio, rate = _read(n)
        clips.append(audio)
        speakers.append(n[:2])
    probs = model.predict(clips, rate, speakers=speakers)
    angry, neutral = LABELS.index("angry"), LABELS.index("neutral")
    assert np.all(probs[: len(ANGRY), angry] > probs[: len(ANGRY), neutral])
    assert np.all(probs[len(ANGRY):, neutral] > probs[len(ANGRY):, angry])


@needs_corpora
def test_8k_and_16k_input_give_nearly_the_same_probabilities():
    import soxr

    model = load_model(V1["open"])
    audio, rate = _read(ANGRY[0])
    p16 = model.predict([audio], rate)
    p8 = model.predict([soxr.resample(audio, rate, 8000)], 8000)
    assert np.max(np.abs(p16 - p8)) < 0.05


@pytest.mark.parametrize("clip, message", [
    (np.zeros(16000, dtype=np.float32), "silent"),
    (_tone(0.1), "too short"),
    (np.full(16000, np.nan, dtype=np.float32), "NaN"),
    (np.zeros((16000, 2), dtype=np.float32), "one channel"),
])
def test_bad_clips_raise_a_one_line_analyzer_error(clip, message):
    model = load_model(V1["open"])
    with pytest.raises(EmotionInputError, match=message) as info:
        model.predict([_tone(1.0), clip], 16000)
    assert isinstance(info.value, AnalyzerError)
    assert "clip 1" in str(info.value) and "\n" not in str(info.value)


def test_score_turns_skips_short_and_silent_turns_and_returns_exact_keys():
    model = load_model(V1["open"])
    clips = [_tone(0.3, 8000), _tone(2.0, 8000), np.zeros(8000, dtype=np.float32), _tone(11.0, 8000)]
    rows = score_turns(model, clips, 8000, ["agent", "agent", "customer", "agent"])
    assert rows[0] is None and rows[2] is None
    for row in (rows[1], rows[3]):
        assert set(row) == {"emotion_label", "p_neutral", "p_happy", "p_angry", "p_sad", "arousal", "valence", "emotion_confidence",
                            "emotion_uncertain"}
        probs = np.array([row["p_neutral"], row["p_happy"], row["p_angry"], row["p_sad"]])
        assert abs(probs.sum() - 1) < 1e-9
        assert row["emotion_label"] == ("neutral" if row["emotion_uncertain"] else LABELS[int(probs.argmax())])
        assert row["emotion_confidence"] == pytest.approx(probs.max())
        assert -1 <= row["arousal"] <= 1 and -1 <= row["valence"] <= 1


def test_score_turns_rejects_nan_turns():
    model = load_model(V1["open"])
    with pytest.raises(EmotionInputError, match="turn 1.*NaN"):
        score_turns(model, [_tone(1.0), np.full(8000, np.nan, dtype=np.float32)], 8000, ["agent", "agent"])


def test_long_turn_is_pooled_from_its_windows():
    """A turn of two halves scores between the scores of its halves (the network's window pooling, before fusion)."""
    import dataclasses

    model = dataclasses.replace(load_model(V1["open"]), network_weight=1.0)
    assert not model.fused
    a = _tone(4.0, 8000)
    rng = np.random.default_rng(0)
    b = rng.standard_normal(32000).astype(np.float32)
    b *= np.abs(a).max() / np.abs(b).max()  # same peak: each turn is peak-normalised as a whole
    _, p_rel, _ = turn_evidence(model, [a, b, np.concatenate([a, b])], 8000, ["x", "x", "x"], window_s=4.0, hop_s=4.0)
    for k in range(4):
        lo, hi = sorted((p_rel[0, k], p_rel[1, k]))
        assert lo - 1e-6 <= p_rel[2, k] <= hi + 1e-6


def test_arousal_and_valence_of_pure_classes():
    arousal, valence = arousal_valence(np.eye(4))
    np.testing.assert_allclose(arousal, [-0.3, 0.5, 1.0, -1.0])
    np.testing.assert_allclose(valence, [0.0, 1.0, -1.0, -0.6])
    a, v = arousal_valence(np.full((1, 4), 0.25))
    assert -1 <= a[0] <= 1 and -1 <= v[0] <= 1


def _row(speaker, start_s, end_s, label, valence, p_angry):
    return {"speaker": speaker, "start_s": start_s, "end_s": end_s, "emotion_label": label, "valence": valence, "p_angry": p_angry}


def test_call_emotion_metrics_on_a_hand_built_call():
    turns = [
        _row("customer", 0.0, 40.0, "angry", -0.8, 0.9),     # customer speech 0..40 s: midpoint 20 s, first third
        _row("agent", 40.0, 50.0, "neutral", 0.0, 0.1),
        _row("customer", 50.0, 90.0, "neutral", 0.0, 0.2),   # 40..80 s: midpoint 60 s, middle third
        _row("customer", 90.0, 90.3, None, None, None),      # unscored: ignored
        _row("agent", 95.0, 105.0, "happy", 0.8, 0.05),
        _row("customer", 110.0, 150.0, "happy", 0.6, 0.1),   # 80..120 s: midpoint 100 s, last third
    ]
    m = call_emotion_metrics(turns)
    assert m["customer_valence_start"] == pytest.approx(-0.8)
    assert m["customer_valence_end"] == pytest.approx(0.6)
    assert m["customer_turnaround"] == pytest.approx(1.4)
    assert m["customer_angry_share"] == pytest.approx(1 / 3, abs=1e-4)  # of speech time
    assert m["agent_angry_share"] == 0.0
    assert m["agent_valence_mean"] == pytest.approx(0.4)
    assert m["peak_customer_anger"] == 0.9 and m["peak_customer_anger_s"] == 0.0


def test_short_call_trajectory_uses_thirds_not_overlapping_minutes():
    """20 s of customer speech: the old 60 s windows covered the same turns (turnaround exactly 0.0)."""
    turns = [_row("customer", 0.0, 5.0, "angry", -0.9, 0.9), _row("agent", 5.0, 8.0, "neutral", 0.0, 0.1),
             _row("customer", 8.0, 18.0, "neutral", 0.0, 0.1), _row("customer", 20.0, 25.0, "happy", 0.8, 0.05)]
    metrics, reasons = call_emotion_summary(turns)
    assert metrics["customer_valence_start"] == -0.9 and metrics["customer_valence_end"] == 0.8
    assert metrics["customer_turnaround"] == pytest.approx(1.7)
    assert "customer_turnaround" not in reasons


def test_turnaround_is_null_with_a_reason_on_a_too_short_call():
    turns = [_row("customer", 0.0, 2.0, "angry", -0.9, 0.9), _row("agent", 2.0, 4.0, "neutral", 0.0, 0.1),
             _row("customer", 4.0, 6.0, "happy", 0.8, 0.05)]
    metrics, reasons = call_emotion_summary(turns)
    assert metrics["customer_turnaround"] is None and metrics["customer_valence_start"] is None
    assert "4.0 s in 2 scored turn(s)" in reasons["customer_turnaround"]
    assert metrics["agent_angry_share"] is None and "2.0 s of scored speech" in reasons["agent_angry_share"]
    assert metrics["peak_customer_anger"] == 0.9  # defined on any scored turn


def test_one_dominant_turn_gives_null_turnaround_not_zero():
    turns = [_row("customer", 0.0, 30.0, "angry", -0.9, 0.9), _row("customer", 31.0, 32.0, "neutral", 0.0, 0.1),
             _row("customer", 33.0, 34.0, "neutral", 0.0, 0.1)]  # midpoints at 15, 30.5, 31.5 of 32 s: none in the first third
    metrics, reasons = call_emotion_summary(turns)
    assert metrics["customer_turnaround"] is None and "one turn dominates" in reasons["customer_turnaround"]


def test_call_emotion_metrics_are_none_without_scored_turns():
    m = call_emotion_metrics([_row("agent", 0.0, 0.3, None, None, None)])
    assert set(m) == {"customer_valence_start", "customer_valence_end", "customer_turnaround", "customer_angry_share",
                      "agent_angry_share", "agent_valence_mean", "peak_customer_anger", "peak_customer_anger_s"}
    assert all(v is None for v in m.values())


def _parser():
    from analyzer.cli import make_parser

    return make_parser()


def test_emotion_help_says_multi_is_non_commercial(capsys):
    with pytest.raises(SystemExit):
        _parser().parse_args(["emotion", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "CC BY-NC-SA 4.0" in out and "non-commercial" in out.lower()


@needs_corpora
def test_emotion_command_prints_one_csv_row_per_file(capsys):
    files = [str(CORPORA / "emodb" / f"{n}.flac") for n in (ANGRY[0], NEUTRAL[0])]
    args = _parser().parse_args(["emotion", *files, "--model", "open"])
    assert args.func(args) == 0
    rows = list(csv.reader(capsys.readouterr().out.splitlines()))
    assert rows[0] == ["path", "label", "p_neutral", "p_happy", "p_angry", "p_sad", "arousal", "valence"]
    assert [r[0] for r in rows[1:]] == files
    assert rows[1][1] in LABELS and abs(sum(float(x) for x in rows[1][2:6]) - 1) < 1e-3


@needs_corpora
def test_training_smoke_on_a_tiny_subset_writes_a_loadable_model(tmp_path):
    data = tmp_path / "labels.csv"
    names = ANGRY[:2] + NEUTRAL[:2] + ["03a02Fc", "03a02Ta"]
    with open(data, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["path", "label", "speaker"])
        label = {"W": "angry", "N": "neutral", "F": "happy", "T": "sad"}
        for n in names:
            w.writerow([str(CORPORA / "emodb" / f"{n}.flac"), label[n[5]], n[:2]])
    args = _parser().parse_args(["train-emotion", "--data", str(data), "--base", "emotion-open-v1", "--out", str(tmp_path / "mine"),
                                 "--epochs", "1", "--augmented-copies", "1"])
    assert args.func(args) == 0
    model = load_model(str(tmp_path / "mine"))
    assert model.name == "mine" and model.licence == "CC0-1.0"
    assert "Fine-tuned from emotion-open-v1" in (tmp_path / "mine" / "MODEL_CARD.md").read_text()
    assert (tmp_path / "mine" / "functionals.json").exists()  # refit on the user's clips
    assert model.fused and model.network_weight == load_model(V1["open"]).network_weight
    assert model.predict([_read(names[0])[0]], 16000).shape == (1, 4)


def test_train_emotion_rejects_unknown_labels(tmp_path, capsys):
    data = tmp_path / "labels.csv"
    data.write_text("path,label\nx.wav,furious\ny.wav,neutral\n")
    args = _parser().parse_args(["train-emotion", "--data", str(data), "--out", str(tmp_path / "m")])
    assert args.func(args) == 1
    assert "not one of neutral, happy, angry, sad" in capsys.readouterr().err


@needs_corpora
@pytest.mark.parametrize("name", ["open", "multi"])
def test_fused_scores_use_the_functionals_part_and_are_normalised_and_deterministic(name):
    import dataclasses

    from analyzer.emotion.features import log_mel, peak_normalise, to_feature_rate
    from analyzer.emotion.functionals import functionals, fuse

    model = load_model(V1[name])
    network_only = dataclasses.replace(model, network_weight=1.0)
    names = ANGRY + NEUTRAL
    clips = [_read(n)[0] for n in names]
    speakers = [n[:2] for n in names]
    assert score_turns(model, clips, 16000, speakers) == score_turns(model, clips, 16000, speakers)
    _, fused, _ = turn_evidence(model, clips, 16000, speakers)  # the model's speaker-relative output, before the decision layer
    np.testing.assert_allclose(fused.sum(axis=1), 1.0, atol=1e-9)
    _, net, _ = turn_evidence(network_only, clips, 16000, speakers)
    assert np.max(np.abs(fused - net)) > 0.01  # the functionals part changes the probabilities
    # ... exactly by the documented rule: p_net^w * p_fun^(1-w), renormalised
    x8 = [to_feature_rate(peak_normalise(c), 16000) for c in clips]
    funcs = np.array([functionals(x, log_mel(x)) for x in x8])
    p_fun = model.functionals_classifier.predict_proba(funcs, speakers)
    np.testing.assert_allclose(fused, fuse(net, p_fun, model.network_weight), atol=1e-9)
    np.testing.assert_allclose(model.predict(clips, 16000, speakers=speakers), fused, atol=1e-6)  # clips shorter than a window


def test_functionals_are_finite_for_tones_noise_and_unvoiced_clips():
    from analyzer.emotion.functionals import N_FUNCTIONALS, functionals

    rng = np.random.default_rng(1)
    for clip in (_tone(2.0, 8000), 0.1 * rng.standard_normal(4000).astype(np.float32), _tone(0.3, 8000)):
        f = functionals(clip)
        assert f.shape == (N_FUNCTIONALS,) and np.all(np.isfinite(f))


def test_front_end_matches_librosa_log_mel():
    librosa = pytest.importorskip("librosa")
    from analyzer.emotion.features import log_mel

    x = np.random.default_rng(0).standard_normal(12345).astype(np.float32) * 0.1
    mel = librosa.filters.mel(sr=8000, n_fft=256, n_mels=40, fmin=250, fmax=3600)
    spec = np.abs(librosa.stft(x, n_fft=256, hop_length=80, win_length=200, center=True)) ** 2
    np.testing.assert_allclose(log_mel(x), np.log(mel @ spec + 1e-8).T, atol=1e-4)


def test_recording_gain_does_not_change_the_scores():
    model = load_model(V1["open"])
    clip = _tone(2.0)
    np.testing.assert_allclose(model.predict([clip], 16000), model.predict([0.05 * clip], 16000), atol=1e-6)


@pytest.mark.parametrize("name", ["open", "multi"])
def test_fast_inference_network_computes_the_trained_network(name):
    import torch

    from analyzer.emotion.net import as_input_layout

    model = load_model(V1[name])
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.normal(size=(5, 2, 40, 230)).astype(np.float32))
    n_frames = torch.tensor([230, 200, 120, 64, 31])
    with torch.inference_mode():
        trained_logits, trained_arousal = model.net(x, n_frames)
        fast_logits, fast_arousal = model.inference_net(as_input_layout(x), n_frames)
    assert not model.net.training and not model.inference_net.training
    np.testing.assert_allclose(fast_logits.numpy(), trained_logits.numpy(), atol=1e-4)
    np.testing.assert_allclose(fast_arousal.numpy(), trained_arousal.numpy(), atol=1e-4)


def test_a_clip_scores_the_same_alone_and_batched_with_others():
    """Padding must not leak: the same clip, alone or next to longer and shorter clips, gives bit-identical scores."""
    model = load_model("open")
    rng = np.random.default_rng(1)
    a = _tone(1.7)
    others = [(rng.standard_normal(int(16000 * d)) * 0.1).astype(np.float32) for d in (0.6, 3.3, 5.1)]
    # bit-identical for the CNN models (every window alone); a model whose head is one numpy matmul over all
    # windows (the encoder models' linear heads) may differ in the last float64 bit, hence the 1e-12 there
    atol = 1e-12 if getattr(model, "scores_audio", False) else 0.0
    alone = model.predict([a], 16000)[0]
    batched = model.predict([others[0], a, others[1], others[2]], 16000)[1]
    np.testing.assert_allclose(alone, batched, rtol=0, atol=atol)
    # in a call: a turn's score does not depend on the other speaker's turns scored with it
    solo = score_turns(model, [a, _tone(2.4)], 16000, ["agent", "agent"])
    mixed = score_turns(model, [others[1], a, others[2], _tone(2.4)], 16000, ["customer", "agent", "customer", "agent"])
    for one, other in ((solo[0], mixed[1]), (solo[1], mixed[3])):
        assert one["emotion_label"] == other["emotion_label"]
        np.testing.assert_allclose([one[k] for k in sorted(one) if k.startswith("p_")],
                                   [other[k] for k in sorted(other) if k.startswith("p_")], rtol=0, atol=atol)


def test_padded_batch_gives_each_item_its_unpadded_output():
    import torch

    from analyzer.emotion.features import log_mel, speaker_stats
    from analyzer.emotion.model import run_network

    model = load_model(V1["open"])  # the CNN's padding; the encoder models run each window alone on its real length
    rng = np.random.default_rng(2)
    feats = [log_mel((rng.standard_normal(int(8000 * d)) * 0.1).astype(np.float32)) for d in (0.7, 2.9, 4.0)]
    stats = speaker_stats(feats, None)
    one = run_network(model.inference_net, feats, stats, model.global_mean, model.global_std, batch_size=1)
    padded = run_network(model.inference_net, feats, stats, model.global_mean, model.global_std, batch_size=3)
    np.testing.assert_allclose(padded, one, atol=1e-6)  # was ~0.02 before the padding was masked per block
    assert torch.get_num_threads() >= 1


def test_decision_layer_prior_temperature_and_uncertain_label():
    p_rel = np.array([[0.1, 0.1, 0.7, 0.1], [0.3, 0.25, 0.25, 0.2]])
    p_abs = np.array([[0.1, 0.1, 0.7, 0.1], [0.3, 0.25, 0.25, 0.2]])
    p, labels, uncertain = decide(p_rel, p_abs, relative_weight=0.5, prior=(0.25,) * 4, temperature=1.0, uncertain_below=0.5,
                                  uncertain_angry_below=0.0)
    np.testing.assert_allclose(p, p_rel)  # equal evidence, flat prior, T = 1: unchanged
    assert list(labels) == [2, 0] and list(uncertain) == [False, True]  # the flat turn is "uncertain" -> neutral
    p2, _, _ = decide(p_rel, p_abs, relative_weight=0.5, prior=(0.7, 0.1, 0.1, 0.1), temperature=1.0, uncertain_below=0.0)
    assert p2[0, 0] > p_rel[0, 0] and p2[0, 2] < p_rel[0, 2]  # a neutral-heavy prior moves mass to neutral
    p3, _, _ = decide(p_rel, p_abs, relative_weight=0.5, prior=(0.25,) * 4, temperature=2.0, uncertain_below=0.0)
    assert p3[0].max() < p_rel[0].max()  # T > 1 softens
    p4, labels4, _ = decide(np.array([[0.1, 0.1, 0.7, 0.1]]), np.array([[0.7, 0.1, 0.1, 0.1]]), relative_weight=0.25,
                            prior=(0.25,) * 4, temperature=1.0, uncertain_below=0.0)
    assert labels4[0] == 0  # absolute evidence outweighs the speaker-relative one at weight 0.25


def test_an_angry_top_class_below_the_angry_floor_is_uncertain_neutral_with_its_probabilities_kept():
    p_rel = np.array([[0.1, 0.1, 0.65, 0.15], [0.05, 0.05, 0.85, 0.05], [0.1, 0.65, 0.15, 0.1]])
    p, labels, uncertain = decide(p_rel, p_rel, relative_weight=0.5, prior=(0.25,) * 4, temperature=1.0, uncertain_below=0.4,
                                  uncertain_angry_below=0.7)
    np.testing.assert_allclose(p, p_rel)  # probabilities (and so valence, p_angry) are not touched
    assert list(labels) == [0, 2, 1] and list(uncertain) == [True, False, False]  # only the weak *angry* top class abstains
    _, labels_off, _ = decide(p_rel, p_rel, relative_weight=0.5, prior=(0.25,) * 4, temperature=1.0, uncertain_below=0.4,
                              uncertain_angry_below=0.0)
    assert list(labels_off) == [2, 2, 1]


class _AudioModel:
    """A stand-in for a model that scores 16 kHz audio windows (the encoder models' public face)."""

    scores_audio = True
    fused = False

    def features(self, windows):
        return np.array([[np.sqrt(np.mean(w.astype(np.float64) ** 2)), w.size / 16000] for w in windows])

    def predict_pooled(self, x, speakers):
        if speakers is None:  # own judgement only: "neutral-ish"
            return np.tile([0.7, 0.1, 0.1, 0.1], (len(x), 1))
        return np.tile([0.1, 0.1, 0.7, 0.1], (len(x), 1))


def test_audio_window_models_give_both_kinds_of_evidence_to_the_decision_layer():
    clips = [_tone(0.3, 8000), _tone(2.0, 8000), _tone(9.0, 8000)]
    ids, p_rel, p_abs = turn_evidence(_AudioModel(), clips, 8000, ["agent", "agent", "agent"])
    assert ids == [1, 2]
    np.testing.assert_allclose(p_rel, [[0.1, 0.1, 0.7, 0.1]] * 2)
    np.testing.assert_allclose(p_abs, [[0.7, 0.1, 0.1, 0.1]] * 2)
    rows = score_turns(_AudioModel(), clips, 8000, ["agent"] * 3, relative_weight=0.25, prior=(0.25,) * 4,
                       temperature=1.0, uncertain_below=0.0)
    assert rows[0] is None and rows[1]["emotion_label"] == "neutral"  # absolute evidence outweighs at weight 0.25
