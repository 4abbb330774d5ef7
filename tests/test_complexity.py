"""Closed-form parameters and multiply-adds agree with the modules and with PyTorch's counter.

``torch.utils.flop_counter.FlopCounterMode`` counts matrix products and convolutions (2 FLOPs per
multiply-add) and nothing element-wise: not the pooling, the activations, BatchNorm, nor the
products that apply the gates. So the counter is compared with the ``layers_only=True`` closed
forms, and the gate products (``scaling MACs``) are checked by hand-derived values.

The published network figures pin down which convention each paper used:
CBAM's table (ResNet50 3.858, + SE 3.860, + CBAM 3.864 GFLOPs) counts layer MACs only, on the
original ResNet with the stride in the first 1x1 convolution; the SE paper's 3.87 (vs 3.86) and the
CA paper's MobileNetV2 300M -> 310M MAdds include the gate products.
"""
from __future__ import annotations


import pytest
import torch

from attn_ref import complexity as cx
from attn_ref import models








# ------------------------------------------------------------------------ hand-checked values

def test_hand_checked_values():
    # SE, C = 256, r = 16: h = 16
    assert cx.se_params(256, 16, bias=False) == 2 * 256 * 16 == 8192
    assert cx.se_params(256, 16, bias=True) == 8192 + 16 + 256
    assert cx.se_macs(256, 28, 28, 16, layers_only=True) == 8192
    assert cx.se_macs(256, 28, 28, 16) == 8192 + 256 * 28 * 28
    # C not divisible by r, and C < r: h = max(1, C // r)
    assert cx.se_params(50, 16, bias=False) == 2 * 50 * 3
    assert cx.se_params(8, 16, bias=True) == 2 * 8 * 1 + 1 + 8
    # ECA: k weights, C k MACs; k = psi(C) by default (256 -> 5)
    assert cx.eca_params(256, 3) == 3 and cx.eca_params(256) == 5
    assert cx.eca_macs(256, 7, 5, 3) == 256 * 3 + 256 * 7 * 5
    # CBAM, C = 64, r = 16, k = 7: MLP 2*64*4 + 4 + 64, conv 98, BN 2
    assert cx.cbam_params(64) == 512 + 68 + 98 + 2
    assert cx.cbam_params(64, spatial_bn=False) == 512 + 68 + 98
    assert cx.cbam_macs(64, 10, 12, layers_only=True) == 2 * 512 + 98 * 120
    assert cx.cbam_macs(64, 10, 12) == 2 * 512 + 98 * 120 + 2 * 64 * 120
    # CA, C = 96, r = 32: mip = 8
    assert cx.ca_mip(96) == 8 and cx.ca_mip(960) == 30
    assert cx.ca_params(96) == (96 * 8 + 8) + 16 + 2 * (8 * 96 + 96) == 2520
    assert cx.ca_macs(96, 4, 6, layers_only=True) == 8 * 96 * 10 + 96 * 8 * 10
    assert cx.ca_macs(96, 4, 6) == 2 * 8 * 96 * 10 + 2 * 96 * 24


def test_module_cost_and_errors():
    cost = cx.module_cost("se", 256, 28, 28, r=16, bias=False)
    assert cost == {"params": 8192, "macs": 8192 + 200704, "layer_macs": 8192,
                    "scaling_macs": 200704}
    assert cx.module_cost("ca", 96, 4, 6)["scaling_macs"] == 2 * 96 * 24
    with pytest.raises(ValueError):
        cx.module_cost("bam", 64, 8, 8)
    with pytest.raises(TypeError):
        cx.module_cost("se", 64, 8, 8, k=3)
    with pytest.raises(ValueError):
        cx.se_params(0, 16)
    with pytest.raises(ValueError):
        cx.count_macs(torch.nn.Identity(), (8, 8))


# ----------------------------------------------------------- formulas vs modules and the counter

SHAPES = [(256, 28, 28), (64, 56, 56), (50, 7, 5), (8, 1, 1), (24, 3, 9)]


def _check(module, shape, params, layer_macs):
    assert cx.count_params(module) == params
    assert cx.count_macs(module, shape) == layer_macs                       # meta device
    assert cx.count_macs(module, (2,) + shape, device="cpu") == layer_macs  # a real pass
    assert cx.count_macs(module, (2,) + shape, device="cpu", per_example=False) == 2 * layer_macs


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("bias", [True, False])
def test_se_matches_counter(shape, bias):
    from attn_ref import SqueezeExcitation
    C, H, W = shape
    _check(SqueezeExcitation(C, 16, bias=bias), shape, cx.se_params(C, 16, bias),
           cx.se_macs(C, H, W, 16, layers_only=True))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("k", [None, 3, 7])
def test_eca_matches_counter(shape, k):
    from attn_ref import ECA
    C, H, W = shape
    _check(ECA(C, k_size=k), shape, cx.eca_params(C, k), cx.eca_macs(C, H, W, k, layers_only=True))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kernel", [7, 3])
def test_cbam_matches_counter(shape, kernel):
    from attn_ref import CBAM
    C, H, W = shape
    torch.manual_seed(0)
    m = CBAM(C, 16, spatial_kernel=kernel)
    _check(m, shape, cx.cbam_params(C, 16, kernel),
           cx.cbam_macs(C, H, W, 16, kernel, layers_only=True))
    nobn = CBAM(C, 16, spatial_kernel=kernel, batchnorm=False)
    assert cx.count_params(nobn) == cx.cbam_params(C, 16, kernel, spatial_bn=False)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("r", [32, 4])
