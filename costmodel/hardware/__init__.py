"""Time and capacity: device specs with cited sources, calibrated device profiles, the per-op
roofline, the GPU kernel model (tiles, waves, bandwidth; execution settings), the
microbenchmarks of ``costmodel calibrate``, training-step time and training plans, and
multi-GPU (data-parallel, ZeRO/FSDP) memory and communication.

Public names are re-exported here lazily (PEP 562): ``from costmodel.hardware import X``
imports only the module that defines ``X``.
"""

from __future__ import annotations

from typing import Any

from costmodel.core.lazy import Exports

_EXPORTS = Exports(__name__, {
    "DeviceSpec": "devices",
    "BUILTIN_DEVICES": "devices",
    "DTYPES": "devices",
    "ITEMSIZE": "devices",
    "CPU": "devices",
    "canonical_dtype": "devices",
    "as_quantity": "devices",
    "register_device": "devices",
    "unregister_device": "devices",
    "list_devices": "devices",
    "datasheet_device": "devices",
    "device_from_dict": "devices",
    "load_device_file": "devices",
    "KIND_CLASS": "profiles",
    "OP_CLASSES": "profiles",
    "DIRECTIONS": "profiles",
    "DEFAULT_EFFICIENCY": "profiles",
    "Rate": "profiles",
    "DeviceProfile": "profiles",
    "ProfileNotFoundError": "profiles",
    "get_device": "lookup",
    "profile_dir": "lookup",
    "profile_path": "lookup",
    "save_profile": "lookup",
    "load_profile": "lookup",
    "spec_profile": "lookup",
    "profile_for": "lookup",
    "Op": "roofline",
    "OpTime": "roofline",
    "RooflineTime": "roofline",
    "time_ops": "roofline",
    "Benchmark": "microbench",
    "benchmarks": "microbench",
    "torch_dtype": "microbench",
    "OPTIMIZER_TRAFFIC": "microbench",
    "ROTATING_BYTES": "microbench",
    "CONVS": "microbench",
    "LINEARS": "microbench",
    "ATTENTION": "microbench",
    "BATCH_NORMS": "microbench",
    "LAYER_NORMS": "microbench",
    "measure": "calibrate",
    "use_heap_allocator": "calibrate",
    "run_calibration": "calibrate",
    "profile_from_records": "calibrate",
    "print_progress": "calibrate",
    "parse_count": "planning",
    "model_ops": "planning",
    "optimizer_op": "planning",
    "StepTime": "planning",
    "step_time": "planning",
    "step_memory": "planning",
    "TrainingPlan": "planning",
    "plan": "planning",
    "STRATEGIES": "parallel",
    "OPTIMIZER_STATES": "parallel",
    "strategy_name": "parallel",
    "check_gpus": "parallel",
    "per_gpu_batch": "parallel",
    "ModelStates": "parallel",
    "model_states": "parallel",
    "MemoryPerGPU": "parallel",
    "memory_per_gpu": "parallel",
    "ring_allreduce_seconds": "parallel",
    "communication_seconds": "parallel",
    "Price": "parallel",
    "parse_price": "parallel",
    "gpu_hours": "parallel",
    "training_cost": "parallel",
    "GENERATIONS": "devices",
    "ExecutionSettings": "settings",
    "pytorch_defaults": "settings",
    "MEMORY_FORMATS": "settings",
    "KernelConstants": "kernels",
    "GENERATION_CONSTANTS": "kernels",
    "KernelOp": "kernels",
    "Shape": "kernels",
    "gemm_utilization": "kernels",
    "kernel_time": "kernels",
    "GpuTime": "gpu_step",
    "gpu_time": "gpu_step",
    "model_kernel_ops": "gpu_step",
    "kernel_step_time": "gpu_step",
})


def __getattr__(name: str) -> Any:
    return _EXPORTS.load(name)


def __dir__() -> list[str]:
    return _EXPORTS.names()


__all__ = _EXPORTS.names()
