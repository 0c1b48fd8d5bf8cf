"""ops.Network (a chain of layers in one call) and FusedSequential (the module that runs
its fused children as Networks): same results as the per-op calls and the float64
reference, the C++ path really taken, rebuilt when the model changes, and every path
that must not take it (training, hooks, compile, other backends) running child by child."""
import copy
import threading

import pytest
import torch
from torch import nn

from conftest import assert_close, randomize_bn
from mobilekernels import Activation, models, ops
from mobilekernels.nn import ConvBNAct, FusedSequential, InvertedResidual, unfused
from mobilekernels.ops import cpu
from op_cases import conv_packed, dw_packed, make_input

A = Activation


def _chain(seed=0):
    """stem 3->16 s2, dw 5x5, pw 16->24, IR(expand, residual), IR(SE, s2), IR(no expand), pw,
    global average pool, pw head."""
    return [
        ops.Layer("conv_bn_act", (conv_packed(3, 16, 3, seed=seed), 3, 2, [1, 1, 1, 1], int(A.HARDSWISH))),
        ops.Layer("dwconv_bn_act", (dw_packed(16, 5, seed=seed + 1), 5, 1, [2, 2, 2, 2], 1, int(A.RELU))),
        ops.Layer("pwconv_bn_act", (conv_packed(16, 24, seed=seed + 2), int(A.IDENTITY), None)),
        ops.Layer("inverted_residual", (conv_packed(24, 72, seed=seed + 3), int(A.RELU6), dw_packed(72, 3, seed=4),
                                        3, 1, [1, 1, 1, 1], int(A.RELU6), None, None, 0, 0,
                                        conv_packed(72, 24, seed=seed + 5), True)),
        ops.Layer("inverted_residual", (conv_packed(24, 60, seed=seed + 6), int(A.HARDSWISH),
                                        dw_packed(60, 5, seed=7), 5, 2, [2, 2, 2, 2], int(A.HARDSWISH),
                                        conv_packed(60, 16, seed=seed + 8), conv_packed(16, 60, seed=seed + 9),
                                        int(A.RELU), int(A.HARDSIGMOID), conv_packed(60, 40, seed=seed + 10),
                                        False)),
        ops.Layer("inverted_residual", (None, 0, dw_packed(40, 3, seed=11), 3, 1, [1, 1, 1, 1], int(A.RELU),
                                        None, None, 0, 0, conv_packed(40, 40, seed=seed + 12), True)),
        ops.Layer("pwconv_bn_act", (conv_packed(40, 13, seed=seed + 13), int(A.SILU), None)),
        ops.Layer("global_avgpool", ()),
        ops.Layer("pwconv_bn_act", (conv_packed(13, 7, seed=seed + 14), int(A.HARDSWISH), None)),
    ]


def _reference(layers, x, absolute=False):
    """The chain through reference ops in float64 (on |x|, |w| when absolute: the scale)."""
    conv = (lambda t: t.double().abs()) if absolute else (lambda t: t.double())
    x = conv(x)
    for layer in layers:
        args = [conv(a) if isinstance(a, torch.Tensor) else a for a in layer.args]
        if absolute:  # activations off: the sum of |terms| bounds the rounding
            args = [0 if i in _ACT_ARGS[layer.op] else a for i, a in enumerate(args)]
        x = getattr(ops.reference, layer.op)(x, *args)
    return x


_ACT_ARGS = {"conv_bn_act": {4}, "dwconv_bn_act": {5}, "pwconv_bn_act": {1}, "inverted_residual": {1, 6, 9},
             "global_avgpool": set()}


@pytest.mark.parametrize("n,h,w", [(1, 23, 17), (2, 9, 12), (1, 3, 3), (1, 1, 1)])
@pytest.mark.parametrize("threads", [1, 2])
def test_network_matches_float64_reference(n, h, w, threads):
    import mobilekernels
    layers = _chain(seed=h)
    x = make_input(n, 3, h, w, seed=n + h + w).float()
    saved = mobilekernels.get_num_threads()
    mobilekernels.set_num_threads(threads)
    try:
        with torch.no_grad():
            got = ops.Network(layers)(x)
    finally:
        mobilekernels.set_num_threads(saved)
    assert got.is_contiguous(memory_format=torch.channels_last)
    assert_close(got, _reference(layers, x), what="network", scale=_reference(layers, x, absolute=True))


