"""The memory trace of a training step: what the forward pass saves, and how the backward pass frees it.

A :class:`Trace` describes a stretch of operators in forward order. The backward pass
runs them in reverse; each operator's saved tensors are freed when its own backward has
run, and its parameter gradients are kept to the end of the step. So while the backward
of operator ``i`` runs, the memory above what the step holds anyway is

.. math::
    M_i = \\sum_{j \\le i} s_j + \\sum_{j \\ge i} g_j + t_i

with ``s`` the bytes an operator saves (a storage shared by several operators belongs to
the first of them in forward order, which is the last one to be run backward and so the
one that frees it), ``g`` its parameter-gradient bytes and ``t`` its transient bytes
(the gradient it receives, the gradient it produces, workspaces). The peak of the
backward pass is ``max_i M_i``.

Every stretch is summarised by its saved bytes ``a``, its gradient bytes ``g`` and the
set ``P`` of candidates for the peak of its own backward (measured from the memory held
when its backward starts). Summaries compose exactly:

* one stretch ``S1`` then ``S2``: ``a = a1 + a2``, ``g = g1 + g2``,
  ``P = {q + g2 : q in P1} | {a1 + q : q in P2}``;
* ``n`` copies of ``S``: block ``k`` of ``n`` peaks at ``(k - 1) a + q + (n - k) g``,
  linear in ``k``, so ``P = {q + (n - 1) a, q + (n - 1) g : q in P}`` (``n`` may be a
  symbol, e.g. the depth);
* a residual branch whose skip gradient ``h`` waits while it runs: ``P = {q + h}``;
* a checkpointed block (``torch.utils.checkpoint``): only its input is held from the
  forward pass; its backward recomputes the forward first, so ``P = {q + x} | {x + a + r}``
  where ``x`` is the input's bytes when the block's own ops do not already hold it and
  ``r`` what the recomputed forward holds at its end without saving it (e.g. a ResNet
  block's last batch-norm output and shortcut output, and the gradient waiting for the
  block's output).

Each candidate is kept as a :class:`Peak` (saved, gradient and transient bytes) so that
the memory model can say what the peak is made of. Candidates that another bounds term
by term (all sizes are positive) are dropped as they are built: an integer config leaves
one, an integer config with a symbolic batch a few lines in ``B``. Nodes compose
lazily; the candidates are computed on demand and cached.

The trace also carries, per stretch: buffer bytes (batch-norm running statistics, held
like the weights), the largest parameter tensor (the optimizer's single-tensor update
allocates temporaries of its size) and, for a forward pass without autograd
(inference), the bytes alive while each operator runs (:meth:`Trace.forward_peaks`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeAlias, TypeVar

import sympy

Expr: TypeAlias = sympy.Expr  # SymPy is untyped: an alias of Any to the checker
_ZERO = sympy.S.Zero
_T = TypeVar("_T")


def _sym(value: Any) -> Expr:
    return sympy.sympify(value)


class Peak(NamedTuple):
    """One candidate for a peak: saved-activation, parameter-gradient and transient bytes."""

    saved: Expr
    grads: Expr
    transient: Expr

    @property
    def total(self) -> Expr:
        return self.saved + self.grads + self.transient

    def shift(self, saved: Any = 0, grads: Any = 0, transient: Any = 0) -> Peak:
        return Peak(self.saved + saved, self.grads + grads, self.transient + transient)

    def map(self, fn: Callable[[Expr], Expr]) -> Peak:
        return Peak(fn(self.saved), fn(self.grads), fn(self.transient))


@dataclass(frozen=True, eq=True)
class Trace:
    """A node of the memory trace (see the module docstring). Build with :meth:`op` and the operators.

    Attributes
    ----------
    kind : {"empty", "op", "seq", "repeat", "hold", "keep", "block"}
    saved : SymPy expression
        Bytes saved by the forward pass (without checkpointing).
    elements : SymPy expression
        The same tensors in elements (of whatever dtype each has).
    grads : SymPy expression
        Bytes of the parameter gradients the backward pass produces.
    buffers : SymPy expression
        Bytes of buffers (held with the weights).
    largest : SymPy expression
        Elements of the largest parameter tensor.
    extra : SymPy expression
        ``op``: transient bytes of its backward; ``repeat``: the count; ``hold``, ``keep``:
        the held bytes; ``block``: the bytes of the block's input.
    live : SymPy expression
        ``op``: bytes alive while it runs in a forward pass without autograd; ``block``: bytes
        alive at the end of its recomputed forward that it does not save.
    copies : SymPy expression
        Bytes of the 16-bit weight copies autocast makes (part of ``saved``).
    items : tuple of Trace
    inside : bool
        ``block``: the input is saved by one of the block's own ops.
    """

    kind: str = "empty"
    saved: Expr = _ZERO
    elements: Expr = _ZERO
    grads: Expr = _ZERO
    buffers: Expr = _ZERO
    largest: Expr = _ZERO
    extra: Expr = _ZERO
    live: Expr = _ZERO
    copies: Expr = _ZERO
    items: tuple[Trace, ...] = ()
    inside: bool = False
    _cache: dict[Any, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    # -- construction -------------------------------------------------------------------
    @staticmethod
    def op(*, saved: Any = 0, elements: Any = 0, grads: Any = 0, transient: Any = 0, buffers: Any = 0,
           largest: Any = 0, live: Any = 0, copies: Any = 0) -> Trace:
        """One operator: ``saved`` bytes (``elements`` elements) kept for backward, ``grads`` bytes of
        parameter gradients, ``transient`` bytes alive only during its backward, ``buffers`` bytes,
        its largest parameter tensor (elements) and the bytes ``live`` while it runs without autograd."""
        values = [_sym(v) for v in (saved, elements, grads, transient, buffers, largest, live, copies)]
        if all(v == 0 for v in values):
            return EMPTY
        saved, elements, grads, transient, buffers, largest, live, copies = values
        return Trace(kind="op", saved=saved, elements=elements, grads=grads, extra=transient, buffers=buffers,
                     largest=largest, live=live, copies=copies)

    def _derived(self, kind: str, *, extra: Any = _ZERO, items: tuple[Trace, ...] = (), inside: bool = False,
                 times: Any = 1) -> Trace:
        return Trace(kind=kind, saved=self.saved * times, elements=self.elements * times, grads=self.grads * times,
                     buffers=self.buffers * times, largest=self.largest, copies=self.copies * times,
                     extra=_sym(extra), items=items, inside=inside)

    def then(self, later: Trace) -> Trace:
        """This stretch followed (in forward order) by ``later``."""
        if later.kind == "empty":
            return self
        if self.kind == "empty":
            return later
        items = (self.items if self.kind == "seq" else (self,)) + (later.items if later.kind == "seq" else (later,))
        return Trace(kind="seq", saved=self.saved + later.saved, elements=self.elements + later.elements,
                     grads=self.grads + later.grads, buffers=self.buffers + later.buffers,
                     largest=_max(self.largest, later.largest), copies=self.copies + later.copies, items=items)

    def repeat(self, times: Any) -> Trace:
        """``times`` copies of this stretch, one after the other (``times`` may be a symbol)."""
        times = _sym(times)
        if self.kind == "empty" or times == 0:
            return EMPTY
        if times == 1:
            return self
        return self._derived("repeat", extra=times, items=(self,), times=times)

    def hold(self, extra: Any) -> Trace:
        """This stretch with ``extra`` bytes (a waiting tensor) alive throughout its forward and backward."""
        extra = _sym(extra)
        if self.kind == "empty" or extra == 0:
            return self
        return self._derived("hold", extra=extra, items=(self,))

    def keep(self, extra: Any) -> Trace:
        """This stretch with ``extra`` bytes alive through its forward pass only (a tensor a Python
        variable still references, e.g. a function's argument); the backward pass is unchanged."""
        extra = _sym(extra)
        if self.kind == "empty" or extra == 0:
            return self
        return self._derived("keep", extra=extra, items=(self,))

    def block(self, input_bytes: Any, *, inside: bool, recompute: Any = 0) -> Trace:
        """Mark this stretch as one block that activation checkpointing may recompute.

        ``input_bytes``: its input; ``inside``: whether one of its own ops saves that input;
        ``recompute``: bytes alive when its recomputed forward ends that it does not save
        (its last unsaved tensors, with the gradient already waiting for its output).
        """
        if self.kind == "empty":
            return self
        node = self._derived("block", extra=input_bytes, items=(self,), inside=inside)
        object.__setattr__(node, "live", _sym(recompute))
        return node

    # -- evaluation ---------------------------------------------------------------------
    def _cached(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        if key not in self._cache:
            self._cache[key] = compute()
        value: _T = self._cache[key]
        return value

    def held(self, checkpointed: bool = False) -> Expr:
        """Bytes the forward pass leaves held for the backward pass."""
        if not checkpointed or self.kind in ("empty", "op"):
            return self.saved
        return self._cached("held", self._held_checkpointed)

    def _held_checkpointed(self) -> Expr:
        if self.kind == "seq":
            return sum((item.held(True) for item in self.items), _ZERO)
        if self.kind == "repeat":
            return self.items[0].held(True) * self.extra
        if self.kind in ("hold", "keep"):
            return self.items[0].held(True)
        return self.extra  # block: only its input

    def peaks(self, checkpointed: bool = False) -> frozenset[Peak]:
        """Candidates for the peak of this stretch's backward, above the memory held when it starts."""
        return self._cached(("peaks", checkpointed), lambda: self._peaks(checkpointed))

    def _peaks(self, ck: bool) -> frozenset[Peak]:
        if self.kind == "empty":
            return frozenset()
        if self.kind == "op":
            return frozenset({Peak(self.saved, self.grads, self.extra)})
        if self.kind == "seq":
            held: Expr = _ZERO
            found: frozenset[Peak] = frozenset()
            for item in self.items:
                found = prune({q.shift(grads=item.grads) for q in found}
                              | {q.shift(saved=held) for q in item.peaks(ck)})
                held += item.held(ck)
            return found
        item = self.items[0]
        inner = item.peaks(ck and self.kind != "block")
        if self.kind == "repeat":
            more = self.extra - 1
            return prune({q.shift(grads=more * item.grads) for q in inner}
                         | {q.shift(saved=more * item.held(ck)) for q in inner})
        if self.kind == "hold":
            return frozenset(q.shift(transient=self.extra) for q in inner)
        if self.kind == "keep" or not ck:
            return inner
        # checkpointed block: its backward first recomputes its forward, which ends with all its
        # saved tensors back (and its input, unless one of its ops keeps it) plus ``live`` bytes
        extra = 0 if self.inside else self.extra
        return prune({q.shift(saved=extra) for q in inner} | {Peak(extra + item.saved, _ZERO, self.live)})

    def peak(self, checkpointed: bool = False) -> Expr:
        """The peak of the backward pass above its starting memory: ``Max`` of :meth:`peaks` totals."""
        return max_of(q.total for q in self.peaks(checkpointed))

    def forward_peaks(self) -> frozenset[Expr]:
        """Candidates for the peak of a forward pass without autograd (inference): bytes alive per op."""
        return self._cached("forward", self._forward_peaks)

    def _forward_peaks(self) -> frozenset[Expr]:
        if self.kind == "empty":
            return frozenset()
        if self.kind == "op":
            return frozenset({self.live})
        if self.kind == "seq":
            found: set[Expr] = set()
            for item in self.items:
                found |= item.forward_peaks()
            return _prune_exprs(found)
        inner = self.items[0].forward_peaks()
        if self.kind in ("hold", "keep"):
            return frozenset(q + self.extra for q in inner)
        return inner

    def map(self, fn: Callable[[Expr], Expr], memo: dict[int, Trace] | None = None) -> Trace:
        """Apply ``fn`` to every expression of the trace (e.g. a substitution)."""
        memo = {} if memo is None else memo
        if self.kind == "empty":
            return self
        if id(self) not in memo:
            memo[id(self)] = Trace(kind=self.kind, saved=fn(self.saved), elements=fn(self.elements),
                                   grads=fn(self.grads), buffers=fn(self.buffers), largest=fn(self.largest),
                                   extra=fn(self.extra), live=fn(self.live), copies=fn(self.copies),
                                   items=tuple(item.map(fn, memo) for item in self.items), inside=self.inside)
        return memo[id(self)]


EMPTY = Trace()


def residual(branch: list[Trace], held: Any, *, shares_gradient: bool) -> Trace:
    """A residual branch (its ops in forward order) while ``held`` bytes wait: the skip input in
    the forward pass, the add's gradient for the shortcut in the backward pass.

    When the branch output has the shortcut's dtype, the add hands the branch's last op
    the very gradient tensor the shortcut waits with (``shares_gradient``): it is counted
    once, as that op's incoming gradient.
    """
    body, last = (branch[:-1], branch[-1]) if shares_gradient and branch else (branch, EMPTY)
    trace = EMPTY
    for item in body:
        trace = trace.then(item)
    return trace.hold(held).then(last.keep(held))  # the skip input still waits in the forward pass


def _max(a: Expr, b: Expr) -> Expr:
    if a == 0:
        return b
    if b == 0 or a == b:
        return a
    if a.is_number and b.is_number:
        return max(a, b)
    return sympy.Max(a, b, evaluate=False)


def max_of(values: Any) -> Expr:
    """``Max`` of some expressions after :func:`prune` (0 for none)."""
    found = _prune_exprs(set(values))
    if not found:
        return _ZERO
    # unevaluated: the candidates are already pruned, and SymPy's own pairwise comparison of
    # symbolic candidates is slow; substituting numbers evaluates it
    return next(iter(found)) if len(found) == 1 else sympy.Max(*sorted(found, key=sympy.default_sort_key),
                                                               evaluate=False)


def _coefficients(expr: Expr) -> dict[Expr, Any] | None:
    """``{monomial: numeric coefficient}`` of an expanded sum, or None if a coefficient is symbolic."""
    table = sympy.expand(expr).as_coefficients_dict()
    return table if all(c.is_number for c in table.values()) else None


def _dominates(a: dict[Expr, Any], b: dict[Expr, Any]) -> bool:
    return all(a.get(m, 0) >= v for m, v in b.items()) and all(v >= 0 for m, v in a.items() if m not in b)


def _keep_undominated(items: list[Any], total: Callable[[Any], Expr]) -> list[Any]:
    if len(items) <= 1:
        return items
    totals = [total(item) for item in items]
    if all(t.is_number for t in totals):
        return [items[max(range(len(items)), key=lambda i: totals[i])]]
    kept: list[tuple[Any, dict[Expr, Any] | None]] = []
    order = sorted(range(len(items)), key=lambda i: sympy.default_sort_key(totals[i]))
    for i in order:
        table = _coefficients(totals[i])
        if table is not None and any(other is not None and _dominates(other, table) for _, other in kept):
            continue
        if table is not None:
            kept = [(k, t) for k, t in kept if t is None or not _dominates(table, t)]
        kept.append((items[i], table))
    return [k for k, _ in kept]


def prune(candidates: Any) -> frozenset[Peak]:
    """Drop peak candidates whose total another one bounds term by term (every size is positive).

    Numbers reduce to their maximum. For sums of monomials in the (positive) sizes and
    their floors, ``q1 >= q2`` whenever every coefficient of ``q1 - q2`` is >= 0.
    """
    return frozenset(_keep_undominated(list(set(candidates)), lambda q: q.total))


def _prune_exprs(candidates: Any) -> frozenset[Expr]:
    return frozenset(_keep_undominated([sympy.sympify(c) for c in set(candidates)], lambda e: e))


__all__ = ["Trace", "Peak", "EMPTY", "prune", "max_of", "residual"]
