"""The card segmenter the runtime's detector searches with (``cardrec_edge.segment``): a small U-Net.

Four stride-2 encoder levels (the last dilated) and three decoder levels joined by bilinear upsampling and
concatenation, plain 3x3 convolutions, batch norm and ReLU: what ONNX, INT8 and the Hailo compiler all take. It
predicts card-face logits at half its input's resolution.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _block(i: int, o: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(i, o, 3, stride, dilation, dilation=dilation, bias=False), nn.BatchNorm2d(o),
                         nn.ReLU(inplace=True))


class Segmenter(nn.Module):
    """Card-face logits (N, 1, H/2, W/2) of normalised frames (N, 3, H, W); ``widths``: channels per level."""

    def __init__(self, widths: tuple[int, int, int, int]) -> None:
        super().__init__()
        a, b, c, d = widths
        self.e1 = _block(3, a, 2)
        self.e2 = nn.Sequential(_block(a, b, 2), _block(b, b))
        self.e3 = nn.Sequential(_block(b, c, 2), _block(c, c))
        self.e4 = nn.Sequential(_block(c, d, 2), _block(d, d, dilation=2), _block(d, d, dilation=4))
        self.d3, self.d2, self.d1 = _block(d + c, c), _block(c + b, b), _block(b + a, a)
        self.head = nn.Conv2d(a, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.e1(x)
        x2 = self.e2(x1)
        x3 = self.e3(x2)
        y = self.e4(x3)
        for dec, skip in ((self.d3, x3), (self.d2, x2), (self.d1, x1)):
            y = dec(torch.cat([F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], 1))
        return self.head(y)