def test_network_is_one_cpu_call_and_equals_the_per_op_calls(monkeypatch):
    layers = _chain()
    x = make_input(1, 3, 20, 18, seed=3).float()
    calls = []
    real = cpu.run_network
    monkeypatch.setattr(cpu, "run_network", lambda net, t, **kw: calls.append(1) or real(net, t, **kw))
    net = ops.Network(layers)
    got = net(x)
    assert len(calls) == 1 and "cpu" in net.compiled
    want = x
    for layer in layers:
        want = getattr(ops, layer.op)(want, *layer.args)
    assert torch.equal(got, want), "one call must run exactly the per-op kernels"


@pytest.mark.parametrize("threads", [1, 2])
def test_network_takes_nchw_channels_last_and_strided_inputs_alike(threads):
    """An NCHW-contiguous input goes to C++ as is and is moved to NHWC there; channels_last
    and strided inputs go as NHWC views: the same output bit for bit."""
    import mobilekernels
    layers = _chain(seed=2)
    base = make_input(2, 3, 21, 19, seed=9).float()
    nchw = base.contiguous()
    wide = torch.cat([nchw, nchw], dim=3)[..., ::2]  # strided: neither layout
    assert nchw.is_contiguous() and not nchw.is_contiguous(memory_format=torch.channels_last)
    assert not wide.is_contiguous() and not wide.is_contiguous(memory_format=torch.channels_last)
    saved = mobilekernels.get_num_threads()
    mobilekernels.set_num_threads(threads)
    try:
        with torch.no_grad():
            net = ops.Network(layers)
            want = net(nchw.contiguous(memory_format=torch.channels_last))
            assert torch.equal(net(nchw), want)
            assert torch.equal(net(wide), net(wide.contiguous()))
    finally:
        mobilekernels.set_num_threads(saved)
    assert_close(want, _reference(layers, nchw), what="network", scale=_reference(layers, nchw, absolute=True))


def test_network_runs_per_op_on_other_backends_and_under_compile(monkeypatch):
    layers = _chain()
    x = make_input(1, 3, 10, 10, seed=4).float()
    want = _reference(layers, x)
    monkeypatch.setattr(cpu, "run_network", lambda *a: pytest.fail("C++ network used"))
    with ops.use_backend("reference"):
        assert_close(ops.Network(layers)(x), want, what="reference backend")
    compiled = torch.compile(lambda t: ops.Network(layers)(t), backend="aot_eager", fullgraph=True)
    assert_close(compiled(x), want, what="compiled")


def test_network_rejects_bad_input():
    layers = _chain()
    with pytest.raises(ValueError, match="channels"):
        ops.Network(layers)(make_input(1, 4, 8, 8, seed=1).float())
    with pytest.raises(ValueError, match="4-d"):
        ops.Network(layers)(torch.randn(3, 8, 8))
    with pytest.raises(ValueError, match="previous layer"):
        ops.Network([layers[0], layers[3]])(make_input(1, 3, 8, 8, seed=1).float())
    with pytest.raises(ValueError, match="residual"):
        ops.Network([ops.Layer("pwconv_bn_act", (conv_packed(3, 3, seed=1), 0, torch.zeros(1, 3, 8, 8)))])(
            make_input(1, 3, 8, 8, seed=1).float())
    pooled = ops.Network([ops.Layer("global_avgpool", ()), ops.Layer("pwconv_bn_act", (conv_packed(3, 5, seed=2), 1,
                                                                                      None))])
    x = make_input(2, 3, 6, 7, seed=1).float()
    want = ops.pwconv_bn_act(ops.global_avgpool(x), conv_packed(3, 5, seed=2), 1, None)
    assert torch.equal(pooled(x), want)  # a pool may come first: it takes the input's channels
    with pytest.raises(ValueError, match="channels"):
        pooled(make_input(1, 4, 6, 7, seed=1).float())  # built for 3 channels on its first call
    with pytest.raises(ValueError, match="op must be"):
        ops.Layer("relu", ())
    with pytest.raises(ValueError, match="at least one"):
        ops.Network([])
    with pytest.raises(ValueError):  # larger than the image plus padding
        ops.Network(layers)(make_input(1, 3, 1, 1, seed=1).float()[..., :0, :])


# ---- FusedSequential --------------------------------------------------------------------

def _blocks(seed=0):
    torch.manual_seed(seed)
    return [ConvBNAct.build(3, 16, 3, 2, activation="hardswish"),
            InvertedResidual.build(16, 16, 48, 3, 1, activation="relu6"),
            InvertedResidual.build(16, 24, 64, 5, 2, activation="hardswish", se_channels=16),
            ConvBNAct.build(24, 24, 3, 1, groups=24, activation="relu"),
            ConvBNAct.build(24, 40, 1, activation="relu6")]


