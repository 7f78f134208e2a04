"""What transformers' own model tests and its users check: hidden states, continuing from a returned cache, keyword
forwarding, embeddings as input, resizing embeddings, gradient checkpointing, the encoder accessor."""

import copy

import pytest
import torch
from conftest import PAD, VOCAB_SIZE, random_batch, tiny_model
from transformers.modeling_layers import GradientCheckpointingLayer

from hf_attn_seq2seq.models.attn_seq2seq.modeling_attn_seq2seq import CACHE_FIELD


OPTIONS = {
    "dot": dict(attention="dot"),
    "additive-feeding-L2": dict(attention="additive", input_feeding=True, encoder_layers=2, decoder_layers=2),
    "general-bottom-bi-residual": dict(attention="general", attention_layer="bottom", bidirectional=True,
                                       encoder_layers=2, decoder_layers=2, residual=True),
    "peeky": dict(attention="none", peeky=True),
}
options = pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())


# 1. Hidden states ---------------------------------------------------------------------------------------------------

@options
def test_forward_returns_hidden_states_of_embeddings_and_every_layer(options):
    model = tiny_model(**options)
    input_ids, attention_mask = random_batch([5, 3], seed=1)
    decoder_ids, _ = random_batch([4, 4], seed=2)
    with torch.no_grad():
        out = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_ids,
                    output_hidden_states=True)
    config = model.config
    assert len(out.encoder_hidden_states) == config.encoder_layers + 1
    assert len(out.decoder_hidden_states) == config.decoder_layers + 1
    assert out.encoder_hidden_states[0].shape == (2, 5, config.embedding_size)
    assert out.decoder_hidden_states[0].shape == (2, 4, config.embedding_size)
    for states in out.encoder_hidden_states[1:]:
        assert states.shape == (2, 5, config.hidden_size)
    for states in out.decoder_hidden_states[1:]:
        assert states.shape == (2, 4, config.hidden_size)
    torch.testing.assert_close(out.encoder_hidden_states[-1], out.encoder_last_hidden_state)
    # the top decoder layer's output is the `h` of the features [c; h] that reach the output layer
    bare = model.model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_ids)
    h = bare.last_hidden_state[..., config.hidden_size : 2 * config.hidden_size] if config.attention != "none" \
        else bare.last_hidden_state[..., : config.hidden_size]
    torch.testing.assert_close(out.decoder_hidden_states[-1], h)
    torch.testing.assert_close(out.decoder_hidden_states[0], model.model.decoder.embed_tokens(decoder_ids))


def test_config_switches_hidden_states_and_attentions_on():
    model = tiny_model(attention="general")
    input_ids, _ = random_batch([5], seed=3)
    decoder_ids, _ = random_batch([3], seed=4)
    plain = model(input_ids=input_ids, decoder_input_ids=decoder_ids)
    assert plain.decoder_hidden_states is None and plain.cross_attentions is None
    model.config.output_hidden_states = True
    model.config.output_attentions = True
    out = model(input_ids=input_ids, decoder_input_ids=decoder_ids)
    assert len(out.decoder_hidden_states) == 2 and len(out.encoder_hidden_states) == 2
    assert out.cross_attentions[0].shape == (1, 1, 3, 5)
    assert model(input_ids=input_ids, decoder_input_ids=decoder_ids, output_attentions=False).cross_attentions is None


@pytest.mark.parametrize("num_beams", [1, 2])
def test_generate_returns_hidden_states_step_by_step(num_beams):
    model = tiny_model(attention="dot", encoder_layers=2, decoder_layers=2)
    input_ids, attention_mask = random_batch([5, 3], seed=5)
    out = model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=4, num_beams=num_beams,
                         eos_token_id=None, return_dict_in_generate=True, output_hidden_states=True)
    assert len(out.encoder_hidden_states) == 3
    assert out.encoder_hidden_states[0].shape[:2] == (2, 5)  # recorded before the beams are expanded
    assert len(out.decoder_hidden_states) == 4  # one entry per generated token
    for step in out.decoder_hidden_states:
        assert len(step) == 3 and all(states.shape == (2 * num_beams, 1, states.shape[-1]) for states in step)


# 2. Continuing generation from a returned cache ---------------------------------------------------------------------

@options
def test_greedy_generation_continues_from_the_returned_cache(options):
    model = tiny_model(**options)
    input_ids, attention_mask = random_batch([6, 3, 5], seed=6)
    settings = dict(attention_mask=attention_mask, eos_token_id=None, return_dict_in_generate=True,
                    output_scores=True)
    whole = model.generate(input_ids, max_new_tokens=5, **settings)
    first = model.generate(input_ids, max_new_tokens=3, **settings)
    state = getattr(first, CACHE_FIELD)
    assert state.get_seq_length() == 3  # start token and two generated tokens; the third is not read yet
    rest = model.generate(input_ids, decoder_input_ids=first.sequences, max_new_tokens=2,
                          **{CACHE_FIELD: state}, **settings)
    assert torch.equal(rest.sequences, whole.sequences)
    for continued, single in zip(first.scores + rest.scores, whole.scores):
        torch.testing.assert_close(continued, single, atol=1e-5, rtol=0)


