"""The emotion network: a compact CNN over two-channel log-mel input (imports torch; load lazily).

Input ``(batch, 2, n_mels, n_frames)`` (absolute and speaker-relative
normalised log-mels) plus the number of valid frames per item. Output: class
logits ``(batch, n_classes)`` and an arousal logit ``(batch,)`` (auxiliary
multi-task head: high = angry/happy, low = neutral/sad).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, pool: tuple[int, int]):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )
        self.pool = nn.MaxPool2d(pool)

    def forward(self, x):
        return self.pool(self.conv(x))

    def for_inference(self) -> nn.Module:
        """The same function, faster on CPU: batch norm folded into the convolution and max pooling
        before the ReLU (the two commute), so the ReLU runs on a 2-4x smaller tensor. Eval mode only."""
        conv, bn = self.conv[0], self.conv[1]
        return nn.Sequential(fuse_conv_bn_eval(conv, bn), self.pool, nn.ReLU(inplace=True))


class EmotionCNN(nn.Module):
    """4 conv blocks (frequency and time pooled), masked mean+std pooling over time, two heads."""

    def __init__(self, *, n_mels: int = 40, n_classes: int = 4, channels: tuple[int, ...] = (24, 48, 96, 128), dropout: float = 0.3):
        super().__init__()
        blocks, c_in = [], 2
        self.time_pools = []
        for i, c in enumerate(channels):
            pool = (2, 2) if i < 3 else (2, 1)
            blocks.append(_Block(c_in, c, pool))
            self.time_pools.append(pool[1])
            c_in = c
        self.blocks = nn.Sequential(*blocks)
        freq = n_mels
        for _ in channels:
            freq //= 2
        self.embed_dim = c_in * max(freq, 1)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * self.embed_dim, 128), nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.classes = nn.Linear(128, n_classes)
        self.arousal = nn.Linear(128, 1)

    @classmethod
    def from_architecture(cls, architecture: dict, *, n_classes: int = 4) -> "EmotionCNN":
        """A network shaped by an ``architecture`` dict (keys ``n_mels``, ``channels``, ``dropout``; as in config.json)."""
        return cls(n_mels=architecture["n_mels"], n_classes=n_classes, channels=tuple(architecture["channels"]),
                   dropout=architecture["dropout"])

    def for_inference(self) -> "EmotionCNN":
        """An eval-mode copy for CPU inference: conv + batch norm fused, pool before ReLU, channels-last memory.

        Same outputs as ``self.eval()`` (to float rounding, ~1e-6), about 3x faster on one CPU thread
        (feed it channels-last input, see :func:`as_input_layout`).
        """
        net = copy.deepcopy(self).eval()
        net.blocks = nn.Sequential(*(block.for_inference() for block in net.blocks))
        return net.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor, n_frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits for a padded batch ``x`` ``(b, 2, n_mels, frames)`` whose item ``k`` has ``n_frames[k]`` valid frames.

        The padding is zeroed after every block, so each item sees exactly the zeros a lone,
        unpadded item sees at its end (the convolutions' own zero padding): an item's output
        does not depend on what else is in the batch.
        """
        h, scale = x, 1
        for block, pool in zip(self.blocks, self.time_pools):
            h = block(h)
            scale *= pool
            h = h * _time_mask(n_frames, scale, h.shape[-1]).to(h.dtype)[:, None, None, :]
        b, c, f, t = h.shape
        h = h.reshape(b, c * f, t)
        mask = _time_mask(n_frames, scale, t).to(h.dtype)[:, None, :]
        count = mask.sum(dim=2)
        mean = (h * mask).sum(dim=2) / count
        var = (((h - mean[:, :, None]) ** 2) * mask).sum(dim=2) / count
        z = self.head(torch.cat([mean, torch.sqrt(var + 1e-5)], dim=1))
        return self.classes(z), self.arousal(z).squeeze(1)


def _time_mask(n_frames: torch.Tensor, scale: int, t: int) -> torch.Tensor:
    """``(b, t)`` bool: which of ``t`` time steps (each ``scale`` input frames) hold valid input (at least one kept)."""
    valid = torch.clamp(torch.div(n_frames, scale, rounding_mode="floor"), min=1, max=t)
    return torch.arange(t, device=n_frames.device)[None, :] < valid[:, None]


def as_input_layout(x: torch.Tensor) -> torch.Tensor:
    """Input batches in channels-last memory order: oneDNN's convolution and pooling are ~1.5-3x faster with it on CPU."""
    return x.contiguous(memory_format=torch.channels_last)
