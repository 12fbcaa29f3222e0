"""Fuzz the audio loader: random and mutated files must give a result or an AudioError, nothing else.

    python scripts/fuzz_loader.py [--examples 2000] [--seed 0]

Inputs are drawn by hypothesis: raw random bytes, and real WAV/FLAC/OGG/MP3 files (two
seconds of a real call) with random byte flips, insertions and truncations, written with
random extensions. Each is probed and fully decoded through ``analyzer.audio`` (the
stage every analysis starts with). Any exception other than ``AudioError``, or a decode
that takes longer than ``--timeout`` seconds, is a failure; hypothesis shrinks it to a
minimal file, which is saved to ``--crashes`` for a regression test. Prints a summary.
"""

from __future__ import annotations

import argparse
import io
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analyzer.audio import iter_blocks, probe  # noqa: E402
from analyzer.errors import AudioError  # noqa: E402

EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".amr", ".bin")


def seed_files() -> list[bytes]:
    """Valid encodings of two seconds of the shipped sample call, one per container."""
    audio, rate = sf.read(str(REPO / "tests" / "data" / "sample_call.flac"), dtype="float32", frames=16000)
    files = []
    for fmt, subtype in (("WAV", "PCM_16"), ("WAV", "ULAW"), ("FLAC", None), ("OGG", "VORBIS"), ("MP3", None)):
        buffer = io.BytesIO()
        sf.write(buffer, audio, rate, format=fmt, subtype=subtype)
        files.append(buffer.getvalue())
    return files


class DecodeTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise DecodeTimeout()


def load_fully(path: Path, timeout_s: float) -> str:
    """Probe and decode ``path``; returns the outcome kind ("ok" or "AudioError: <first words>")."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        info = probe(path, min_duration_s=0.0)
        for _ in iter_blocks(info, block_s=10.0):
            pass
        return "ok"
    except AudioError as exc:
        return "AudioError: " + " ".join(exc.reason.split()[:4])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def run(examples: int, seed: int, *, timeout_s: float = 20.0, crashes: Path | None = None) -> dict:
    """Fuzz ``examples`` inputs; returns {"examples", "outcomes": Counter, "failures": [...], "seconds"}."""
    from hypothesis import HealthCheck, given, seed as hypothesis_seed, settings
    from hypothesis import strategies as st

    seeds = seed_files()
    outcomes: Counter = Counter()
    failures: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="fuzz-loader-"))

    mutation = st.tuples(st.sampled_from(["flip", "insert", "truncate", "zero"]), st.integers(0, 1 << 20), st.binary(max_size=64))
    inputs = st.one_of(
        st.binary(max_size=4096),
        st.tuples(st.integers(0, len(seeds) - 1), st.lists(mutation, min_size=1, max_size=8)).map(
            lambda drawn: _mutate(seeds[drawn[0]], drawn[1])),
    )

    @hypothesis_seed(seed)
    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(inputs, st.sampled_from(EXTENSIONS))
    def one(data: bytes, extension: str) -> None:
        path = workdir / f"input{extension}"
        path.write_bytes(data)
        try:
            outcomes[load_fully(path, timeout_s)] += 1
        except DecodeTimeout:
            failures.append(f"hang (> {timeout_s} s) on {len(data)} bytes {extension}")
            _save(crashes, data, extension, len(failures))
            raise AssertionError("decode hang") from None
        except Exception as exc:  # noqa: BLE001 - that is what we look for
            failures.append(f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]} on {len(data)} bytes {extension}")
            _save(crashes, data, extension, len(failures))
            raise

    started = time.perf_counter()
    try:
        one()
    except Exception:  # noqa: BLE001 - hypothesis re-raises the shrunk failure; it is recorded above
        pass
    return {"examples": sum(outcomes.values()), "outcomes": outcomes, "failures": failures,
            "seconds": time.perf_counter() - started}


def _mutate(data: bytes, mutations: list[tuple[str, int, bytes]]) -> bytes:
    buf = bytearray(data)
    for kind, position, payload in mutations:
        at = position % (len(buf) + 1)
        if kind == "flip" and buf:
            buf[at % len(buf)] ^= (payload[0] if payload else 0xFF) or 1
        elif kind == "insert":
            buf[at:at] = payload
        elif kind == "truncate":
            del buf[at:]
        elif kind == "zero":
            buf[at : at + len(payload)] = bytes(len(buf[at : at + len(payload)]))
    return bytes(buf)


def _save(folder: Path | None, data: bytes, extension: str, index: int) -> None:
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"crash_{index:03d}{extension}").write_bytes(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds one file may take to decode")
    parser.add_argument("--crashes", type=Path, default=Path("fuzz-crashes"), help="failing inputs are saved here")
    args = parser.parse_args()
    report = run(args.examples, args.seed, timeout_s=args.timeout, crashes=args.crashes)
    print(f"{report['examples']} inputs in {report['seconds']:.0f} s; failures: {len(report['failures'])}")
    for outcome, count in report["outcomes"].most_common():
        print(f"  {count:6d}  {outcome}")
    for failure in report["failures"]:
        print(f"  FAILURE {failure}")
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