def _check(seq, x):
    """Fused output vs the float64 unfused composition of a copy (the model itself is not
    converted: .double()/.float() would move every tensor and force a rebuild)."""
    with torch.no_grad():
        got = seq(x)
        with unfused():
            want = copy.deepcopy(seq).double()(x.double())
    assert_close(got, want, what="FusedSequential")
    return got


def test_fused_sequential_keeps_keys_and_runs_one_network():
    plain = nn.Sequential(*_blocks())
    seq = randomize_bn(FusedSequential(*_blocks())).eval()
    assert list(seq.state_dict()) == list(plain.state_dict())
    _check(seq, make_input(2, 3, 21, 19, seed=5).float())
    steps = seq._plan.steps
    assert len(steps) == 1 and isinstance(steps[0], ops.Network) and len(steps[0]) == 5


def test_fused_sequential_segments_around_other_children():
    kids = _blocks()
    seq = randomize_bn(FusedSequential(*kids[:2], nn.Hardtanh(-1.0, 2.0), *kids[2:], nn.Dropout(0.5))).eval()
    _check(seq, make_input(1, 3, 16, 16, seed=6).float())
    kinds = [type(s).__name__ for s in seq._plan.steps]
    assert kinds == ["Network", "Hardtanh", "Network"]


def test_fused_sequential_follows_weight_changes_and_replaced_layers():
    seq = randomize_bn(FusedSequential(*_blocks())).eval()
    x = make_input(1, 3, 16, 16, seed=7).float()
    before = _check(seq, x)
    with torch.no_grad():
        seq[1].sequence()[0].conv.weight.mul_(-0.5)  # in place: _version bump deep in a block
    after = _check(seq, x)
    assert not torch.allclose(before, after)
    seq[3] = randomize_bn(ConvBNAct.build(24, 24, 5, 1, groups=24, activation="relu6"), seed=3).eval()
    _check(seq, x)
    seq[2].sequence()[1] = randomize_bn(ConvBNAct.build(64, 64, 3, 2, groups=64, activation="relu"), 4).eval()
    _check(seq, x)


def test_fused_sequential_follows_replaced_parameters_and_buffers():
    """Tensors replaced by new objects (not written in place: no _version bump on the old
    ones), deep in the tree: a Parameter, a BatchNorm buffer, load_state_dict(assign=True)."""
    seq = randomize_bn(FusedSequential(*_blocks())).eval()
    x = make_input(1, 3, 16, 16, seed=10).float()
    before = _check(seq, x)
    conv = seq[1].sequence()[0].conv
    conv.weight = nn.Parameter(conv.weight.detach() * -0.5)
    after = _check(seq, x)
    assert not torch.allclose(before, after)
    bn = seq[4].bn
    bn.running_var = bn.running_var * 4.0
    _check(seq, x)
    donor = randomize_bn(FusedSequential(*_blocks(seed=11)), seed=12).eval()
    seq.load_state_dict(donor.state_dict(), assign=True)
    with torch.no_grad():
        assert torch.equal(_check(seq, x), donor(x))


def test_model_follows_a_replaced_classifier_weight():
    model = randomize_bn(models.mobilenet_v3_small(0.5)).eval()
    x = make_input(1, 3, 64, 64, seed=13).float()
    with torch.no_grad():
        before = model(x)
        last = model.classifier[-1]
        last.weight = nn.Parameter(last.weight.detach() * 2.0)
        after = model(x)
        with unfused():
            want = copy.deepcopy(model).double()(x.double())
    assert_close(after, want, what="model")
    assert not torch.allclose(before, after)


def test_fused_sequential_training_hooks_and_compile_run_child_by_child(monkeypatch):
    seq = randomize_bn(FusedSequential(*_blocks())).eval()
    x = make_input(2, 3, 12, 12, seed=8).float()
    seen = []
    handle = seq[1].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    _check(seq, x)
    assert len(seen) == 2  # fused call and the unfused reference both ran the hooked block
    handle.remove()
    monkeypatch.setattr(cpu, "run_network", lambda *a: pytest.fail("C++ network used"))
    compiled = torch.compile(seq, backend="aot_eager", fullgraph=True)
    with torch.no_grad():
        got = compiled(x)
        with unfused():
            want = copy.deepcopy(seq).double()(x.double())
    assert_close(got, want, what="compiled")
    seq.train()
    plain = nn.Sequential(*[m for m in seq])
    torch.testing.assert_close(seq(x), plain(x))  # training: real BatchNorm, same modules


