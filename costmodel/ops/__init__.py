"""Per-operator cost formulas: one pure function each, returning a :class:`~costmodel.cost.value.Cost`."""

from costmodel.ops.activations import activation, gate
from costmodel.ops.attention import linformer_attention, performer_attention, softmax_attention
from costmodel.ops.conv import conv2d, conv_out_size, pair, patch_embedding
from costmodel.ops.dense import linear, matmul
from costmodel.ops.excitation import channel_scale, squeeze_excitation
from costmodel.ops.norm import batch_norm, layer_norm
from costmodel.ops.pointwise import elementwise, gelu, relu, residual_add, softmax
from costmodel.ops.pool import avg_pool2d, max_pool2d
from costmodel.ops.windowed import padded_grid, window_attention_block, windowed_attention, windows_along

__all__ = [
    "activation", "gate", "channel_scale", "squeeze_excitation", "padded_grid", "window_attention_block",
    "windowed_attention", "windows_along",
    "avg_pool2d", "batch_norm", "conv2d", "conv_out_size", "elementwise", "gelu", "layer_norm",
    "linear", "linformer_attention", "matmul", "max_pool2d", "pair", "patch_embedding",
    "performer_attention", "relu", "residual_add", "softmax", "softmax_attention",
]
