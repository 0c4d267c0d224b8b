"""Trace a PyTorch module with symbolic batch, height and width: :func:`trace_module`, :func:`from_module`.

The module runs once, forward and backward (``output.sum()``), on a fake image batch
(``FakeTensorMode`` with a ``ShapeEnv``; the module's weights are swapped for fake copies
with ``torch.func.functional_call``, or, given a factory, the module is built inside the
fake mode), so nothing is allocated and a 600M-parameter model traces in seconds. The
dispatch recorder (:mod:`costmodel.tracing.recorder`) counts every op with FlopCounterMode's
formulas, and the saved-tensor hooks (:mod:`costmodel.tracing.saved`) see what autograd
keeps; :mod:`costmodel.tracing.assemble` builds the :class:`~costmodel.cost.value.Cost` tree.

Honest limits, all reported by the :class:`~costmodel.tracing.model.TracedModel`:

* PyTorch specialises sizes 0 and 1 and records *guards*, the conditions its trace relied
  on, each with the module and op that added it. A guard in ``H`` or ``W`` (``H >= 9``: no
  feature map shrinks to one pixel) becomes a :class:`~costmodel.core.validity.Condition`
  of the cost. A guard that only compares the batch with a constant (``B < 16``) is a
  kernel or memory-layout choice of the CPU backend, which changes no count: it is listed
  in the notes, not as a condition.
  A guard that tests a size modulo another size (``Mod(1, n) != 0``: is this dimension
  contiguous) chooses strides, not counts: it is counted in the notes.
* A requested size the model fixes (a learned position embedding of fixed length, a
  ``view`` with literal sizes) is specialised by PyTorch: it is reported as fixed at its
  value by the module that fixed it, and the cost does not depend on it.
* Where the symbolic trace fails (data-dependent control flow...), the module is traced
  again at the concrete size and the note says so.
* FLOP-bearing ops without a formula are listed by name and count (``unknown_ops``).
"""

from __future__ import annotations

import contextlib
import functools
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import sympy

from costmodel.core.errors import InvalidConfigError
from costmodel.core.validity import Condition
from costmodel.cost.value import Cost
from costmodel.tracing.assemble import ModuleInfo, assemble
from costmodel.tracing.model import TracedModel
from costmodel.tracing.sympy_bridge import DIMS, SymbolicShapeError, canonical_floors, canonical_symbols, to_sympy

#: batch size traced with when the batch is symbolic (sizes 0 and 1 would be specialised)
BATCH_HINT = 8

_DTYPES = ("float32", "bfloat16", "float16")


def _check_shape(input_shape: Any) -> tuple[int, int, int]:
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError) as exc:
        raise InvalidConfigError("input_shape", input_shape, "must be (channels, height, width) integers") from exc
    if len(shape) != 3 or min(shape) <= 0:
        raise InvalidConfigError("input_shape", input_shape, "must be three positive sizes: channels, height, width")
    return shape[0], shape[1], shape[2]


