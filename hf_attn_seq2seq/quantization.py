"""Dynamic int8 quantization of the LSTM and Linear layers for CPU inference.

Uses `torch.ao.quantization.quantize_dynamic`: deprecated in favour of torchao, but it is still the one path in torch
2.x that quantizes `nn.LSTM` (torchao targets Linear layers), and it needs no calibration data. The quantized model
generates as usual; it cannot be saved with `save_pretrained` (quantize again after loading the fp32 weights).

int8 pays where a decoder step is bound by reading its weights: at hidden size 1024 decoding one sequence runs 3.4x
faster. At 256 the weights sit in the CPU caches: against fp32 with oneDNN off the two decode about alike, and the
1.6x measured against fp32 with oneDNN on comes from oneDNN's slower small-batch LSTM path (benchmarks/RESULTS.md,
sections 4 and 5). For the fastest CPU inference see `hf_attn_seq2seq.onnx.runtime` (section 9).
"""

import copy
import warnings

import torch
from torch import nn

from hf_attn_seq2seq.models.attn_seq2seq.modeling_attn_seq2seq import LSTMLayer, lstm_over_rows


class Int8LSTMLayer(torch.ao.nn.quantized.dynamic.LSTM):
    """The int8 twin of `LSTMLayer`: the same call, `(layer_input, h_0, c_0, lengths=None)` to `(output, h_n, c_n)`."""

    def forward(self, layer_input: torch.Tensor, *initial: torch.Tensor, lengths: torch.Tensor | None = None):
        return lstm_over_rows(super().forward, layer_input, initial, lengths)

    @classmethod
    def from_float(cls, module: LSTMLayer, **kwargs) -> "Int8LSTMLayer":
        # torch converts only modules whose type is exactly nn.LSTM: convert a plain copy, then give it this call
        plain = nn.LSTM(module.input_size, module.hidden_size, num_layers=module.num_layers, bias=module.bias,
                        batch_first=module.batch_first, bidirectional=module.bidirectional)
        plain.load_state_dict(module.state_dict())
        plain.qconfig = module.qconfig
        quantized = torch.ao.nn.quantized.dynamic.LSTM.from_float(plain, **kwargs)
        quantized.__class__ = cls
        return quantized


def quantize_dynamic_int8(model: nn.Module, inplace: bool = False) -> nn.Module:
    """A copy of `model` (in eval mode) whose LSTM and Linear weights are int8, activations quantized per batch."""
    if next(model.parameters()).device.type != "cpu":
        raise ValueError("Dynamic int8 quantization runs on the CPU; move the model there first (model.cpu()).")
    target = model if inplace else copy.deepcopy(model)
    target.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
        mapping = {**torch.ao.quantization.quantization_mappings.get_default_dynamic_quant_module_mappings(),
                   LSTMLayer: Int8LSTMLayer}
        quantized = torch.ao.quantization.quantize_dynamic(target, {nn.LSTM, LSTMLayer, nn.Linear}, dtype=torch.qint8,
                                                           mapping=mapping, inplace=True)
    quantized.is_int8_quantized = True
    return quantized


__all__ = ["quantize_dynamic_int8"]
