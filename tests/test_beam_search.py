"""GNMT beam-search scoring: plain scores reproduce transformers' beam search; the penalties do what they say."""

import math
from types import SimpleNamespace

import pytest
import torch
from conftest import EOS, random_batch, tiny_model
from transformers import GenerationConfig, LogitsProcessorList

from hf_attn_seq2seq.models.attn_seq2seq.generation_attn_seq2seq import (
    gnmt_beam_search,
    gnmt_coverage_penalty,
    gnmt_length_penalty,
)


def trimmed(row: torch.Tensor) -> list[int]:
    """Ids up to and including the first end token (transformers pads after it with eos or pad)."""
    ids = row.tolist()
    return ids[: ids.index(EOS) + 1] if EOS in ids else ids


@pytest.mark.parametrize("options", [dict(attention="general", bidirectional=True), dict(attention="additive"),
                                     dict(attention="dot", input_feeding=True, encoder_layers=2, decoder_layers=2)])
@pytest.mark.parametrize("num_beams", [1, 3, 4])
def test_without_penalties_it_finds_what_transformers_beam_search_finds(options, num_beams):
    # a wider initialization than the default gives peaked distributions, so no two hypotheses tie within rounding
    model = tiny_model(seed=num_beams, hidden_size=16, init_range=0.5, **options)
    ids, mask = random_batch([7, 4, 6, 2, 7, 5, 3, 6], seed=num_beams)
    common = dict(input_ids=ids, attention_mask=mask, num_beams=num_beams, max_new_tokens=10)
    reference = model.generate(**common, length_penalty=0.0, early_stopping="never")
    ours = model.generate(**common, custom_generate=gnmt_beam_search)
    assert [trimmed(row) for row in ours] == [trimmed(row) for row in reference]


class ScriptedDecoder:
    """A stand-in model whose next-token distribution and attention depend only on the tokens generated so far:
    `table[prefix] = ({token: probability}, attention over a 2-token source)`; unlisted prefixes end at once. It
    offers what the loop reads: `get_decoder().new_cache(...)` and `decode_step(tokens, cache)`."""

    vocab_size = 6  # pad, start, end, and three words

    def __init__(self, table):
        self.table = table

    def get_decoder(self):
        return SimpleNamespace(new_cache=lambda encoder_outputs, attention_mask: PrefixCache(None, attention_mask))

    def decode_step(self, tokens, cache):
        # the first step reads the start token, every later one the last token of each beam
        cache.prefixes = tokens[:, 1:] if cache.prefixes is None else torch.cat([cache.prefixes, tokens], dim=1)
        logits, weights = [], []
        for prefix in cache.prefixes.tolist():
            probabilities, attention = self.table.get(tuple(prefix), ({EOS: 1.0}, [0.5, 0.5]))
            row = torch.full((self.vocab_size,), 1e-9)
            for token, probability in probabilities.items():
                row[token] = probability
            logits.append(row.log())
            weights.append(attention)
        return torch.stack(logits), torch.tensor(weights), cache


class PrefixCache:
    def __init__(self, prefixes, source_mask):
        self.prefixes = prefixes
        self.source_mask = source_mask.bool()

    def reorder_cache(self, beam_rows):
        self.prefixes = self.prefixes[beam_rows]


def scripted_search(table, num_beams=2, **penalties) -> list[int]:
    config = GenerationConfig(num_beams=num_beams, max_length=6, pad_token_id=0, eos_token_id=EOS)
    config._pad_token_tensor, config._eos_token_tensor = torch.tensor(0), torch.tensor([EOS])
    start = torch.ones((num_beams, 1), dtype=torch.long)
    mask = torch.ones((num_beams, 2), dtype=torch.long)
    output = gnmt_beam_search(ScriptedDecoder(table), start, LogitsProcessorList(), None, config,
                              encoder_outputs=None, attention_mask=mask, **penalties)
    return trimmed(output[0])[1:]


A, B = 3, 4


def test_length_normalization_picks_the_longer_hypothesis_raw_scores_reject():
    # "end" now: log 0.5 = -0.69; "a end": log 0.5 + log 0.9 = -0.80, but GNMT divides it by lp(2) = 7/6 while
    # "end" keeps lp(1) = 1: -0.686 beats -0.693 with alpha = 1
    table = {(): ({EOS: 0.5, A: 0.5}, [0.5, 0.5]), (A,): ({EOS: 0.9, B: 0.1}, [0.5, 0.5])}
    assert scripted_search(table) == [EOS]
    assert scripted_search(table, length_alpha=1.0) == [A, EOS]


