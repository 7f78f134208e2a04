"""Plain greedy `generate()` runs a direct loop: it must return exactly what transformers' general loop returns, and
every call that is not plain greedy search must still go through that loop."""

import pytest
import torch
from conftest import BOS, EOS, PAD, random_batch, tiny_model
from transformers import GenerationConfig
from transformers.generation import GenerationMixin, LogitsProcessorList

from hf_attn_seq2seq.models.attn_seq2seq.generation_attn_seq2seq import plain_greedy_settings as _plain_greedy_settings


def general_loop(model, *args, **kwargs) -> torch.Tensor:
    """transformers' own `generate`, bypassing the model's direct greedy loop."""
    return GenerationMixin.generate(model, *args, **kwargs)


def favour_eos(model, bias: float) -> None:
    with torch.no_grad():
        model.lm_head.bias[EOS] += bias


def test_direct_loop_equals_general_loop(grid_options):
    model = tiny_model(**grid_options)
    input_ids, attention_mask = random_batch([6, 3, 5, 2], seed=11)
    for bias in (0.0, 0.6, 1.5):  # from no end token to early ends
        favour_eos(model, bias)
        for kwargs in (dict(attention_mask=attention_mask), dict()):
            direct = model.generate(input_ids, max_new_tokens=7, **kwargs)
            assert torch.equal(direct, general_loop(model, input_ids, max_new_tokens=7, **kwargs)), (bias, kwargs)


def test_direct_loop_pads_sequences_that_ended_and_stops_when_all_have():
    ended_early = []
    for seed in range(6):
        model = tiny_model(seed=seed, attention="general")
        with torch.no_grad():
            model.lm_head.weight.mul_(30)  # logits that differ between rows and steps, so rows end apart
        input_ids, attention_mask = random_batch([7, 4, 6, 3, 5, 2], seed=seed)
        for bias in (0.0, 0.3, 0.3):
            favour_eos(model, bias)
            direct = model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=9)
            assert torch.equal(direct, general_loop(model, input_ids, attention_mask=attention_mask,
                                                    max_new_tokens=9))
            ends = [row.tolist().index(EOS) if EOS in row.tolist() else None for row in direct[:, 1:]]
            if len({end for end in ends if end is not None}) > 1:
                ended_early.append(direct)
    # the comparison covered batches whose rows end at different steps, padded after their end token
    assert ended_early
    for direct in ended_early:
        for row in direct.tolist():
            if EOS in row[1:]:
                end = row.index(EOS, 1)
                assert all(token == PAD for token in row[end + 1 :])


@pytest.mark.parametrize("settings", [
    dict(eos_token_id=[EOS, 7]),  # several end tokens
    dict(pad_token_id=None),  # pad falls back to the (first) end token
    dict(eos_token_id=None),  # runs to max_new_tokens
    dict(decoder_start_token_id=None),  # starts from bos
    dict(decoder_start_token_id=5),
])
def test_direct_loop_resolves_special_tokens_like_generate(settings):
    model = tiny_model(attention="dot")
    favour_eos(model, 1.0)
    with torch.no_grad():
        model.lm_head.bias[7] += 1.0
    model.generation_config = GenerationConfig(**{**dict(decoder_start_token_id=BOS, bos_token_id=BOS,
                                                         eos_token_id=EOS, pad_token_id=PAD), **settings})
    input_ids, attention_mask = random_batch([6, 3, 5], seed=12)
    assert _plain_greedy_settings(model, None, None, dict(input_ids=input_ids, max_new_tokens=8)) is not None
    direct = model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=8)
    assert torch.equal(direct, general_loop(model, input_ids, attention_mask=attention_mask, max_new_tokens=8))


def test_settings_resolve_from_call_then_given_config_then_model():
    model = tiny_model(attention="general")
    favour_eos(model, 1.0)
    model.generation_config = GenerationConfig(decoder_start_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD,
                                               max_new_tokens=3)
    input_ids, _ = random_batch([6, 4], seed=13)
    for args, kwargs in [((), dict()), ((), dict(max_new_tokens=9)),
                         ((GenerationConfig(max_new_tokens=6),), dict()),
                         ((GenerationConfig(max_new_tokens=6, eos_token_id=4),), dict(max_new_tokens=5)),
                         ((), dict(max_new_tokens=4, max_length=9))]:  # max_new_tokens takes precedence
        settings = _plain_greedy_settings(model, input_ids, *(args or (None,)), kwargs)
        assert settings is not None
        direct = model.generate(input_ids, *args, **kwargs)
        assert torch.equal(direct, general_loop(model, input_ids, *args, **kwargs)), (args, kwargs)
    assert model.generate(input_ids).shape[1] <= 1 + 3
    assert model.generate(input_ids, GenerationConfig(max_new_tokens=6, eos_token_id=4)).shape[1] <= 1 + 6


