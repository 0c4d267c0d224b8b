"""Cost budgets: named limits on a model's params, FLOPs, memory and step time, read from TOML.

A budget file has one table per budget, under ``[budget.NAME]`` (or ``[tool.costmodel.budget.NAME]``
in a ``pyproject.toml``)::

    [budget.backbone]
    model = "resnet50"          # a preset name
    image_size = 224            # one side, or [height, width] (default: the preset's)
    batch = 1                   # default 1
    dtype = "float32"           # float32 (default), bfloat16, float16 (mixed precision)
    optimizer = "adamw"         # sgd, momentum, adam, adamw (default): training memory and step time
    device = "h100"             # for max_step_time
    max_params = "26e6"
    max_forward_flops = "8.3 GFLOP"
    max_training_flops = "25 GFLOP"
    max_training_memory = "2 GiB"
    max_step_time = "5 ms"

Limits are pint strings (or plain numbers: params, FLOPs, bytes, seconds). Every problem of the
file is a :class:`~costmodel.core.errors.InvalidConfigError` whose field is
``budget.NAME.KEY`` (an unknown key with the closest known one, a bad unit, an unknown model).
A model given as a module spec (``"package.module:factory"`` or ``"path/to/model.py:factory"``)
is traced with :func:`costmodel.tracing.trace.trace_module` at the budget's ``image_size``
(3 input channels); :data:`MODULE_RESOLVER` may replace that (``spec, image_size -> model``).
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from costmodel.core.errors import CostModelError, InvalidConfigError, UnknownPresetError

#: limit key -> (what it bounds, unit)
LIMITS: dict[str, tuple[str, str]] = {
    "max_params": ("params", "param"),
    "max_forward_flops": ("forward FLOPs", "flop"),
    "max_training_flops": ("training FLOPs (forward + backward)", "flop"),
    "max_training_memory": ("peak training memory", "byte"),
    "max_step_time": ("training step time", "s"),
}
SETTINGS = ("model", "image_size", "batch", "dtype", "optimizer", "device")
KEYS = (*SETTINGS, *LIMITS)
_MEMORY_DTYPES = {"fp32": "float32", "tf32": "float32", "bf16": "bfloat16", "fp16": "float16"}
_NUMBER = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(.*?)\s*$")

#: ``(spec, image_size) -> model`` for model specs that name a module; None: trace it (:func:`_traced`)
MODULE_RESOLVER: Callable[[str, Any], Any] | None = None


def _traced(spec: str, image_size: Any) -> Any:
    """The module of ``spec`` traced at a square ``image_size`` (or ``(height, width)``), 3 channels."""
    from costmodel.tracing.spec import load_module
    from costmodel.tracing.trace import trace_module

    height, width = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    traced = trace_module(load_module(spec), (3, int(height), int(width)), name=spec)
    return traced.replace(image_size=traced.input_shape[1:])


@dataclass(frozen=True)
class Budget:
    """One named budget: the model and its settings, and the limits as exact numbers of their units."""

    name: str
    config: Any
    batch: int
    dtype: str
    optimizer: str
    device: str | None
    limits: dict[str, Fraction]


@dataclass(frozen=True)
class BudgetResult:
    """One limit of one budget: the model's value, the limit, and the headroom ``(limit - value) / limit``."""

    budget: str
    limit_name: str
    value: float
    limit: float
    unit: str

    @property
    def holds(self) -> bool:
        return self.value <= self.limit

    @property
    def headroom(self) -> float:
        return (self.limit - self.value) / self.limit

    def to_json(self) -> dict[str, Any]:
        return {"budget": self.budget, "limit_name": self.limit_name, "value": self.value, "limit": self.limit,
                "unit": self.unit, "headroom": self.headroom, "holds": self.holds}


@dataclass(frozen=True)
class BudgetReport:
    """Every limit of every budget of a file."""

    results: tuple[BudgetResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.holds for r in self.results)

    @property
    def exceeded(self) -> tuple[BudgetResult, ...]:
        return tuple(r for r in self.results if not r.holds)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "results": [r.to_json() for r in self.results]}


