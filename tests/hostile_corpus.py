"""A corpus of broken and odd recordings, built on demand (issue 7).

:func:`build` writes every case into a folder and returns the cases; each
case says what a user must get: a result (``expect="ok"``, optionally with a
warning fragment) or a one-line error containing ``expect`` (a fragment of
the reason). ``tests/test_hostile_inputs.py`` runs the corpus through the
batch runner; ``scripts/hostile_report.py`` prints the README table.

Nothing large is held in memory: the 10-hour file is a WAV header followed
by a sparse (never written) data area, so it costs no disk and no RAM.
"""

from __future__ import annotations

import io
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

OK = "ok"


@dataclass(frozen=True)
class HostileCase:
    """One file of the corpus and the outcome a user must see."""

    name: str  # file name inside the corpus folder
    description: str  # what is odd about it, for the README table
    expect: str  # "ok" or a fragment of the one-line error reason
    warning: str | None = None  # for "ok": a fragment one of the result's warnings must contain
    make: Callable[[Path, "Sources"], None] | None = None


@dataclass(frozen=True)
class Sources:
    """Real speech to build calls from: a two-party stereo call at 16 kHz (float32, shape (n, 2))."""

    call: np.ndarray
    rate: int = 16000


def wav_header(*, channels: int, rate: int, bits: int, n_data_bytes: int, fmt_tag: int = 1) -> bytes:
    """A canonical 44-byte RIFF/WAVE header; every field as given, even when it lies."""
    block_align = channels * bits // 8
    return (
        b"RIFF" + struct.pack("<I", (36 + n_data_bytes) & 0xFFFFFFFF) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, fmt_tag, channels, rate, rate * block_align, block_align, bits)
        + b"data" + struct.pack("<I", n_data_bytes & 0xFFFFFFFF)
    )


def _pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def _encoded(call: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, call, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def _write_sf(path: Path, data: np.ndarray, rate: int, **kwargs) -> None:
    sf.write(str(path), data, rate, **kwargs)


def _short_call(src: Sources, seconds: float = 20.0) -> np.ndarray:
    return src.call[: int(seconds * src.rate)]


def _png_bytes() -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [0, 1])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _ten_hour_sparse(path: Path, src: Sources) -> None:
    """10 h of 8 kHz stereo 16-bit: a real header, a minute of speech, then a sparse hole of zeros."""
    rate, hours = 8000, 10
    n_bytes = rate * 3600 * hours * 2 * 2
    import soxr

    speech = soxr.resample(src.call[: 60 * src.rate], src.rate, rate).astype(np.float32).reshape(-1)
    with open(path, "wb") as handle:
        handle.write(wav_header(channels=2, rate=rate, bits=16, n_data_bytes=n_bytes))
        handle.write(_pcm16(speech))
        handle.truncate(44 + n_bytes)  # the rest is a hole: reads as zeros, stored as nothing


def _zero_channel_wav(path: Path, src: Sources) -> None:
    path.write_bytes(wav_header(channels=0, rate=16000, bits=16, n_data_bytes=32000) + bytes(32000))


def _zero_rate_wav(path: Path, src: Sources) -> None:
    data = _pcm16(_short_call(src, 5).mean(axis=1))
    path.write_bytes(wav_header(channels=1, rate=0, bits=16, n_data_bytes=len(data)) + data)


def _header_too_long(path: Path, src: Sources) -> None:
    """Header claims 10x the data that follows (a recorder killed mid-call)."""
    data = _pcm16(_short_call(src).reshape(-1))
    path.write_bytes(wav_header(channels=2, rate=src.rate, bits=16, n_data_bytes=len(data) * 10) + data)


