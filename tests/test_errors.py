"""Every bad argument gets a clear exception that names it: in ops/ and at the C++ boundary."""
import numpy as np
import pytest
import torch

from mobilekernels import _ext, ops
from op_cases import conv_packed, dw_packed, make_input

X = make_input(1, 8, 6, 6, seed=0)
DW = dw_packed(8, 3, seed=0)
PW = conv_packed(8, 4, seed=0)

BAD_CALLS = [
    # (call, exception, words the message must contain)
    (lambda: ops.dwconv_bn_act(X[0], DW, 3, 1, [1] * 4, 1, 0), ValueError, "x must be 4-d"),
    (lambda: ops.dwconv_bn_act(X.int(), DW, 3, 1, [1] * 4, 1, 0), TypeError, "x must be float"),
    (lambda: ops.dwconv_bn_act(X, DW, 7, 1, [1] * 4, 1, 0), ValueError, "kernel_size"),
    (lambda: ops.dwconv_bn_act(X, DW, 3, 3, [1] * 4, 1, 0), ValueError, "stride"),
    (lambda: ops.dwconv_bn_act(X, DW, 3, 1, [1, 1], 1, 0), ValueError, "padding"),
    (lambda: ops.dwconv_bn_act(X, DW, 3, 1, [-1, 1, 1, 1], 1, 0), ValueError, "padding"),
    (lambda: ops.dwconv_bn_act(X, DW, 3, 1, [1] * 4, 1, 9), ValueError, "activation"),
    (lambda: ops.dwconv_bn_act(X, DW[:, :4], 3, 1, [1] * 4, 1, 0), ValueError, "packed must have shape"),
    (lambda: ops.dwconv_bn_act(X, DW.double(), 3, 1, [1] * 4, 1, 0), TypeError, "packed has dtype"),
    (lambda: ops.dwconv_bn_act(X, dw_packed(8, 5, seed=0), 3, 1, [1] * 4, 1, 0), ValueError, "packed"),
    (lambda: ops.dwconv_bn_act(make_input(1, 8, 2, 2, seed=0), dw_packed(8, 5, seed=0), 5, 1, [0] * 4, 1, 0),
     ValueError, "smaller than the kernel"),
    (lambda: ops.dwconv_bn_act(X[:, :, :0], DW, 3, 1, [1] * 4, 1, 0), ValueError, "x is empty"),
    (lambda: ops.pwconv_bn_act(X, conv_packed(7, 4, seed=0), 0, None), ValueError, "packed must have shape"),
    (lambda: ops.pwconv_bn_act(X, PW, 0, make_input(1, 8, 6, 6, seed=1)), ValueError, "residual"),
    (lambda: ops.conv_bn_act(X, conv_packed(8, 4, 3, seed=0), 4, 1, [1] * 4, 0), ValueError, "kernel_size"),
    (lambda: ops.conv_bn_act(X, PW, 3, 1, [1] * 4, 0), ValueError, "packed must have shape"),
    (lambda: ops.squeeze_excite(X, conv_packed(8, 2, seed=0), conv_packed(3, 8, seed=0), 1, 4),
     ValueError, "fc2"),
    (lambda: ops.global_avgpool(X[0, 0]), ValueError, "x must be 4-d"),
    (lambda: ops.inverted_residual(X, None, 0, DW, 3, 2, [1] * 4, 0, None, None, 0, 0,
                                   conv_packed(8, 8, seed=0), True), ValueError, "residual=True"),
    (lambda: ops.inverted_residual(X, None, 0, DW, 3, 1, [1] * 4, 0, conv_packed(8, 2, seed=0), None, 0, 0,
                                   conv_packed(8, 8, seed=0), True), ValueError, "se_fc1 and se_fc2"),
    (lambda: ops.pack_conv(torch.randn(4, 3, 3, 1), torch.randn(4)), ValueError, "square"),
    (lambda: ops.pack_dwconv(torch.randn(4, 2, 3, 3), torch.randn(4)), ValueError, "depthwise"),
    (lambda: ops.pack_dwconv(torch.randn(4, 1, 3, 3), torch.randn(5)), ValueError, "bias"),
    (lambda: ops.set_backend("cuda"), ValueError, "backend must be one of"),
    (lambda: ops.set_backend("Triton"), ValueError, "backend must be one of"),
]


@pytest.mark.parametrize("call,exc,words", BAD_CALLS, ids=[c[2] for c in BAD_CALLS])
def test_bad_arguments_raise_clearly(call, exc, words):
    with pytest.raises(exc, match=words):
        call()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_device_mismatch():
    with pytest.raises(ValueError, match="packed is on"):
        ops.dwconv_bn_act(X.cuda(), DW, 3, 1, [1] * 4, 1, 0)


def test_set_num_threads_rejects_bad_values():
    import mobilekernels
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="set_num_threads"):
            mobilekernels.set_num_threads(bad)