def _error(budget: str, key: str, value: Any, rule: str) -> InvalidConfigError:
    return InvalidConfigError(f"budget.{budget}.{key}" if key else f"budget.{budget}", value, rule)


def read_tables(path: str | Path) -> dict[str, Any]:
    """The budget tables of a TOML file: ``[budget.*]``, or ``[tool.costmodel.budget.*]`` of a pyproject.toml."""
    path = Path(path)
    text = path.read_bytes()
    data: Any = None
    try:
        if sys.version_info >= (3, 11):
            import tomllib

            data = tomllib.loads(text.decode("utf-8"))
        else:
            raise InvalidConfigError(str(path), "", "budget files need Python 3.11 or later (tomllib)")
    except UnicodeDecodeError as exc:
        raise InvalidConfigError(str(path), "", f"is not UTF-8 text (byte {exc.start})") from None
    except ValueError as exc:  # tomllib.TOMLDecodeError
        if isinstance(exc, InvalidConfigError):
            raise
        raise InvalidConfigError(str(path), "", f"is not valid TOML ({exc})") from exc
    tool = data.get("tool", {}).get("costmodel") if isinstance(data.get("tool"), dict) else None
    if isinstance(tool, dict):
        data = tool
    budgets = data.get("budget")
    if not isinstance(budgets, dict) or not budgets:
        where = "[tool.costmodel.budget.NAME]" if path.name == "pyproject.toml" else "[budget.NAME]"
        raise InvalidConfigError(str(path), "", f"has no budgets: write them as {where} tables")
    for name, table in budgets.items():
        if not isinstance(table, dict):
            raise _error(name, "", table, "must be a table of settings and limits")
    return budgets


def parse_limit(budget: str, key: str, value: Any) -> Fraction:
    """A limit as an exact number of its unit (``"8.3 GFLOP"`` -> 8300000000 FLOP)."""
    from costmodel.core.units import ureg

    unit = LIMITS[key][1]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _error(budget, key, value, f"must be a quantity in {unit} as a string, e.g. {_example(unit)!r}")
    match = _NUMBER.match(str(value))
    if match is None:
        raise _error(budget, key, value, f"must be a number and a unit of {unit}, e.g. {_example(unit)!r}")
    number, unit_text = match.groups()
    try:
        factor = ureg.Quantity(1, unit_text or "").to(unit).magnitude if unit_text else 1
    except Exception as exc:  # pint: an undefined unit, or one of another dimension
        raise _error(budget, key, value, f"bad unit {unit_text!r}: need a unit of {unit} "
                                         f"(e.g. {_example(unit)!r}) ({type(exc).__name__})") from exc
    exact = Fraction(number) * Fraction(factor)
    if exact <= 0:
        raise _error(budget, key, value, "must be positive")
    return exact


def _example(unit: str) -> str:
    return {"param": "26e6", "flop": "8.3 GFLOP", "byte": "16 GiB", "s": "50 ms"}[unit]


def _model(budget: str, table: dict[str, Any]) -> Any:
    from costmodel.models.presets import PRESETS

    if "model" not in table:
        raise _error(budget, "model", None, "is missing: name a preset (e.g. model = \"resnet50\")")
    spec = table["model"]
    if not isinstance(spec, str):
        raise _error(budget, "model", spec, "must be a preset name")
    if ":" in spec:
        size = table.get("image_size", 224)
        try:
            return (MODULE_RESOLVER or _traced)(spec, tuple(size) if isinstance(size, list) else size)
        except CostModelError as exc:
            raise _error(budget, "model", spec, str(exc)) from exc
    if spec not in PRESETS:
        raise _error(budget, "model", spec, UnknownPresetError("model", spec, PRESETS).message)
    config = PRESETS[spec]
    if "image_size" in table:
        size = table["image_size"]
        try:
            config = config.replace(image_size=tuple(size) if isinstance(size, list) else size)
        except CostModelError as exc:
            raise _error(budget, "image_size", size, str(exc)) from exc
    return config


