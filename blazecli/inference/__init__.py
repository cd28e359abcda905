"""Infer -> candidates -> resolve ties: the ONNX Runtime session, anchors, candidate decoding,
blending and NMS, and the FaceDetector that wires them."""
