"""compile_for_inference: a model frozen for repeated inference on one input shape.

On CUDA the forward pass is captured once into a CUDA graph with a static input buffer, so
each later call is one input copy and one graph replay: no Python, no per-kernel launch cost
(at batch 1 a MobileNet is ~50-60 small kernels, and launching them costs more than running
them). On the CPU, a model whose whole forward is one C++ network (the zoo; FusedSequentials)
is captured as that network with a static output: each call is one C++ run, without the
per-call plan checks (a snapshot of ~220 modules and the _version of ~260 tensors, which
after a forward's long C++ pass run with cold caches: 0.4-0.6 ms per call at batch 1,
bench/NOTES.md). Otherwise (cuda_graph=False, or a model that is not one network) the model
simply runs under torch.no_grad().

    fast = mobilekernels.compile_for_inference(model, torch.randn(1, 3, 224, 224, device="cuda",
                                               dtype=torch.float16).to(memory_format=torch.channels_last))
    logits = fast(x)          # same shape, dtype and device as the example; overwritten by the next call
    keep = fast(x).clone()    # or compile_for_inference(..., clone_output=True)

What a capture (CUDA graph or CPU network) fixes, and what it does not check on each call
(the price of a replay without Python): the input's shape, dtype and device (checked:
ValueError otherwise); the weights -- the replay reads the parameters and packed buffers
the model held at capture time (kept alive here, so a later change cannot make the replay
read freed memory, but it is not seen either: call `recapture()` after changing weights);
the model's structure and mode (eval). Moving
the wrapper (`.to()`, `.half()`, `.cuda()`) or switching it to training raises: compile a
new one instead. Not thread-safe: one replay at a time per object.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils._pytree import tree_map


def _clone(out):
    return tree_map(lambda t: t.clone() if isinstance(t, torch.Tensor) else t, out)


class InferenceModule(nn.Module):
    """What compile_for_inference returns: call it like the model (one tensor argument).

    Attributes: `model` (the wrapped model, in eval mode), `captured` (True when calls replay
    a CUDA graph), `static_input` / `static_output` (the graph's buffers, None when not
    captured), `example_shape`, `example_dtype`, `example_device`, `clone_output`."""

    def __init__(self, model: nn.Module, example_input: torch.Tensor, cuda_graph: bool, warmup: int,
                 clone_output: bool):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"compile_for_inference: model must be a torch.nn.Module, got {type(model).__name__}")
        if not isinstance(example_input, torch.Tensor):
            raise TypeError("compile_for_inference: example_input must be a torch.Tensor, "
                            f"got {type(example_input).__name__}")
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise ValueError(f"compile_for_inference: warmup must be an int >= 0, got {warmup!r}")
        self.training = False  # the wrapper itself; the model is switched below
        self.model = model.eval()
        self.example_shape = tuple(example_input.shape)
        self.example_dtype = example_input.dtype
        self.example_device = example_input.device
        self.clone_output = bool(clone_output)
        self.warmup = warmup
        self.captured = False
        self.static_input = None
        self.static_output = None
        self._graph = None
        self._cpu_network = None  # ops.cpu.FrozenNetwork when captured on the CPU
        self._cpu_example = None
        self._keepalive: list = []
        self._check_model_device()
        if cuda_graph and example_input.device.type == "cuda":
            if warmup < 1:
                raise ValueError("compile_for_inference: CUDA graph capture needs warmup >= 1 (lazy "
                                 "initialisation and kernel compilation must happen before capture)")
            self._capture(example_input)
        elif cuda_graph and example_input.device.type == "cpu":
            self._cpu_example = example_input.detach().clone()
            self._capture_cpu(self._cpu_example)

    def _check_model_device(self) -> None:
        for name, t in list(self.model.named_parameters()) + list(self.model.named_buffers()):
            if t.device != self.example_device:
                raise ValueError(f"compile_for_inference: model tensor {name!r} is on {t.device}, the example "
                                 f"input on {self.example_device}: move the model first")

    def _capture(self, example_input: torch.Tensor) -> None:
        """Warm-up on a side stream (torch.cuda.graphs' recipe: lazy init, cuDNN/cuBLAS
        workspaces, Triton compilation and packed weights all happen outside the capture),
        then one captured forward."""
        device = self.example_device
        with torch.cuda.device(device), torch.no_grad():
            # preserve_format keeps the example's strides (channels-last stays channels-last)
            static_input = torch.empty_like(example_input)
            static_input.copy_(example_input)
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(self.warmup):
                    self.model(static_input)
            torch.cuda.current_stream().wait_stream(side)
            torch.cuda.synchronize()
            graph = torch.cuda.CUDAGraph()
            try:
                with torch.cuda.graph(graph):
                    static_output = self.model(static_input)
            except Exception as e:
                raise RuntimeError("compile_for_inference: CUDA graph capture failed (the model's forward "
                                   "does something a graph cannot hold, e.g. a host sync or a CPU tensor); "
                                   "pass cuda_graph=False to run it uncaptured") from e
        # The graph holds raw pointers into these tensors: keep every one alive for its lifetime.
        self._keepalive = list(self.model.parameters()) + list(self.model.buffers())
        self._graph, self.static_input, self.static_output = graph, static_input, static_output
        self.captured = True

    def _capture_cpu(self, example_input: torch.Tensor) -> None:
        """`warmup` forwards (they pack the weights and build the model's plan), then, if the
        whole forward is one network on the C++ backend, that network with a static output."""
        from .ops import cpu, dispatch
        from .ops.custom_ops import _plain_eager

        with torch.no_grad():
            for _ in range(max(1, self.warmup)):
                self.model(example_input)
            single = getattr(self.model, "single_network", None)
            got = single() if callable(single) else None
            if (got is None or dispatch.backend_for("run_network", example_input) != "cpu"
                    or not _plain_eager((example_input,))):
                return
            net, post = got
            frozen = cpu.FrozenNetwork(net, example_input)
        self._keepalive = list(self.model.parameters()) + list(self.model.buffers()) + [net]
        self._cpu_network = frozen
        self.static_output = post(frozen.output) if post is not None else frozen.output
        self.captured = True

    def recapture(self) -> None:
        """Capture again (after the weights changed), with the current static input."""
        if not self.captured:
            return
        self.model.eval()
        self._check_model_device()
        if self._cpu_network is not None:
            self._cpu_network = self.static_output = None
            self._keepalive = []
            self.captured = False
            self._capture_cpu(self._cpu_example)
            return
        example = self.static_input.clone()
        self._graph = self.static_input = self.static_output = None
        self._keepalive = []
        self.captured = False
        self._capture(example)

    def _check_input(self, x) -> None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"compile_for_inference: input must be a torch.Tensor, got {type(x).__name__}")
        problems = []
        if tuple(x.shape) != self.example_shape:
            problems.append(f"shape {tuple(x.shape)} != {self.example_shape}")
        if x.dtype != self.example_dtype:
            problems.append(f"dtype {x.dtype} != {self.example_dtype}")
        if x.device != self.example_device:
            problems.append(f"device {x.device} != {self.example_device}")
        if problems:
            raise ValueError("compile_for_inference: input does not match the example it was compiled for: "
                             + "; ".join(problems) + " (compile again for another shape, dtype or device)")

    def forward(self, x: torch.Tensor):
        """The model's output for x. When captured, the returned tensor(s) are the graph's
        static output, overwritten by the next call (unless clone_output=True)."""
        self._check_input(x)
        if not self.captured:
            with torch.no_grad():
                return self.model(x)
        if self._cpu_network is not None:
            self._cpu_network(x)  # writes static_output (a view of the network's output)
            return _clone(self.static_output) if self.clone_output else self.static_output
        if x is not self.static_input:  # callers may fill static_input in place and pass it
            self.static_input.copy_(x)
        self._graph.replay()
        return _clone(self.static_output) if self.clone_output else self.static_output

    def train(self, mode: bool = True):
        if mode:
            raise RuntimeError("compile_for_inference: the wrapper is for inference only; train the "
                               "model itself and compile it again")
        return super().train(False)

    def _apply(self, fn, *args, **kwargs):
        # .to() / .half() / .cuda() ...: the example's dtype and device (and, when captured, the
        # graph's memory) are fixed at compile time.
        raise RuntimeError("compile_for_inference: the compiled model cannot be moved or converted; "
                           "convert the model itself and compile it again")

    def extra_repr(self) -> str:
        return (f"captured={self.captured}, shape={self.example_shape}, dtype={self.example_dtype}, "
                f"device={self.example_device}, clone_output={self.clone_output}")


def compile_for_inference(model: nn.Module, example_input: torch.Tensor, *, cuda_graph: bool = True,
                          warmup: int = 3, clone_output: bool = False) -> InferenceModule:
    """`model` (put in eval mode) prepared for repeated inference on inputs shaped like
    `example_input` (same shape, dtype, device; the memory format may differ, it is copied
    into the example's).

    On CUDA with cuda_graph=True: `warmup` forwards on a side stream, then one forward
    captured into a torch.cuda.CUDAGraph; each call copies its input into the static input
    buffer and replays the graph. The result is the graph's static output tensor, which the
    NEXT CALL OVERWRITES: clone it to keep it, or pass clone_output=True (one extra copy).
    The weights are frozen at capture (see the module doc; `recapture()` after changing them).

    On the CPU with cuda_graph=True (the default; the name is the GPU's, the switch means
    "capture"): `warmup` forwards, then, when the model's whole forward is one C++ network
    (the zoo models, FusedSequentials), each call runs that network into a static output
    that the next call overwrites, with the weights frozen as on CUDA. Other models, or
    cuda_graph=False: calls run the model under torch.no_grad(), nothing is captured; the
    input checks are the same. Inputs that do not match the example raise ValueError."""
    return InferenceModule(model, example_input, cuda_graph, warmup, clone_output)


__all__ = ["InferenceModule", "compile_for_inference"]
