"""Torch architectures (training only; inference runs ONNX via models.runtime)."""
