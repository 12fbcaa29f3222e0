"""Bad input: each file gives one clear line in errors.csv naming it, and the batch goes on."""

import csv

import numpy as np
import pytest
import soundfile as sf

from analyzer.batch import analyze_files
from analyzer.cli import main


@pytest.fixture
def bad_folder(tmp_path, speech_clips):
    from conftest import two_party_stereo

    folder = tmp_path / "calls"
    folder.mkdir()
    good, _ = two_party_stereo(speech_clips[:2], speech_clips[3:5])
    sf.write(folder / "good.wav", good * 0.5, 16000)
    (folder / "empty.wav").write_bytes(b"")
    full = folder / "full.wav"
    sf.write(full, good * 0.5, 16000)
    (folder / "truncated.wav").write_bytes(full.read_bytes()[:30])
    (folder / "notes.wav").write_text("this is a text file renamed to .wav\n" * 20)
    sf.write(folder / "zero_length.wav", np.zeros((0, 2), np.float32), 16000)
    sf.write(folder / "silence.wav", np.zeros((16000 * 5, 2), np.float32), 16000)
    sf.write(folder / "six_channels.wav", np.zeros((16000, 6), np.float32), 16000)
    nan = good[: 16000 * 3].copy() * 0.5
    nan[5000:5100] = np.nan
    sf.write(folder / "nan.wav", nan, 16000, subtype="FLOAT")
    sf.write(folder / "too_short.wav", good[:800] * 0.5, 16000)
    full.unlink()
    return folder


EXPECTED_REASONS = {
    "empty": "empty",
    "truncated": "not a readable audio file",
    "notes": "not a readable audio file",
    "zero_length": "zero length",
    "silence": "no speech",
    "six_channels": "6 channels",
    "nan": "NaN",
    "too_short": "at least",
}


def test_each_bad_file_gets_one_clear_line_and_the_good_call_is_analysed(bad_folder, tmp_path, fast_config):
    out = tmp_path / "out"
    summary = analyze_files([bad_folder], fast_config, out_dir=out, progress=False)
    assert summary.analysed == ["good"]
    assert summary.exit_code == 2
    with open(out / "errors.csv", newline="") as handle:
        rows = {row["call_id"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(EXPECTED_REASONS)
    for call_id, fragment in EXPECTED_REASONS.items():
        reason = rows[call_id]["reason"]
        assert fragment in reason, (call_id, reason)
        assert "\n" not in reason and "Traceback" not in reason
        assert str(bad_folder / f"{call_id}.wav") in reason, "the reason names the file"
    assert (out / "calls" / "good.json").exists()


def test_cli_exit_code_is_2_when_some_files_fail_and_prints_no_traceback(bad_folder, tmp_path, capsys):
    code = main(["analyze", str(bad_folder), "--out", str(tmp_path / "o"), "--no-emotion", "--quiet", "--no-html"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert "error: " in err and "8 failed" in err


def test_cli_exit_code_is_0_when_all_files_succeed(bad_folder, tmp_path):
    code = main(["analyze", str(bad_folder / "good.wav"), "--out", str(tmp_path / "o"), "--no-emotion", "--quiet"])
    assert code == 0


def test_bad_config_value_is_one_line_error_with_exit_code_1(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[vad]\nbackend = 'magic'\n")
    code = main(["analyze", str(tmp_path), "--out", str(tmp_path / "o"), "--config", str(cfg)])
    err = capsys.readouterr().err
    assert code == 1
    assert "vad backend must be 'webrtc' or 'silero'" in err and str(cfg) in err


def test_unknown_config_key_names_the_key(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[turns]\ndead_air = 3\n")
    assert main(["analyze", str(tmp_path), "--out", str(tmp_path / "o"), "--config", str(cfg)]) == 1
    assert "dead_air" in capsys.readouterr().err


def test_missing_input_path_is_reported_not_crashing(tmp_path, fast_config):
    summary = analyze_files([tmp_path / "nope.wav"], fast_config, out_dir=tmp_path / "o", progress=False)
    assert summary.errors and "file not found" in summary.errors[0]["reason"]
