"""optimize(): torchvision and hand-written models convert, agree, and compile."""
import pytest
import torch
import torchvision
from torch import nn

from conftest import assert_close, randomize_bn
import mobilekernels
from mobilekernels.nn import ConvBNAct, InvertedResidual, SqueezeExcite

MODELS = ["mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "mnasnet0_5", "efficientnet_b0"]


def _converted(name):
    model = randomize_bn(getattr(torchvision.models, name)()).eval()
    fast, report = mobilekernels.optimize(model, return_report=True)
    return model, fast, report


def _input(h=224, w=224, n=2):
    return torch.randn(n, 3, h, w, generator=torch.Generator().manual_seed(1)).contiguous(
        memory_format=torch.channels_last)


@pytest.mark.parametrize("name", MODELS)
def test_optimize_agrees_with_original(name):
    model, fast, report = _converted(name)
    kinds = {type(m) for m in fast.modules()}
    assert InvertedResidual in kinds and ConvBNAct in kinds
    if name.startswith("mobilenet_v3") or name.startswith("efficientnet"):
        assert SqueezeExcite in kinds
    assert not report.skipped, str(report)
    x = _input()
    with torch.no_grad():
        got = fast(x)
        want = model.double()(x.double())
    assert_close(got, want)


TIMM_MODELS = ["mobilenetv2_100", "mobilenetv3_large_100", "mobilenetv3_small_100", "efficientnet_b0",
               "mnasnet_100", "lcnet_100", "mobilenetv1_100"]


@pytest.mark.parametrize("name", TIMM_MODELS)
def test_optimize_timm(name):
    import timm
    model = randomize_bn(timm.create_model(name, pretrained=False)).eval()
    # Every timm block is fused (its stem and head conv + BN stay untouched: they are
    # direct children of the model, whose forward order a module walk cannot see).
    expected = sum(type(m).__name__ in ("InvertedResidual", "DepthwiseSeparableConv") for m in model.modules())
    fast, report = mobilekernels.optimize(model, return_report=True)
    blocks = [n for _, _, n in report.swapped if n in ("InvertedResidual", "ConvBNAct chain")]
    assert expected > 0 and len(blocks) == expected, str(report)
    assert not report.skipped, str(report)
    x = _input(128, 128)
    with torch.no_grad():
        got = fast(x)
        want = model.double()(x.double())
    assert_close(got, want)


@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"])
def test_optimize_keeps_torchvision_state_dict_keys(name):
    model, fast, _ = _converted(name)
    assert list(fast.state_dict()) == list(model.state_dict())


def test_optimize_chains_feature_extractors(monkeypatch):
    """Pass 5: the features Sequential becomes one FusedSequential run as one Network (one
    C++ call per forward), nested timm stages flatten into one chain too."""
    import timm
    from mobilekernels.nn import FusedSequential
    from mobilekernels.ops import cpu
    calls = []
    real = cpu.run_network
    monkeypatch.setattr(cpu, "run_network", lambda net, x, **kw: calls.append(len(net)) or real(net, x, **kw))
    model, fast, report = _converted("mobilenet_v2")
    assert type(fast.features) is FusedSequential
    assert ("features", "Sequential", "FusedSequential") in report.swapped
    calls.clear()  # optimize() itself ran the chain once to check it
    with torch.no_grad():
        fast(_input(64, 64, 1))
    assert calls == [19, 1]  # stem + 17 blocks + last 1x1 conv in one call; the classifier in one
    timm_fast = mobilekernels.optimize(randomize_bn(timm.create_model("mobilenetv2_100")).eval())
    assert type(timm_fast.blocks) is FusedSequential
    calls.clear()
    with torch.no_grad():
        timm_fast(_input(64, 64, 1))
    assert calls == [17], calls  # every block of every stage in one call


def test_optimize_counts_every_block():
    _, _, report = _converted("mobilenet_v3_large")
    swapped = [new for _, _, new in report.swapped]
    assert swapped.count("InvertedResidual") == 15
    assert swapped.count("SqueezeExcite") == 8
    assert "InvertedResidual" in str(report)


def test_optimize_copies_unless_inplace():
    model = torchvision.models.mobilenet_v3_small().eval()
    fast = mobilekernels.optimize(model)
    assert fast is not model and not any(isinstance(m, ConvBNAct) for m in model.modules())
    same = mobilekernels.optimize(model, inplace=True)
    assert same is model and any(isinstance(m, ConvBNAct) for m in model.modules())


class UsersNet(nn.Module):
    """A hand-written net: fusable runs, an unfusable grouped conv + GELU, and a
    lookalike block whose forward is not a plain residual (it must stay untouched)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.body = nn.Sequential(
            nn.Conv2d(16, 16, 3, 1, 1, groups=16, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
            nn.Conv2d(16, 32, 3, 1, 1, groups=4, bias=False), nn.BatchNorm2d(32), nn.GELU())
        self.tricky = Tricky()
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        x = self.tricky(self.body(self.stem(x)))
        return self.head(x.mean((2, 3)))


class Tricky(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(32, 64, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU6(),
                                   nn.Conv2d(64, 64, 3, 1, 1, groups=64, bias=False), nn.BatchNorm2d(64),
                                   nn.ReLU6(), nn.Conv2d(64, 32, 1, bias=False), nn.BatchNorm2d(32))

    def forward(self, x):
        return x - 0.5 * self.block(x)  # not x + block(x)


def test_optimize_users_model_leaves_what_it_cannot_fuse():
    model = randomize_bn(UsersNet()).eval()
    fast, report = mobilekernels.optimize(model, return_report=True)
    assert isinstance(fast.stem, ConvBNAct)
    assert isinstance(fast.body[0], ConvBNAct) and isinstance(fast.body[3], nn.Conv2d)
    assert isinstance(fast.tricky, Tricky), "a non-residual block must not be swapped"
    assert any("tricky" in name for name, _ in report.skipped)
    x = _input(32, 32)
    with torch.no_grad():
        assert_close(fast(x), model.double()(x.double()))


def test_optimize_rejects_non_modules():
    with pytest.raises(TypeError, match="nn.Module"):
        mobilekernels.optimize("mobilenet_v2")


@pytest.mark.slow
def test_compile_fullgraph_inductor():
    model, fast, _ = _converted("mobilenet_v3_small")
    compiled = torch.compile(fast, fullgraph=True)
    x = _input(160, 160, 1)
    with torch.no_grad():
        assert_close(compiled(x), model.double()(x.double()))


@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v3_large"])
def test_compile_fullgraph_aot(name):
    model, fast, _ = _converted(name)
    compiled = torch.compile(fast, fullgraph=True, backend="aot_eager")
    x = _input(128, 128, 1)
    with torch.no_grad():
        assert_close(compiled(x), model.double()(x.double()))


def test_optimize_leaves_unsupported_and_custom_sequentials_alone():
    class Branchy(nn.Sequential):  # a Sequential subclass whose forward is not sequential
        def forward(self, x):
            return self[0](x) + self[1](x)

    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(8, 8, 3, padding=6, dilation=6, groups=8, bias=False), nn.BatchNorm2d(8),
                      nn.ReLU()),
        Branchy(nn.Conv2d(8, 8, 1, bias=False), nn.BatchNorm2d(8)))
    model = randomize_bn(model).eval()
    fast = mobilekernels.optimize(model)
    assert not any(isinstance(m, ConvBNAct) for m in fast.modules())
    x = torch.randn(1, 8, 9, 9)
    with torch.no_grad():
        assert_close(fast(x), model.double()(x.double()))
