"""`call-analyzer config --defaults` / `--show`: every key commented (meaning, unit, range), valid
TOML that --config reads back to the same configuration and the same analysis results."""

import json
import tomllib

import pytest
import soundfile as sf

from analyzer.cli import main
from analyzer.config import AnalysisConfig, from_dict, load_config
from analyzer.config_toml import undocumented_fields
from conftest import SAMPLE_CALL

VOLATILE = ("timings_s", "analysed_at")


def _defaults_text(capsys) -> str:
    assert main(["config", "--defaults"]) == 0
    return capsys.readouterr().out


def test_defaults_are_valid_toml_equal_to_the_built_in_config(capsys):
    text = _defaults_text(capsys)
    config = from_dict(tomllib.loads(text))
    assert config == AnalysisConfig() and config.digest() == AnalysisConfig().digest()
    sections = [line for line in text.splitlines() if line.startswith("[")]
    assert sections == ["[audio]", "[vad]", "[turns]", "[prosody]", "[emotion]", "[qa]", "[diarization]", "[asr]"]


def test_every_key_has_a_comment_with_its_meaning_unit_and_range(capsys):
    assert undocumented_fields() == []
    lines = _defaults_text(capsys).splitlines()
    keys = [k for k, line in enumerate(lines) if " = " in line and not line.startswith("#")]
    assert len(keys) == sum(len(section) for section in AnalysisConfig().to_dict().values())
    for k in keys:
        comment = lines[k - 1]
        assert comment.startswith("# ") and "allowed:" in comment, lines[k]
    dead_air = lines[next(k for k in keys if lines[k].startswith("dead_air_s ="))- 1]
    assert "dead-air event" in dead_air and "unit: seconds" in dead_air and "> 0 and <= 3600" in dead_air


def test_show_prints_the_effective_config_marking_changed_keys(tmp_path, capsys):
    mine = tmp_path / "my.toml"
    mine.write_text("[turns]\ndead_air_s = 8.0\n[vad]\nbackend = \"silero\"\n")
    assert main(["config", "--show", "--config", str(mine)]) == 0
    text = capsys.readouterr().out
    assert "dead_air_s = 8.0  # default: 5.0" in text and 'backend = "silero"  # default: "webrtc"' in text
    assert from_dict(tomllib.loads(text)) == load_config(mine)


def test_show_of_a_bad_config_names_the_key_value_and_range(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[turns]\ndead_air_s = "eight"\n')
    assert main(["config", "--show", "--config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "dead_air_s" in err and "'eight'" in err and "allowed:" in err and "Traceback" not in err


def test_defaults_fed_back_through_config_give_identical_results(tmp_path, capsys):
    audio, rate = sf.read(SAMPLE_CALL, frames=25 * 8000)
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "call.wav", audio, rate)
    defaults = tmp_path / "defaults.toml"
    defaults.write_text(_defaults_text(capsys))
    common = [str(tmp_path / "in"), "--no-emotion", "--no-html", "--quiet"]
    assert main(["analyze", *common, "--out", str(tmp_path / "plain")]) == 0
    assert main(["analyze", *common, "--out", str(tmp_path / "configured"), "--config", str(defaults)]) == 0

    def stored(out):
        data = json.loads((out / "calls" / "call.json").read_text())
        return {k: v for k, v in data.items() if k not in VOLATILE}

    plain, configured = stored(tmp_path / "plain"), stored(tmp_path / "configured")
    assert plain["params_digest"] == configured["params_digest"]
    assert plain == configured
    assert (tmp_path / "plain" / "calls.csv").read_text() == (tmp_path / "configured" / "calls.csv").read_text()


@pytest.mark.parametrize("argv", [["config"], ["config", "--defaults", "--show"]])
def test_config_needs_exactly_one_of_defaults_or_show(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code != 0
