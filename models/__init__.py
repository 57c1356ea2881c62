"""Models: architectures, training, ONNX export, runtime, synthetic data, shipped packs."""
