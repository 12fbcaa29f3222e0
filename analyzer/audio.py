"""Reading call audio: probe, then stream fixed-size blocks at the analysis rate.

This is the only module (with the writers) that touches files. Audio is
never loaded whole: :func:`iter_blocks` yields blocks of ``block_s`` seconds,
already resampled to the analysis rate (8 kHz input stays 8 kHz, anything
else goes to 16 kHz), as float32 arrays of shape ``(n_samples, n_channels)``.

soundfile (libsndfile) reads WAV (PCM, float, mu-law, A-law), FLAC, OGG
Vorbis, Opus and MP3 directly; anything else is decoded by an ``ffmpeg``
subprocess when ffmpeg is installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
import soxr

from .config import AudioConfig
from .errors import AudioError

MIN_RATE_HZ = 8000
MAX_RATE_HZ = 384000
READ_FRAMES = 1 << 15  # source frames per read: small, so memory stays bounded at any rate and a
# damaged file loses at most one read's worth of audio before the damage
TELEPHONE_RATE_HZ = 8000
WIDEBAND_RATE_HZ = 16000


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, before any decoding of samples."""

    path: str
    sample_rate_hz: int
    n_channels: int
    n_samples: int
    format: str
    subtype: str
    decoder: str  # "soundfile" or "ffmpeg"

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate_hz

    @property
    def analysis_rate_hz(self) -> int:
        return analysis_rate_for(self.sample_rate_hz)


def analysis_rate_for(sample_rate_hz: int) -> int:
    """8 kHz telephone audio is analysed at 8 kHz (never upsampled); all else at 16 kHz."""
    return TELEPHONE_RATE_HZ if sample_rate_hz <= TELEPHONE_RATE_HZ else WIDEBAND_RATE_HZ


