"""How one validation case ended: ``"ok"``, ``"out of memory"`` or ``"failed: <reason>"``.

A validation run measures many cases; one that runs out of memory (a CUDA or CPU
allocator failure, Python's ``MemoryError``, a worker subprocess killed by the kernel's
OOM killer) or fails otherwise is recorded with its status and the run goes on with the
rest. The records of :mod:`costmodel.validation.report`,
:mod:`costmodel.validation.memory_report` and :mod:`costmodel.validation.timing` carry
this status, and their tables show it.

Examples
--------
>>> status_of(MemoryError())
'out of memory'
>>> status_of(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
'out of memory'
>>> status_of(RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"))
'out of memory'
>>> status_of(ValueError("bad shape\\nmore"))
'failed: ValueError: bad shape'
>>> subprocess_status(-9, "")
'out of memory'
>>> subprocess_status(1, "Traceback ...\\nKeyError: 'x'")
"failed: exit code 1: KeyError: 'x'"
"""

from __future__ import annotations

import signal

from costmodel.core.errors import CostModelError, one_line

OK = "ok"
OUT_OF_MEMORY = "out of memory"
FAILED = "failed"

#: phrases of allocator failures (CUDA caching allocator, the CPU allocator, cuBLAS/cuDNN)
_OOM_PHRASES = ("out of memory", "can't allocate memory", "cannot allocate memory", "failed to allocate",
                "cublas_status_alloc_failed", "cudnn_status_alloc_failed")
#: the longest reason kept in a status
MAX_REASON = 300


class WorkerFailed(CostModelError):
    """A measuring subprocess that exited without a result; ``status`` says how (see :func:`subprocess_status`)."""

    def __init__(self, what: str, status: str) -> None:
        self.status = status
        super().__init__(one_line(f"{what}: {status}"))


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` reports an allocation failure (``torch.OutOfMemoryError`` and its CUDA alias,
    ``MemoryError``, or a ``RuntimeError`` whose message says so)."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    return isinstance(exc, RuntimeError) and message_says_out_of_memory(str(exc))


def message_says_out_of_memory(text: str) -> bool:
    """Whether an error message (or a worker's stderr) reports an allocation failure."""
    lowered = text.lower()
    return any(phrase in lowered for phrase in _OOM_PHRASES)


def first_line(exc: BaseException) -> str:
    """``"Type: first line of the message"``, at most :data:`MAX_REASON` characters."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return one_line(text)[:MAX_REASON]


def status_of(exc: BaseException) -> str:
    """The status of a case that raised ``exc`` (a :class:`WorkerFailed` carries its own)."""
    if isinstance(exc, WorkerFailed):
        return exc.status
    return OUT_OF_MEMORY if is_out_of_memory(exc) else f"{FAILED}: {first_line(exc)}"


def subprocess_status(returncode: int, stderr: str = "") -> str:
    """The status of a case whose worker subprocess exited with ``returncode`` (``"ok"`` for 0).

    Killed by ``SIGKILL`` (``-9``, what the Linux OOM killer sends) or reporting an
    allocation failure: out of memory. Killed by another signal: ``failed: killed by
    SIGTERM``. Otherwise the last line of its stderr.
    """
    if returncode == 0:
        return OK
    last = [line for line in stderr.strip().splitlines() if line.strip()]
    if returncode == -signal.SIGKILL or returncode == 137 or message_says_out_of_memory(stderr[-4000:]):
        return OUT_OF_MEMORY
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"{FAILED}: killed by {name}"
    reason = one_line(last[-1]) if last else "no output"
    return f"{FAILED}: exit code {returncode}: {reason}"[:MAX_REASON]


def status_from_error(error: str | None) -> str:
    """The status of a record from its stored ``"Type: message"`` error (``"ok"`` for none).

    >>> status_from_error(None), status_from_error("MemoryError"), status_from_error("KeyError: 'x'")
    ('ok', 'out of memory', "failed: KeyError: 'x'")
    """
    if error is None:
        return OK
    kind = error.split(":", 1)[0].strip()
    if kind in ("MemoryError", "OutOfMemoryError") or message_says_out_of_memory(error):
        return OUT_OF_MEMORY
    return f"{FAILED}: {one_line(error)}"


__all__ = ["OK", "OUT_OF_MEMORY", "FAILED", "WorkerFailed", "is_out_of_memory", "message_says_out_of_memory",
           "first_line",
           "status_of", "status_from_error", "subprocess_status", "MAX_REASON"]
