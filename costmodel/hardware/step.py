"""Time of one training step on one device: every op of the breakdown tree, forward and backward, at its
roofline time, plus the optimizer update and the communication that does not overlap them::

    t_step = sum_ops [t_fwd(op) + t_bwd(op)] + t_opt / s + max(0, t_comm - t_overlap)

with each op's FLOPs from the ``full`` convention (true grouped-convolution counts,
elementwise arithmetic) and its bytes from :mod:`costmodel.cost.traffic`, timed on a
:class:`~costmodel.hardware.profiles.DeviceProfile` (:mod:`costmodel.hardware.roofline`).
:mod:`costmodel.hardware.planning` turns steps into training plans; a GPU's step by the
kernel model is :func:`costmodel.hardware.gpu_step.kernel_step_time`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from costmodel import display
from costmodel.core.errors import InvalidConfigError
from costmodel.hardware.devices import canonical_dtype
from costmodel.hardware.parallel import STRATEGIES, communication_seconds, strategy_name
from costmodel.hardware.profiles import DeviceProfile
from costmodel.hardware.roofline import Op, RooflineTime, time_ops


def _precision(dtype: str) -> Any:
    from costmodel.cost.precision import get_precision

    name = canonical_dtype(dtype)
    table = {"fp32": "float32", "tf32": "float32", "bf16": "bfloat16", "fp16": "float16"}
    if name not in table:
        raise InvalidConfigError("dtype", dtype, f"has no memory and traffic model (one of {', '.join(table)})")
    return get_precision(table[name])


def model_ops(config: Any, *, batch: int, dtype: str = "fp32") -> list[Op]:
    """The ops of one forward and backward pass: every leaf of the breakdown tree, both directions.

    FLOPs are the ``full`` convention's; bytes the leaf's :class:`~costmodel.cost.traffic.Traffic`
    at the precision of ``dtype`` (mixed precision for bf16/fp16).
    """
    from costmodel.models import cost

    c = cost(config, batch=batch, convention="full", precision=_precision(dtype))
    ops: list[Op] = []
    for path, leaf in c.leaves():
        traffic = leaf.traffic
        if traffic.kind == "":
            if leaf.forward_flops != 0 or leaf.backward_flops != 0:
                raise InvalidConfigError("cost", path, "has FLOPs but no op kind: its op function attaches no traffic")
            continue
        if traffic.kind == "mixed":
            raise InvalidConfigError("cost", path, "mixes op kinds in one leaf; name its parts")
        launches = float(traffic.launches)
        ops.append(Op(path=path, kind=traffic.kind, direction="forward", flops=float(leaf.forward_flops),
                      bytes=float(traffic.forward), launches=launches))
        ops.append(Op(path=path, kind=traffic.kind, direction="backward", flops=float(leaf.backward_flops),
                      bytes=float(traffic.backward), launches=launches))
    return ops


def optimizer_op(params: int, optimizer: str = "adamw", shards: int = 1) -> Op:
    """The optimizer update of ``params / shards`` parameters (fp32 state).

    Bytes per parameter (:data:`costmodel.hardware.microbench.OPTIMIZER_TRAFFIC`): SGD reads the
    weight and its gradient and writes the weight (3 values); momentum also reads and
    writes its buffer (5); Adam and AdamW read weight, gradient and both moments and
    write weight and moments (7); 4 bytes each.
    """
    from costmodel.hardware.microbench import OPTIMIZER_TRAFFIC

    if optimizer not in OPTIMIZER_TRAFFIC:
        raise InvalidConfigError("optimizer", optimizer, f"must be one of {', '.join(OPTIMIZER_TRAFFIC)}")
    count = params / shards
    return Op(path="optimizer", kind=f"optimizer_{optimizer}", direction="forward", flops=0.0,
              bytes=4.0 * OPTIMIZER_TRAFFIC[optimizer] * count, launches=0.0)


@dataclass(frozen=True, kw_only=True)
class StepTime(display.Displayable):
    """Predicted seconds of one training step on one device, and where they go."""

    roofline: RooflineTime
    optimizer_s: float
    communication_s: float = 0.0
    overlap_s: float = 0.0

    @property
    def forward_s(self) -> float:
        return sum(t.seconds for t in self.roofline.ops if t.op.direction == "forward" and t.op.path != "optimizer")

    @property
    def backward_s(self) -> float:
        return sum(t.seconds for t in self.roofline.ops if t.op.direction == "backward")

    @property
    def exposed_communication_s(self) -> float:
        """Communication not hidden behind the forward/backward computation it overlaps."""
        return max(0.0, self.communication_s - self.overlap_s)

    @property
    def seconds(self) -> float:
        """Forward + backward + optimizer + exposed communication."""
        return self.forward_s + self.backward_s + self.optimizer_s + self.exposed_communication_s

    def by_kind(self) -> dict[str, float]:
        """Seconds by op kind (the optimizer included)."""
        out = self.roofline.by("kind")
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    @property
    def bottleneck(self) -> str:
        """``"compute"``, ``"memory bandwidth"`` or ``"communication"``: the largest share of the step."""
        bounds = self.roofline.by("bound")
        shares = {"compute": bounds.get("compute", 0.0), "memory bandwidth": bounds.get("memory", 0.0),
                  "communication": self.exposed_communication_s}
        return max(shares, key=lambda k: shares[k])

    def _display_tables(self) -> tuple[display.Table, ...]:
        hidden = f"({display.format_value(self.exposed_communication_s, 's')} not overlapped)"
        rows = (display.row("forward", self.forward_s, "s"), display.row("backward", self.backward_s, "s"),
                display.row("optimizer", self.optimizer_s, "s"),
                display.row("communication", self.communication_s, "s", note=hidden if self.communication_s else ""),
                display.row("step", self.seconds, "s"))
        total = self.roofline.seconds or 1.0
        kinds = list(self.by_kind().items())
        by_kind = tuple(display.Row(kind, (display.Value(s, "s"), display.Value(f"{100 * s / total:.1f}%")))
                        for kind, s in kinds[:display.MAX_ROWS])
        return (display.Table("StepTime", rows, notes=(f"bottleneck: {self.bottleneck}",)),
                display.Table("time by op kind", by_kind, header=("op kind", "time", "share")))


def step_time(config: Any, *, batch: int, profile: DeviceProfile, optimizer: str = "adamw", gpus: int = 1,
              strategy: str = "ddp", link_bandwidth: float | None = None, params: int | None = None) -> StepTime:
    """Predicted training step of ``config`` on one device of ``profile`` at per-device ``batch``.

    With ``gpus > 1`` the gradient traffic of ``strategy`` over ``link_bandwidth`` (byte/s,
    one direction) is added where it does not overlap the computation.
    """
    from costmodel.models import cost

    strategy = strategy_name(strategy)
    ops = model_ops(config, batch=batch, dtype=profile.dtype)
    if params is None:
        params = int(cost(config, batch=1).params)
    shards = gpus if STRATEGIES[strategy][2] else 1
    timed = time_ops([*ops, optimizer_op(params, optimizer, shards)], profile)
    opt_s = sum(t.seconds for t in timed.ops if t.op.path == "optimizer")
    model_only = RooflineTime(tuple(t for t in timed.ops if t.op.path != "optimizer"))
    comm = 0.0
    overlap = 0.0
    if gpus > 1:
        if link_bandwidth is None:
            raise InvalidConfigError("gpus", gpus, "more than one device needs an interconnect bandwidth")
        grad_bytes = 4.0 * params  # float32 .grad (autocast keeps float32 master weights)
        comm = communication_seconds(grad_bytes, gpus, link_bandwidth, strategy)
        overlap = model_only.by("direction").get("backward", 0.0)
        if strategy == "zero3":  # parameters are gathered during the forward pass too
            overlap += model_only.by("direction").get("forward", 0.0)
    return StepTime(roofline=timed, optimizer_s=opt_s, communication_s=comm, overlap_s=overlap)


__all__ = ["model_ops", "optimizer_op", "StepTime", "step_time"]
