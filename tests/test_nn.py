"""Drop-in modules: eval (fused) == plain torch composition; training runs real BN with
gradients; packed weights follow parameter changes; state_dict/.to() are unaffected."""
import copy

import pytest
import torch
from torch import nn

from conftest import assert_close, randomize_bn
from mobilekernels.nn import ConvBNAct, InvertedResidual, SqueezeExcite, unfused
from op_cases import make_input


def _check_eval_matches_unfused(module, x):
    module.eval()
    with torch.no_grad():
        got = module(x)
        with unfused():
            want = module.double()(x.double())
        module.float()
    assert_close(got, want)


@pytest.mark.parametrize("cin,cout,k,s,groups,act", [
    (3, 16, 3, 2, 1, "hardswish"),      # stem
    (24, 24, 3, 1, 24, "relu6"),        # depthwise
    (40, 40, 5, 2, 40, "relu"),         # depthwise 5x5 s2
    (24, 144, 1, 1, 1, "relu6"),        # pointwise expand
    (144, 24, 1, 1, 1, "identity"),     # pointwise project
])
def test_conv_bn_act_eval_matches_torch(cin, cout, k, s, groups, act):
    m = randomize_bn(ConvBNAct.build(cin, cout, k, s, groups=groups, activation=act))
    assert m.kind == {True: "depthwise", False: "pointwise" if k == 1 else "regular"}[groups > 1]
    _check_eval_matches_unfused(m, make_input(2, cin, 11, 10, seed=cin))


def test_conv_bn_act_wraps_torch_modules_and_keeps_keys():
    seq = nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU6())
    m = ConvBNAct(seq[0], seq[1], seq[2])
    assert m.state_dict().keys() == seq.state_dict().keys()
    randomize_bn(m)
    x = make_input(1, 8, 5, 5, seed=2)
    seq.eval()
    m.eval()
    with torch.no_grad():
        assert_close(m(x), seq.double()(x.double()))


def test_training_mode_runs_batchnorm_and_backprops():
    m = ConvBNAct.build(8, 8, 3, 1, groups=8, activation="relu6")
    m.train()
    x = make_input(4, 8, 6, 6, seed=1).float().requires_grad_()
    before = m.bn.running_mean.clone()
    m(x).square().sum().backward()
    assert m.conv.weight.grad is not None and x.grad is not None
    assert not torch.equal(before, m.bn.running_mean), "BatchNorm did not update its statistics"


def test_packed_weights_follow_parameter_changes():
    m = randomize_bn(ConvBNAct.build(8, 16, 1, activation="relu")).eval()
    x = make_input(1, 8, 4, 4, seed=5)
    with torch.no_grad():
        y0 = m(x)
        m.conv.weight.mul_(2)           # in-place, as an optimizer step does
        y1 = m(x)
        with unfused():
            want = m(x)
    assert not torch.allclose(y0, y1)
    assert_close(y1, want.double())


def test_fine_tune_then_eval_uses_new_weights():
    m = randomize_bn(ConvBNAct.build(8, 8, 3, 1, groups=8, activation="relu6"))
    x = make_input(4, 8, 6, 6, seed=1).float()
    m.eval()
    with torch.no_grad():
        m(x)
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    m.train()
    m(x).sum().backward()
    opt.step()
    m.eval()
    with torch.no_grad():
        got = m(x)
        with unfused():
            want = m(x)
    assert_close(got, want.double())


def test_packed_buffers_are_not_in_state_dict_and_follow_to():
    m = randomize_bn(ConvBNAct.build(8, 8, 3, 1, groups=8)).eval()
    assert "weight_packed" in dict(m.named_buffers())
    assert not any("packed" in k for k in m.state_dict())
    x = make_input(1, 8, 5, 5, seed=3, dtype=torch.float64)
    m64 = copy.deepcopy(m).double()
    with torch.no_grad():
        y = m64(x)
        with unfused():
            want = m64(x)
    assert y.dtype == torch.float64
    assert_close(y, want, torch.float64)


@pytest.mark.parametrize("act,gate", [("relu", "hardsigmoid"), ("silu", "sigmoid")])
def test_squeeze_excite(act, gate):
    m = SqueezeExcite(40, 16, act, gate)
    _check_eval_matches_unfused(m, make_input(2, 40, 7, 7, seed=1))