@pytest.mark.parametrize("num_beams", [2, 3])
def test_beam_search_continues_from_a_cache_as_from_a_recomputed_prefix(num_beams):
    # Beam search keeps several hypotheses, so the best 3-token prefix need not start the best 5-token result; what
    # a cache must give is exactly what the same prefix gives when its state is recomputed.
    model = tiny_model(attention="additive", input_feeding=True)
    input_ids, attention_mask = random_batch([6, 4], seed=7)
    prefix = model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=3, eos_token_id=None,
                            return_dict_in_generate=True)
    settings = dict(attention_mask=attention_mask, decoder_input_ids=prefix.sequences, max_new_tokens=3,
                    num_beams=num_beams, eos_token_id=None, return_dict_in_generate=True, output_scores=True)
    cached = model.generate(input_ids, **{CACHE_FIELD: getattr(prefix, CACHE_FIELD)}, **settings)
    recomputed = model.generate(input_ids, **settings)
    assert torch.equal(cached.sequences, recomputed.sequences)
    torch.testing.assert_close(cached.sequences_scores, recomputed.sequences_scores, atol=1e-5, rtol=0)


def test_a_cache_given_with_too_few_decoder_tokens_is_refused():
    model = tiny_model()
    input_ids, _ = random_batch([4], seed=8)
    first = model.generate(input_ids, max_new_tokens=3, eos_token_id=None, return_dict_in_generate=True)
    with pytest.raises(ValueError, match="has read 3 tokens but decoder_input_ids holds 2"):
        model.generate(input_ids, decoder_input_ids=first.sequences[:, :2], max_new_tokens=2,
                       **{CACHE_FIELD: getattr(first, CACHE_FIELD)})


# 3. prepare_inputs_for_generation forwards what it is given ------------------------------------------------------

def test_generate_forwards_decoder_attention_mask_and_custom_keywords_to_forward():
    model = tiny_model()
    seen = []
    model.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs.get("decoder_attention_mask")),
                                    with_kwargs=True)
    input_ids, _ = random_batch([4], seed=9)
    model.generate(input_ids, max_new_tokens=3, eos_token_id=None,
                   decoder_attention_mask=torch.ones(1, 1, dtype=torch.long))
    assert len(seen) == 3 and all(mask is not None for mask in seen)
    assert [mask.shape[1] for mask in seen] == [1, 2, 3]  # generate extends it by one position per step
    # keywords transformers does not know travel to forward too (generate itself only lets forward's own through)
    inputs = model.prepare_inputs_for_generation(torch.tensor([[1]]), decoder_attention_mask="mask", other=3)
    assert inputs["decoder_attention_mask"] == "mask" and inputs["other"] == 3


# 4. get_encoder takes the base class's arguments ------------------------------------------------------------------

def test_get_encoder_accepts_modality():
    model = tiny_model()
    assert model.get_encoder(modality="text") is model.get_encoder() is model.model.get_encoder(modality=None)
    assert model.get_decoder() is model.model.decoder


# 5. resize_token_embeddings ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("tied", [False, True])
def test_resize_token_embeddings_resizes_both_embeddings_and_the_output_layer(tied):
    model = tiny_model(attention="general", tie_word_embeddings=tied).train()
    before = copy.deepcopy(model.state_dict())
    new_size = VOCAB_SIZE + 5
    model.resize_token_embeddings(new_size)
    assert model.config.vocab_size == new_size
    assert model.model.encoder.embed_tokens.num_embeddings == new_size
    assert model.model.decoder.embed_tokens.num_embeddings == new_size
    assert model.lm_head.out_features == new_size
    torch.testing.assert_close(model.model.decoder.embed_tokens.weight[:VOCAB_SIZE],
                               before["model.decoder.embed_tokens.weight"])
    torch.testing.assert_close(model.model.encoder.embed_tokens.weight[:VOCAB_SIZE],
                               before["model.encoder.embed_tokens.weight"])
    if tied:
        assert model.lm_head.weight is model.model.decoder.embed_tokens.weight
    # the new ids are read and written: they train ...
    new_id = new_size - 1
    input_ids = torch.tensor([[5, new_id, 7]])
    labels = torch.tensor([[new_id, 4, new_id]])
    model(input_ids=input_ids, labels=labels).loss.backward()
    for table in (model.model.encoder.embed_tokens, model.model.decoder.embed_tokens):
        assert table.weight.grad[new_id].abs().sum() > 0
    assert model.lm_head.weight.grad[new_id].abs().sum() > 0
    # ... and generate
    model.eval()
    with torch.no_grad():
        model.lm_head.bias[new_id] = 100.0
    generated = model.generate(input_ids, max_new_tokens=3, eos_token_id=None)
    assert (generated[0, 1:] == new_id).all()