def test_ca_matches_counter(shape, r):
    from attn_ref import CoordinateAttention
    C, H, W = shape
    m = CoordinateAttention(C, reduction=r)
    _check(m, shape, cx.ca_params(C, reduction=r), cx.ca_macs(C, H, W, reduction=r,
                                                               layers_only=True))


@pytest.mark.parametrize("shape", [(32, 6, 5), (10, 3, 3), (3, 4, 4)])
@pytest.mark.parametrize("rate", [4, 16])
def test_gam_matches_counter(shape, rate):
    from attn_ref import GAM
    C, H, W = shape
    m = GAM(C, rate)
    assert cx.count_params(m) == cx.gam_params(C, rate)
    assert cx.count_macs(m, shape) == cx.gam_macs(C, H, W, rate, layers_only=True)
    assert cx.gam_macs(C, H, W, rate) - cx.gam_macs(C, H, W, rate, layers_only=True) == 2 * C * H * W


def test_counter_ignores_elementwise_ops():
    # the gate product alone: no matmul/conv, so the counter sees nothing
    class Gate(torch.nn.Module):
        def forward(self, x):
            return x * torch.sigmoid(x.mean(dim=(2, 3), keepdim=True))
    assert cx.count_macs(Gate(), (16, 8, 8), device="cpu") == 0
    lin = torch.nn.Linear(10, 3)                    # addmm: 30 MACs, bias add not counted
    assert cx.count_macs(torch.nn.Sequential(torch.nn.Flatten(), lin), (10, 1, 1)) == 30


# ------------------------------------------------------------- whole networks vs published figures

def meta(fn, *args, **kwargs):
    """Build a network on the meta device (no memory, no initialisation cost)."""
    with torch.device("meta"):
        return fn(*args, **kwargs)


def _attention_inputs(model, size=224):
    """Input shapes (C, H, W) the attention modules of ``model`` see, on the meta device."""
    shapes = []
    hooks = [m.register_forward_hook(lambda mod, a, o: shapes.append(tuple(a[0].shape[1:])))
             for m in model.modules() if getattr(m, "_in_attention", False)
             and type(m).__name__ in ("SqueezeExcitation", "ECA", "CBAM", "CoordinateAttention")]
    meta = model.to("meta").eval()
    with torch.no_grad():
        meta(torch.zeros(1, 3, size, size, device="meta"))
    for h in hooks:
        h.remove()
    return shapes


def test_resnet50_macs_cbam_paper_and_se_paper():
    base = cx.count_macs(meta(models.resnet50, stride_in_1x1=True), (3, 224, 224))
    assert round(base / 1e9, 3) == 3.858                          # CBAM paper, ResNet50
    assert cx.count_macs(meta(models.resnet50), (3, 224, 224)) > base  # stride on the 3x3: 4.09G

    se_net = meta(models.resnet50, "se", stride_in_1x1=True)
    shapes = _attention_inputs(meta(models.resnet50, "se", stride_in_1x1=True))
    assert len(shapes) == 16
    se_layers = sum(cx.se_macs(C, H, W, 16, layers_only=True) for C, H, W in shapes)
    se_full = sum(cx.se_macs(C, H, W, 16) for C, H, W in shapes)
    assert cx.count_macs(se_net, (3, 224, 224)) == base + se_layers
    assert round((base + se_layers) / 1e9, 3) == 3.860            # CBAM paper, ResNet50 + SE
    assert round((base + se_layers) / 1e9, 2) == 3.86
    assert round((base + se_full) / 1e9, 2) == 3.87               # SE paper: gate products in


def test_cbam_resnet50_macs_cbam_paper():
    base = cx.count_macs(meta(models.resnet50, stride_in_1x1=True), (3, 224, 224))
    net = meta(models.resnet50, "cbam", stride_in_1x1=True)
    shapes = _attention_inputs(meta(models.resnet50, "cbam", stride_in_1x1=True))
    layers = sum(cx.cbam_macs(C, H, W, layers_only=True) for C, H, W in shapes)
    assert cx.count_macs(net, (3, 224, 224)) == base + layers
    assert round((base + layers) / 1e9, 3) == 3.864               # CBAM paper, ResNet50 + CBAM


def test_mobilenet_v2_ca_madds_ca_paper():
    base = cx.count_macs(meta(models.mobilenet_v2), (3, 224, 224))
    assert round(base / 1e6) == 301                               # paper: "300M"
    net = meta(models.mobilenet_v2, "ca")
    shapes = _attention_inputs(meta(models.mobilenet_v2, "ca"))
    assert len(shapes) == 16
    layers = sum(cx.ca_macs(C, H, W, layers_only=True) for C, H, W in shapes)
    full = sum(cx.ca_macs(C, H, W) for C, H, W in shapes)
    assert cx.count_macs(net, (3, 224, 224)) == base + layers
    assert round((base + full) / 1e6) == 310                      # CA paper: 310M with CA
    assert round((base + layers) / 1e6) == 307                    # layers alone: not 310M
