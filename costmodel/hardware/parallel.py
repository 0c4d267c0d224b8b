"""Data parallelism and sharding: memory per GPU, communication time, GPU-hours and price.

Memory of the model states per GPU (Rajbhandari, Rasley, Ruwase & He, "ZeRO: Memory
Optimizations Toward Training Trillion Parameter Models", SC 2020, Sec. 5 and Fig. 1),
with ``P``, ``G``, ``O`` the bytes of parameters, gradients and optimizer state of one
full replica and ``n`` GPUs:

==============================  =====================================  =====================
strategy                        bytes per GPU                          communication / step
==============================  =====================================  =====================
``ddp`` (plain data parallel)   ``P + G + O``                          all-reduce ``G``
``zero1`` (shard O)             ``P + G + O / n``                      all-reduce ``G``
``zero2`` (shard O, G)          ``P + (G + O) / n``                    all-reduce ``G``
``zero3`` (shard O, G, P)       ``(P + G + O) / n``                    1.5 x all-reduce ``G``
==============================  =====================================  =====================

ZeRO-1/2 replace the all-reduce by a reduce-scatter of gradients and an all-gather of
parameters, the same volume (ZeRO Sec. 7.2.1); ZeRO-3 gathers the parameters twice
(forward and backward) and reduce-scatters the gradients: 1.5x (Sec. 7.2.2). PyTorch
FSDP (Zhao et al., "PyTorch FSDP", VLDB 2023) names them ``NO_SHARD`` (= ``ddp``),
``SHARD_GRAD_OP`` (= ``zero2``) and ``FULL_SHARD`` (= ``zero3``); ``fsdp`` here means
``FULL_SHARD``. Activations are never sharded by these strategies: each GPU keeps those
of its own share of the batch.

A ring all-reduce of ``S`` bytes over ``n`` GPUs sends ``2 (n - 1) / n * S`` bytes over
each GPU's link (Patarasuk & Yuan, "Bandwidth optimal all-reduce algorithms for clusters
of workstations", J. Parallel Distrib. Comput. 69(2), 2009):

.. math:: t = \\frac{2 (n - 1)}{n} \\frac{S}{\\beta}

with ``beta`` the one-direction link bandwidth.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from costmodel import display
from costmodel.core.errors import InvalidConfigError, UnknownPresetError
from costmodel.hardware.devices import canonical_dtype

#: strategy -> (parameters sharded, gradients sharded, optimizer state sharded, volume factor)
STRATEGIES: dict[str, tuple[bool, bool, bool, float]] = {
    "ddp": (False, False, False, 1.0),
    "zero1": (False, False, True, 1.0),
    "zero2": (False, True, True, 1.0),
    "zero3": (True, True, True, 1.5),
}
STRATEGY_ALIASES: dict[str, str] = {
    "none": "ddp", "dp": "ddp", "no_shard": "ddp", "fsdp": "zero3", "full_shard": "zero3",
    "shard_grad_op": "zero2", "zero-1": "zero1", "zero-2": "zero2", "zero-3": "zero3",
}

#: optimizer state values per parameter (Adam: first and second moments)
OPTIMIZER_STATES: dict[str, int] = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}


def strategy_name(name: str) -> str:
    """Canonical strategy (``"fsdp"`` -> ``"zero3"``); an unknown one suggests close names."""
    key = str(name).strip().lower()
    key = STRATEGY_ALIASES.get(key, key)
    if key not in STRATEGIES:
        raise UnknownPresetError("sharding strategy", str(name), (*STRATEGIES, *STRATEGY_ALIASES))
    return key


def check_gpus(gpus: Any) -> int:
    """A positive integer GPU count."""
    if isinstance(gpus, bool) or not isinstance(gpus, int):
        raise InvalidConfigError("gpus", gpus, "must be a positive integer")
    if gpus <= 0:
        raise InvalidConfigError("gpus", gpus, "must be at least 1")
    return gpus


def per_gpu_batch(batch: int, gpus: int) -> int:
    """``batch / gpus``; the global batch must split evenly over the GPUs."""
    check_gpus(gpus)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch <= 0:
        raise InvalidConfigError("batch", batch, "must be a positive integer")
    if batch % gpus:
        below, above = batch - batch % gpus or gpus, batch + gpus - batch % gpus
        raise InvalidConfigError("batch", batch, f"must be divisible by the GPU count {gpus} (e.g. {below} or {above})")
    return batch // gpus


@dataclass(frozen=True, kw_only=True)
class ModelStates(display.Displayable):
    """Bytes of one full replica's parameters, gradients and optimizer state."""

    params: float
    grads: float
    optimizer: float

    @property
    def total(self) -> float:
        return self.params + self.grads + self.optimizer

    def _display_tables(self) -> tuple[display.Table, ...]:
        rows = (display.row("parameters", self.params, "byte"), display.row("gradients", self.grads, "byte"),
                display.row("optimizer state", self.optimizer, "byte"), display.row("total", self.total, "byte"))
        return (display.Table("ModelStates (one full replica)", rows),)


