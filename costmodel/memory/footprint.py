"""Training and inference memory: closed forms in the batch and the sizes, from the memory trace.

One training step (``zero_grad(set_to_none=True)``, forward, cross-entropy loss,
backward, ``optimizer.step()``) holds, in bytes:

* **weights**: float32 parameters ``4 P`` and buffers (batch-norm running statistics);
* **optimizer state**: ``0`` (SGD), ``4 P`` (SGD with momentum: the momentum buffer),
  ``8 P`` (Adam, AdamW: the two moment estimates);
* **inputs**: the float32 images and int64 labels;
* and, at the peak, either the **backward pass** (saved activations not yet freed,
  parameter gradients produced so far, the gradients in flight; see
  :mod:`costmodel.cost.trace`) or the **optimizer step** (all ``4 P`` of gradients plus the
  update's temporaries: PyTorch's single-tensor Adam allocates two temporaries the size
  of the parameter tensor it updates, ``8 |W|_max`` bytes; SGD none).

.. math::
    M_{peak} = W + S_{opt} + X + \\max\\big(\\max_i M_i,\\; 4P + T_{step}\\big)

Mixed precision (``bfloat16``/``float16``) is ``torch.autocast`` with float32 master
weights: activations are stored in 16 bits where autocast computes in 16 bits (see
:mod:`costmodel.cost.precision`), the 16-bit copies of the weights are kept for the backward
pass, and weights, gradients and optimizer state stay float32. Activation checkpointing
(``checkpoint=True``) keeps only each block's input and recomputes the block in the
backward pass.

The model is validated against measured peaks (MemTracker, and the process RSS on CPU;
``costmodel validate --memory``). It models PyTorch on CPU: the CUDA caching allocator
rounds blocks to 512 bytes and keeps freed blocks cached, and foreach optimizers
(the CUDA default) allocate temporaries for all parameters at once.

Examples
--------
>>> from costmodel.models.presets import get_preset
>>> m = training_memory(get_preset("resnet50"), batch=32, optimizer="sgd")
>>> round(m.evaluate().peak / 2**20, 1)   # MiB; the process on CPU measured 2748.5 MiB
2751.7
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeAlias

import sympy

from costmodel import display
from costmodel.core.checks import as_size, check_choice
from costmodel.core.conventions import FLOP_COUNTER
from costmodel.core.errors import InvalidConfigError
from costmodel.core.symbols import B
from costmodel.cost.precision import PARAM_BYTES, Precision, get_precision
from costmodel.cost.trace import Peak, Trace, max_of
from costmodel.cost.value import Cost
from costmodel.models import (
    ConvNetConfig,
    ConvNeXtConfig,
    EfficientNetConfig,
    MobileNetV2Config,
    MobileNetV3Config,
    RegNetConfig,
    ResNetConfig,
    SwinConfig,
    ViTConfig,
    convnet,
    convnext,
    efficientnet,
    mobilenet,
    regnet,
    resnet,
    swin,
    vit,
)
from costmodel.models.base import ArchConfig
from costmodel.tracing.model import TracedModel


@dataclass(frozen=True, kw_only=True)
class Optimizer:
    """Memory of an optimizer: float32 state values per parameter, update temporaries."""

    name: str
    state_per_param: int
    temporaries: int  #: tensors the size of the largest parameter tensor, alive during its update


OPTIMIZERS: dict[str, Optimizer] = {o.name: o for o in (
    Optimizer(name="sgd", state_per_param=0, temporaries=0),
    Optimizer(name="momentum", state_per_param=1, temporaries=0),  # buf.mul_(m).add_(g); p.add_(buf)
    Optimizer(name="adam", state_per_param=2, temporaries=2),  # (exp_avg_sq.sqrt() / bc2).add_(eps)
    Optimizer(name="adamw", state_per_param=2, temporaries=2),
)}

#: the configs whose builders produce memory traces (each has ``in_channels`` and ``num_classes``)
MemoryConfig: TypeAlias = (ViTConfig | ResNetConfig | ConvNeXtConfig | ConvNetConfig | SwinConfig | EfficientNetConfig
                           | MobileNetV2Config | MobileNetV3Config | RegNetConfig)

#: family modules whose builders produce memory traces
_MODULES: dict[type[ArchConfig], ModuleType] = {
    ViTConfig: vit, ResNetConfig: resnet, ConvNeXtConfig: convnext, ConvNetConfig: convnet,
    SwinConfig: swin, EfficientNetConfig: efficientnet, MobileNetV2Config: mobilenet, MobileNetV3Config: mobilenet,
    RegNetConfig: regnet,
}

LABEL_BYTES = 8  #: int64 class labels


def get_optimizer(name: str | Optimizer) -> Optimizer:
    """An optimizer by name (``sgd``, ``momentum``, ``adam``, ``adamw``)."""
    if isinstance(name, Optimizer):
        return name
    return OPTIMIZERS[check_choice("optimizer", name, tuple(OPTIMIZERS))]


def memory_cost(config: ArchConfig, *, batch: Any = B, dtype: str | Precision = "float32",
                divisible: bool = False) -> Cost:
    """The :class:`~costmodel.cost.value.Cost` of ``config`` with the memory trace of ``dtype``."""
    if isinstance(config, TracedModel):  # traced with the saved-tensor hooks (costmodel.tracing)
        return config.model_cost(batch=as_size("batch", batch), precision=get_precision(dtype))
    module = _MODULES[type(_modelled(config))]
    batch = as_size("batch", batch)
    cost: Cost = module.cost(config, batch=batch, convention=FLOP_COUNTER, divisible=divisible,
                             precision=get_precision(dtype))
    return cost


def _modelled(config: ArchConfig) -> MemoryConfig:
    """``config`` itself, checked to be of a family with a memory model (a traced model has one)."""
    if isinstance(config, TracedModel):
        return config  # it has in_channels, image_hw and num_classes
    if type(config) in _MODULES and isinstance(config, (ViTConfig, ResNetConfig, ConvNeXtConfig, ConvNetConfig,
                                                        SwinConfig, EfficientNetConfig, MobileNetV2Config,
                                                        MobileNetV3Config, RegNetConfig)):
        return config
    known = ", ".join(c.family for c in _MODULES)
    raise InvalidConfigError("config", type(config).__name__,
                             f"has no memory model yet (memory is modelled for {known})")


def _image_bytes(config: ArchConfig, batch: Any) -> Any:
    height, width = config.image_hw
    return 4 * batch * _modelled(config).in_channels * height * width


def loss_trace(batch: Any, classes: Any, precision: Precision) -> Trace:
    """Cross-entropy on the logits: ``log_softmax`` keeps its float32 output (``B n``) and the
    loss a float32 scalar; its backward holds two float32 ``B n`` gradients (plus their
    16-bit cast under mixed precision)."""
    logits = batch * classes
    return Trace.op(saved=4 * logits + 4, elements=logits + 1,
                    transient=8 * logits + (precision.compute_bytes * logits if precision.mixed else 0))


@dataclass(frozen=True)
class TrainingMemory(display.Displayable):
    """Memory of one training step as SymPy expressions in bytes (see the module docstring).

    Attributes
    ----------
    weights, gradients, optimizer_state, inputs : SymPy expression
        Float32 parameters and buffers; parameter gradients; optimizer state; images and labels.
    saved_activations : SymPy expression
        Bytes the model's forward pass saves for backward, shared storages once (the
        hook measurement; includes the image when the first layer keeps it itself).
    backward_peaks : frozenset of Peak
        Candidates for the peak of the backward pass above weights, optimizer state and
        inputs (saved, gradient and transient bytes; the loss included).
    step_peak : SymPy expression
        The optimizer step above the same: all gradients and the update's temporaries.
    peak : SymPy expression
        ``weights + optimizer_state + inputs + Max(backward candidates, step_peak)``.
    cost : Cost
        The model's cost with its memory trace; ``cost.part(path).saved_bytes`` per layer.
    """

    config: ArchConfig
    batch: Any
    optimizer: str
    dtype: str
    checkpoint: bool
    weights: sympy.Expr
    gradients: sympy.Expr
    optimizer_state: sympy.Expr
    inputs: sympy.Expr
    saved_activations: sympy.Expr
    backward_peaks: frozenset[Peak]
    step_peak: sympy.Expr
    cost: Cost

    @property
    def persistent(self) -> sympy.Expr:
        """Held through the whole step: weights, optimizer state, inputs."""
        return self.weights + self.optimizer_state + self.inputs

    @property
    def backward_peak(self) -> sympy.Expr:
        """Peak of the backward pass above :attr:`persistent`."""
        return max_of(q.total for q in self.backward_peaks)

    @property
    def peak(self) -> sympy.Expr:
        """Peak memory of the training step, bytes."""
        return self.persistent + max_of([*(q.total for q in self.backward_peaks), self.step_peak])

    def terms(self) -> dict[str, sympy.Expr]:
        """The named terms (bytes): persistent ones, then the two candidate phases."""
        return {"weights": self.weights, "optimizer_state": self.optimizer_state, "inputs": self.inputs,
                "saved_activations": self.saved_activations, "backward_peak": self.backward_peak,
                "step_peak": self.step_peak, "peak": self.peak}

    def subs(self, **sizes: Any) -> TrainingMemory:
        """Substitute sizes by symbol name (e.g. ``B=8``) everywhere."""
        table = _table(self.cost, sizes)

        def sub(expr: Any) -> Any:
            return sympy.sympify(expr).subs(table)

        return dataclasses.replace(
            self, batch=sub(self.batch), weights=sub(self.weights), gradients=sub(self.gradients),
            optimizer_state=sub(self.optimizer_state), inputs=sub(self.inputs),
            saved_activations=sub(self.saved_activations),
            backward_peaks=frozenset(q.map(sub) for q in self.backward_peaks), step_peak=sub(self.step_peak),
            cost=self.cost.subs(table))

    def evaluate(self, **sizes: Any) -> MemoryValue:
        """Integer bytes for given sizes (every symbol needs a value), with what the peak is made of."""
        m = self.subs(**sizes) if sizes else self
        values = {name: _int(name, expr) for name, expr in m.terms().items()}
        best = max(m.backward_peaks, key=lambda q: _int("backward peak", q.total)) if m.backward_peaks else None
        backward = _int("backward peak", best.total) if best is not None else 0
        step = values["step_peak"]
        if best is not None and backward >= step:
            at_peak = {"phase": "backward", "activations": _int("saved", best.saved),
                       "gradients": _int("gradients", best.grads), "transient": _int("transient", best.transient)}
        else:
            at_peak = {"phase": "optimizer step", "activations": 0, "gradients": _int("gradients", m.gradients),
                       "transient": step - _int("gradients", m.gradients)}
        return MemoryValue(weights=values["weights"], optimizer_state=values["optimizer_state"],
                           inputs=values["inputs"], saved_activations=values["saved_activations"],
                           peak=values["peak"], at_peak=at_peak)

    def activations_by_part(self, top: int = 6, **sizes: Any) -> list[tuple[str, int]]:
        """The layers that save the most (top-level parts of the breakdown tree), bytes."""
        cost = self.cost.subs(**sizes) if sizes else self.cost
        rows = [(path, _int(path, part.saved_bytes)) for path, part in cost.parts]
        return sorted(rows, key=lambda r: -r[1])[:top]

    def _display_tables(self) -> tuple[display.Table, ...]:
        setup = (f"{type(self.config).__name__}, batch {self.batch}, {self.optimizer}, {self.dtype}"
                 + (", checkpointing" if self.checkpoint else ""))
        terms = {"weights": self.weights, "gradients": self.gradients, "optimizer state": self.optimizer_state,
                 "inputs": self.inputs, "saved activations": self.saved_activations,
                 "backward peak": self.backward_peak, "step peak": self.step_peak, "peak": self.peak}
        rows = tuple(display.row(name, value, "byte") for name, value in terms.items())
        note = "backward peak and step peak: above weights, optimizer state and inputs; peak: those plus the larger"
        return (display.Table(f"TrainingMemory ({setup})", rows, notes=(note,)),)


@dataclass(frozen=True)
class MemoryValue(display.Displayable):
    """A :class:`TrainingMemory` evaluated: integer bytes.

    ``at_peak`` says which phase peaks (``"backward"`` or ``"optimizer step"``) and how
    many bytes of saved activations, gradients and transients it holds there, on top of
    weights, optimizer state and inputs.
    """

    weights: int
    optimizer_state: int
    inputs: int
    saved_activations: int
    peak: int
    at_peak: dict[str, Any]

    def _display_tables(self) -> tuple[display.Table, ...]:
        rows = (display.row("weights", self.weights, "byte"),
                display.row("optimizer state", self.optimizer_state, "byte"),
                display.row("inputs", self.inputs, "byte"),
                display.row("saved activations", self.saved_activations, "byte"),
                display.row("peak", self.peak, "byte"))
        held = ", ".join(f"{display.format_value(self.at_peak.get(k, 0), 'byte')} {k}"
                         for k in ("activations", "gradients", "transient"))
        phase = {"backward": "backward pass"}.get(self.at_peak.get("phase", "?"), self.at_peak.get("phase", "?"))
        note = f"at the peak ({phase}), above weights, optimizer state and inputs: {held}"
        return (display.Table("MemoryValue", rows, notes=(note,)),)


def _table(cost: Cost, sizes: dict[str, Any]) -> dict[Any, Any]:
    by_name = {s.name: s for s in cost._all_symbols() | {B}}
    table = {}
    for name, value in sizes.items():
        if name not in by_name:
            raise InvalidConfigError(name, value, f"is not a size of this model (it has: "
                                                  f"{', '.join(sorted(by_name))})")
        table[by_name[name]] = value
    return table


def _int(name: str, expr: Any) -> int:
    value = sympy.sympify(expr)
    if value.free_symbols:
        missing = ", ".join(sorted(map(str, value.free_symbols)))
        raise InvalidConfigError(name, expr, f"needs values for {missing} to evaluate")
    return int(value)


def training_memory(config: ArchConfig, *, batch: Any = B, optimizer: str = "adam", dtype: str = "float32",
                    checkpoint: bool = False, divisible: bool = False) -> TrainingMemory:
    """Memory of one training step of ``config`` on ``batch`` images (see the module docstring).

    Parameters
    ----------
    batch : int or SymPy expression
    optimizer : {"sgd", "momentum", "adam", "adamw"}
    dtype : {"float32", "bfloat16", "float16"}
        ``float32``, or mixed precision (autocast) with float32 master weights.
    checkpoint : bool
        Activation checkpointing of every block (ViT blocks, ResNet and ConvNeXt blocks,
        ConvNet layers).
    divisible : bool
        For symbolic image sizes: assume strides divide the sizes (polynomials).
    """
    opt = get_optimizer(optimizer)
    precision = get_precision(dtype)
    if not isinstance(checkpoint, bool):
        raise InvalidConfigError("checkpoint", checkpoint, "must be true or false")
    if checkpoint and not isinstance(config, (ViTConfig, ResNetConfig, ConvNeXtConfig, ConvNetConfig)):
        raise InvalidConfigError("checkpoint", checkpoint, f"checkpointing is modelled for vit, resnet, convnext "
                                                           f"and convnet, not yet for {config.family}")
    cost = memory_cost(config, batch=batch, dtype=precision, divisible=divisible)
    batch = as_size("batch", batch)
    trace, params = cost.trace, cost.params
    overlap = 0 if precision.mixed else _image_bytes(config, batch)  # the first conv keeps the image itself
    full = trace.then(loss_trace(batch, _modelled(config).num_classes, precision))
    backward = frozenset(q.shift(saved=-overlap) for q in full.peaks(checkpoint))
    gradients = PARAM_BYTES * params
    return TrainingMemory(
        config=config, batch=batch, optimizer=opt.name, dtype=precision.name, checkpoint=checkpoint,
        weights=PARAM_BYTES * params + trace.buffers, gradients=gradients,
        optimizer_state=PARAM_BYTES * opt.state_per_param * params,
        inputs=_image_bytes(config, batch) + LABEL_BYTES * batch,
        saved_activations=trace.saved, backward_peaks=backward,
        step_peak=gradients + PARAM_BYTES * opt.temporaries * trace.largest, cost=cost)


@dataclass(frozen=True)
class InferenceMemory(display.Displayable):
    """Memory of a forward pass without autograd (``torch.no_grad``), bytes.

    ``activations`` is the peak of the tensors alive while one operator runs (its input
    and output, and any residual input waiting for its add); under mixed precision the
    autocast cache also holds a 16-bit copy of every convolution and linear weight
    (``weight_copies``).
    """

    weights: sympy.Expr
    inputs: sympy.Expr
    weight_copies: sympy.Expr
    activations: sympy.Expr

    @property
    def peak(self) -> sympy.Expr:
        return self.weights + self.inputs + self.weight_copies + self.activations

    def _display_tables(self) -> tuple[display.Table, ...]:
        rows = (display.row("weights", self.weights, "byte"), display.row("inputs", self.inputs, "byte"),
                display.row("16-bit weight copies", self.weight_copies, "byte"),
                display.row("activations", self.activations, "byte"), display.row("peak", self.peak, "byte"))
        return (display.Table("InferenceMemory (no autograd)", rows),)


def inference_memory(config: ArchConfig, *, batch: Any = B, dtype: str = "float32",
                     divisible: bool = False) -> InferenceMemory:
    """Memory of one forward pass of ``config`` on ``batch`` images without autograd."""
    precision = get_precision(dtype)
    cost = memory_cost(config, batch=batch, dtype=precision, divisible=divisible)
    batch = as_size("batch", batch)
    trace = cost.trace
    return InferenceMemory(weights=PARAM_BYTES * cost.params + trace.buffers,
                           inputs=_image_bytes(config, batch), weight_copies=trace.copies,
                           activations=max_of(trace.forward_peaks()))


__all__ = ["training_memory", "inference_memory", "memory_cost", "TrainingMemory", "InferenceMemory",
           "MemoryValue", "Optimizer", "OPTIMIZERS", "get_optimizer", "loss_trace"]
