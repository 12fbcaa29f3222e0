"""Resemblyzer's speaker encoder, vendored: the network and its pretrained weights (Apache-2.0).

Only what mono diarization needs: a 3-layer LSTM over 40-band mel power frames
(16 kHz, 25 ms window, 10 ms hop) whose last hidden state goes through a linear
layer, a ReLU and an L2 normalisation into a 256-dimensional voice embedding.
Weights and licence: ``analyzer/models/voice-encoder-resemblyzer/`` (see NOTICE.md there).
Importing this module imports torch; :mod:`analyzer.diarize` imports it only when it diarizes.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .errors import ConfigError

WEIGHTS_PATH = Path(__file__).resolve().parent / "models" / "voice-encoder-resemblyzer" / "weights.pt"
N_MELS = 40
HIDDEN_SIZE = 256
EMBEDDING_SIZE = 256
N_LAYERS = 3


class VoiceEncoder(nn.Module):
    """``forward(mels)``: mels ``(batch, frames, 40)`` float32 -> embeddings ``(batch, 256)``, non-negative, unit L2 norm."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(N_MELS, HIDDEN_SIZE, N_LAYERS, batch_first=True)
        self.linear = nn.Linear(HIDDEN_SIZE, EMBEDDING_SIZE)
        self.relu = nn.ReLU()

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)
        embeds_raw = self.relu(self.linear(hidden[-1]))
        return embeds_raw / torch.norm(embeds_raw, dim=1, keepdim=True)


def load_voice_encoder(weights_path: str | Path = WEIGHTS_PATH) -> VoiceEncoder:
    """The pretrained encoder on CPU in eval mode; a missing or unreadable weights file is a :class:`ConfigError`."""
    path = Path(weights_path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as exc:
        raise ConfigError(f"the speaker encoder's weights cannot be read ({' '.join(str(exc).split())}); "
                          "reinstall call-analyzer (the weights ship inside the package)", path=str(path)) from None
    encoder = VoiceEncoder()
    encoder.load_state_dict(state)
    return encoder.eval()
