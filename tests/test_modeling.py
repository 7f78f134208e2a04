"""Model numerics over the whole option grid: loss and gradients, padding invariance, cache equivalence."""

import copy

import pytest
import torch
from conftest import EOS, PAD, assert_each_row_as_if_alone, random_batch, tiny_model

from hf_attn_seq2seq.models.attn_seq2seq.modeling_attn_seq2seq import CACHE_FIELD, drop_words, shift_tokens_right


def test_loss_is_finite_and_gradients_reach_every_parameter(grid_options):
    model = tiny_model(**grid_options, dropout=0.1).train()
    input_ids, attention_mask = random_batch([7, 4, 5])
    labels, _ = random_batch([5, 3, 6], seed=1)
    labels = labels.masked_fill(labels == PAD, -100)
    loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
    assert torch.isfinite(loss)
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{name} got no gradient"
        assert parameter.grad.abs().sum() > 0, f"{name} got a zero gradient"


def test_padding_does_not_change_any_sequence(grid_options):
    assert_each_row_as_if_alone(tiny_model(**grid_options), seed=2)


def test_step_by_step_decoding_equals_teacher_forcing(grid_options):
    model = tiny_model(**grid_options)
    input_ids, attention_mask = random_batch([6, 3, 5], seed=4)
    decoder_ids, _ = random_batch([5, 5, 5], seed=5)
    with torch.no_grad():
        full = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_ids).logits
        encoder_outputs = model.get_encoder()(input_ids, attention_mask)
        cache, steps = None, []
        for t in range(decoder_ids.shape[1]):
            out = model(encoder_outputs=encoder_outputs, decoder_input_ids=decoder_ids[:, t : t + 1],
                        past_key_values=cache, use_cache=True)
            cache = getattr(out, CACHE_FIELD)
            steps.append(out.logits)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=0)
    assert cache.get_seq_length() == decoder_ids.shape[1]


def test_generate_with_cache_equals_full_recompute(grid_options):
    model = tiny_model(**grid_options)
    input_ids, _ = random_batch([6, 3, 5], seed=6)  # no attention_mask: generate must still mask the padding
    for kwargs in (dict(num_beams=1), dict(num_beams=3, num_return_sequences=2)):
        cached = model.generate(input_ids, max_new_tokens=6, do_sample=False, **kwargs)
        recomputed = model.generate(input_ids, max_new_tokens=6, do_sample=False, use_cache=False, **kwargs)
        assert torch.equal(cached, recomputed), kwargs


def test_generate_honours_source_mask_without_attention_mask():
    model = tiny_model(attention="general")
    input_ids, attention_mask = random_batch([6, 3], seed=7)
    without_mask = model.generate(input_ids, max_new_tokens=5, do_sample=False)
    alone = model.generate(input_ids[1:, :3], max_new_tokens=5, do_sample=False)
    with_mask = model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=5, do_sample=False)
    assert torch.equal(without_mask, with_mask)
    assert torch.equal(without_mask[1, : alone.shape[1]], alone[0])


def test_generate_runs_one_decoder_step_per_token():
    model = tiny_model(attention="additive", input_feeding=True)
    input_ids, _ = random_batch([5, 4], seed=8)
    seen_lengths = []
    original_forward = model.model.decoder.forward

    def recording_forward(input_ids, *args, **kwargs):
        seen_lengths.append(input_ids.shape[1])
        return original_forward(input_ids, *args, **kwargs)

    model.model.decoder.forward = recording_forward
    model.generate(input_ids, max_new_tokens=7, min_new_tokens=7, do_sample=False)
    assert seen_lengths == [1] * 7


def test_beam_of_one_equals_greedy_and_beam_shapes():
    model = tiny_model(attention="dot")
    input_ids, attention_mask = random_batch([6, 4, 5], seed=9)
    greedy = model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=6, do_sample=False)
    one_beam = model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=6, num_beams=1)
    assert torch.equal(greedy, one_beam)
    beams = model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=6, num_beams=4,
                           num_return_sequences=2, length_penalty=0.6, return_dict_in_generate=True,
                           output_scores=True)
    assert beams.sequences.shape[0] == 3 * 2
    assert beams.sequences_scores.shape == (3 * 2,)
    assert beams.sequences.shape[1] <= 1 + 6


def test_sampling_is_reproducible_under_a_seed():
    model = tiny_model(attention="general")
    input_ids, _ = random_batch([6, 4], seed=10)
    runs = []
    for _ in range(2):
        torch.manual_seed(123)
        runs.append(model.generate(input_ids, max_new_tokens=8, do_sample=True, top_k=0, temperature=1.5))
    assert torch.equal(runs[0], runs[1])
    torch.manual_seed(321)
    other = model.generate(input_ids, max_new_tokens=8, do_sample=True, top_k=0, temperature=1.5)
    assert not torch.equal(runs[0], other)


@pytest.mark.parametrize("num_beams", [1, 3])
def test_generate_returns_per_step_attention_weights(num_beams):
    model = tiny_model(attention="dot")
    input_ids, _ = random_batch([6, 4], seed=11)
    out = model.generate(input_ids, max_new_tokens=5, min_new_tokens=5, num_beams=num_beams,
                         return_dict_in_generate=True, output_attentions=True)
    assert len(out.cross_attentions) == 5
    weights = out.cross_attentions[0][0]  # first step, the one attention layer
    assert weights.shape == (2 * num_beams, 1, 1, 6)
    torch.testing.assert_close(weights.sum(-1), torch.ones_like(weights.sum(-1)))
    # the second source has 4 tokens: no weight on its two pads
    assert torch.all(weights[num_beams:, ..., 4:] == 0)


