"""cardrec-edge: identify trading cards from an edge bundle (ONNX or HEF + index + manifest)."""
__version__ = "0.1.0"