def parse_budget(name: str, table: dict[str, Any]) -> Budget:
    """One ``[budget.NAME]`` table, checked: unknown keys (with a suggestion), units, model, settings."""
    from costmodel.cost.precision import get_precision
    from costmodel.hardware.devices import canonical_dtype
    from costmodel.memory.footprint import get_optimizer

    for key in table:
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise _error(name, key, table[key], f"unknown key{hint}; known keys: {', '.join(KEYS)}")
    config = _model(name, table)
    batch = table.get("batch", 1)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise _error(name, "batch", batch, "must be a positive integer")
    try:
        dtype = canonical_dtype(table.get("dtype", "float32"))
        get_precision(_MEMORY_DTYPES.get(dtype, dtype))
    except CostModelError as exc:
        raise _error(name, "dtype", table.get("dtype"), "must be float32, bfloat16 or float16") from exc
    optimizer = table.get("optimizer", "adamw")
    try:
        get_optimizer(optimizer)
    except CostModelError as exc:
        raise _error(name, "optimizer", optimizer, str(exc)) from exc
    device = table.get("device")
    if "max_step_time" in table and device is None:
        raise _error(name, "device", None, "is needed by max_step_time (e.g. device = \"h100\")")
    if device is not None and not isinstance(device, str):
        raise _error(name, "device", device, "must be a device name (h100, a100, ...)")
    limits = {key: parse_limit(name, key, table[key]) for key in LIMITS if key in table}
    if not limits:
        raise _error(name, "", table, f"has no limits: set one of {', '.join(LIMITS)}")
    return Budget(name=name, config=config, batch=batch, dtype=dtype, optimizer=optimizer, device=device,
                  limits=limits)


def load_budgets(path: str | Path) -> tuple[Budget, ...]:
    """Every budget of a file, checked (see the module docstring)."""
    return tuple(parse_budget(name, table) for name, table in read_tables(path).items())


def _value(budget: Budget, key: str) -> float:
    from costmodel.models import cost

    if key in ("max_params", "max_forward_flops", "max_training_flops"):
        c = cost(budget.config, batch=budget.batch)
        return float({"max_params": c.params, "max_forward_flops": c.forward_flops,
                      "max_training_flops": c.forward_flops + c.backward_flops}[key])
    if key == "max_training_memory":
        from costmodel.memory.footprint import training_memory

        memory = training_memory(budget.config, batch=budget.batch, optimizer=budget.optimizer,
                                 dtype=_MEMORY_DTYPES.get(budget.dtype, budget.dtype))
        return float(memory.evaluate().peak)
    from costmodel.hardware.lookup import profile_for
    from costmodel.hardware.step import step_time

    try:
        profile = profile_for(str(budget.device), budget.dtype)
    except CostModelError as exc:
        raise _error(budget.name, "device", budget.device, str(exc)) from exc
    return float(step_time(budget.config, batch=budget.batch, profile=profile, optimizer=budget.optimizer).seconds)


def check_budget(budget: Budget) -> tuple[BudgetResult, ...]:
    """The model's value against every limit of ``budget``."""
    return tuple(BudgetResult(budget=budget.name, limit_name=key, value=_value(budget, key), limit=float(limit),
                              unit=LIMITS[key][1]) for key, limit in budget.limits.items())


def check_budgets(path: str | Path, names: tuple[str, ...] | None = None) -> BudgetReport:
    """Check every budget of the file at ``path`` (or only those in ``names``)."""
    budgets = load_budgets(path)
    if names:
        known = {b.name for b in budgets}
        for name in names:
            if name not in known:
                raise UnknownPresetError("budget", name, known)
        budgets = tuple(b for b in budgets if b.name in names)
    return BudgetReport(tuple(r for b in budgets for r in check_budget(b)))


__all__ = ["Budget", "BudgetResult", "BudgetReport", "LIMITS", "KEYS", "MODULE_RESOLVER", "read_tables",
           "parse_limit", "parse_budget", "load_budgets", "check_budget", "check_budgets"]
