"""compile_for_inference: CPU behaviour here; CUDA-graph capture of the zoo on a GPU."""
import pytest
import torch
from torch import nn

import mobilekernels
from mobilekernels import compile_for_inference, models

from conftest import assert_close, randomize_bn


class GradProbe(nn.Module):
    """Conv + BN + ReLU that records whether grad mode was on in its forward."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.grad_seen = []

    def forward(self, x):
        self.grad_seen.append(torch.is_grad_enabled())
        return self.body(x)


def test_exported():
    assert mobilekernels.compile_for_inference is compile_for_inference
    assert "compile_for_inference" in mobilekernels.__all__


def test_cpu_matches_model_eval_no_grad():
    model = randomize_bn(GradProbe()).train()
    x = torch.randn(2, 3, 10, 12)
    fast = compile_for_inference(model, x)
    assert not model.training and not fast.training and not fast.captured  # eval; no graph on CPU
    y = fast(torch.randn(2, 3, 10, 12))  # any input of the example's shape
    x2 = torch.randn(2, 3, 10, 12)
    y2 = fast(x2)
    assert model.grad_seen and not any(model.grad_seen)
    assert not y.requires_grad and not y2.requires_grad
    with torch.no_grad():
        ref = model(x2)
    assert_close(y2, ref, what="compile_for_inference vs model")


def test_cpu_zoo_model_channels_last():
    model = randomize_bn(models.mobilenet_v3_small()).eval()
    x = torch.randn(1, 3, 64, 64).contiguous(memory_format=torch.channels_last)
    fast = compile_for_inference(model, x, cuda_graph=True, clone_output=True)
    assert fast.captured  # the whole forward is one C++ network
    with torch.no_grad():
        ref = model(x)
    assert_close(fast(x), ref, what="zoo mobilenet_v3_small")
    assert_close(fast(x.contiguous()), ref, what="NCHW-contiguous input of the same shape")


def test_cpu_capture_runs_the_same_network_with_frozen_weights():
    torch.manual_seed(0)
    model = randomize_bn(models.mobilenet_v2(0.5)).eval()

    def image():
        return torch.randn(2, 3, 40, 48).contiguous(memory_format=torch.channels_last)

    fast = compile_for_inference(model, image())
    assert fast.captured
    x = image()
    with torch.no_grad():
        want = model(x)
    y = fast(x)
    assert torch.equal(y, want), "the captured network must be exactly the model's"
    first = y.clone()
    y2 = fast(image())  # the static output is overwritten by the next call
    assert y2.data_ptr() == y.data_ptr() and not torch.equal(y2, first)
    # Weights are frozen at capture: a change shows in the model, not in the capture ...
    with torch.no_grad():
        model.features[3].conv[1].bn.running_var.mul_(4.0)
        changed = model(x)
    assert not torch.equal(changed, want)
    assert torch.equal(fast(x), want)
    # ... until recapture().
    fast.recapture()
    assert fast.captured and torch.equal(fast(x), changed)


@pytest.mark.parametrize("fmt", [torch.channels_last, torch.contiguous_format])
def test_cpu_capture_same_input_tensor_refilled_or_moved(fmt):
    """The captured network reuses the last input's array view when the same tensor comes
    back on the same memory: refilling it in place, or moving it to other memory (set_),
    must still give that call's result."""
    torch.manual_seed(1)
    model = randomize_bn(models.mobilenet_v3_small(0.5)).eval()
    x = torch.randn(1, 3, 32, 40).contiguous(memory_format=fmt)
    fast = compile_for_inference(model, x, clone_output=True)
    assert fast.captured
    for step in range(3):
        if step == 1:
            x.copy_(torch.randn_like(x))  # refilled in place: same memory
        if step == 2:
            x.set_(torch.randn(1, 3, 32, 40).contiguous(memory_format=fmt))  # same object, new memory
        with torch.no_grad():
            want = model(x)
        assert torch.equal(fast(x), want), f"step {step}"
    other = torch.randn(1, 3, 32, 40).contiguous(memory_format=fmt)
    with torch.no_grad():
        assert torch.equal(fast(other), model(other))


def test_cpu_not_one_network_runs_the_model():
    seq = mobilekernels.nn.FusedSequential(models.mobilenet_v2(0.5).features[:3], nn.Hardswish(), nn.Flatten())
    seq = randomize_bn(seq).eval()
    x = torch.randn(1, 3, 32, 32)
    fast = compile_for_inference(seq, x)
    assert not fast.captured  # Flatten is not a network layer
    with torch.no_grad():
        assert torch.equal(fast(x), seq(x))
    assert not compile_for_inference(models.mobilenet_v2(0.5).eval(), x, cuda_graph=False).captured


@pytest.mark.parametrize("bad, what", [
    (torch.randn(3, 3, 10, 12), "shape"),
    (torch.randn(2, 3, 10, 11), "shape"),
    (torch.randn(2, 3, 10, 12, dtype=torch.float64), "dtype"),
    (torch.randn(2, 3, 10, 12, device="meta"), "device"),
])
def test_mismatched_input_raises(bad, what):
    fast = compile_for_inference(GradProbe(), torch.randn(2, 3, 10, 12))
    with pytest.raises(ValueError, match=what):
        fast(bad)


def test_bad_arguments():
    with pytest.raises(TypeError, match="input must be a torch.Tensor"):
        compile_for_inference(GradProbe(), torch.randn(1, 3, 4, 4))([1.0])
    with pytest.raises(TypeError, match="example_input"):
        compile_for_inference(GradProbe(), None)
    with pytest.raises(ValueError, match="warmup"):
        compile_for_inference(GradProbe(), torch.randn(1, 3, 4, 4), warmup=-1)
    with pytest.raises(ValueError, match="is on"):  # model and example on different devices
        compile_for_inference(GradProbe(), torch.randn(1, 3, 4, 4, device="meta"))
    fast = compile_for_inference(GradProbe(), torch.randn(1, 3, 4, 4))
    with pytest.raises(RuntimeError, match="inference only"):
        fast.train()
    with pytest.raises(RuntimeError, match="compile it again"):
        fast.to(torch.float64)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("batch", [1, 2])
def test_cuda_graph_matches_eager_mobilenet_v2_fp16(batch):
    torch.manual_seed(0)
    model = randomize_bn(models.mobilenet_v2()).eval().to("cuda", torch.float16)

    def image():
        return torch.randn(batch, 3, 224, 224, device="cuda", dtype=torch.float16).contiguous(
            memory_format=torch.channels_last)

    fast = compile_for_inference(model, image())
    assert fast.captured
    for _ in range(2):  # new data each call: the replay must read the copied input
        x = image()
        y = fast(x)
        with torch.no_grad():
            ref = model(x)
        assert_close(y.float(), ref.float(), torch.float16, what=f"CUDA graph vs eager, batch {batch}")
    # the static output is overwritten by the next call; clone_output returns a private copy
    first = y.clone()
    y_again = fast(image())
    assert y_again.data_ptr() == y.data_ptr() and not torch.equal(y, first)
    keep = compile_for_inference(model, x, clone_output=True)
    a = keep(x)
    keep(image())
    assert_close(a.float(), ref.float(), torch.float16, what="clone_output survives the next call")
    with pytest.raises(ValueError, match="shape"):
        fast(torch.randn(batch + 1, 3, 224, 224, device="cuda", dtype=torch.float16))
    with pytest.raises(ValueError, match="dtype"):
        fast(x.float())