@pytest.mark.parametrize("cin,cout,exp,k,s,se,pair", [
    (16, 16, 16, 3, 1, False, False),   # no expansion, residual
    (16, 24, 96, 3, 2, False, True),    # v2 layout, stride 2
    (24, 24, 72, 5, 1, True, False),    # v3 with SE, residual
    (40, 80, 240, 3, 2, True, False),
])
def test_inverted_residual(cin, cout, exp, k, s, se, pair):
    m = randomize_bn(InvertedResidual.build(cin, cout, exp, k, s, activation="hardswish",
                                            se_channels=exp // 4 if se else None,
                                            project_as_pair=pair))
    assert m.use_res_connect == (s == 1 and cin == cout)
    _check_eval_matches_unfused(m, make_input(2, cin, 9, 9, seed=cin + exp))


def test_inverted_residual_training_backprops():
    m = InvertedResidual.build(16, 16, 64, 3, 1, se_channels=16).train()
    x = make_input(2, 16, 6, 6, seed=0).float().requires_grad_()
    m(x).sum().backward()
    assert all(p.grad is not None for p in m.parameters())


@pytest.mark.parametrize("build,words", [
    (lambda: ConvBNAct(nn.Conv2d(8, 8, 3, groups=2)), "no fused op"),
    (lambda: ConvBNAct(nn.Conv2d(8, 8, 3, padding=1, padding_mode="reflect")), "no fused op"),
    (lambda: ConvBNAct(nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8), nn.GELU()), "unsupported activation"),
    (lambda: ConvBNAct(nn.Conv2d(8, 8, 1), nn.BatchNorm2d(4)), "does not match"),
    (lambda: InvertedResidual(nn.Sequential(nn.Conv2d(8, 8, 1)), False), "not \\[pw\\]"),
    (lambda: InvertedResidual.build(8, 16, 32, 3, 1).__class__(
        InvertedResidual.build(8, 16, 32, 3, 2).sequence(), True), "residual needs"),
    (lambda: SqueezeExcite.from_modules(nn.Conv2d(8, 2, 1), nn.Conv2d(2, 4, 1), nn.ReLU(), nn.Sigmoid()),
     "not a squeeze-excite"),
    (lambda: SqueezeExcite(8, 2, "gelu"), "unknown activation"),
])
def test_modules_reject_what_they_cannot_fuse(build, words):
    with pytest.raises(ValueError, match=words):
        build()


@pytest.mark.parametrize("build", [
    lambda: ConvBNAct.build(8, 8, 3, 1, groups=8, activation="relu6"),
    lambda: InvertedResidual.build(8, 8, 32, 3, 1, se_channels=8),
])
def test_train_then_eval_repacks_batchnorm_statistics(build):
    """BatchNorm updates running stats without bumping _version: eval() must repack."""
    m = randomize_bn(build()).eval()
    x = make_input(4, 8, 6, 6, seed=1).float()
    with torch.no_grad():
        m(x)                      # packs
        m.train()
        for _ in range(3):
            m(x * 3 + 1)          # moves the running statistics
        m.eval()
        got = m(x)
        with unfused():
            want = m(x)
    assert_close(got, want.double())


def test_inverted_residual_follows_a_replaced_layer():
    m = randomize_bn(InvertedResidual.build(8, 8, 32, 3, 1)).eval()
    x = make_input(2, 8, 6, 6, seed=2).float()
    with torch.no_grad():
        m(x)
        m.sequence()[0] = randomize_bn(ConvBNAct.build(8, 32, 1, activation="relu6"), seed=5).eval()
        got = m(x)
        with unfused():
            want = m(x)
    assert_close(got, want.double())


def test_refresh_packed_after_writes_through_data():
    m = randomize_bn(ConvBNAct.build(8, 16, 1)).eval()
    x = make_input(1, 8, 4, 4, seed=5).float()
    with torch.no_grad():
        m(x)
        m.conv.weight.data.mul_(2)   # bypasses the version counter
        m.refresh_packed()
        got = m(x)
        with unfused():
            want = m(x)
    assert_close(got, want.double())
