"""Hostile settings are refused before any audio is read: exit 1 and one line naming the file, the key,
the value and the allowed range (config validated with pydantic against analyzer.config.LIMITS; rules
files bounded in analyzer.qa)."""

from __future__ import annotations

import dataclasses

import pytest

import analyzer.batch
from analyzer.cli import main
from analyzer.config import _SECTIONS, LIMITS, AnalysisConfig, from_dict, validate_section

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
rules:
  - id: x
    type: dead_air
    max_s: 5
    message: *i
"""

RULE = '[[rules]]\nid = "dead"\ntype = "dead_air"\nmax_s = 5\n'


@pytest.fixture
def no_audio(monkeypatch, tmp_path):
    """Fail the test if the batch gets as far as looking for audio files."""
    def touched(*args, **kwargs):
        raise AssertionError("the batch started before the settings were checked")

    monkeypatch.setattr(analyzer.batch, "discover", touched)
    (tmp_path / "in").mkdir()
    return tmp_path


def _refused(tmp_path, capsys, *flags: str) -> str:
    out = tmp_path / "out"
    code = main(["analyze", str(tmp_path / "in"), "--out", str(out), "--no-emotion", "--quiet", *flags])
    err = capsys.readouterr().err.strip()
    assert code == 1, err
    assert len(err.splitlines()) == 1, err
    assert not out.exists(), "nothing written before the check"
    return err


@pytest.mark.parametrize("toml,fragments", [
    ('[vad]\nmin_speech_s = "0.15"\n', ["[vad] min_speech_s = '0.15'", "valid number", "within 0..10"]),
    ('[turns]\ndead_air_s = "eight"\n', ["[turns] dead_air_s = 'eight'", "valid number", "> 0 and <= 3600"]),
    ("audio = 5\n", ["[audio] must be a table", "audio = 5"]),
    ("[vad]\nenergy_floor_db = nan\n", ["[vad] energy_floor_db = nan", "finite", "within 0..120"]),
    ("[prosody]\npitch_step_s = 1e-6\n", ["[prosody] pitch_step_s = 1e-06", "within 0.005..0.1"]),
    ("[vad]\nedge_extension_s = 1e12\n", ["[vad] edge_extension_s = 1000000000000.0", "within 0..5"]),
    ("[turns]\ndead_air_s = 0\n", ["[turns] dead_air_s = 0", "greater than 0", "> 0 and <= 3600"]),
    ("[turns]\nhold_s = -1\n", ["[turns] hold_s = -1", "greater than 0"]),
    ("[turns]\ninterruption_min_overlap_s = -0.2\n", ["[turns] interruption_min_overlap_s = -0.2", "> 0"]),
    ("[turns]\ndead_air_s = 30\nhold_s = 20\n", ["dead_air_s = 30 is above hold_s = 20"]),
    ("[vad]\ncrosstalk = 1\n", ["[vad] crosstalk = 1", "valid boolean", "true or false"]),
])
def test_hostile_config_values_exit_1_with_one_line_naming_file_key_value_and_range(no_audio, capsys, toml, fragments):
    config = no_audio / "hostile.toml"
    config.write_text(toml)
    err = _refused(no_audio, capsys, "--config", str(config))
    assert err.startswith(f"error: {config}: ")
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def test_every_bad_value_of_a_config_file_is_listed_one_line_each(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text('[vad]\nmin_speech_s = "0.15"\nenergy_floor_db = nan\n[turns]\nhold_s = -1\n')
    assert main(["analyze", str(tmp_path), "--out", str(tmp_path / "o"), "--config", str(config)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith(f"error: {config}: [") for line in lines)


def test_missing_rules_file_is_refused_before_any_call(no_audio, capsys):
    err = _refused(no_audio, capsys, "--rules", "/nonexistent.toml")
    assert "/nonexistent.toml: rules file not found" in err


def test_yaml_rules_with_exploding_aliases_are_refused(no_audio, capsys):
    rules = no_audio / "laughs.yaml"
    rules.write_text(BILLION_LAUGHS)
    err = _refused(no_audio, capsys, "--rules", str(rules))
    assert str(rules) in err and "billion laughs" in err


@pytest.mark.parametrize("extra,fragments", [
    ('message = "{value:>20000000}"\n', ["rule 'dead'", "too wide", "up to 64"]),
    ('message = "' + "x" * 600 + '"\n', ["rule 'dead'", "600 characters", "at most 500"]),
    ("weight = 1e308\n", ["rule 'dead'", "weight must be a positive number, got 1e+308", "<= 1000"]),
    ("weight = inf\n", ["rule 'dead'", "weight must be a positive number, got inf"]),
])
def test_hostile_rules_values_are_refused_naming_rule_key_and_limit(no_audio, capsys, extra, fragments):
    rules = no_audio / "rules.toml"
    rules.write_text(RULE + extra)
    err = _refused(no_audio, capsys, "--rules", str(rules))
    assert f"{rules}, line " in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def test_unknown_emotion_model_is_refused_before_any_call(no_audio, capsys):
    out = no_audio / "out"
    assert main(["analyze", str(no_audio / "in"), "--out", str(out), "--emotion-model", "/no/such/model"]) == 1
    assert "emotion model '/no/such/model' not found" in capsys.readouterr().err and not out.exists()


def test_defaults_are_within_their_own_limits_and_every_limit_names_a_real_key():
    defaults = AnalysisConfig().to_dict()
    for section, values in defaults.items():
        assert validate_section(section, {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}) == []
    for section, limits in LIMITS.items():
        names = {f.name for f in dataclasses.fields(_SECTIONS[section])}
        assert set(limits) <= names, (section, set(limits) - names)
    assert from_dict(defaults) == AnalysisConfig()
