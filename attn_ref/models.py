"""ResNet-50 and MobileNetV2 with a pluggable attention module.

Both networks are written from their papers' architecture tables:

* ResNet-50 (He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016,
  Table 1): a 7x7/2 stem with 64 channels, 3x3/2 max pooling, four stages of bottleneck blocks
  (1x1 reduce, 3x3, 1x1 expand by 4) with 3, 4, 6, 3 blocks and widths 64, 128, 256, 512,
  global average pooling and one fully connected layer.
* MobileNetV2 (Sandler, Howard, Zhu, Zhmoginov, Chen, CVPR 2018, Table 2): a 3x3/2 stem with 32
  channels, seven groups of inverted residual blocks (expansion t, output channels c, repeats n,
  first stride s), a 1x1 convolution to 1280 channels, pooling, dropout and a linear classifier.

Where the attention module goes
-------------------------------
ResNet-50 (SE, ECA, CBAM and CA papers, and their released code): on the output of each
bottleneck's residual branch, after its last BatchNorm and before the identity is added.

MobileNetV2: by default on the expanded width, right after the depthwise convolution and its
BatchNorm + ReLU6, in every block whose expansion factor is not 1 (the placement of the CA
paper's MobileNetV2 + CA: it reproduces its 3.95M parameters, see tests/test_models.py).
``attention_position="output"`` puts it instead on the block's output, after the projection's
BatchNorm and before the residual addition, in every block.

ECA kernel sizes in ResNet-50
-----------------------------
The ECA paper defines an adaptive kernel size k = psi(C), which for the four ResNet stages
(C = 256, 512, 1024, 2048) gives 5, 5, 5, 7. The released ECA-ResNet-50 instead fixes the kernel
per stage to 3, 5, 5, 7 (80 weights in total, the "80 parameters" quoted in the paper). We follow
the released model by default; ``eca_adaptive=True`` uses the rule, and ``eca_k_sizes`` any
other per-stage choice. A ``kernel_size`` (or ``k_size``) passed in the module kwargs
overrides both.

Published parameter counts (checked in closed form by tests/test_models.py)
--------------------------------------------------------------------------
Each paper counts learnable parameters including the classifier, but units and module options
differ; these choices reproduce every figure:

=====================  ===========  ============================================  ============
network                parameters   how to build it                               published
=====================  ===========  ============================================  ============
ResNet-50              25,557,032   ``resnet50()``                                24.37M (ECA, /2^20)
SE-ResNet-50           28,071,976   ``resnet50("se", bias=False)``                26.77M (ECA, /2^20)
SE-ResNet-50           28,088,024   ``resnet50("se")`` (biases, as Caffe)         28.1M (SE), 28.09M (CBAM)
ECA-ResNet-50          25,557,112   ``resnet50("eca")`` (k = 3, 5, 5, 7)          24.37M (ECA, /2^20)
CBAM-ResNet-50         28,089,624   ``resnet50("cbam")`` (MLP biases, BN(1))      28.09M (CBAM)
MobileNetV2            3,504,872    ``mobilenet_v2()``                            3.5M (CA), 3.34M (ECA, /2^20)
MobileNetV2 + CA       3,950,648    ``mobilenet_v2("ca")`` (r = 32)               3.95M (CA)
=====================  ===========  ============================================  ============

Only the ECA table decides SE's biases (with them it would read 26.79); the SE paper's 28.1 fits
both. CBAM's 28.09 holds with or without the spatial BatchNorm (28,089,592 without).

Weights are initialised as the papers' reference code commonly does (He-normal, fan-out, for
convolutions; BatchNorm at gamma = 1, beta = 0), never loaded: no pretrained weights here.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

# the kinds the chapters' networks are built with (make_attention takes any of attn_ref.kinds)
ATTENTION_KINDS = (None, "se", "eca", "cbam", "ca")

# ResNet-50: (blocks, bottleneck width) per stage; output width is 4 x bottleneck width
RESNET50_STAGES = ((3, 64), (4, 128), (6, 256), (3, 512))
RESNET_EXPANSION = 4
# released ECA-ResNet-50 kernel size per stage
ECA_RESNET50_K_SIZES = (3, 5, 5, 7)

# MobileNetV2 (Sandler et al., Table 2): expansion t, output channels c, repeats n, stride s
MOBILENET_V2_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def make_attention(kind: str | None, channels: int, **kwargs) -> nn.Module:
    """Build one attention module acting on ``channels`` channels.

    ``kind`` is ``None`` or ``"none"`` (an ``nn.Identity``) or any kind of
    :mod:`attn_ref.kinds` (``"se"``, ``"eca"``, ``"cbam"``, ``"ca"``, ``"ccnet"``, ``"gam"``, or
    an alias such as ``"coord"``); ``kwargs`` go to the module's constructor unchanged
    (``reduction``, ``kernel_size``, ``bias``, ... or the documented aliases such as
    ``k_size``). The module classes are imported here, on first use, so a network without
    attention never imports them. ``ValueError`` for an unknown kind.
    """
    if kind is None or kind == "none":
        if kwargs:
            raise TypeError(f"no attention module: unexpected arguments {sorted(kwargs)}")
        return nn.Identity()
    from . import kinds

    return kinds.build(kind, channels, **kwargs)


def _init_weights(model: nn.Module) -> None:
    """He-normal (fan-out) convolutions, unit/zero BatchNorm, small-normal linear layers.

    Only the network's own layers are touched; attention modules keep their own initialisation.
    """
    for m in model.modules():
        if getattr(m, "_in_attention", False):
            continue
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _mark_attention(module: nn.Module) -> nn.Module:
    for m in module.modules():
        m._in_attention = True
    return module


# ----------------------------------------------------------------------------------- ResNet-50

class Bottleneck(nn.Module):
    """ResNet bottleneck: 1x1 (reduce) -> 3x3 -> 1x1 (expand x4), each followed by BatchNorm.

    ``attention`` acts on the branch output after ``bn3`` and before the identity is added.
    ``stride_in_1x1=True`` puts the stride on the first 1x1 convolution as in the original
    Caffe ResNet; the default puts it on the 3x3 convolution, as the released PyTorch code of
    SE, CBAM, ECA and CA does. Parameter counts are the same either way; multiply-adds are not.
    """

    def __init__(self, in_channels: int, width: int, stride: int = 1,
                 attention: nn.Module | None = None, stride_in_1x1: bool = False):
        super().__init__()
        out_channels = width * RESNET_EXPANSION
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = nn.Conv2d(in_channels, width, 1, stride=s1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=s3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.attention = _mark_attention(attention) if attention is not None else nn.Identity()
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.attention(self.bn3(self.conv3(out)))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """A bottleneck ResNet for ImageNet-sized inputs (any H, W >= 32 works).

    ``attention_factory(channels, stage_index)`` returns the module for one block (or ``None``).
    """

    def __init__(self, stages: Sequence[tuple[int, int]] = RESNET50_STAGES,
                 num_classes: int = 1000, attention_factory=None, stride_in_1x1: bool = False):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )
        in_channels = 64
        layers = []
        for i, (blocks, width) in enumerate(stages):
            stage = []
            for j in range(blocks):
                stride = 2 if (j == 0 and i > 0) else 1
                out_channels = width * RESNET_EXPANSION
                attn = attention_factory(out_channels, i) if attention_factory else None
                stage.append(Bottleneck(in_channels, width, stride, attn, stride_in_1x1))
                in_channels = out_channels
            layers.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, num_classes)
        _init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def resnet50(attention: str | None = None, num_classes: int = 1000, *,
             eca_k_sizes: Sequence[int] = ECA_RESNET50_K_SIZES, eca_adaptive: bool = False,
             stride_in_1x1: bool = False, **module_kwargs) -> ResNet:
    """ResNet-50, optionally with ``attention`` in every bottleneck (16 modules).

    Args:
        attention: ``None``, ``"se"``, ``"eca"``, ``"cbam"`` or ``"ca"``.
        num_classes: width of the classifier (1000 for ImageNet).
        eca_k_sizes: ECA kernel size for each of the four stages (released model: 3, 5, 5, 7).
        eca_adaptive: use the ECA paper's rule k = psi(C) instead of ``eca_k_sizes``.
        stride_in_1x1: stride on the first 1x1 convolution (original ResNet) instead of the 3x3.
        **module_kwargs: passed to every attention module (e.g. ``reduction=16, bias=False``).
    """
    kind = _check_kind(attention)
    if kind == "eca" and len(eca_k_sizes) != len(RESNET50_STAGES):
        raise ValueError(f"eca_k_sizes needs one kernel size per stage, got {eca_k_sizes}")

    def factory(channels: int, stage: int):
        if kind is None:
            return None
        kwargs = dict(module_kwargs)
        if (kind == "eca" and "k_size" not in kwargs and "kernel_size" not in kwargs
                and not eca_adaptive):
            kwargs["k_size"] = eca_k_sizes[stage]
        return make_attention(kind, channels, **kwargs)

    if kind is None and module_kwargs:
        raise TypeError(f"no attention module: unexpected arguments {sorted(module_kwargs)}")
    return ResNet(RESNET50_STAGES, num_classes, factory, stride_in_1x1)


# --------------------------------------------------------------------------------- MobileNetV2

def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to the nearest multiple of ``divisor`` (at least ``min_value``),
    going up one step if rounding would lose more than 10 % (the MobileNet width rule)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand (skipped when t = 1) -> 3x3 depthwise -> 1x1 linear project.

    Expansion and depthwise convolutions are followed by BatchNorm and ReLU6, the projection by
    BatchNorm only; the input is added back when the stride is 1 and the widths agree.
    ``attention`` is applied at ``position``: ``"expanded"`` (after the depthwise stage, on the
    expanded width) or ``"output"`` (after the projection, before the residual addition).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int,
                 attention: nn.Module | None = None, position: str = "expanded"):
        super().__init__()
        hidden = int(round(in_channels * expansion))
        self.use_residual = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [nn.Conv2d(in_channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden),
                       nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden,
                             bias=False),
                   nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)]
        attn = _mark_attention(attention) if attention is not None else None
        if attn is not None and position == "expanded":
            layers.append(attn)
        layers += [nn.Conv2d(hidden, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)]
        if attn is not None and position == "output":
            layers.append(attn)
        self.conv = nn.Sequential(*layers)
        self.attention = attn           # the same module as inside self.conv (or None)
        self.hidden = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.use_residual else out


class MobileNetV2(nn.Module):
    """MobileNetV2 (Table 2 of the paper) with an optional attention module per block.

    ``attention_factory(channels)`` returns the module for one block; it is called with the
    expanded width (``position="expanded"``, blocks with t != 1 only) or with the block's
    output width (``position="output"``, every block).
    """

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0,
                 attention_factory=None, position: str = "expanded", dropout: float = 0.2,
                 settings=MOBILENET_V2_SETTINGS):
        super().__init__()
        if position not in ("expanded", "output"):
            raise ValueError(f"position must be 'expanded' or 'output', got {position!r}")
        in_channels = make_divisible(32 * width_mult)
        self.last_channels = make_divisible(1280 * max(1.0, width_mult))
        layers: list[nn.Module] = [nn.Sequential(
            nn.Conv2d(3, in_channels, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(in_channels), nn.ReLU6(inplace=True))]
        for t, c, n, s in settings:
            out_channels = make_divisible(c * width_mult)
            for i in range(n):
                stride = s if i == 0 else 1
                attn = None
                if attention_factory is not None:
                    if position == "output":
                        attn = attention_factory(out_channels)
                    elif t != 1:
                        attn = attention_factory(int(round(in_channels * t)))
                layers.append(InvertedResidual(in_channels, out_channels, stride, t, attn,
                                               position))
                in_channels = out_channels
        layers.append(nn.Sequential(
            nn.Conv2d(in_channels, self.last_channels, 1, bias=False),
            nn.BatchNorm2d(self.last_channels), nn.ReLU6(inplace=True)))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout),
                                        nn.Linear(self.last_channels, num_classes))
        _init_weights(self)
        for m in self.classifier.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def mobilenet_v2(attention: str | None = None, num_classes: int = 1000, width_mult: float = 1.0,
                 *, attention_position: str = "expanded", dropout: float = 0.2,
                 **module_kwargs) -> MobileNetV2:
    """MobileNetV2, optionally with ``attention`` in its inverted residual blocks.

    Args:
        attention: ``None``, ``"se"``, ``"eca"``, ``"cbam"`` or ``"ca"``.
        num_classes: width of the classifier.
        width_mult: channel multiplier (widths rounded to multiples of 8).
        attention_position: ``"expanded"`` (default; after the depthwise convolution, blocks
            with expansion != 1; CA paper) or ``"output"`` (after the projection, every block).
        dropout: dropout before the classifier.
        **module_kwargs: passed to every attention module (e.g. ``reduction=32`` for CA, which
            is already CoordinateAttention's default). ECA uses its adaptive kernel rule here.
    """
    kind = _check_kind(attention)
    if kind is None and module_kwargs:
        raise TypeError(f"no attention module: unexpected arguments {sorted(module_kwargs)}")
    factory = None if kind is None else (lambda c: make_attention(kind, c, **module_kwargs))
    return MobileNetV2(num_classes, width_mult, factory, attention_position, dropout)


def _check_kind(attention):
    """The registered name of ``attention`` (a kind or an alias, any case), or None."""
    if attention is None or (isinstance(attention, str) and attention.lower() == "none"):
        return None
    from . import kinds

    return kinds.get(attention).name


def count_parameters(model: nn.Module) -> int:
    """Number of learnable parameters (BatchNorm running statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters())


def in_millions(n: int, convention: str = "1e6") -> float:
    """``n`` parameters in millions: ``"1e6"`` (SE, CBAM, CA papers) or ``"2^20"`` (ECA table)."""
    if convention == "1e6":
        return n / 1e6
    if convention == "2^20":
        return n / 2 ** 20
    raise ValueError(f"convention must be '1e6' or '2^20', got {convention!r}")