def test_loss_matches_token_mean_and_uses_num_items_in_batch():
    model = tiny_model()
    input_ids, attention_mask = random_batch([5, 4], seed=12)
    labels, _ = random_batch([4, 2], seed=13)
    labels = labels.masked_fill(labels == PAD, -100)
    out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    decoder_ids = shift_tokens_right(labels, PAD, model.config.decoder_start_token_id)
    logits = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_ids).logits
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
    torch.testing.assert_close(out.loss, expected)
    summed = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels, num_items_in_batch=1).loss
    torch.testing.assert_close(summed, expected * (labels != -100).sum())


def test_decoder_depth_differs_from_encoder_depth():
    model = tiny_model(encoder_layers=3, decoder_layers=2, residual=True)
    input_ids, attention_mask = random_batch([5, 2], seed=14)
    cached = model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=5)
    recomputed = model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=5, use_cache=False)
    assert torch.equal(cached, recomputed)


def test_tied_output_layer_shares_the_decoder_embedding(tmp_path):
    model = tiny_model(tie_word_embeddings=True)
    assert model.lm_head.weight.data_ptr() == model.model.decoder.embed_tokens.weight.data_ptr()
    model.save_pretrained(tmp_path)
    loaded = type(model).from_pretrained(tmp_path)
    assert loaded.lm_head.weight.data_ptr() == loaded.model.decoder.embed_tokens.weight.data_ptr()
    torch.testing.assert_close(loaded.lm_head.weight, model.lm_head.weight, atol=0, rtol=0)


def test_init_sets_forget_gate_bias_and_small_uniform_weights():
    model = tiny_model()
    lstm = model.model.encoder.layers[0]
    hidden = lstm.hidden_size
    assert torch.all(lstm.bias_ih_l0[hidden : 2 * hidden] == 1)
    assert torch.all(lstm.bias_ih_l0[:hidden] == 0)
    assert model.lm_head.weight.abs().max() <= model.config.init_range
    assert torch.all(model.model.encoder.embed_tokens.weight[PAD] == 0)


def test_eos_ends_generation():
    model = tiny_model()
    with torch.no_grad():
        model.lm_head.bias.fill_(-10.0)
        model.lm_head.bias[EOS] = 10.0
    out = model.generate(torch.tensor([[5, 6, 7]]), max_new_tokens=10)
    assert out.tolist() == [[model.config.decoder_start_token_id, EOS]]


def test_decoder_state_is_accepted_as_cache_or_past_key_values():
    # transformers 5.24 hands the generation cache over as `cache`; earlier versions as `past_key_values`
    model = tiny_model(attention="general", input_feeding=True)
    input_ids, attention_mask = random_batch([5, 3], seed=17)
    with torch.no_grad():
        encoder_outputs = model.get_encoder()(input_ids, attention_mask)
        first = model(encoder_outputs=encoder_outputs, decoder_input_ids=torch.tensor([[1], [1]]), use_cache=True)
        step = torch.tensor([[5], [6]])
        by_old_name = model(encoder_outputs=encoder_outputs, decoder_input_ids=step,
                            past_key_values=copy.deepcopy(getattr(first, CACHE_FIELD))).logits
        by_new_name = model(encoder_outputs=encoder_outputs, decoder_input_ids=step,
                            cache=copy.deepcopy(getattr(first, CACHE_FIELD))).logits
        fresh = model(encoder_outputs=encoder_outputs, decoder_input_ids=step).logits
    assert torch.equal(by_old_name, by_new_name)
    assert not torch.allclose(by_new_name, fresh)  # the state was used, not a fresh one
    sequences = torch.cat([torch.tensor([[1], [1]]), step], dim=1)  # generate passes every token so far
    inputs = model.prepare_inputs_for_generation(sequences, next_sequence_length=1, cache=getattr(first, CACHE_FIELD))
    assert inputs["past_key_values"] is getattr(first, CACHE_FIELD)
    assert torch.equal(inputs["decoder_input_ids"], step)
    with pytest.raises(ValueError, match="not both"):
        model(encoder_outputs=encoder_outputs, decoder_input_ids=step, cache=getattr(first, CACHE_FIELD),
              past_key_values=getattr(first, CACHE_FIELD))


def test_word_dropout_zeroes_whole_token_embeddings_while_training_only():
    embedded = torch.randn(4, 50, 6) + 3.0  # no entry is zero by chance
    torch.manual_seed(0)
    dropped = drop_words(embedded, 0.3, training=True)
    zero_tokens = (dropped == 0).all(dim=-1)
    assert ((dropped == 0) == zero_tokens.unsqueeze(-1)).all()  # a token is dropped whole or kept whole
    assert torch.equal(dropped[~zero_tokens], embedded[~zero_tokens])  # kept tokens are not rescaled
    assert 0.2 < zero_tokens.float().mean() < 0.4
    assert drop_words(embedded, 0.3, training=False) is embedded
    with_dropout, without = tiny_model(seed=2, word_dropout=0.5), tiny_model(seed=2)
    ids, mask = random_batch([5, 3])
    targets = torch.randint(3, 20, (2, 4))
    with torch.no_grad():  # evaluation is untouched by word dropout
        assert torch.equal(with_dropout(input_ids=ids, attention_mask=mask, decoder_input_ids=targets).logits,
                           without(input_ids=ids, attention_mask=mask, decoder_input_ids=targets).logits)
        with_dropout.train()
        torch.manual_seed(1)
        trained = with_dropout(input_ids=ids, attention_mask=mask, decoder_input_ids=targets).logits
    assert not torch.equal(trained, without(input_ids=ids, attention_mask=mask, decoder_input_ids=targets).logits)
