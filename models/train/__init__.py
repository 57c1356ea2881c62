"""Training and ONNX export."""
