"""costmodel.validation: real PyTorch modules built from the same configs, and their measurements.

Installed as ``costmodel.validation`` from the repository's top-level ``validation/``
folder. It imports torch; ``costmodel``'s core never imports it.
"""
