"""Real PyTorch modules, one file per family, each with ``build(config) -> nn.Module``.

Written from the papers and torchvision's layer layout (no torchvision import), so that
parameter counts equal torchvision's for the same architecture.
"""