def probe(path: str | Path, *, min_duration_s: float = AudioConfig.min_duration_s) -> AudioInfo:
    """Read a file's header and check it is a call we can analyse.

    Raises :class:`AudioError` with a one-line reason for empty, truncated,
    non-audio, too short, or unsupported (rate, channels) files.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError("file not found", path=str(path))
    if path.is_dir():
        raise AudioError("is a folder, not an audio file", path=str(path))
    size = path.stat().st_size
    if size == 0:
        raise AudioError("file is empty (0 bytes)", path=str(path))
    try:
        with sf.SoundFile(str(path)) as handle:
            info = AudioInfo(
                str(path), int(handle.samplerate), int(handle.channels), int(handle.frames),
                handle.format, handle.subtype, "soundfile",
            )
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        info = _probe_ffmpeg(path, soundfile_reason=_clean_sf_error(exc))
    _check(info, min_duration_s=min_duration_s)
    return info


def _clean_sf_error(exc: Exception) -> str:
    text = str(exc)
    if "Error opening" in text and ":" in text:
        text = text.rsplit(":", 1)[-1].strip()
    if "not a regular file" in text:  # libsndfile's words when its MP3 decoder finds no frame in a regular file
        text = "no audio frames found"
    return text.rstrip(".") or exc.__class__.__name__


def _check(info: AudioInfo, *, min_duration_s: float) -> None:
    if info.n_channels < 1:
        raise AudioError("has no audio channels", path=info.path)
    if info.n_channels > 2:
        raise AudioError(
            f"has {info.n_channels} channels; expected mono (mixed call) or stereo (one party per channel). "
            "Downmix or extract the two call channels first, e.g. ffmpeg -i IN -af 'pan=stereo|c0=c0|c1=c1' OUT.wav",
            path=info.path,
        )
    if not MIN_RATE_HZ <= info.sample_rate_hz <= MAX_RATE_HZ:
        raise AudioError(
            f"sample rate {info.sample_rate_hz} Hz is outside the supported {MIN_RATE_HZ}-{MAX_RATE_HZ} Hz",
            path=info.path,
        )
    if info.n_samples <= 0:
        raise AudioError("holds no audio samples (zero length)", path=info.path)
    if info.duration_s < min_duration_s:
        raise AudioError(
            f"audio is {info.duration_s:.3f} s long; a call needs at least {min_duration_s} s", path=info.path
        )


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


def _probe_ffmpeg(path: Path, *, soundfile_reason: str) -> AudioInfo:
    if not ffmpeg_available():
        raise AudioError(
            f"cannot decode ({soundfile_reason}); for M4A/AAC/AMR/GSM install ffmpeg (apt-get install ffmpeg)",
            path=str(path),
        )
    cmd = [
        "ffprobe", "-v", "error", "-select_streams", "a:0", "-count_packets",
        "-show_entries", "stream=sample_rate,channels,codec_name,duration:format=format_name,duration",
        "-of", "json", str(path),
    ]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        raise AudioError("ffprobe timed out reading the header", path=str(path)) from None
    try:
        data = json.loads(out.stdout or "{}")
    except ValueError:  # ffprobe printed something that is not JSON (seen on crafted headers)
        data = {}
    streams = data.get("streams") or []
    if out.returncode != 0 or not streams:
        reason = (out.stderr.strip().splitlines() or ["no audio stream"])[-1].replace(f"{path}: ", "")
        reason = re.sub(r"\[[^\]]* @ 0x[0-9a-f]+\] ", "", reason)  # ffmpeg's "[decoder @ address] " prefix
        raise AudioError(f"not a readable audio file ({soundfile_reason}; ffmpeg: {reason})", path=str(path))
    stream = streams[0]
    rate = int(stream.get("sample_rate") or 0)
    duration = stream.get("duration") or data.get("format", {}).get("duration") or 0
    return AudioInfo(
        str(path), rate, int(stream.get("channels") or 0), int(float(duration) * rate),
        data.get("format", {}).get("format_name", "?"), stream.get("codec_name", "?"), "ffmpeg",
    )


def iter_blocks(info: AudioInfo, *, block_s: float = AudioConfig.block_s, align_samples: int = 1) -> Iterator[np.ndarray]:
    """Yield float32 blocks ``(n, channels)`` at ``info.analysis_rate_hz``.

    Every block but the last has exactly ``round(block_s * analysis_rate)`` samples,
    rounded down to a multiple of ``align_samples`` (so analysis grids stay tied to the file start).
    Raises :class:`AudioError` on NaN/inf samples or a file that ends early.
    """
    out_rate = info.analysis_rate_hz
    block_out = max(int(round(block_s * out_rate)) // align_samples, 1) * align_samples
    source = _soundfile_blocks(info, block_s) if info.decoder == "soundfile" else _ffmpeg_blocks(info, block_s)
    resampler = None
    if info.sample_rate_hz != out_rate:
        resampler = soxr.ResampleStream(info.sample_rate_hz, out_rate, info.n_channels, dtype="float32", quality="HQ")
    pieces: list[np.ndarray] = []  # decoded audio not yet yielded, joined once a block is full
    n_pending = 0
    got_any = False
    for raw in source:
        if not np.isfinite(raw).all():
            raise AudioError("contains NaN or infinite samples (corrupt float audio)", path=info.path)
        got_any = got_any or raw.size > 0
        block = resampler.resample_chunk(raw) if resampler else raw
        pieces.append(block)
        n_pending += len(block)
        if n_pending >= block_out:
            pending = np.concatenate(pieces)
            n_full = len(pending) // block_out * block_out
            for start in range(0, n_full, block_out):
                yield np.ascontiguousarray(pending[start : start + block_out])
            pieces, n_pending = [pending[n_full:]], len(pending) - n_full
    if resampler is not None:
        pieces.append(resampler.resample_chunk(np.zeros((0, info.n_channels), dtype=np.float32), last=True))
    if not got_any:
        raise AudioError("header promises audio but no samples could be decoded (truncated file?)", path=info.path)
    pending = np.concatenate(pieces) if pieces else np.zeros((0, info.n_channels), np.float32)
    if len(pending):
        yield np.ascontiguousarray(pending)


def _soundfile_blocks(info: AudioInfo, block_s: float) -> Iterator[np.ndarray]:
    """Raw blocks from libsndfile. A decoding error after some audio ends the stream early
    (the pipeline then analyses what was decoded and warns); one before any audio is an error."""
    frames = READ_FRAMES
    decoded = 0
    try:
        handle = sf.SoundFile(info.path)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"not a readable audio file ({_clean_sf_error(exc)})", path=info.path) from None
    with handle:
        while True:
            try:
                block = handle.read(frames, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                if decoded:
                    return
                raise AudioError(f"not a readable audio file (decoding failed at the start: {_clean_sf_error(exc)})",
                                 path=info.path) from None
            if not len(block):
                return
            decoded += len(block)
            yield block


def _ffmpeg_blocks(info: AudioInfo, block_s: float) -> Iterator[np.ndarray]:
    cmd = [
        "ffmpeg", "-nostdin", "-v", "error", "-i", info.path, "-map", "0:a:0",
        "-f", "f32le", "-acodec", "pcm_f32le", "-ac", str(info.n_channels), "-ar", str(info.sample_rate_hz), "-",
    ]
    bytes_per_block = READ_FRAMES * info.n_channels * 4
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        while True:
            chunk = proc.stdout.read(bytes_per_block)
            if not chunk:
                break
            usable = len(chunk) - len(chunk) % (4 * info.n_channels)
            yield np.frombuffer(chunk[:usable], dtype="<f4").reshape(-1, info.n_channels)
        proc.wait(timeout=60)
        if proc.returncode != 0:
            err = proc.stderr.read().decode(errors="replace").strip().splitlines()
            raise AudioError(f"ffmpeg failed: {err[-1] if err else proc.returncode}", path=info.path)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()


def read_span(info: AudioInfo, start_s: float, end_s: float) -> np.ndarray:
    """Samples ``[start_s, end_s)`` at the analysis rate, shape ``(n, channels)``.

    Seeks for soundfile formats; for ffmpeg-decoded files asks ffmpeg to seek.
    Used for per-turn work (emotion) so that a long call is never held whole.
    """
    start_s = max(0.0, start_s)
    end_s = min(info.duration_s, end_s)
    if end_s <= start_s:
        return np.zeros((0, info.n_channels), dtype=np.float32)
    sr = info.sample_rate_hz
    if info.decoder == "soundfile":
        with sf.SoundFile(info.path) as handle:
            handle.seek(int(start_s * sr))
            raw = handle.read(int((end_s - start_s) * sr), dtype="float32", always_2d=True)
    else:
        cmd = [
            "ffmpeg", "-nostdin", "-v", "error", "-ss", f"{start_s:.3f}", "-t", f"{end_s - start_s:.3f}",
            "-i", info.path, "-map", "0:a:0", "-f", "f32le", "-ac", str(info.n_channels), "-ar", str(sr), "-",
        ]
        out = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
        raw = np.frombuffer(out.stdout[: len(out.stdout) // (4 * info.n_channels) * 4 * info.n_channels], "<f4")
        raw = raw.reshape(-1, info.n_channels)
    raw = np.nan_to_num(raw)
    if sr != info.analysis_rate_hz:
        raw = soxr.resample(raw, sr, info.analysis_rate_hz, quality="HQ").astype(np.float32)
    return raw