def trace_module(module: Any, input_shape: Sequence[int] = (3, 224, 224),
                dynamic: Sequence[str] = ("batch", "height", "width"), *, batch: int = BATCH_HINT,
                dtype: str = "float32", name: str | None = None, train: bool = True) -> TracedModel:
    """Trace ``module`` (an ``nn.Module``, or a function of no arguments returning one) on a
    fake ``(batch, *input_shape)`` image batch with ``dynamic`` sizes symbolic.

    Parameters
    ----------
    module : torch.nn.Module or callable
        The model; a factory is called inside the fake mode (nothing allocated).
    input_shape : (channels, height, width)
        The image size traced at (its height and width are the trace hints).
    dynamic : subset of {"batch", "height", "width"}
        Sizes made the symbols ``B``, ``H``, ``W``.
    batch : int
        Batch traced with (the hint for ``B``, or the batch itself when not dynamic).
    dtype : {"float32", "bfloat16", "float16"}
        Mixed precision runs the forward pass under ``torch.autocast("cpu", dtype)``.
    train : bool
        Trace in training mode (batch norm batch statistics, dropout) as a training step runs.

    Returns
    -------
    TracedModel
        ``.cost()`` is the :class:`~costmodel.cost.value.Cost` (in ``B``, ``H``, ``W``);
        ``.conditions``, ``.notes``, ``.unknown_ops`` the limits (module docstring).
    """
    channels, height, width = _check_shape(input_shape)
    unknown = [d for d in dynamic if d not in DIMS]
    if unknown:
        raise InvalidConfigError("dynamic", tuple(dynamic), f"unknown dimensions {unknown} (known: {list(DIMS)})")
    if dtype not in _DTYPES:
        raise InvalidConfigError("dtype", dtype, f"must be one of {', '.join(_DTYPES)}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InvalidConfigError("batch", batch, "must be a positive integer")
    label = name or _label(module)
    shape = (batch, channels, height, width)
    try:
        return _trace(module, shape, tuple(dynamic), dtype, label, train)
    except InvalidConfigError:
        raise
    except Exception as exc:  # PyTorch raises many kinds: fall back to the concrete size, and say so
        if not dynamic:
            raise SymbolicShapeError(f"PyTorch could not trace {label} at {shape}: "
                                     f"{type(exc).__name__}: {_first_line(exc)}") from exc
        try:
            traced = _trace(module, shape, (), dtype, label, train)
        except InvalidConfigError:
            raise
        except Exception as again:
            raise SymbolicShapeError(f"PyTorch could not trace {label} symbolically ({_first_line(exc)}) nor at "
                                     f"{shape} ({type(again).__name__}: {_first_line(again)})") from again
        note = (f"symbolic tracing failed ({type(exc).__name__}: {_first_line(exc)}); exact count at the "
                f"concrete size batch {batch}, {channels}x{height}x{width} only")
        return traced.with_notes(note)


def from_module(module: Any, input_shape: Sequence[int] = (3, 224, 224),
                dynamic: Sequence[str] = ("batch", "height", "width"), **options: Any) -> Cost:
    """The :class:`~costmodel.cost.value.Cost` of ``module`` in ``B``, ``H``, ``W``, as the families give it.

    ``trace_module(module, input_shape, dynamic, **options).model_cost()``: its conditions
    (PyTorch's guards, fixed sizes) travel with it; :func:`trace_module` also keeps the notes
    (kernel-choice guards, unknown ops, a fallback to the concrete size) and stands where a
    config stands (comparisons, memory budgets, plans).
    """
    return trace_module(module, input_shape, dynamic, **options).model_cost()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""


def _label(module: Any) -> str:
    return type(module).__name__ if not callable(module) or hasattr(module, "forward") else \
        getattr(module, "__name__", "model")


def _module_infos(model: Any) -> dict[str, ModuleInfo]:
    infos = {}
    for name, sub in model.named_modules():
        params = [p for p in sub.parameters(recurse=False) if p.requires_grad]
        infos[name.replace(".", "/")] = ModuleInfo(
            path=name.replace(".", "/"), children=tuple(n for n, _ in sub.named_children()),
            params=sum(p.numel() for p in params), param_bytes=4 * sum(p.numel() for p in params),
            buffer_bytes=sum(b.numel() * b.element_size() for b in sub.buffers(recurse=False)),
            largest=max((p.numel() for p in params), default=0))
    return infos


def _trace(module: Any, shape: tuple[int, int, int, int], dynamic: tuple[str, ...], dtype: str, label: str,
           train: bool) -> TracedModel:
    import torch
    from torch._dynamo.source import ConstantSource
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv, StatelessSymbolicContext

    from costmodel.tracing.formulas import flop_registry
    from costmodel.tracing.recorder import ModulePaths, make_recorder, tag
    from costmodel.tracing.saved import SavedTensorLog, storage_keys

    env = ShapeEnv(duck_shape=False)
    mode = FakeTensorMode(shape_env=env, allow_non_fake_inputs=True)
    kinds = [DimDynamic.STATIC] * 4
    for dim in dynamic:
        kinds[DIMS[dim][0]] = DimDynamic.DYNAMIC
    x = mode.from_tensor(torch.zeros(shape), source=ConstantSource("x"),
                         symbolic_context=StatelessSymbolicContext(dynamic_sizes=kinds))
    renames = canonical_symbols(env, x)
    hints = {DIMS[d][1]: shape[DIMS[d][0]] for d in dynamic}

    @functools.cache
    def flat(expr: sympy.Expr) -> sympy.Expr:
        if not isinstance(expr, sympy.Expr) or not expr.has(sympy.floor, sympy.ceiling, sympy.Mod):
            return expr  # relations (guards) keep PyTorch's form
        return sympy.expand(canonical_floors(expr))

    def convert(value: Any) -> sympy.Expr:
        """PyTorch's size -> SymPy in B, H, W; nested floors flattened (one floor per stride product)."""
        return flat(to_sympy(value, renames))

    def size(value: Any) -> float:
        return float(convert(value).subs(hints)) if not isinstance(value, int) else float(value)

    with mode:
        model = module() if not isinstance(module, torch.nn.Module) and callable(module) else module
        if not isinstance(model, torch.nn.Module):
            raise InvalidConfigError("module", label, f"is not a torch.nn.Module (got {type(model).__name__})")
        modes = {m: m.training for m in model.modules()}  # the caller's module is left as it was
        model.train(train)
        fake = torch._subclasses.FakeTensor
        weights: dict[str, Any] = {n: t if isinstance(t, fake) else mode.from_tensor(t, static_shapes=True)
                   for n, t in (*model.named_parameters(), *model.named_buffers())}
        for n, p in model.named_parameters():
            weights[n].requires_grad_(p.requires_grad)
        infos = _module_infos(model)
        paths = ModulePaths()
        paths.attach(model)
        recorder = make_recorder(paths, flop_registry(), lambda: len(env.guards),
                                 {id(t): n.replace(".", "/") for n, t in weights.items()})

        def where() -> str:
            last = recorder.records[-1] if recorder.records else None
            kind = last.kind if last is not None and last.path == paths.current else ""
            return f"{paths.current}\t{kind}"

        log = SavedTensorLog(storage_keys(weights.values()), where)
        autocast = torch.autocast("cpu", dtype=getattr(torch, dtype)) if dtype != "float32" \
            else contextlib.nullcontext()
        try:
            with torch.autograd.graph.saved_tensors_hooks(log.pack, log.unpack), autocast, recorder:
                out = torch.func.functional_call(model, weights, (x,))
            tag(out, "")
            saved = log.storages()  # while the graph is alive
            classes = _per_image(out, shape[0], "batch" in dynamic, convert)
            loss = _loss(out)
            recorder.phase = "backward"
            with recorder:
                loss.backward()
        finally:
            paths.detach()
            for sub, training in modes.items():
                sub.training = training
    unknown = Counter(r.name for r in recorder.records if not r.counted)
    guards = [(i, g.expr) for i, g in enumerate(env.guards)]
    conditions, notes, fixed = _limits(guards, recorder.guard_sites, dynamic, x, renames, convert, shape)
    dynamic = tuple(d for d in dynamic if d not in fixed)
    costs = assemble(recorder.records, saved, infos, convert, size)
    if unknown:
        notes.append("ops with no FLOP formula (their FLOPs are not counted): "
                     + ", ".join(f"{n} x{c}" for n, c in sorted(unknown.items())))
    return TracedModel(name=label, input_shape=shape[1:], dynamic=dynamic, batch_hint=shape[0], dtype=dtype,
                       costs=costs, conditions=tuple(conditions), notes=tuple(notes), unknown_ops=dict(unknown),
                       fixed={k: v[0] for k, v in fixed.items()}, source=module,
                       classes=classes)


def _per_image(out: Any, batch: int, symbolic: bool, convert: Callable[[Any], sympy.Expr]) -> sympy.Expr:
    import torch
    from torch.utils._pytree import tree_leaves

    total = sum((convert(t.numel()) for t in tree_leaves(out) if isinstance(t, torch.Tensor)), sympy.S.Zero)
    return sympy.expand(total / (DIMS["batch"][1] if symbolic else batch))


def _dim_of(symbol: sympy.Symbol) -> str:
    return next(name for name, (_, s) in DIMS.items() if s == symbol)


def _loss(out: Any) -> Any:
    import torch
    from torch.utils._pytree import tree_leaves

    leaves = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor) and t.requires_grad]
    if not leaves:
        raise SymbolicShapeError("the module's output does not require a gradient: nothing to differentiate")
    return sum((t.float().sum() for t in leaves[1:]), leaves[0].float().sum())