@pytest.mark.parametrize("kwargs", [
    dict(num_beams=3), dict(do_sample=True), dict(num_return_sequences=2, num_beams=2), dict(min_new_tokens=4),
    dict(repetition_penalty=1.3), dict(no_repeat_ngram_size=2), dict(return_dict_in_generate=True),
    dict(output_scores=True, return_dict_in_generate=True), dict(output_attentions=True), dict(use_cache=False),
    dict(max_new_tokens=None, max_length=6), dict(max_new_tokens=None), dict(suppress_tokens=[5]),
    dict(forced_eos_token_id=EOS),
    dict(bad_words_ids=[[5]]), dict(temperature=0.5, do_sample=True), dict(length_alpha=0.6),
    dict(logits_processor=LogitsProcessorList()), dict(decoder_input_ids=torch.tensor([[BOS, 5], [BOS, 6]])),
])
def test_every_other_call_goes_through_transformers_loop(kwargs, monkeypatch):
    model = tiny_model(attention="general")
    input_ids, attention_mask = random_batch([6, 4], seed=14)
    calls = []
    original = GenerationMixin.generate

    def recording_generate(self, *args, **inner_kwargs):
        calls.append(inner_kwargs)
        return original(self, *args, **inner_kwargs)

    monkeypatch.setattr(GenerationMixin, "generate", recording_generate)
    call = dict(max_new_tokens=5, attention_mask=attention_mask)
    call.update(kwargs)
    try:
        model.generate(input_ids, **call)
    except (ValueError, TypeError):
        pass  # settings generate itself rejects (e.g. no length limit): what matters is who handled the call
    assert len(calls) == 1


def test_plain_calls_skip_transformers_loop(monkeypatch):
    model = tiny_model(attention="general")
    input_ids, attention_mask = random_batch([6, 4], seed=15)

    def failing_generate(*args, **kwargs):
        raise AssertionError("transformers' loop ran a plain greedy call")

    monkeypatch.setattr(GenerationMixin, "generate", failing_generate)
    model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=4)
    model.generate(input_ids=input_ids, max_new_tokens=4, num_beams=1, do_sample=False, use_cache=True)
    model.generate(input_ids, GenerationConfig(max_new_tokens=4))


def test_model_state_that_changes_decoding_goes_through_transformers_loop():
    model = tiny_model(attention="general")
    input_ids, _ = random_batch([6, 4], seed=16)
    plain = dict(input_ids=input_ids, max_new_tokens=4)
    assert _plain_greedy_settings(model, None, None, plain) is not None
    model.train()  # dropout
    assert _plain_greedy_settings(model, None, None, plain) is None
    model.eval()
    handle = model.register_forward_hook(lambda *args: None)
    assert _plain_greedy_settings(model, None, None, plain) is None
    handle.remove()
    model.generation_config.num_beams = 4
    assert _plain_greedy_settings(model, None, None, plain) is None
    model.generation_config.num_beams = 1
    model.generation_config.length_alpha = 0.6  # a custom entry: only a custom decoding loop reads it
    assert _plain_greedy_settings(model, None, None, plain) is None
    del model.generation_config.length_alpha
    model.config.num_beams = 4  # generate's own error for generation settings in the model config
    with pytest.raises(ValueError, match="modified the pretrained model configuration"):
        model.generate(input_ids, max_new_tokens=4)


def test_direct_loop_rejects_bad_input_like_generate():
    model = tiny_model()
    with pytest.raises(ValueError, match="empty"):
        model.generate(torch.zeros((1, 0), dtype=torch.long), max_new_tokens=3)
    with pytest.raises(ValueError, match="outside the model's vocabulary"):
        model.generate(torch.tensor([[3, 99]]), max_new_tokens=3)


def test_generate_from_threads_changes_no_process_wide_state():
    import threading

    model = tiny_model(attention="general")
    input_ids, attention_mask = random_batch([6, 3, 5], seed=31)
    expected = {beams: model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=6, num_beams=beams)
                for beams in (1, 2)}
    flags_before = (torch.backends.mkldnn.enabled, torch.get_num_threads(), torch.is_grad_enabled(),
                    torch.initial_seed())
    results, errors = [], []

    def work(num_beams):
        try:
            for _ in range(5):
                results.append((num_beams, model.generate(input_ids, attention_mask=attention_mask,
                                                          max_new_tokens=6, num_beams=num_beams)))
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(1 + index % 2,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(results) == 20 and all(torch.equal(output, expected[beams]) for beams, output in results)
    assert (torch.backends.mkldnn.enabled, torch.get_num_threads(), torch.is_grad_enabled(),
            torch.initial_seed()) == flags_before