def test_coverage_penalty_picks_the_hypothesis_that_reads_the_whole_source():
    # "a end" leaves the second source token half read (coverage 0.5, cp = beta * log 0.5); "b end" is a little less
    # likely but reads both tokens fully: log 0.55 + 0.5 log 0.5 = -0.94 < log 0.45 = -0.80
    table = {(): ({A: 0.55, B: 0.45}, [0.5, 0.5]),
             (A,): ({EOS: 1.0}, [1.0, 0.0]), (B,): ({EOS: 1.0}, [0.5, 0.5])}
    assert scripted_search(table) == [A, EOS]
    assert scripted_search(table, coverage_beta=0.1) == [A, EOS]  # -0.67 still beats -0.80
    assert scripted_search(table, coverage_beta=0.5) == [B, EOS]


def test_gnmt_penalty_formulas():
    assert gnmt_length_penalty(1, 0.6) == pytest.approx(1.0)
    assert gnmt_length_penalty(10, 0.6) == pytest.approx((15 / 6) ** 0.6)
    assert gnmt_length_penalty(10, 0.0) == 1.0
    coverage = torch.tensor([[1.0, 2.0, 0.5, 0.0], [1.0, 1.0, 1.0, 0.0]])
    mask = torch.tensor([[True, True, True, False], [True, True, True, False]])
    penalty = gnmt_coverage_penalty(coverage, mask, beta=0.2)
    # over-attended tokens cost nothing, padding is left out, an under-attended token costs beta * log(its total)
    assert penalty.tolist() == pytest.approx([0.2 * math.log(0.5), 0.0])
    assert gnmt_coverage_penalty(coverage, mask, beta=0.0).tolist() == [0.0, 0.0]


def test_penalties_run_on_a_real_model_and_keep_one_sequence_per_source():
    model = tiny_model(seed=5, hidden_size=16, init_range=0.5, attention="general")
    ids, mask = random_batch([8, 3, 8, 5], seed=2)
    output = model.generate(input_ids=ids, attention_mask=mask, num_beams=3, max_new_tokens=8,
                            custom_generate=gnmt_beam_search, length_alpha=0.6, coverage_beta=0.2)
    assert output.shape[0] == 4 and output.shape[1] <= 9
    assert (output[:, 0] == model.config.decoder_start_token_id).all()


@pytest.mark.parametrize("penalties", [dict(length_alpha=-1.0), dict(coverage_beta=-0.5),
                                       dict(length_alpha=float("nan")), dict(coverage_beta=float("nan")),
                                       dict(length_alpha=float("inf"))], ids=["alpha<0", "beta<0", "alpha-nan",
                                                                            "beta-nan", "alpha-inf"])
def test_bad_penalties_are_rejected(penalties):
    model = tiny_model()
    ids, mask = random_batch([3])
    with pytest.raises(ValueError, match="length_alpha and coverage_beta must be finite numbers >= 0"):
        model.generate(input_ids=ids, attention_mask=mask, num_beams=2, max_new_tokens=4,
                       custom_generate=gnmt_beam_search, **penalties)


@pytest.mark.parametrize("search", ["beam", "gnmt"])
def test_returned_attentions_are_the_chosen_hypothesis_also_when_it_ended_early(search):
    from hf_attn_seq2seq.models.attn_seq2seq.pipeline_attn_seq2seq import sequence_attentions

    search_outlived_results = 0
    for seed in range(8):
        model = tiny_model(seed=seed, attention="general")
        with torch.no_grad():
            model.lm_head.bias[EOS] += 1.5  # hypotheses end at different steps
        ids, mask = random_batch([6, 3], seed=seed)
        extra = dict(custom_generate=gnmt_beam_search, length_alpha=0.6) if search == "gnmt" else {}
        output = model.generate(input_ids=ids, attention_mask=mask, num_beams=4, max_new_tokens=8,
                                return_dict_in_generate=True, output_attentions=True, **extra)
        weights = sequence_attentions(output)
        # the search ran longer than every returned sequence (beam search records every step it ran)
        search_outlived_results += output.sequences.shape[1] - 1 < len(output.cross_attentions)
        for row, sequence in enumerate(output.sequences):
            ends = (sequence[1:] == EOS).nonzero()
            length = int(ends[0]) + 1 if len(ends) else sequence.shape[0] - 1
            with torch.no_grad():
                forced = model(input_ids=ids[row : row + 1], attention_mask=mask[row : row + 1],
                               decoder_input_ids=sequence[None, :length], output_attentions=True)
            torch.testing.assert_close(weights[row, :length], forced.cross_attentions[0][0, 0], atol=1e-5, rtol=0)
    if search == "beam":
        assert search_outlived_results  # the case that crashed