def _limits(guards: list[tuple[int, Any]], sites: list[tuple[int, str, str]], dynamic: tuple[str, ...], x: Any,
            renames: dict[sympy.Symbol, sympy.Symbol], convert: Callable[[Any], sympy.Expr],
            shape: tuple[int, ...]) -> tuple[list[Condition], list[str], dict[str, tuple[int, str]]]:
    """Guards -> conditions (sizes), notes (batch-only kernel choices) and fixed sizes (specialised)."""
    import torch

    def site(index: int) -> str:
        for count, path, _op in sites:
            if count > index:
                return path
        return "the model's Python code"

    fixed: dict[str, tuple[int, str]] = {}
    for dim in dynamic:
        size = x.shape[DIMS[dim][0]]
        if not isinstance(size, torch.SymInt) or convert(size).is_number:
            where = next((site(i) for i, g in guards if DIMS[dim][1] in _free(g, convert)), "the model")
            fixed[dim] = (shape[DIMS[dim][0]], where)
    conditions: list[Condition] = []
    notes: list[str] = []
    layout = 0
    for dim, (value, where) in fixed.items():
        symbol = DIMS[dim][1]
        text = f"{'image ' if dim != 'batch' else ''}{dim} fixed at {value} by {where}"
        conditions.append(Condition(field=dim, rule=text, relation=sympy.Eq(symbol, value)))
        notes.append(text)
    for index, expr in guards:
        try:
            relation = convert(expr)
        except SymbolicShapeError:
            continue
        if relation in (sympy.true, True) or not relation.free_symbols:
            continue
        symbols = relation.free_symbols
        if symbols == {DIMS["batch"][1]} and not isinstance(relation, (sympy.Eq, sympy.Ne)):
            notes.append(f"PyTorch's trace chose a kernel for {relation} ({site(index)}); counts do not depend on it")
            continue
        if any(m.args[1].free_symbols for m in relation.atoms(sympy.Mod)):
            layout += 1  # a stride / contiguity test (``Mod(1, n) != 0``): a memory-layout choice
            continue
        if any(c.relation == relation for c in conditions):
            continue
        if isinstance(relation, sympy.Eq) and symbols & {DIMS["height"][1], DIMS["width"][1]}:
            text = f"image size fixed by {site(index)}: {relation.lhs} = {relation.rhs}"
            conditions.append(Condition(field="image_size", rule=text, relation=relation))
            notes.append(text)
            continue
        name = ", ".join(sorted(_dim_of(s) for s in symbols if s in {v for _, v in DIMS.values()}))
        conditions.append(Condition(field=name or "size", rule=f"valid for {relation} (guard of {site(index)})",
                                    relation=relation))
    if layout:
        notes.append(f"{layout} guards of PyTorch's trace test memory layout (a size modulo a size); "
                     f"they choose strides, not counts, and are not conditions")
    return conditions, notes, fixed


def _free(expr: Any, convert: Callable[[Any], sympy.Expr]) -> set[sympy.Symbol]:
    try:
        return set(convert(expr).free_symbols)
    except SymbolicShapeError:
        return set()


__all__ = ["trace_module", "from_module", "BATCH_HINT"]