def model_states(params: int, *, optimizer: str = "adamw", dtype: str = "fp32") -> ModelStates:
    r"""Model-state bytes for ``params`` parameters (ZeRO, Sec. 3.1).

    fp32: :math:`4\Psi` weights, :math:`4\Psi` gradients, :math:`4 k \Psi` optimizer
    state (``k`` = 0 SGD, 1 momentum, 2 Adam). Mixed precision (bf16/fp16 compute):
    :math:`2\Psi` low-precision weights and :math:`2\Psi` gradients; the optimizer holds
    fp32 master weights and states, :math:`(4 + 4k)\Psi` (ZeRO's ``K = 12`` for Adam).
    """
    if optimizer not in OPTIMIZER_STATES:
        raise UnknownPresetError("optimizer", optimizer, OPTIMIZER_STATES)
    if isinstance(params, bool) or params < 0:
        raise InvalidConfigError("params", params, "must be a non-negative number")
    k = OPTIMIZER_STATES[optimizer]
    if canonical_dtype(dtype) in ("fp32", "tf32"):
        return ModelStates(params=4.0 * params, grads=4.0 * params, optimizer=4.0 * k * params)
    return ModelStates(params=2.0 * params, grads=2.0 * params, optimizer=(4.0 + 4.0 * k) * params)


@dataclass(frozen=True, kw_only=True)
class MemoryPerGPU(display.Displayable):
    """Bytes each GPU holds: its share of the model states, and its activations."""

    params: float
    grads: float
    optimizer: float
    activations: float = 0.0

    @property
    def total(self) -> float:
        return self.params + self.grads + self.optimizer + self.activations

    def as_dict(self) -> dict[str, float]:
        return {"params": self.params, "grads": self.grads, "optimizer": self.optimizer,
                "activations": self.activations, "total": self.total}

    def _display_tables(self) -> tuple[display.Table, ...]:
        rows = (display.row("parameters", self.params, "byte"), display.row("gradients", self.grads, "byte"),
                display.row("optimizer state", self.optimizer, "byte"),
                display.row("activations", self.activations, "byte"), display.row("total", self.total, "byte"))
        return (display.Table("MemoryPerGPU", rows),)


def memory_per_gpu(states: ModelStates, *, gpus: int = 1, strategy: str = "ddp", activations: float = 0.0
                   ) -> MemoryPerGPU:
    """Bytes per GPU under ``strategy`` (see the module table); ``activations`` are per GPU."""
    n = check_gpus(gpus)
    shard_p, shard_g, shard_o, _ = STRATEGIES[strategy_name(strategy)]
    return MemoryPerGPU(params=states.params / n if shard_p else states.params,
                        grads=states.grads / n if shard_g else states.grads,
                        optimizer=states.optimizer / n if shard_o else states.optimizer,
                        activations=float(activations))


