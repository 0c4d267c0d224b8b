r"""Roofline time of a list of ops: each kernel at its kind's achievable rates, summed.

The time of one kernel (one op, one direction) is the roofline bound

.. math:: t = \max\left(\frac{F}{R_F},\ \frac{Q}{R_Q}\right) + t_0

with ``F`` its FLOPs, ``Q`` the bytes it reads and writes, ``R_F`` and ``R_Q`` the
*achievable* rates of its op kind and direction
(:meth:`~costmodel.hardware.profiles.DeviceProfile.op_time`). Williams, Waterman &
Patterson, "Roofline: an insightful visual performance model for multicore
architectures", CACM 52(4), 2009.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from costmodel.hardware.profiles import KIND_CLASS, DeviceProfile


@dataclass(frozen=True, kw_only=True)
class Op:
    """One op (one kind, one direction) of a step: its FLOPs, bytes moved and kernel launches."""

    path: str
    kind: str
    direction: str
    flops: float
    bytes: float
    launches: float = 1.0


@dataclass(frozen=True, kw_only=True)
class OpTime:
    """An :class:`Op` timed on a profile: seconds and which roof bounds it."""

    op: Op
    seconds: float
    bound: str


@dataclass(frozen=True)
class RooflineTime:
    """Per-op roofline times of a list of ops, and their sums."""

    ops: tuple[OpTime, ...]

    @property
    def seconds(self) -> float:
        return sum(t.seconds for t in self.ops)

    def by(self, key: str) -> dict[str, float]:
        """Seconds summed by ``"kind"``, ``"direction"``, ``"bound"`` or ``"class"``."""
        out: dict[str, float] = {}
        for t in self.ops:
            if key == "bound":
                name = t.bound
            elif key == "class":
                name = KIND_CLASS[t.op.kind]
            else:
                name = getattr(t.op, key)
            out[name] = out.get(name, 0.0) + t.seconds
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    @property
    def bottleneck(self) -> str:
        """``"compute"`` or ``"memory bandwidth"``: the roof that bounds most of the time."""
        bounds = self.by("bound")
        return "compute" if bounds.get("compute", 0.0) >= bounds.get("memory", 0.0) else "memory bandwidth"


def time_ops(ops: Iterable[Op], profile: DeviceProfile) -> RooflineTime:
    r"""Roofline time of every op: :math:`\max(F/R_F, Q/R_Q) + n\,t_0` with the op's own rate."""
    timed = []
    for op in ops:
        rate = profile.rate(op.kind, op.direction)
        seconds = rate.time(op.flops, op.bytes) + op.launches * profile.overhead_s
        timed.append(OpTime(op=op, seconds=seconds, bound=rate.bound(op.flops, op.bytes)))
    return RooflineTime(tuple(timed))


__all__ = ["Op", "OpTime", "RooflineTime", "time_ops"]