def test_fused_sequential_is_safe_from_several_python_threads():
    model = randomize_bn(models.mobilenet_v3_small(0.5)).eval()
    xs = [torch.randn(1, 3, 96, 96).contiguous(memory_format=torch.channels_last) for _ in range(4)]
    with torch.no_grad():
        want = [model(x) for x in xs]
    got = [None] * 4

    def work(i):
        with torch.no_grad():
            for _ in range(3):
                got[i] = model(xs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g, w in zip(got, want):
        assert torch.equal(g, w)


def test_fused_sequential_and_network_copy_and_pickle():
    import io
    seq = randomize_bn(FusedSequential(*_blocks())).eval()
    x = make_input(1, 3, 12, 12, seed=9).float()
    with torch.no_grad():
        want = seq(x)
        clone = copy.deepcopy(seq)
        buf = io.BytesIO()
        torch.save(seq, buf)
        buf.seek(0)
        loaded = torch.load(buf, weights_only=False)
        net = copy.deepcopy(seq._plan.steps[0])
        for other in (clone(x), loaded(x), net(x)):
            assert torch.equal(other, want)


# ---- FusedLinear and classifier heads -----------------------------------------------------

def test_fused_linear_matches_linear_and_keeps_keys():
    from mobilekernels.nn import FusedLinear
    for bias in (True, False):
        lin = nn.Linear(37, 11, bias=bias)
        fused = FusedLinear.from_linear(lin).eval()
        assert list(fused.state_dict()) == list(lin.state_dict())
        assert fused.weight is lin.weight  # shared, not copied
        for shape in [(5, 37), (2, 3, 37), (37,)]:
            x = torch.randn(*shape)
            with torch.no_grad():
                got = fused(x)
            assert got.shape == lin(x).shape
            assert_close(got, torch.nn.functional.linear(x.double(), lin.weight.double(),
                                                         None if lin.bias is None else lin.bias.double()))
    fused.train()
    x = torch.randn(4, 37, requires_grad=True)
    fused(x).sum().backward()
    assert fused.weight.grad is not None and x.grad is not None


def test_classifier_head_is_one_network_with_the_activation_folded(monkeypatch):
    from mobilekernels.nn import FusedLinear
    torch.manual_seed(3)
    head = FusedSequential(FusedLinear(96, 128), nn.Hardswish(inplace=True), nn.Dropout(0.2, inplace=True),
                           FusedLinear(128, 10)).eval()
    calls = []
    real = cpu.run_network
    monkeypatch.setattr(cpu, "run_network", lambda net, t, **kw: calls.append(net) or real(net, t, **kw))
    x = torch.randn(3, 96)
    with torch.no_grad():
        got = head(x)
        with unfused():
            want = copy.deepcopy(head).double()(x.double())
    assert got.shape == (3, 10)
    assert_close(got, want, what="head")
    assert len(calls) == 1 and [layer.args[1] for layer in calls[0].layers] == [int(A.HARDSWISH), 0]
    # An activation that cannot fold (after a block) splits the chain instead.
    seq = randomize_bn(FusedSequential(*_blocks()[:2], nn.ReLU())).eval()
    _check(seq, make_input(1, 3, 12, 12, seed=10).float())
    assert [type(s).__name__ for s in seq._plan.steps] == ["Network", "ReLU"]


def test_zoo_model_runs_in_one_call(monkeypatch):
    calls = []
    real = cpu.run_network
    monkeypatch.setattr(cpu, "run_network", lambda net, t, **kw: calls.append(len(net)) or real(net, t, **kw))
    model = randomize_bn(models.mobilenet_v3_small(0.5)).eval()
    x = torch.randn(1, 3, 64, 64).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        one = model(x)
        assert calls == [16]  # features (13 layers), the pool and the two-layer head
        with unfused():
            want = model(x)
        torch.testing.assert_close(one, want, rtol=1e-5, atol=1e-5)
        # A hook on a part splits the forward back into its parts; removing it rejoins them.
        handle = model.classifier.register_forward_hook(lambda m, i, o: None)
        calls.clear()
        torch.testing.assert_close(model(x), one, rtol=0, atol=0)
        assert calls == [13, 2]
        handle.remove()
        calls.clear()
        model(x)
        assert calls == [16]
        # A hook deeper in the tree (on a block inside features) is seen too.
        handle = model.features[3].register_forward_hook(lambda m, i, o: None)
        calls.clear()
        torch.testing.assert_close(model(x), one, rtol=0, atol=0)
        assert 16 not in calls
        handle.remove()
