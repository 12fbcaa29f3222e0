"""A model folder's own decision layer (config.json ``decision``): how analyze resolves it and echoes it."""

from __future__ import annotations

import json
import shutil

import pytest
import soundfile as sf

from analyzer.config import DECISION_FIELDS, AnalysisConfig, EmotionConfig
from analyzer.emotion import load_model
from analyzer.emotion.model import MODELS_DIR
from analyzer.errors import ConfigError

OWN = {"relative_weight": 0.75, "prior": [0.55, 0.15, 0.15, 0.15], "temperature": 1.6, "uncertain_below": 0.5,
       "uncertain_angry_below": 0.8, "chosen_by": "a test"}


def test_decision_keys_are_the_declared_decision_fields():
    assert tuple(EmotionConfig().decision()) == DECISION_FIELDS


def test_a_models_decision_block_replaces_the_defaults_but_not_a_field_you_set():
    default = EmotionConfig().decision_for({"name": "m", "decision": OWN})
    assert default["relative_weight"] == 0.75 and default["prior"] == (0.55, 0.15, 0.15, 0.15)
    assert default["temperature"] == 1.6 and default["uncertain_below"] == 0.5 and default["uncertain_angry_below"] == 0.8
    assert default["absolute_reference"] == EmotionConfig().absolute_reference  # not in the block: the default
    mine = EmotionConfig(temperature=1.1).decision_for({"name": "m", "decision": OWN})
    assert mine["temperature"] == 1.1 and mine["uncertain_angry_below"] == 0.8


def test_without_decision_from_model_or_without_a_block_the_section_is_used_as_it_is():
    assert EmotionConfig(decision_from_model=False).decision_for({"decision": OWN}) == EmotionConfig().decision()
    assert EmotionConfig().decision_for({"name": "m"}) == EmotionConfig().decision()
    assert EmotionConfig().decision_for(None) == EmotionConfig().decision()


def test_an_invalid_decision_block_is_a_config_error_naming_the_model():
    with pytest.raises(ConfigError, match=r"emotion-x: config.json's decision block is invalid .*temperature"):
        EmotionConfig().decision_for({"name": "emotion-x", "decision": {"temperature": -1.0}})


@pytest.mark.parametrize("name", ["open", "multi"])
def test_shipped_decision_blocks_are_valid_and_used(name):
    config = load_model(name).config
    decision = EmotionConfig().decision_for(config)  # raises on an invalid block
    for key, value in (config.get("decision") or {}).items():
        if key in DECISION_FIELDS:
            assert decision[key] == (tuple(value) if key == "prior" else value)


def test_analyze_scores_with_the_model_folders_decision_layer_and_echoes_it(tmp_path, speech_clips):
    from analyzer.pipeline import analyze_file
    from conftest import two_party_stereo

    folder = tmp_path / "own-decision"
    shutil.copytree(MODELS_DIR / "emotion-open-v2", folder)
    config = json.loads((folder / "config.json").read_text())
    config["decision"] = {"uncertain_below": 1.0}  # no probability reaches 1: every scored turn is uncertain
    (folder / "config.json").write_text(json.dumps(config))
    stereo, _ = two_party_stereo(speech_clips[:3], speech_clips[3:6])
    wav = tmp_path / "call.wav"
    sf.write(wav, stereo, 16000)
    own = analyze_file(wav, AnalysisConfig().replace(emotion={"model": str(folder)})).to_dict()
    scored = [t for t in own["turns"] if t["emotion_label"] is not None]
    assert scored and all(t["emotion_uncertain"] and t["emotion_label"] == "neutral" for t in scored)
    assert own["emotion"]["decision"]["uncertain_below"] == 1.0
    assert own["emotion"]["decision"]["prior"] == list(EmotionConfig().prior)  # the rest: analyzer/config.py's
    plain = analyze_file(wav, AnalysisConfig().replace(emotion={"model": str(folder), "decision_from_model": False})).to_dict()
    assert plain["emotion"]["decision"]["uncertain_below"] == EmotionConfig().uncertain_below
    assert not all(t["emotion_uncertain"] for t in plain["turns"] if t["emotion_label"] is not None)


def test_a_fine_tuned_folder_keeps_its_bases_decision_block(tmp_path):
    from analyzer.emotion.train.encoder_heads import save_encoder_model_folder

    base = load_model("open")
    out = save_encoder_model_folder(tmp_path / "tuned", name="tuned", licence=base.licence, layer=base.layer, int8=True,
                                    relative=base.relative, absolute=base.absolute, relative_weight=base.relative_weight,
                                    training={}, card="# tuned\n", decision=OWN)
    assert EmotionConfig().decision_for(load_model(str(out)).config)["temperature"] == 1.6


def _tune_oof():
    """scripts/tune_emotion_decision_oof.py as a module."""
    import importlib.util
    import sys
    from pathlib import Path

    scripts = Path(__file__).resolve().parents[1] / "scripts"
    sys.path.insert(0, str(scripts))
    try:
        spec = importlib.util.spec_from_file_location("tune_oof", scripts / "tune_emotion_decision_oof.py")
        tune = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(tune)
    finally:
        sys.path.remove(str(scripts))
    return tune


def test_tuning_script_caches_call_features_per_pooled_layout_so_v2_and_v3_never_share_them():
    tune = _tune_oof()
    v2, v3 = load_model("emotion-multi-v2"), load_model("emotion-multi-v3")
    assert tune.pooled_layout(v2)["blocks"] == [2] and tune.pooled_layout(v2)["stats"] == ["mean", "std"]
    assert tune.pooled_layout(v3)["blocks"] == [1, 2] and tune.pooled_layout(v3)["stats"] == ["mean"]
    assert tune.pooled_layout(v2)["sha256"] == tune.pooled_layout(v3)["sha256"]  # same encoder, different features
    assert tune.calls_cache_key(v2, []) != tune.calls_cache_key(v3, [])
    assert tune.calls_cache_key(v3, []) == tune.calls_cache_key(load_model("emotion-multi-v3"), [])


def test_tuning_script_refits_heads_on_the_training_blocks_and_refuses_a_folder_whose_layouts_disagree():
    import dataclasses
    import copy

    tune = _tune_oof()
    v3 = load_model("emotion-multi-v3")
    assert tune.head_recipe(v3) == {"layer": 2, "int8": True, "blocks": (1, 2), "stats": ("mean",)}
    assert tune.head_recipe(load_model("emotion-multi-v2"))["blocks"] == (2,)  # v2: no blocks key, the one layer
    config = copy.deepcopy(v3.config)
    config["training"]["stats"] = ["mean", "std"]
    with pytest.raises(SystemExit, match="disagree"):
        tune.head_recipe(dataclasses.replace(v3, config=config))


def test_tuning_script_writes_the_cards_decision_section_once_and_replaces_it_on_a_rerun():
    tune = _tune_oof()
    card = "# m\n\n## Metrics\n\nx\n\n## Intended use\n\ny\n"
    row = {"uar": 0.8, "false_angry": 0.01, "angry_recall": 0.9}
    once = tune.with_decision_section(card, {"temperature": 1.5, "chosen_by": "t"}, row, "multi")
    assert once.index("## Decision layer") < once.index("## Intended use") and "`temperature` = 1.5" in once
    again = tune.with_decision_section(once, {"temperature": 1.2}, row, "multi")
    assert again.count("## Decision layer") == 1 and "`temperature` = 1.2" in again and "= 1.5" not in again
    assert tune.with_decision_section(again, {"temperature": 1.2}, row, "multi") == again
