r"""GPU training step and inference time of a model from the kernel model (:mod:`costmodel.hardware.kernels`).

The ops of a step are the leaves of the model's breakdown tree (``full`` FLOP convention,
bytes from :mod:`costmodel.cost.traffic`, product shapes from each op's
:class:`~costmodel.cost.traffic.Gemm`), plus what the framework adds:

* autocast (bf16/fp16): each weight of a product is cast from fp32 at every use, one
  kernel reading 4 and writing 2 bytes per element; in training its 16-bit gradient is
  cast back (2 + 4 bytes);
* ``torch.compile`` (``compiled=True``): elementwise ops (activations, residual adds,
  scaling) are fused into the kernel before them: no launch, and only the extra operand
  of a binary op is read (a third of the op's bytes). Not checked against a measurement
  (no anchor was compiled);
* batch norm in training mode reads its input twice (a statistics pass, then the
  normalisation; cuDNN's ``BatchNormalizationForwardTraining``): 1.5 times the traffic
  model's forward bytes (which count one read and one write); in inference it is one pass;
* training: the optimizer update, ``4 v`` bytes per parameter (``v`` = 3 SGD, 5 momentum,
  7 Adam/AdamW values read or written), one kernel per parameter tensor and update
  stage without ``foreach`` (3 stages), a few in all with it.

Backward products: a product ``(m x k) @ (k x n)`` has the weight gradient
``(n x m) @ (m x k)`` and, when its input needs one, the input gradient
``(m x n) @ (n x k)``; fused attention's backward recomputes its forward products.

.. math::
    t_{step} = \max\Big(\sum_{kernels} t,\ n_{kernels}\, t_H\Big) + t_{comm,exposed}, \qquad
    \text{throughput} = \frac{B\,n_{GPU}}{t_{step}}
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import Any

from costmodel.core.errors import InvalidConfigError
from costmodel.hardware.devices import DeviceSpec
from costmodel.hardware.kernels import (
    GEMM_KINDS,
    KernelConstants,
    KernelOp,
    KernelTime,
    Shape,
    constants_for,
    time_kernels,
)
from costmodel.hardware.settings import ExecutionSettings

MODES: tuple[str, ...] = ("train", "inference")
#: fp32 values read or written per parameter by one update (timm's SGD is "momentum", Nesterov)
UPDATE_VALUES: dict[str, int] = {"sgd": 3, "momentum": 5, "adam": 7, "adamw": 7}
#: kernels per parameter tensor of a non-foreach update (e.g. momentum: buffer update, nesterov add, weight update)
UPDATE_STAGES = 3
#: tensors a foreach kernel handles per launch (PyTorch's multi_tensor_apply chunks; order of magnitude)
FOREACH_TENSORS = 110


def _precision(dtype: str) -> Any:
    from costmodel.cost.precision import get_precision

    return get_precision({"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}[dtype])


def _configured(config: Any, settings: ExecutionSettings) -> Any:
    """``config`` with the settings that change its ops (fused attention where the model has the choice)."""
    if any(f.name == "fused_attention" for f in dataclasses.fields(config)):
        return dataclasses.replace(config, fused_attention=settings.fused_attention)
    return config


def _shapes(gemms: Any) -> tuple[Shape, ...]:
    return tuple(Shape(m=float(g.m), n=float(g.n), k=float(g.k), batch=float(g.batch), count=float(g.count),
                       window=float(g.window), strided=bool(g.strided)) for g in gemms)


def backward_shapes(kind: str, shapes: tuple[Shape, ...], flops_ratio: float) -> tuple[Shape, ...]:
    """The products of the backward pass of an op whose forward runs ``shapes``.

    ``flops_ratio`` (backward / forward FLOPs) tells whether the input gradient is computed
    (ratio about 2) or only the weight gradient (about 1). Fused attention recomputes.
    """
    if kind == "attention":
        return shapes
    out: list[Shape] = []
    for s in shapes:
        # weight (or second operand) gradient, then the input gradient
        out.append(Shape(m=s.n, n=s.k, k=s.m, batch=s.batch, count=s.count, window=s.window, strided=s.strided))
        if flops_ratio > 1.5:
            out.append(Shape(m=s.m, n=s.k, k=s.n, batch=s.batch, count=s.count, window=s.window, strided=s.strided))
    return tuple(out)


def separate_bias(path: str, gemms: Any, settings: ExecutionSettings) -> KernelOp | None:
    r"""The ``add_(bias)`` kernels of linear layers whose input rank PyTorch does not fuse, or None.

    A linear layer on an input of rank :math:`r >` ``settings.fused_bias_rank`` runs
    ``matmul(x, W^T)`` then ``add_(b)`` in place (:mod:`costmodel.hardware.settings`): the
    add reads the output and the bias and writes the output, :math:`e (2 N d_{out} + d_{out})`
    bytes per call (:math:`e` the activation's element bytes), one launch per call. Its
    backward passes the gradient through; the bias gradient, a sum over :math:`dY`, is the
    same either way and stays in the layer's own bytes.
    """
    loose = [g for g in gemms if g.bias_rank > settings.fused_bias_rank]
    if not loose:
        return None
    elem = settings.element_bytes
    outputs = sum(float(g.m * g.n * g.batch * g.count) for g in loose)
    biases = sum(float(g.n * g.count) for g in loose)
    return KernelOp(path=f"{path}/bias", kind="elementwise", direction="forward", flops=outputs,
                    bytes=elem * (2.0 * outputs + biases), launches=sum(float(g.count) for g in loose))


@functools.lru_cache(maxsize=256)
def model_kernel_ops(config: Any, batch: int, settings: ExecutionSettings, mode: str = "train") -> tuple[KernelOp, ...]:
    """The kernel ops of one step (``mode="train"``: forward, backward, casts, optimizer) or one
    forward pass (``"inference"``), numeric, at per-GPU ``batch``."""
    from costmodel.models import cost

    if mode not in MODES:
        raise InvalidConfigError("mode", mode, f"must be one of {', '.join(MODES)}")
    config = _configured(config, settings)
    c = cost(config, batch=batch, convention="full", precision=_precision(settings.dtype))
    elem = settings.element_bytes
    ops: list[KernelOp] = []
    weights = 0.0
    weight_tensors = 0.0
    param_tensors = 0.0
    for path, leaf in c.leaves():
        traffic = leaf.traffic
        if traffic.kind == "":
            continue
        launches = float(traffic.launches)
        params = float(leaf.params)
        if params > 0:
            param_tensors += 2 * max(launches, 1.0)  # weight and bias (or scale and shift)
        shapes = _shapes(traffic.gemms) if traffic.kind in GEMM_KINDS else ()
        wbytes = sum(s.n * s.k * s.batch * s.count for s in shapes) if leaf.params else 0.0
        if traffic.kind in ("matmul", "conv") and params > 0:
            weights += wbytes
            weight_tensors += max(launches, 1.0)
        fwd_bytes, bwd_bytes = float(traffic.forward), float(traffic.backward)
        if settings.compiled and traffic.kind == "elementwise":
            fwd_bytes, bwd_bytes, launches = fwd_bytes / 3, bwd_bytes / 3, 0.0
        if traffic.kind == "batch_norm" and mode == "train":
            fwd_bytes *= 1.5  # training mode: a statistics pass reads the input once more
        fwd_flops, bwd_flops = float(leaf.forward_flops), float(leaf.backward_flops)
        ops.append(KernelOp(path=path, kind=traffic.kind, direction="forward", flops=fwd_flops, bytes=fwd_bytes,
                            launches=launches, shapes=shapes, weight_bytes=elem * wbytes))
        bias = separate_bias(path, traffic.gemms, settings) if traffic.kind == "matmul" else None
        if bias is not None:
            ops.append(bias)
        if mode == "train" and (bwd_flops > 0 or bwd_bytes > 0):
            ratio = bwd_flops / fwd_flops if fwd_flops > 0 else 0.0
            ops.append(KernelOp(path=path, kind=traffic.kind, direction="backward", flops=bwd_flops,
                                bytes=bwd_bytes, launches=launches * (2 if shapes else 1),
                                shapes=backward_shapes(traffic.kind, shapes, ratio),
                                weight_bytes=2 * elem * wbytes))
    if settings.mixed:
        ops.append(KernelOp(path="autocast/weights", kind="elementwise", direction="forward", flops=0.0,
                            bytes=6.0 * weights, launches=weight_tensors))
        if mode == "train":
            ops.append(KernelOp(path="autocast/grads", kind="elementwise", direction="backward", flops=0.0,
                                bytes=6.0 * weights, launches=weight_tensors))
    if mode == "train":
        n_params = float(c.params)
        stages = math.ceil(param_tensors / FOREACH_TENSORS) * UPDATE_STAGES if settings.foreach \
            else param_tensors * UPDATE_STAGES
        ops.append(KernelOp(path="optimizer", kind=f"optimizer_{settings.optimizer}", direction="forward",
                            flops=0.0, bytes=4.0 * UPDATE_VALUES[settings.optimizer] * n_params, launches=stages))
    return tuple(ops)


@dataclass(frozen=True, kw_only=True)
class GpuTime:
    """Predicted time of one step (or forward pass) on one GPU, and where it goes."""

    mode: str
    batch: int
    gpus: int
    kernels: tuple[KernelTime, ...]
    host_s: float
    communication_s: float = 0.0

    @property
    def gpu_s(self) -> float:
        """Sum of the kernels' times."""
        return sum(k.seconds for k in self.kernels)

    @property
    def seconds(self) -> float:
        """``max(GPU time, host dispatch time)`` plus communication not hidden by the backward pass."""
        backward = sum(k.seconds for k in self.kernels if k.op.direction == "backward")
        return max(self.gpu_s, self.host_s) + max(0.0, self.communication_s - backward)

    @property
    def throughput(self) -> float:
        """Images per second over all GPUs."""
        return self.batch * self.gpus / self.seconds

    def by(self, key: str) -> dict[str, float]:
        """Seconds by ``"kind"``, ``"direction"`` or ``"bound"``."""
        out: dict[str, float] = {}
        for k in self.kernels:
            name = k.bound if key == "bound" else str(getattr(k.op, key))
            out[name] = out.get(name, 0.0) + k.seconds
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def gpu_time(config: Any, *, batch: int, device: DeviceSpec, settings: ExecutionSettings | None = None,
             mode: str = "train", gpus: int = 1, constants: KernelConstants | None = None) -> GpuTime:
    """Predicted step (``mode="train"``) or forward pass (``"inference"``) of ``config`` at per-GPU ``batch``.

    With ``gpus > 1`` (data parallel, training) the ring all-reduce of the fp32 gradients
    over the device's link overlaps the backward pass (:mod:`costmodel.hardware.parallel`).
    """
    from costmodel.hardware.parallel import communication_seconds

    settings = ExecutionSettings() if settings is None else settings
    constants = constants_for(device) if constants is None else constants
    ops = model_kernel_ops(config, int(batch), settings, mode)
    kernels = time_kernels(ops, device, settings, constants)
    launches = sum(op.launches for op in ops)
    comm = 0.0
    if gpus > 1 and mode == "train":
        link = device.link_bandwidth
        if link is None:
            raise InvalidConfigError("gpus", gpus, f"{device.name} has no interconnect bandwidth")
        params = next(op for op in ops if op.path == "optimizer").bytes / (4.0 * UPDATE_VALUES[settings.optimizer])
        comm = communication_seconds(4.0 * params, gpus, link.to("byte/s").magnitude, "ddp")
    return GpuTime(mode=mode, batch=int(batch), gpus=gpus, kernels=kernels, host_s=launches * constants.host_s,
                   communication_s=comm)




def uses_kernel_model(spec: DeviceSpec, dtype: str) -> bool:
    """Whether plans on ``spec`` use the kernel model: a GPU with an SM count and fitted
    constants for its generation, and no calibrated profile of its own for ``dtype``."""
    from costmodel.hardware.kernels import GENERATION_CONSTANTS
    from costmodel.hardware.lookup import profile_path

    if spec.kind != "gpu" or spec.sm_count is None or spec.generation not in GENERATION_CONSTANTS:
        return False
    return not profile_path(spec.name, "fp32" if dtype == "tf32" else dtype).exists()


def kernel_step_time(config: Any, *, batch: int, spec: DeviceSpec, settings: ExecutionSettings, gpus: int = 1,
                     strategy: str = "ddp") -> Any:
    """A :class:`~costmodel.hardware.step.StepTime` from the kernel model (what ``plan`` reports for a GPU).

    The optimizer's time is divided over the GPUs when ``strategy`` shards its state; the
    gradient communication of ``strategy`` overlaps the backward pass (and, for ZeRO-3, the
    forward pass); a host-bound step gets a ``host dispatch`` entry for the time the GPU waits.
    """
    from costmodel.hardware.parallel import STRATEGIES, communication_seconds
    from costmodel.hardware.roofline import Op, OpTime, RooflineTime
    from costmodel.hardware.step import StepTime

    timed = gpu_time(config, batch=batch, device=spec, settings=settings, mode="train")
    shards = gpus if STRATEGIES[strategy][2] else 1
    entries = []
    for k in timed.kernels:
        seconds = k.seconds / shards if k.op.path == "optimizer" else k.seconds
        op = Op(path=k.op.path, kind=k.op.kind, direction=k.op.direction, flops=k.op.flops, bytes=k.op.bytes,
                launches=k.op.launches)
        entries.append(OpTime(op=op, seconds=seconds, bound=k.bound))
    waiting = timed.host_s - timed.gpu_s
    if waiting > 0:
        entries.append(OpTime(op=Op(path="host dispatch", kind="elementwise", direction="forward", flops=0.0,
                                    bytes=0.0, launches=0.0), seconds=waiting, bound="overhead"))
    roofline = RooflineTime(tuple(entries))
    opt_s = sum(t.seconds for t in entries if t.op.path == "optimizer")
    comm = overlap = 0.0
    if gpus > 1:
        if spec.link_bandwidth is None:
            raise InvalidConfigError("gpus", gpus, f"{spec.name} has no interconnect bandwidth")
        params = next(k.op for k in timed.kernels if k.op.path == "optimizer").bytes / (
            4.0 * UPDATE_VALUES[settings.optimizer])
        comm = communication_seconds(4.0 * params, gpus, spec.link_bandwidth.to("byte/s").magnitude, strategy)
        model_only = [t for t in entries if t.op.path != "optimizer"]
        overlap = sum(t.seconds for t in model_only if t.op.direction == "backward")
        if strategy == "zero3":
            overlap += sum(t.seconds for t in model_only if t.op.direction == "forward")
    return StepTime(roofline=roofline, optimizer_s=opt_s, communication_s=comm, overlap_s=overlap)


__all__ = ["MODES", "UPDATE_VALUES", "UPDATE_STAGES", "FOREACH_TENSORS", "backward_shapes", "separate_bias",
           "model_kernel_ops",
           "GpuTime", "gpu_time", "uses_kernel_model", "kernel_step_time"]
