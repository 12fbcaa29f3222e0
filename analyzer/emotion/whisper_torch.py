"""Whisper base's log-mel input and the first encoder blocks, in plain torch (no ``transformers`` import).

The emotion encoder needs Whisper's convolutional stem, its learned positional embedding and the
first two pre-norm transformer blocks, plus the log-mel front end. ``transformers`` provides both,
but importing its Whisper model costs ~2 s of CPU and ~155 MB of memory per process (it pulls in
``torch.distributed.tensor``, ``torch._dynamo`` and sympy), its feature extractor another ~0.7 s
and ~40 MB; the analysis itself needs about 40 lines of standard torch ops (issue 16). This module
does the same operations in the same order as ``transformers`` 5.x does on CPU
(``WhisperEncoder`` with its default ``sdpa`` attention, ``WhisperFeatureExtractor``'s torch
path), with the same parameter names, so the CTranslate2 -> state-dict mapping of
:mod:`analyzer.emotion.encoder` loads unchanged; ``tests/test_emotion_encoder.py`` checks that
features and log-mels are bit-identical to ``transformers``' where it is installed.

Shapes: a clip is 1-D float32 at 16 kHz; :func:`log_mel_16k` gives ``(80, n_frames)`` at 100
frames/s; :class:`WhisperBlocks` maps ``(1, 80, n_frames)`` to hidden states ``(1, n_frames // 2, 512)``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..mel import mel_filter_bank

SAMPLE_RATE_HZ = 16000
N_FFT = 400  # 25 ms
HOP_SAMPLES = 160  # 10 ms
N_MELS = 80


@lru_cache(maxsize=1)
def mel_filters() -> np.ndarray:
    """Whisper's mel filter bank ``(201, 80)`` float32: 80 Slaney-normalised triangles over 0-8 kHz
    (:func:`analyzer.mel.mel_filter_bank` in float64, rounded once, as ``transformers``' bank is used)."""
    return mel_filter_bank(SAMPLE_RATE_HZ, N_FFT, N_MELS, dtype=np.float64).T.astype(np.float32)


def log_mel_16k(clip_16k: np.ndarray) -> np.ndarray:
    """Whisper's log-mel input ``(80, n_frames)`` float32 of a 16 kHz clip, unpadded (100 frames/s).

    Power STFT (Hann 400, hop 160, centred, reflect padding; the last frame dropped), mel filters,
    ``log10`` floored at 1e-10, clamped to 8 (i.e. 80 dB) below the clip's maximum, then ``(x + 4) / 4``.
    """
    import torch

    waveform = torch.from_numpy(np.asarray(clip_16k, dtype=np.float32).reshape(1, -1))
    window = torch.hann_window(N_FFT)
    stft = torch.stft(waveform, N_FFT, HOP_SAMPLES, window=window, return_complex=True)
    magnitudes = (stft[..., :-1].abs() ** 2).contiguous()
    mel_spec = torch.from_numpy(mel_filters()).T @ magnitudes
    log_spec = torch.clamp(mel_spec, min=1e-10).log10()
    max_val = log_spec.max(dim=2, keepdim=True)[0].max(dim=1, keepdim=True)[0]
    log_spec = torch.maximum(log_spec, max_val - 8.0)
    return ((log_spec + 4.0) / 4.0).numpy()[0]


def _build():
    """The torch module classes (defined on first use: importing this module does not import torch)."""
    import torch
    from torch import nn as torch_nn

    class nn:  # noqa: N801 - the layers used here, built without random initialisation
        """``torch.nn``'s layers, built empty: every parameter is assigned from the Whisper file afterwards
        (``load_state_dict(..., assign=True)``). Random initialisation cost ~0.03 s and wrote 32 MB per load.
        ``Linear`` stays the exact ``torch.nn.Linear`` (``quantize_dynamic`` swaps only that type), on the meta
        device (no storage); the others skip ``reset_parameters`` (``torch.empty`` storage, never written before
        the weights arrive): on the meta device ``Embedding``'s initialisation imports ``torch._dynamo`` (~1-2 s, ~70 MB)."""

        Module, ModuleList = torch_nn.Module, torch_nn.ModuleList

        @staticmethod
        def Linear(*args, **kwargs):  # noqa: N802 - stands for the class
            return torch_nn.Linear(*args, **kwargs, device="meta")

        class Conv1d(torch_nn.Conv1d):
            def reset_parameters(self):
                pass

        class LayerNorm(torch_nn.LayerNorm):
            def reset_parameters(self):
                pass

        class Embedding(torch_nn.Embedding):
            def reset_parameters(self):
                pass

    class Attention(nn.Module):
        """Bidirectional multi-head self-attention (q, v and out projections with bias, k without)."""

        def __init__(self, d_model: int, n_heads: int):
            super().__init__()
            self.n_heads, self.head_dim = n_heads, d_model // n_heads
            self.scaling = self.head_dim ** -0.5
            self.q_proj = nn.Linear(d_model, d_model)
            self.k_proj = nn.Linear(d_model, d_model, bias=False)
            self.v_proj = nn.Linear(d_model, d_model)
            self.out_proj = nn.Linear(d_model, d_model)

        def forward(self, x):
            # q, k, v go to the attention kernel as strided views (transformers copies each to a contiguous
            # tensor first): the same values, bit for bit (tested), ~0.45 ms less per 4 s window (issue 16)
            shape = (*x.shape[:-1], -1, self.head_dim)
            q = (self.q_proj(x) * self.scaling).view(shape).transpose(1, 2)
            k = self.k_proj(x).view(shape).transpose(1, 2)
            v = self.v_proj(x).view(shape).transpose(1, 2)
            out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, scale=1.0,
                                                                   is_causal=False)
            return self.out_proj(out.transpose(1, 2).reshape(*x.shape[:-1], -1))

    class Block(nn.Module):
        """Pre-norm transformer block: x + attn(LN(x)), then x + fc2(gelu(fc1(LN(x))))."""

        def __init__(self, d_model: int, n_heads: int, ffn_dim: int):
            super().__init__()
            self.self_attn = Attention(d_model, n_heads)
            self.self_attn_layer_norm = nn.LayerNorm(d_model)
            self.fc1 = nn.Linear(d_model, ffn_dim)
            self.fc2 = nn.Linear(ffn_dim, d_model)
            self.final_layer_norm = nn.LayerNorm(d_model)

        def forward(self, x, attention_mask=None):
            x = x + self.self_attn(self.self_attn_layer_norm(x))
            return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.final_layer_norm(x))))

    class WhisperBlocks(nn.Module):
        """Whisper's encoder stem (two convolutions, the second with stride 2), positional embedding and
        ``n_layers`` blocks; parameter names as ``transformers``' ``WhisperEncoder`` (its final layer norm
        is kept for the state dict but, as there, only applied after the last of all blocks: not used here).
        The parameters are uninitialised until the weights are loaded into them."""

        def __init__(self, *, n_layers: int, d_model: int, n_heads: int, ffn_dim: int, n_mels: int, max_positions: int):
            super().__init__()
            self.conv1 = nn.Conv1d(n_mels, d_model, kernel_size=3, padding=1)
            self.conv2 = nn.Conv1d(d_model, d_model, kernel_size=3, stride=2, padding=1)
            self.embed_positions = nn.Embedding(max_positions, d_model)
            self.embed_positions.requires_grad_(False)
            self.layers = nn.ModuleList([Block(d_model, n_heads, ffn_dim) for _ in range(n_layers)])
            self.layer_norm = nn.LayerNorm(d_model)

    return WhisperBlocks


@lru_cache(maxsize=1)
def whisper_blocks_class():
    """The :class:`WhisperBlocks` torch module class (imports torch)."""
    return _build()