@pytest.mark.skipif(not _ext.available(), reason="CPU extension not built")
class TestCppBoundary:
    """The extension re-checks everything: a direct call cannot go out of bounds."""

    def args(self, **kw):
        a = dict(x=np.random.rand(1, 6, 6, 8).astype(np.float32),
                 packed=np.random.rand(10, 8).astype(np.float32),
                 y=np.zeros((1, 6, 6, 8), np.float32), kernel_h=3, kernel_w=3, stride_h=1, stride_w=1,
                 padding=[1, 1, 1, 1], dilation_h=1, dilation_w=1, activation=0)
        a.update(kw)
        return a

    def test_valid_call_works(self):
        _ext._C.dwconv_bn_act(**self.args())

    @pytest.mark.parametrize("kw,exc,words", [
        (dict(y=np.zeros((1, 5, 6, 8), np.float32)), ValueError, "y: dimension 1"),
        (dict(packed=np.zeros((9, 8), np.float32)), ValueError, "packed: dimension 0"),
        (dict(packed=np.zeros((10, 7), np.float32)), ValueError, "packed: dimension 1"),
        (dict(x=np.zeros((6, 6, 8), np.float32)), ValueError, "4-d"),
        (dict(activation=7), ValueError, "activation"),
        (dict(stride_h=0), ValueError, "stride"),
        (dict(padding=[-1, 1, 1, 1]), ValueError, "padding"),
        (dict(kernel_h=9, kernel_w=9, packed=np.zeros((82, 8), np.float32)), ValueError, "kernel"),
        (dict(isa="sse9"), ValueError, "isa"),
        (dict(x=np.zeros((1, 6, 6, 8), np.float64)), TypeError, "incompatible function arguments"),
        (dict(x=np.zeros((1, 6, 8, 6), np.float32).transpose(0, 1, 3, 2)), TypeError, "incompatible function arguments"),
    ])
    def test_rejects(self, kw, exc, words):
        with pytest.raises(exc, match=words):
            _ext._C.dwconv_bn_act(**self.args(**kw))

    def test_rejects_overlapping_output(self):
        x = np.random.rand(1, 6, 6, 8).astype(np.float32)
        with pytest.raises(ValueError, match="overlap"):
            _ext._C.dwconv_bn_act(**self.args(x=x, y=x))

    def test_rejects_read_only_output(self):
        y = np.zeros((1, 6, 6, 8), np.float32)
        y.flags.writeable = False
        with pytest.raises(ValueError, match="read-only"):
            _ext._C.dwconv_bn_act(**self.args(y=y))


@pytest.mark.skipif(not _ext.available(), reason="CPU extension not built")
@pytest.mark.parametrize("kw,words", [
    (dict(dw=np.zeros((10, 24), np.float32)), "dw: dimension 1"),
    (dict(project=np.zeros((48, 8), np.float32)), "project: dimension 0"),
    (dict(y=np.zeros((1, 6, 6, 9), np.float32)), "y: dimension 3"),
    (dict(kernel=7, dw=np.zeros((50, 48), np.float32)), "kernel"),
    (dict(se_fc1=np.zeros((49, 8), np.float32)), "se_fc1 and se_fc2"),
    (dict(residual=True, y=np.zeros((1, 3, 3, 8), np.float32), stride=2), "residual"),
    (dict(dw_activation=11), "activation"),
])
def test_cpp_inverted_residual_rejects(kw, words):
    a = dict(x=np.random.rand(1, 6, 6, 8).astype(np.float32), expand=np.random.rand(9, 48).astype(np.float32),
             expand_activation=2, dw=np.random.rand(10, 48).astype(np.float32), kernel=3, stride=1,
             padding=[1, 1, 1, 1], dw_activation=2, se_fc1=None, se_fc2=None, se_activation=0, se_gate=0,
             project=np.random.rand(49, 8).astype(np.float32), residual=False,
             y=np.zeros((1, 6, 6, 8), np.float32))
    a.update(kw)
    with pytest.raises(ValueError, match=words):
        _ext._C.inverted_residual(**a)


@pytest.mark.skipif(not _ext.available(), reason="CPU extension not built")
@pytest.mark.parametrize("kw,words", [
    (dict(packed=np.zeros((27, 16), np.float32)), "packed: dimension 0"),
    (dict(y=np.zeros((1, 4, 4, 16), np.float32)), "y: dimension 1"),
    (dict(kernel=9, packed=np.zeros((244, 16), np.float32)), "kernel"),
    (dict(stride=0), "stride"),
    (dict(activation=-1), "activation"),
])
def test_cpp_conv_rejects(kw, words):
    a = dict(x=np.random.rand(1, 9, 9, 3).astype(np.float32), packed=np.random.rand(28, 16).astype(np.float32),
             y=np.zeros((1, 5, 5, 16), np.float32), kernel=3, stride=2, padding=[1, 1, 1, 1], activation=3)
    a.update(kw)
    with pytest.raises(ValueError, match=words):
        _ext._C.conv_bn_act(**a)