def _header_too_short(path: Path, src: Sources) -> None:
    """Header claims half of the data that follows."""
    data = _pcm16(_short_call(src).reshape(-1))
    path.write_bytes(wav_header(channels=2, rate=src.rate, bits=16, n_data_bytes=len(data) // 2) + data)


def _header_streaming(path: Path, src: Sources) -> None:
    """Length fields 0xFFFFFFFF, as streaming recorders write before they know the size."""
    data = _pcm16(_short_call(src).reshape(-1))
    path.write_bytes(wav_header(channels=2, rate=src.rate, bits=16, n_data_bytes=0xFFFFFFFF) + data)


def _header_wrong_rate(path: Path, src: Sources) -> None:
    """16 kHz samples under a header that says 8 kHz: plays at half speed; nothing in the file can tell."""
    data = _pcm16(_short_call(src).reshape(-1))
    path.write_bytes(wav_header(channels=2, rate=8000, bits=16, n_data_bytes=len(data)) + data)


def _truncate(fmt: str, subtype: str | None, keep: float | int) -> Callable[[Path, Sources], None]:
    def make(path: Path, src: Sources) -> None:
        encoded = _encoded(_short_call(src), src.rate, fmt, subtype)
        cut = keep if isinstance(keep, int) else int(len(encoded) * keep)
        path.write_bytes(encoded[:cut])

    return make


def _renamed(fmt: str, subtype: str | None = None) -> Callable[[Path, Sources], None]:
    def make(path: Path, src: Sources) -> None:
        path.write_bytes(_encoded(_short_call(src), src.rate, fmt, subtype))

    return make


def _array(build: Callable[[Sources], np.ndarray], rate: int | Callable[[Sources], int] = 16000, **kwargs):
    def make(path: Path, src: Sources) -> None:
        _write_sf(path, build(src), rate(src) if callable(rate) else rate, **kwargs)

    return make


def _resampled(rate: int) -> Callable[[Sources], np.ndarray]:
    def build(src: Sources) -> np.ndarray:
        import soxr

        return soxr.resample(_short_call(src), src.rate, rate).astype(np.float32)

    return build


def _with_value(value: float) -> Callable[[Sources], np.ndarray]:
    def build(src: Sources) -> np.ndarray:
        call = _short_call(src, 5).copy()
        call[1000:1100] = value
        return call

    return build


def _square(src: Sources) -> np.ndarray:
    t = np.arange(src.rate * 10) / src.rate
    wave = np.sign(np.sin(2 * math.pi * 440 * t)).astype(np.float32)
    return np.stack([wave, wave], axis=1)


def _one_party(src: Sources) -> np.ndarray:
    call = _short_call(src).copy()
    call[:, 1] = 0.0
    return call


def _dc_and_clipping(src: Sources) -> np.ndarray:
    return np.clip(_short_call(src) * 8 + 0.3, -1, 1).astype(np.float32)


def _white_noise(src: Sources) -> np.ndarray:
    return (np.random.default_rng(0).normal(0, 0.3, (src.rate * 10, 2))).astype(np.float32)


def _mono(src: Sources) -> np.ndarray:
    return _short_call(src).sum(axis=1) * 0.7


CASES: tuple[HostileCase, ...] = (
    HostileCase("zero_bytes.wav", "zero bytes", "empty (0 bytes)",
                make=lambda p, s: p.write_bytes(b"")),
    HostileCase("header_only.wav", "WAV cut inside its 44-byte header", "not a readable audio file",
                make=_truncate("WAV", "PCM_16", 30)),
    HostileCase("no_data.wav", "valid WAV header, zero samples", "zero length",
                make=lambda p, s: p.write_bytes(wav_header(channels=2, rate=16000, bits=16, n_data_bytes=0))),
    HostileCase("header_too_long.wav", "header claims 10x the data present (recorder killed)", OK,
                make=_header_too_long),
    HostileCase("header_too_short.wav", "header claims half the data present", OK, make=_header_too_short),
    HostileCase("header_streaming.wav", "length fields 0xFFFFFFFF (streaming recorder)", OK,
                make=_header_streaming),
    HostileCase("header_wrong_rate.wav", "16 kHz audio under an 8 kHz header", OK, make=_header_wrong_rate),
    HostileCase("header_rate_zero.wav", "header sample rate 0 Hz", "not a readable audio file",
                make=_zero_rate_wav),
    HostileCase("zero_channels.wav", "header with 0 channels", "not a readable audio file",
                make=_zero_channel_wav),
    HostileCase("six_channels.wav", "6 channels", "6 channels",
                make=_array(lambda s: np.zeros((16000, 6), np.float32))),
    HostileCase("rate_1hz.wav", "1 Hz sample rate", "sample rate 1 Hz",
                make=_array(lambda s: np.zeros((100, 2), np.float32), rate=1)),
    HostileCase("rate_384k.wav", "384 kHz sample rate (a real call, resampled)", OK,
                make=_array(_resampled(384000), rate=384000)),
    HostileCase("rate_8k_ulaw.wav", "8 kHz mu-law telephone WAV", OK,
                make=_array(_resampled(8000), rate=8000, subtype="ULAW")),
    HostileCase("pcm_u8.wav", "8-bit unsigned PCM", OK, make=_array(_short_call, subtype="PCM_U8")),
    HostileCase("pcm_24.wav", "24-bit PCM", OK, make=_array(_short_call, subtype="PCM_24")),
    HostileCase("truncated_header.flac", "FLAC cut after 100 bytes", "not a readable audio file",
                make=_truncate("FLAC", None, 100)),
    HostileCase("truncated_half.flac", "FLAC cut in the middle of the audio", OK,
                make=_truncate("FLAC", None, 0.5)),
    HostileCase("truncated_header.mp3", "MP3 cut after 100 bytes", "not a readable audio file",
                make=_truncate("MP3", None, 100)),
    HostileCase("truncated_half.mp3", "MP3 cut in the middle of the audio", OK,
                make=_truncate("MP3", None, 0.5)),
    HostileCase("truncated_header.ogg", "OGG Vorbis cut after 100 bytes", "not a readable audio file",
                make=_truncate("OGG", "VORBIS", 100)),
    HostileCase("truncated_half.ogg", "OGG Vorbis cut in the middle of the audio", OK,
                make=_truncate("OGG", "VORBIS", 0.5)),
    HostileCase("flac_named.wav", "FLAC file with a .wav extension", OK, make=_renamed("FLAC")),
    HostileCase("ogg_named.mp3", "OGG file with a .mp3 extension", OK, make=_renamed("OGG", "VORBIS")),
    HostileCase("text_named.wav", "text file renamed .wav", "not a readable audio file",
                make=lambda p, s: p.write_text("call notes: customer asked for a refund\n" * 50)),
    HostileCase("image_named.wav", "PNG image renamed .wav", "not a readable audio file",
                make=lambda p, s: p.write_bytes(_png_bytes())),
    HostileCase("riff_garbage.wav", "'RIFF....WAVE' then random bytes", "not a readable audio file",
                make=lambda p, s: p.write_bytes(b"RIFF\x00\x10\x00\x00WAVE" + np.random.default_rng(1).bytes(4096))),
    HostileCase("random_bytes.mp3", "64 KiB of random bytes named .mp3", "not a readable audio file",
                make=lambda p, s: p.write_bytes(np.random.default_rng(2).bytes(65536))),
    HostileCase("all_zeros.wav", "10 s of digital silence", "no speech",
                make=_array(lambda s: np.zeros((160000, 2), np.float32))),
    HostileCase("square_wave.wav", "full-scale 440 Hz square wave, 10 s", "no speech", make=_array(_square)),
    HostileCase("white_noise.wav", "loud white noise only, 10 s", "no speech", make=_array(_white_noise)),
    HostileCase("nan.wav", "float WAV with NaN samples", "NaN",
                make=_array(_with_value(float("nan")), subtype="FLOAT")),
    HostileCase("inf.wav", "float WAV with infinite samples", "infinite",
                make=_array(_with_value(float("inf")), subtype="FLOAT")),
    HostileCase("blip_0.05s.wav", "a 0.05 s call", "at least",
                make=_array(lambda s: _short_call(s, 0.05))),
    HostileCase("one_party.wav", "stereo call where only the left party speaks", OK,
                warning="no speech found on the customer channel", make=_array(_one_party)),
    HostileCase("dc_clipped.wav", "call with a large DC offset, clipped at full scale", OK,
                make=_array(_dc_and_clipping)),
    HostileCase("mono_mixed.wav", "mono (both parties mixed)", OK, make=_array(_mono)),
    HostileCase("ten_hours.wav", "10-hour WAV (1 min of speech, then silence; sparse file)", OK,
                make=_ten_hour_sparse),
    HostileCase("name with\nnewline;=cmd().wav", "file name with a newline and a formula", OK,
                make=_array(_short_call)),
)


def build(folder: Path, sources: Sources, *, skip: tuple[str, ...] = ()) -> list[HostileCase]:
    """Write every case (except ``skip``) into ``folder``; returns the cases written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for case in CASES:
        if case.name in skip:
            continue
        case.make(folder / case.name, sources)
        written.append(case)
    # a symlink loop in the tree: scanning must not hang or follow it
    loop = folder / "loop"
    loop.mkdir(exist_ok=True)
    if not (loop / "again").is_symlink():
        os.symlink("..", loop / "again")
    return written


def load_sources(corpora: Path) -> Sources:
    """A 60 s two-party stereo call from real EmoDB sentences, alternating speakers with 0.5 s gaps."""
    rate = 16000
    left = sorted((corpora / "emodb").glob("03*.flac"))
    right = sorted((corpora / "emodb").glob("08*.flac"))
    call = np.zeros((rate * 62, 2), np.float32)
    t = int(0.5 * rate)
    for a, b in zip(left, right):
        for file, ch in ((a, 0), (b, 1)):
            clip = sf.read(file, dtype="float32")[0]
            if t + len(clip) > len(call):
                return Sources(call * 0.5, rate)
            call[t : t + len(clip), ch] = clip
            t += len(clip) + rate // 2
    return Sources(call * 0.5, rate)


def result_for(out_dir: Path, file_name: str) -> dict:
    """The stored result of the corpus file ``file_name``."""
    from analyzer.outputs.writers import iter_call_results

    for result in iter_call_results(out_dir):
        if Path(result["path"]).name == file_name:
            return result
    raise KeyError(file_name)


def outcomes(out_dir: Path) -> dict[str, tuple[str, str]]:
    """What a batch run over the corpus produced, per file name: ("ok", warnings) or ("error", reason)."""
    import csv

    from analyzer.outputs.writers import iter_call_results

    found: dict[str, tuple[str, str]] = {
        Path(result["path"]).name: ("ok", "; ".join(result["warnings"])) for result in iter_call_results(out_dir)
    }
    with open(out_dir / "errors.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            found[Path(row["path"]).name] = ("error", row["reason"])
    return found