def ring_allreduce_seconds(nbytes: float, gpus: int, link_bandwidth: float) -> float:
    r"""Time of a ring all-reduce of ``nbytes`` over ``gpus`` GPUs: :math:`2 (n-1)/n \cdot S / \beta`.

    ``link_bandwidth`` is one direction of each GPU's link, in byte/s. Zero for one GPU.
    """
    n = check_gpus(gpus)
    if nbytes < 0:
        raise InvalidConfigError("nbytes", nbytes, "must be >= 0")
    if n == 1:
        return 0.0
    if not link_bandwidth > 0:
        raise InvalidConfigError("link_bandwidth", link_bandwidth, "must be positive for more than one GPU")
    return 2.0 * (n - 1) / n * nbytes / link_bandwidth


def communication_seconds(grad_bytes: float, gpus: int, link_bandwidth: float, strategy: str = "ddp") -> float:
    """Gradient (and, for ZeRO-3, parameter) traffic of one step: a ring all-reduce of the
    gradients times the strategy's volume factor (1, or 1.5 for ZeRO-3 / FSDP)."""
    factor = STRATEGIES[strategy_name(strategy)][3]
    return factor * ring_allreduce_seconds(grad_bytes, gpus, link_bandwidth)


# -- price -----------------------------------------------------------------------------
_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"}
_PRICE = re.compile(r"""^\s*(?P<sym>[$€£¥])?\s*(?P<amount>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?P<code>[A-Za-z]{3})?\s*
                        (?:/\s*(?:gpu[-_ ]?)?(?:h|hr|hour)\b)?\s*$""", re.VERBOSE | re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class Price:
    """A price per GPU-hour in a named currency (ISO 4217 code, e.g. ``USD``)."""

    amount: float
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.currency, str) or not re.fullmatch(r"[A-Z]{3}", self.currency):
            raise InvalidConfigError("currency", self.currency, "must be a three-letter ISO 4217 code such as USD")
        if not (math.isfinite(self.amount) and self.amount >= 0):
            raise InvalidConfigError("price", self.amount, "must be a finite amount >= 0")

    def __str__(self) -> str:
        return f"{self.amount:g} {self.currency}/GPU-hour"


def parse_price(text: str | Price) -> Price:
    """``"2.50 USD/h"``, ``"$2.5"``, ``"3 EUR/GPU-hour"`` -> :class:`Price`; a bare number is an error."""
    if isinstance(text, Price):
        return text
    match = _PRICE.match(str(text))
    if not match:
        raise InvalidConfigError("price", text, "must look like '2.50 USD/h' or '$2.50' (an amount per GPU-hour "
                                                "with a currency)")
    currency = match["code"].upper() if match["code"] else _SYMBOLS.get(match["sym"] or "")
    if not currency:
        raise InvalidConfigError("price", text, "needs a currency, e.g. '2.50 USD/h' or '$2.50'")
    if match["sym"] and match["code"] and _SYMBOLS[match["sym"]] != currency:
        raise InvalidConfigError("price", text, f"has two different currencies ({match['sym']} and {currency})")
    amount = float(match["amount"])
    if not math.isfinite(amount):
        raise InvalidConfigError("price", text, "must be a finite amount per GPU-hour")
    return Price(amount=amount, currency=currency)


def gpu_hours(train_seconds: float, gpus: int) -> float:
    """GPU-hours of a run: wall time times GPUs."""
    return train_seconds * check_gpus(gpus) / 3600.0


def training_cost(train_seconds: float, gpus: int, price: Price | str) -> tuple[float, str]:
    """``(amount, currency)``: GPU-hours times the price per GPU-hour."""
    p = parse_price(price)
    return gpu_hours(train_seconds, gpus) * p.amount, p.currency


__all__ = ["STRATEGIES", "OPTIMIZER_STATES", "strategy_name", "check_gpus", "per_gpu_batch", "ModelStates",
           "model_states", "MemoryPerGPU", "memory_per_gpu", "ring_allreduce_seconds", "communication_seconds",
           "Price", "parse_price", "gpu_hours", "training_cost"]
