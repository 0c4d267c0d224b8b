"""How a model is run on a GPU: dtype, TF32, memory format, compilation, optimizer, cuDNN autotuning.

These are the inputs that change a GPU step time without changing a single FLOP. Defaults
are PyTorch's (2.x):

* ``dtype="fp32"`` with ``tf32_conv=True`` (``torch.backends.cudnn.allow_tf32`` defaults to
  True: fp32 convolutions run on TF32 Tensor Cores on Ampere and later) and
  ``tf32_matmul=False`` (``torch.backends.cuda.matmul.allow_tf32`` defaults to False since
  PyTorch 1.12; it was True in 1.7-1.11, see :func:`pytorch_defaults`);
* ``"bf16"`` / ``"fp16"``: ``torch.autocast`` mixed precision (fp32 master weights, 16-bit
  matrix products and convolutions, weights cast to 16 bits at each use);
* ``memory_format="nchw"`` (PyTorch's default, contiguous) or ``"channels_last"`` (NHWC):
  cuDNN's Tensor Core convolutions want NHWC, so an NCHW convolution on Tensor Cores
  transposes its input and output (:mod:`costmodel.hardware.kernels`);
* ``compiled``: ``torch.compile`` fuses chains of elementwise ops into the kernel before them;
* ``fused_attention``: ``F.scaled_dot_product_attention`` (PyTorch >= 2.0 and a model that
  calls it) rather than ``softmax(q @ k.T) @ v`` with the score matrix in memory;
* ``optimizer`` and ``foreach``: the update kernels (timm's default is SGD with Nesterov
  momentum; ``foreach`` implementations, the CUDA default since PyTorch 2.0, launch a few
  kernels for all tensors instead of a few per tensor);
* ``fused_bias_rank``: the highest input rank whose linear-layer bias PyTorch adds inside the
  product (``addmm``); a linear layer on an input of higher rank runs ``matmul`` and then
  ``add_(bias)``, a kernel of its own that reads and writes the output once more. 2 before
  PyTorch 1.12 (only ``(N, d)`` inputs: pytorch/pytorch issue #39661), 3 from 1.12 (contiguous
  ``(B, L, d)`` inputs, PR #72728 of February 2022), 4 from 2.1 (``(B, H, W, d)`` inputs as in
  ConvNeXt's MLP, PR #106433 of August 2023; the release is the first after each PR);
* ``cudnn_benchmark``: autotuned convolution algorithms. Without it cuDNN's heuristics pick
  an algorithm; the model treats the heuristic pick as running at the benchmarked rate
  (an assumption: every anchor it is validated on ran with autotuning on).

Examples
--------
>>> ExecutionSettings(dtype="bf16", memory_format="channels_last").tensor_core_dtype("conv", "sm_80")
'bf16'
>>> ExecutionSettings().tensor_core_dtype("matmul", "sm_80") is None   # fp32 matmuls: no TF32 by default
True
>>> pytorch_defaults("1.10").tf32_matmul
True
>>> pytorch_defaults("1.13").fused_bias_rank, pytorch_defaults("2.4").fused_bias_rank
(3, 4)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from costmodel.core.errors import InvalidConfigError
from costmodel.hardware.devices import canonical_dtype

MEMORY_FORMATS: tuple[str, ...] = ("nchw", "channels_last")
_FORMAT_ALIASES = {"nchw": "nchw", "contiguous": "nchw", "channels_last": "channels_last", "nhwc": "channels_last",
                   "channels-last": "channels_last"}
#: the optimizers the kernel model times (their traffic: :data:`costmodel.hardware.gpu_step.UPDATE_VALUES`)
OPTIMIZERS: tuple[str, ...] = ("sgd", "momentum", "adam", "adamw")
#: generations whose Tensor Cores run TF32
TF32_GENERATIONS: tuple[str, ...] = ("sm_80", "sm_86", "sm_89", "sm_90")


def memory_format_name(value: str) -> str:
    """``"NHWC"``, ``"channels_last"`` -> ``"channels_last"``; ``"NCHW"`` -> ``"nchw"``."""
    key = str(value).strip().lower().split(" ")[0].strip("()")
    if key not in _FORMAT_ALIASES:
        raise InvalidConfigError("memory_format", value, f"must be one of {', '.join(MEMORY_FORMATS)} (or nhwc)")
    return _FORMAT_ALIASES[key]


@dataclass(frozen=True, kw_only=True)
class ExecutionSettings:
    """How a step runs (see the module docstring for each field and its PyTorch default)."""

    dtype: str = "fp32"
    tf32_conv: bool = True
    tf32_matmul: bool = False
    memory_format: str = "nchw"
    compiled: bool = False
    fused_attention: bool = True
    optimizer: str = "momentum"
    foreach: bool = True
    cudnn_benchmark: bool = True
    fused_bias_rank: int = 4

    def __post_init__(self) -> None:
        dtype = canonical_dtype(self.dtype)
        if dtype == "fp8":
            raise InvalidConfigError("dtype", self.dtype, "fp8 training is not modelled (fp32, tf32, bf16 or fp16)")
        if dtype == "tf32":  # "tf32" means fp32 storage with TF32 for convolutions and matmuls
            object.__setattr__(self, "tf32_conv", True)
            object.__setattr__(self, "tf32_matmul", True)
            dtype = "fp32"
        object.__setattr__(self, "dtype", dtype)
        object.__setattr__(self, "memory_format", memory_format_name(self.memory_format))
        if self.optimizer not in OPTIMIZERS:
            raise InvalidConfigError("optimizer", self.optimizer, f"must be one of {', '.join(OPTIMIZERS)}")
        for name in ("tf32_conv", "tf32_matmul", "compiled", "fused_attention", "foreach", "cudnn_benchmark"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidConfigError(name, getattr(self, name), "must be True or False")
        if isinstance(self.fused_bias_rank, bool) or self.fused_bias_rank not in (2, 3, 4):
            raise InvalidConfigError("fused_bias_rank", self.fused_bias_rank, "must be 2, 3 or 4")

    @property
    def mixed(self) -> bool:
        """Autocast mixed precision (bf16 or fp16)."""
        return self.dtype in ("bf16", "fp16")

    @property
    def element_bytes(self) -> int:
        """Bytes of one activation element in the compute dtype."""
        return 2 if self.mixed else 4

    def tensor_core_dtype(self, kind: str, generation: str) -> str | None:
        """The Tensor Core dtype a matrix product of op ``kind`` runs in, or None (CUDA cores).

        ``conv`` follows ``tf32_conv``, ``matmul`` and ``attention`` follow ``tf32_matmul``
        when the dtype is fp32; 16-bit dtypes always use Tensor Cores (every generation
        modelled has fp16 ones; bf16 needs Ampere or later: a device without a bf16 rate
        is an error when the op is timed).
        """
        if self.mixed:
            return self.dtype
        allowed = self.tf32_conv if kind == "conv" else self.tf32_matmul
        return "tf32" if allowed and generation in TF32_GENERATIONS else None


def pytorch_defaults(version: str, **overrides: object) -> ExecutionSettings:
    """The settings PyTorch ``version`` (``"1.13"``) runs with by default, then ``overrides``.

    ``torch.backends.cuda.matmul.allow_tf32`` was True from 1.7 to 1.11 and is False since
    1.12 (PyTorch 1.12 release notes); fused attention needs 2.0 or later; a linear layer's
    bias is fused for inputs of rank 2 before 1.12, up to 3 before 2.1, up to 4 since
    (``fused_bias_rank``, module docstring).
    """
    match = re.match(r"\s*(\d+)\.(\d+)", str(version))
    if not match:
        raise InvalidConfigError("version", version, "must start with major.minor, e.g. '2.1'")
    release = (int(match[1]), int(match[2]))
    settings = ExecutionSettings(tf32_matmul=release < (1, 12), fused_attention=release >= (2, 0),
                                 fused_bias_rank=2 if release < (1, 12) else 3 if release < (2, 1) else 4)
    return replace(settings, **overrides)  # type: ignore[arg-type]


__all__ = ["MEMORY_FORMATS", "OPTIMIZERS", "TF32_GENERATIONS", "memory_format_name", "ExecutionSettings",
           "pytorch_defaults"]
