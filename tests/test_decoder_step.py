"""The decoder step and its per-source memory: `decode_step` one token at a time computes what the teacher-forced
forward pass computes, for every layout; the cache's per-source tensors are built once and never rewritten by a
step; beam reordering moves only the recurrent state."""

import pytest
import torch
from conftest import BOS, grid_id, option_grid, random_batch, tiny_model

from hf_attn_seq2seq import AttnSeq2SeqCache, DecoderStepOutput


LAYOUTS = [options for options in option_grid() if options["encoder_layers"] == 2 and options.get("bidirectional")
           and options.get("bidirectional_merge") == "concat"]


@pytest.mark.parametrize("options", LAYOUTS, ids=[grid_id(options) for options in LAYOUTS])
def test_decode_step_token_by_token_equals_the_teacher_forced_pass(options):
    model = tiny_model(seed=5, **options)
    input_ids, attention_mask = random_batch([5, 3, 6], seed=6)
    targets, _ = random_batch([4, 4, 4], seed=7)
    decoder_input_ids = torch.cat([torch.full((3, 1), BOS), targets], dim=1)
    with torch.no_grad():
        full = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                     output_attentions=True)
        cache = model.new_cache(input_ids, attention_mask)
        steps = [model.decode_step(decoder_input_ids[:, t : t + 1], cache) for t in range(decoder_input_ids.shape[1])]
    assert all(isinstance(step, DecoderStepOutput) and step.cache is cache for step in steps)
    torch.testing.assert_close(torch.stack([step.logits for step in steps], dim=1), full.logits, rtol=0, atol=1e-6)
    if options["attention"] == "none":
        assert all(step.attention_weights is None for step in steps)
    else:
        torch.testing.assert_close(torch.stack([step.attention_weights for step in steps], dim=1),
                                   full.cross_attentions[0][:, 0], rtol=0, atol=1e-6)
    assert cache.get_seq_length() == decoder_input_ids.shape[1]


@pytest.mark.parametrize("attention, peeky, feeding", [("dot", False, False), ("general", True, True),
                                                        ("additive", False, True), ("none", True, False)])
def test_the_cache_holds_the_source_once_and_steps_rewrite_only_the_recurrent_state(attention, peeky, feeding):
    model = tiny_model(seed=1, attention=attention, peeky=peeky, input_feeding=feeding)
    input_ids, attention_mask = random_batch([5, 2], seed=2)
    with torch.no_grad():
        encoder_outputs = model.get_encoder()(input_ids, attention_mask)
        cache = model.get_decoder().new_cache(encoder_outputs)
        source = {name: getattr(cache, name) for name in AttnSeq2SeqCache.SOURCE_FIELDS}
        model.decode_step(torch.full((2, 1), BOS), cache)
    assert cache.source_mask.dtype == torch.bool and torch.equal(cache.source_mask, attention_mask.bool())
    assert cache.encoder_states is encoder_outputs.last_hidden_state
    assert (cache.source_keys is not None) == (attention in ("general", "additive"))
    assert (cache.peeky_state is not None) == peeky and (cache.attentional_vector is not None) == feeding
    for name, tensor in source.items():
        assert getattr(cache, name) is tensor, f"{name} was rewritten by a step"


def test_beam_reordering_moves_the_recurrent_state_and_selection_moves_everything():
    model = tiny_model(seed=4, attention="general", peeky=True, input_feeding=True)
    input_ids, attention_mask = random_batch([5, 2, 4], seed=3)
    with torch.no_grad():
        cache = model.new_cache(input_ids, attention_mask)
        model.decode_step(torch.full((3, 1), BOS), cache)
    hidden, keys = cache.hidden_state.clone(), cache.source_keys
    cache.reorder_cache(torch.tensor([2, 0, 1]))
    assert torch.equal(cache.hidden_state, hidden[[2, 0, 1]]) and cache.source_keys is keys
    cache.batch_select_indices(torch.tensor([1]))
    assert cache.batch_size == 1 and torch.equal(cache.source_keys, keys[[1]])
    assert torch.equal(cache.source_mask, attention_mask[[1]].bool())


def test_dot_attention_keeps_its_states_once_when_the_cache_is_repeated():
    """Dot attention scores `hs` itself: the cache keeps no separate keys, and repeating rows for beams copies the
    states once."""
    model = tiny_model(seed=4, attention="dot")
    input_ids, attention_mask = random_batch([5, 2], seed=3)
    with torch.no_grad():
        cache = model.new_cache(input_ids, attention_mask)
    assert cache.source_keys is None and cache.attention_keys is cache.encoder_states
    cache.batch_repeat_interleave(3)
    assert cache.encoder_states.shape[0] == 6 and cache.source_mask.shape[0] == 6