def test_shrinking_the_vocabulary_keeps_the_first_rows():
    model = tiny_model()
    model.resize_token_embeddings(VOCAB_SIZE - 3)
    assert model.model.decoder.embed_tokens.num_embeddings == VOCAB_SIZE - 3
    with pytest.raises(ValueError, match="outside the model's vocabulary"):
        model.generate(torch.tensor([[VOCAB_SIZE - 2]]), max_new_tokens=2)


# 6. Gradient checkpointing ----------------------------------------------------------------------------------------

@options
def test_gradient_checkpointing_gives_the_same_loss_and_gradients(options):
    model = tiny_model(**options).train()
    input_ids, attention_mask = random_batch([6, 3, 5], seed=10)
    labels, _ = random_batch([4, 5, 2], seed=11)
    labels = labels.masked_fill(labels == PAD, -100)

    def loss_and_gradients():
        model.zero_grad()
        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        loss.backward()
        return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}

    plain_loss, plain = loss_and_gradients()
    assert model.supports_gradient_checkpointing
    enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
    enable()  # the name changed in transformers 5.24; the mechanism did not
    layers = [*model.model.encoder.layers, *model.model.decoder.layers]
    assert all(isinstance(layer, GradientCheckpointingLayer) and layer.gradient_checkpointing for layer in layers)
    calls = []
    checkpoint = layers[0]._gradient_checkpointing_func
    for layer in layers:
        layer._gradient_checkpointing_func = lambda *args, **kwargs: calls.append(1) or checkpoint(*args, **kwargs)
    checkpointed_loss, checkpointed = loss_and_gradients()
    assert len(calls) >= model.config.encoder_layers + model.config.decoder_layers  # every LSTM layer ran in one
    torch.testing.assert_close(checkpointed_loss, plain_loss)
    for name, gradient in plain.items():
        torch.testing.assert_close(checkpointed[name], gradient, atol=1e-6, rtol=1e-5, msg=name)
    (getattr(model, "activation_checkpointing_disable", None) or model.gradient_checkpointing_disable)()
    assert not any(layer.gradient_checkpointing for layer in layers)


# 7. inputs_embeds / decoder_inputs_embeds ---------------------------------------------------------------------------

@options
def test_embeddings_in_place_of_ids_give_the_same_outputs(options):
    model = tiny_model(**options)
    input_ids, attention_mask = random_batch([6, 3], seed=12)
    decoder_ids, _ = random_batch([4, 4], seed=13)
    with torch.no_grad():
        by_ids = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_ids).logits
        by_embeddings = model(inputs_embeds=model.get_input_embeddings()(input_ids), attention_mask=attention_mask,
                              decoder_inputs_embeds=model.model.decoder.embed_tokens(decoder_ids)).logits
    torch.testing.assert_close(by_embeddings, by_ids)
    by_ids_generated = model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=4, num_beams=2)
    by_embeddings_generated = model.generate(inputs_embeds=model.get_input_embeddings()(input_ids).detach(),
                                             attention_mask=attention_mask, max_new_tokens=4, num_beams=2)
    assert torch.equal(by_embeddings_generated, by_ids_generated)


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(input_ids=torch.tensor([[5, 6]]), inputs_embeds=torch.zeros(1, 2, 6), decoder_input_ids=torch.tensor([[1]])),
     "Give input_ids or inputs_embeds, not both"),
    (dict(input_ids=torch.tensor([[5, 6]]), decoder_input_ids=torch.tensor([[1]]),
          decoder_inputs_embeds=torch.zeros(1, 1, 6)), "Give decoder_input_ids or decoder_inputs_embeds, not both"),
    (dict(inputs_embeds=torch.zeros(1, 2, 5), decoder_input_ids=torch.tensor([[1]])),
     r"inputs_embeds must have shape \(batch_size, sequence_length, embedding_size=6\)"),
    (dict(input_ids=torch.tensor([[5, 6]]), decoder_inputs_embeds=torch.zeros(1, 1)),
     r"decoder_inputs_embeds must have shape"),
], ids=["ids-and-embeds", "decoder-ids-and-embeds", "wrong-width", "2-d"])
def test_ids_and_embeddings_together_or_misshapen_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_model()(**kwargs)
