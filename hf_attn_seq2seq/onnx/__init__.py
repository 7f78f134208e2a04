"""ONNX: the export of the encoder and one decoder step (`export`), generation with ONNX Runtime over them (`runtime`)
and the table of tensors the two share (`tensors`)."""
