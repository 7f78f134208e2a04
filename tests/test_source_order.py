"""The order in which the encoder reads a source: reversed sources (`reverse_source`) and left-padded batches."""

import pytest
import torch
from conftest import PAD, assert_each_row_as_if_alone, random_batch, tiny_config, tiny_model


def left_padded(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The same rows with their padding moved to the front."""
    ids, mask = torch.full_like(input_ids, PAD), torch.zeros_like(attention_mask)
    for row, length in enumerate(attention_mask.sum(dim=1).tolist()):
        ids[row, ids.shape[1] - length :] = input_ids[row, :length]
        mask[row, ids.shape[1] - length :] = 1
    return ids, mask


def reversed_rows(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Each row's real tokens in reverse order, padding left where it was (right-padded input)."""
    flipped = input_ids.clone()
    for row, length in enumerate(attention_mask.sum(dim=1).tolist()):
        flipped[row, :length] = input_ids[row, :length].flip(0)
    return flipped


@pytest.mark.parametrize("bidirectional", [False, True])
def test_reversed_source_is_the_plain_encoder_over_reversed_tokens_indexed_in_reading_order(bidirectional):
    reading = tiny_model(attention="general", bidirectional=bidirectional, encoder_layers=2, decoder_layers=2)
    reversing = tiny_model(attention="general", bidirectional=bidirectional, encoder_layers=2, decoder_layers=2,
                           reverse_source=True)
    reversing.load_state_dict(reading.state_dict())
    input_ids, attention_mask = random_batch([6, 3, 5], seed=11)
    with torch.no_grad():
        plain = reading.get_encoder()(reversed_rows(input_ids, attention_mask), attention_mask,
                                      output_hidden_states=True)
        reversed_out = reversing.get_encoder()(input_ids, attention_mask, output_hidden_states=True)
    # the final states are those after reading the reversed source ...
    torch.testing.assert_close(reversed_out.final_hidden_state, plain.final_hidden_state, atol=1e-6, rtol=0)
    torch.testing.assert_close(reversed_out.final_cell_state, plain.final_cell_state, atol=1e-6, rtol=0)
    # ... and the state at source position t is the one computed at token t, wherever the LSTM met it
    flip = reversed_rows(torch.arange(6).expand(3, 6), attention_mask)
    for states, plain_states in zip(reversed_out.hidden_states, plain.hidden_states):
        expected = plain_states.gather(1, flip[..., None].expand(-1, -1, states.shape[-1]))
        torch.testing.assert_close(states, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(reversed_out.last_hidden_state, reversed_out.hidden_states[-1])


def test_reversal_changes_the_function():
    reading = tiny_model(attention="dot")
    reversing = tiny_model(attention="dot", reverse_source=True)
    reversing.load_state_dict(reading.state_dict())
    input_ids, attention_mask = random_batch([6, 4], seed=12)
    decoder_ids, _ = random_batch([4, 4], seed=13)
    with torch.no_grad():
        a = reading(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_ids).logits
        b = reversing(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_ids).logits
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("options", [
    dict(attention="dot"), dict(attention="additive", input_feeding=True), dict(attention="none", peeky=True),
    dict(attention="general", bidirectional=True, encoder_layers=2, decoder_layers=2, residual=True),
], ids=["dot", "additive-feeding", "peeky", "general-bi-residual"])
def test_reversed_source_padding_and_cache(options):
    model = tiny_model(reverse_source=True, **options)
    assert_each_row_as_if_alone(model, seed=14)
    input_ids, attention_mask = random_batch([3, 7, 5], seed=14)
    for kwargs in (dict(num_beams=1), dict(num_beams=3)):
        cached = model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=6, **kwargs)
        recomputed = model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=6, use_cache=False,
                                    **kwargs)
        assert torch.equal(cached, recomputed)


def test_reverse_source_must_be_a_flag():
    with pytest.raises(ValueError, match="reverse_source must be True or False"):
        tiny_config(reverse_source="yes")


@pytest.mark.parametrize("reverse_source", [False, True])
def test_left_padding_gives_the_outputs_of_right_padding(grid_options, reverse_source):
    model = tiny_model(reverse_source=reverse_source, **grid_options)
    input_ids, attention_mask = random_batch([3, 7, 5], seed=16)
    left_ids, left_mask = left_padded(input_ids, attention_mask)
    decoder_ids, _ = random_batch([4, 4, 4], seed=17)
    with torch.no_grad():
        right = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_ids,
                      output_attentions=True)
        left = model(input_ids=left_ids, attention_mask=left_mask, decoder_input_ids=decoder_ids,
                     output_attentions=True)
    torch.testing.assert_close(left.logits, right.logits, atol=1e-5, rtol=0)
    if right.cross_attentions is not None:
        # the weights sit on the tokens, wherever the padding put them
        for row, length in enumerate(attention_mask.sum(dim=1).tolist()):
            torch.testing.assert_close(left.cross_attentions[0][row, ..., -length:],
                                       right.cross_attentions[0][row, ..., :length], atol=1e-6, rtol=0)
    assert torch.equal(model.generate(left_ids, attention_mask=left_mask, max_new_tokens=5),
                       model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=5))


def test_left_padded_batch_generates_like_each_row_alone():
    model = tiny_model(attention="general")
    input_ids, attention_mask = random_batch([2, 6, 4], seed=18)
    left_ids, left_mask = left_padded(input_ids, attention_mask)
    batched = model.generate(left_ids, attention_mask=left_mask, max_new_tokens=6, num_beams=2)
    for row, length in enumerate(attention_mask.sum(dim=1).tolist()):
        alone = model.generate(input_ids[row : row + 1, :length], max_new_tokens=6, num_beams=2)
        assert torch.equal(batched[row, : alone.shape[1]], alone[0])
