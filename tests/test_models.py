"""The zoo: torchvision-identical state_dicts and logits, and the papers' MACs/params."""
import pytest
import torch
import torchvision

from conftest import assert_close, randomize_bn
from mobilekernels import models
from mobilekernels.nn import FusedLinear, unfused

TORCHVISION = ["mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"]


@pytest.mark.parametrize("name", TORCHVISION)
@pytest.mark.parametrize("width", [1.0, 0.75])
def test_state_dict_matches_torchvision(name, width):
    ours = models.MODELS[name](width)
    theirs = getattr(torchvision.models, name)(width_mult=width)
    a, b = ours.state_dict(), theirs.state_dict()
    assert list(a) == list(b)
    assert all(a[k].shape == b[k].shape for k in b)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_checkpoint_loads_and_agrees(name):
    theirs = randomize_bn(getattr(torchvision.models, name)()).eval()
    ours = models.MODELS[name]()
    ours.load_state_dict(theirs.state_dict())
    ours.eval()
    x = torch.randn(2, 3, 160, 192).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        got = ours(x)
        want = theirs.double()(x.double())
    assert_close(got, want)


# 1.0 at 192: the depthwise outputs of the 96x96 and 48x48 pairs pass 1 MiB, so the C++
# network runs them fused (ops/network.cc), one of them two steps after the fused stem.
@pytest.mark.parametrize("width,res", [(0.5, 128), (1.0, 192)])
def test_mobilenet_v1_fused_matches_plain_torch(width, res):
    m = randomize_bn(models.mobilenet_v1(width)).eval()
    x = torch.randn(1, 3, res, res).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        got = m(x)
        with unfused():
            want = m.double()(x.double())
    assert_close(got, want)


# MobileNet v1 paper: Table 6 (width, 224), Table 7 (1.0, resolution), Table 8 (0.50-160).
# (width, resolution, million mult-adds, million parameters)
V1_TABLES = [
    (1.0, 224, 569, 4.2), (0.75, 224, 325, 2.6), (0.5, 224, 149, 1.3), (0.25, 224, 41, 0.5),
    (1.0, 192, 418, 4.2), (1.0, 160, 290, 4.2), (1.0, 128, 186, 4.2),
    (0.5, 160, 76, 1.32),
]


def paper_params(model) -> int:
    """Parameters as the papers count them: conv and FC weights and biases, no BatchNorm."""
    return sum(p.numel() for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear, FusedLinear))
               for p in m.parameters(recurse=False))


@pytest.mark.parametrize("width,res,macs,params", V1_TABLES)
def test_mobilenet_v1_reproduces_paper_tables(width, res, macs, params):
    model = models.mobilenet_v1(width, res)
    p = models.profile(model)
    # Paper figures are rounded (569 for 568.7M; 290 for 290.7M): within 1M / 0.5%.
    assert abs(p.macs / 1e6 - macs) <= max(1.0, 0.005 * macs), p.macs
    digits = 2 if params == 1.32 else 1
    assert round(paper_params(model) / 1e6, digits) == params, paper_params(model)


# v2: Table 4 (300M, 3.4M); v3: Table 3 (Large 219M / 5.4M, Small 56M / 2.5M).
PAPER = {"mobilenet_v2": (300, 3.4), "mobilenet_v3_large": (219, 5.4), "mobilenet_v3_small": (56, 2.5)}
TORCHVISION_PARAMS = {"mobilenet_v2": 3_504_872, "mobilenet_v3_large": 5_483_032,
                      "mobilenet_v3_small": 2_542_856}


@pytest.mark.parametrize("name", TORCHVISION)
def test_v2_v3_macs_and_params_match_papers(name):
    p = models.profile(models.MODELS[name]())
    macs, params = PAPER[name]
    # The v3 paper counts a little more than the convs and FCs (216.6M vs 219M): 1.5%.
    assert abs(p.macs / 1e6 - macs) <= 0.015 * macs, p.macs
    assert p.params == TORCHVISION_PARAMS[name]
    # One decimal in the papers (v2's 3.4M is 3.47M truncated): within 0.1M.
    assert abs(paper_params(models.MODELS[name]()) / 1e6 - params) <= 0.1


def test_profile_reports_layers():
    p = models.profile(models.mobilenet_v3_small(), 224)
    assert p.layers[0].kind == "conv" and p.layers[0].out_shape == (1, 16, 112, 112)
    assert any(l.kind == "dwconv" for l in p.layers)
    assert sum(l.macs for l in p.layers) == p.macs
    assert "total" in p.table()


def test_zoo_rejects_bad_width():
    with pytest.raises(ValueError, match="width_mult"):
        models.mobilenet_v2(0)
