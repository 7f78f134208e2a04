import pytest
import torch
from conftest import random_batch, tiny_model

from hf_attn_seq2seq.models.attn_seq2seq.modeling_attn_seq2seq import LSTMLayer
from hf_attn_seq2seq.quantization import quantize_dynamic_int8


def test_int8_model_generates_and_refuses_to_save(tmp_path):
    model = tiny_model(hidden_size=16)
    quantized = quantize_dynamic_int8(model)
    assert isinstance(quantized.model.encoder.layers[0], torch.ao.nn.quantized.dynamic.LSTM)
    assert isinstance(quantized.lm_head, torch.ao.nn.quantized.dynamic.Linear)
    assert type(model.model.encoder.layers[0]) is LSTMLayer  # the original is left as it was
    input_ids, attention_mask = random_batch([5, 3])
    output = quantized.generate(input_ids, attention_mask=attention_mask, max_new_tokens=4, num_beams=2)
    assert output.shape[0] == 2
    with pytest.raises(NotImplementedError, match="A dynamically quantized \\(int8\\) model cannot be saved"):
        quantized.save_pretrained(tmp_path / "int8")
    assert not (tmp_path / "int8" / "model.safetensors").exists()
