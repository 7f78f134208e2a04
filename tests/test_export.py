"""The model is traceable: torch.export of forward and of the encoder with a dynamic batch size, and the traced
encoder path (a masked loop of LSTM cell steps) computes what the eager path (packed sequences) computes."""

import pytest
import torch
from conftest import random_batch, tiny_model

import hf_attn_seq2seq.models.attn_seq2seq.modeling_attn_seq2seq as modeling


class LogitsOnly(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, decoder_input_ids):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                          use_cache=False, return_dict=False)[0]


class EncoderStates(torch.nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids, attention_mask):
        out = self.encoder(input_ids, attention_mask)
        return out.last_hidden_state, out.final_hidden_state, out.final_cell_state


@pytest.mark.parametrize("reverse_source", [False, True])
def test_traced_encoder_path_equals_the_eager_one(grid_options, reverse_source, monkeypatch):
    model = tiny_model(reverse_source=reverse_source, **grid_options)
    input_ids, attention_mask = random_batch([3, 7, 5], seed=21)
    decoder_ids, _ = random_batch([4, 4, 4], seed=22)
    with torch.no_grad():
        eager = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_ids,
                      output_hidden_states=True)
        monkeypatch.setattr(modeling, "_is_tracing", lambda: True)
        traced = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_ids,
                       output_hidden_states=True)
    torch.testing.assert_close(traced.logits, eager.logits, atol=1e-5, rtol=0)
    for traced_states, eager_states in zip(traced.encoder_hidden_states, eager.encoder_hidden_states):
        torch.testing.assert_close(traced_states, eager_states, atol=1e-5, rtol=0)


@pytest.mark.parametrize("options", [dict(attention="general"), dict(attention="additive", bidirectional=True,
                                     encoder_layers=2, decoder_layers=2, residual=True, reverse_source=True),
                                     dict(attention="dot", input_feeding=True)],
                         ids=["general", "additive-bi-residual-reversed", "dot-feeding"])
def test_torch_export_with_a_dynamic_batch_size(options):
    model = tiny_model(**options)
    input_ids, attention_mask = random_batch([5, 3], seed=23)
    decoder_ids, _ = random_batch([4, 4], seed=24)
    batch = torch.export.Dim("batch", min=1, max=1024)
    exported = torch.export.export(
        LogitsOnly(model), (input_ids, attention_mask, decoder_ids),
        dynamic_shapes={"input_ids": {0: batch}, "attention_mask": {0: batch}, "decoder_input_ids": {0: batch}},
    )
    encoder = torch.export.export(EncoderStates(model.get_encoder()), (input_ids, attention_mask),
                                  dynamic_shapes={"input_ids": {0: batch}, "attention_mask": {0: batch}})
    # another batch size, with padding where the example had none
    other_ids, other_mask = random_batch([5, 2, 4, 1], seed=25)
    other_decoder, _ = random_batch([4, 4, 4, 4], seed=26)
    with torch.no_grad():
        expected = model(input_ids=other_ids, attention_mask=other_mask, decoder_input_ids=other_decoder).logits
        expected_encoder = model.get_encoder()(other_ids, other_mask)
    torch.testing.assert_close(exported.module()(other_ids, other_mask, other_decoder), expected, atol=1e-5, rtol=0)
    states, final_hidden, final_cell = encoder.module()(other_ids, other_mask)
    torch.testing.assert_close(states, expected_encoder.last_hidden_state, atol=1e-5, rtol=0)
    torch.testing.assert_close(final_cell, expected_encoder.final_cell_state, atol=1e-5, rtol=0)


def test_eager_calls_keep_their_clear_errors():
    model = tiny_model()
    with pytest.raises(ValueError, match="outside the model's vocabulary"):
        model(input_ids=torch.tensor([[5, 99]]), decoder_input_ids=torch.tensor([[1]]))
    with pytest.raises(ValueError, match="have no tokens"):
        model(input_ids=torch.tensor([[5, 6]]), attention_mask=torch.tensor([[0, 0]]),
              decoder_input_ids=torch.tensor([[1]]))
