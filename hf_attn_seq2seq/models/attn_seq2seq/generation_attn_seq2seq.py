"""The decoding loops over the decoder step: greedy search and GNMT's beam search, each written once for any decoder
that gives next-token logits (the PyTorch model's `decode_step`, the ONNX Runtime graphs).

Greedy search is what `generate` runs for plain greedy calls (`plain_greedy_settings`), without transformers' general
loop and its per-token overhead; it returns the same ids.

Beam search with GNMT's scoring (Wu et al., 2016, section 7) is a `custom_generate` loop. transformers' beam search
divides a finished hypothesis' log-probability by `length ** length_penalty` and has no coverage penalty. GNMT scores a
finished hypothesis `Y` of source `X` as

    s(Y, X) = log P(Y | X) / lp(Y) + cp(X; Y)
    lp(Y) = (5 + |Y|) ** alpha / (5 + 1) ** alpha
    cp(X; Y) = beta * sum_i log(min(sum_j p_ij, 1.0))

where `p_ij` is the attention weight of output step `j` on source token `i`: hypotheses that leave source tokens
unattended (dropped words) pay for it. With alpha = beta = 0 the score is the plain log-probability.

    from hf_attn_seq2seq import gnmt_beam_search

    model.generate(**inputs, num_beams=5, custom_generate=gnmt_beam_search, length_alpha=0.6, coverage_beta=0.2)

Live beams are ranked by log-probability (all beams of a source have the same length at each step); the GNMT score
ranks the finished hypotheses. A source is done when no live beam can still beat its best finished hypothesis: log P
only falls as a hypothesis grows and cp <= 0, so log P / lp(longest allowed) bounds every continuation. At the length
limit the live beams are scored as they stand. With alpha = beta = 0 this returns what transformers' beam search
returns with `length_penalty=0.0, early_stopping="never"`.

This file travels to the Hub with the model (the model file imports it), so it imports torch, transformers and
numpy (which transformers requires) only.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F
from transformers.generation import GenerateBeamEncoderDecoderOutput, GenerationConfig


# ---------------------------------------------------------------------------------------------------------------
# Greedy search
# ---------------------------------------------------------------------------------------------------------------


def greedy_search(step, start_tokens: np.ndarray, max_new_tokens: int, eos_token_ids: list[int] | None,
                  pad_token_id: int | None, return_attentions: bool = False):
    """Greedy decoding as transformers does it: once a sequence has produced an end token it continues with padding,
    and the loop stops when every sequence has ended or `max_new_tokens` are made.

    `step(tokens)` reads `(rows, 1)` int64 tokens and returns the ids of the highest-scoring next tokens `(rows,)` and
    the attention weights `(rows, src_len)` (or None), all numpy arrays: the loop's own bookkeeping costs a fraction of
    a step in numpy, where torch's per-operation overhead would cost a large share of a small model's step (the
    PyTorch step hands over its argmax, the ONNX Runtime step its graph's). Returns the ids `(rows, 1 + generated)`,
    starting with `start_tokens` `(rows, 1)`, and with `return_attentions` the weights `(rows, generated, src_len)`
    (else None).
    """
    token, tokens, attentions = start_tokens, [start_tokens], []
    if eos_token_ids:
        eos = np.array(eos_token_ids, dtype=np.int64)
        unfinished = np.ones(start_tokens.shape[0], dtype=bool)
    for _ in range(max_new_tokens):
        next_tokens, weights = step(token)
        if eos_token_ids:
            next_tokens = np.where(unfinished, next_tokens, pad_token_id)
            unfinished &= ~(next_tokens[:, None] == eos).any(axis=1)  # np.isin costs as much as a small step
        token = next_tokens[:, None].astype(np.int64)
        tokens.append(token)
        if return_attentions and weights is not None:
            attentions.append(weights)
        if eos_token_ids and not unfinished.any():
            break
    return np.concatenate(tokens, axis=1), (np.stack(attentions, axis=1) if attentions else None)


# generate()'s general loop costs about as much per token as a decoder step at batch 1 (settings, processors, output
# dataclasses, stopping criteria); plain greedy calls take `greedy_search` with the same result
# (benchmarks/RESULTS.md). The defaults are read through transformers' `_get_default_generation_params`, which the
# floor and newest test runs cover.
_UNSET_GENERATION_SETTINGS = vars(GenerationConfig())
_DEFAULT_GENERATION_SETTINGS = GenerationConfig()._get_default_generation_params()
# settings read one by one below, not compared with their defaults
_TOKEN_AND_LENGTH_SETTINGS = frozenset(
    ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id", "max_new_tokens", "max_length")
)
_MODEL_INPUTS = ("input_ids", "attention_mask")
_MODEL_CONFIG_GENERATION_SETTINGS = tuple(key for key in _DEFAULT_GENERATION_SETTINGS if key != "use_cache")


@dataclass
class PlainGreedySettings:
    """What a plain greedy `generate` call resolves to."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor | None
    max_new_tokens: int
    eos_token_ids: list[int] | None
    pad_token_id: int | None
    start_token_id: int

    def start_tokens(self) -> np.ndarray:
        return np.full((self.input_ids.shape[0], 1), self.start_token_id, dtype=np.int64)


def _is_token_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _same_setting(value, default) -> bool:
    return type(value) is type(default) and value == default


def _resolved_settings(model, generation_config, call_settings: dict) -> dict | None:
    """Every generation setting that is set, resolved as `generate` does: the call's keyword arguments, then
    `generation_config`, then the model's. None where generate must raise its own error (settings in the model
    config)."""
    configs = [model.generation_config]
    if generation_config is not None:
        configs.insert(0, generation_config)
    else:
        model_config_value = vars(model.config).get
        if any(model_config_value(key) is not None for key in _MODEL_CONFIG_GENERATION_SETTINGS):
            return None
    resolved = {}  # the first value that is set, in the order generate resolves them
    for config in reversed(configs):
        resolved.update((key, value) for key, value in vars(config).items() if value is not None)
    resolved.update(call_settings)
    return resolved


def _only_token_and_length_settings(resolved: dict) -> bool:
    """Every setting unset, at its global default or a flag set to False, except the special tokens and lengths."""
    for key, value in resolved.items():
        if key.startswith("_") or key == "transformers_version" or key in _TOKEN_AND_LENGTH_SETTINGS:
            continue
        if key in _DEFAULT_GENERATION_SETTINGS:
            if not _same_setting(value, _DEFAULT_GENERATION_SETTINGS[key]):
                return False
        elif key not in _UNSET_GENERATION_SETTINGS or value is not False:  # a flag without default may be off
            return False
    return True


def plain_greedy_settings(model, inputs, generation_config, kwargs) -> PlainGreedySettings | None:
    """The settings of a `generate` call that is plain greedy search, or None when transformers' loop must run it.

    Plain means: input ids (and a mask) only, no processors, criteria, streamer or assistant, not training, and every
    generation setting unset, at its global default or a flag set to False, except the special tokens and
    `max_new_tokens`.
    """
    if model.training or getattr(model, "_hf_hook", None) is not None or model._forward_hooks \
            or model._forward_pre_hooks:
        return None
    if inputs is not None:
        if "input_ids" in kwargs:
            return None
        kwargs = {**kwargs, "input_ids": inputs}
    input_ids = kwargs.get("input_ids")
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2 or input_ids.dtype != torch.long:
        return None
    call_settings = {}
    for key, value in kwargs.items():
        if key in _MODEL_INPUTS:
            continue
        if key not in _UNSET_GENERATION_SETTINGS or value is None:
            return None
        call_settings[key] = value
    resolved = _resolved_settings(model, generation_config, call_settings)
    if resolved is None or not _only_token_and_length_settings(resolved):
        return None
    max_new_tokens = resolved.get("max_new_tokens")
    if not _is_token_id(max_new_tokens) or max_new_tokens == 0:
        return None
    eos_token_ids = resolved.get("eos_token_id")
    if eos_token_ids is not None:
        eos_token_ids = [eos_token_ids] if not isinstance(eos_token_ids, list) else eos_token_ids
        if not eos_token_ids or not all(_is_token_id(token) for token in eos_token_ids):
            return None
    pad_token_id = resolved.get("pad_token_id")
    if pad_token_id is None and eos_token_ids is not None:
        pad_token_id = eos_token_ids[0]
    start_token_id = resolved.get("decoder_start_token_id")
    if start_token_id is None:
        start_token_id = resolved.get("bos_token_id")
    if not _is_token_id(start_token_id) or (pad_token_id is not None and not _is_token_id(pad_token_id)):
        return None
    return PlainGreedySettings(input_ids, kwargs.get("attention_mask"), max_new_tokens, eos_token_ids, pad_token_id,
                               start_token_id)


# ---------------------------------------------------------------------------------------------------------------
# GNMT beam search
# ---------------------------------------------------------------------------------------------------------------


def gnmt_length_penalty(length: int, alpha: float) -> float:
    """lp(Y) = (5 + |Y|)^alpha / 6^alpha."""
    return ((5 + length) / 6) ** alpha


def gnmt_coverage_penalty(coverage: torch.Tensor, source_mask: torch.Tensor, beta: float) -> torch.Tensor:
    """cp = beta * sum over real source tokens of log(min(total attention received, 1)); `coverage` is
    `(rows, src_len)`, returns `(rows,)`. Zero when beta is 0."""
    if beta == 0:
        return coverage.new_zeros(coverage.shape[0])
    received = coverage.clamp(min=1e-10, max=1.0).log()  # a token never attended costs log(1e-10), not -inf
    return beta * received.masked_fill(~source_mask, 0.0).sum(dim=-1)


@torch.no_grad()
def gnmt_beam_search(
    model,
    input_ids: torch.LongTensor,
    logits_processor,
    stopping_criteria,
    generation_config,
    synced_gpus: bool = False,
    length_alpha: float = 0.0,
    coverage_beta: float = 0.0,
    **model_kwargs,
) -> torch.LongTensor | GenerateBeamEncoderDecoderOutput:
    """The decoding loop `generate(custom_generate=gnmt_beam_search)` runs; returns `(batch_size, length)` ids, or with
    `return_dict_in_generate=True` an output whose `cross_attentions` (with `output_attentions=True`) are the chosen
    hypothesis's weights at each step.

    `generate` has already encoded the source and repeated every row `num_beams` times. `length_alpha` and
    `coverage_beta` are GNMT's alpha and beta (0 turns each off). Logits processors apply; of the stopping criteria
    only the length limit (`max_length` / `max_new_tokens`) and the end token do.
    """
    if generation_config.num_return_sequences not in (None, 1):
        raise ValueError("gnmt_beam_search returns one sequence per source; set num_return_sequences=1.")
    eos_tensor = generation_config._eos_token_tensor
    pad_id = generation_config._pad_token_tensor
    returns_attentions = bool(generation_config.return_dict_in_generate and generation_config.output_attentions)
    # the per-source memory of the sources generate has encoded and repeated for the beams
    cache = model.get_decoder().new_cache(model_kwargs["encoder_outputs"], model_kwargs.get("attention_mask"))

    def step(sequences: torch.Tensor, beam_rows: torch.Tensor | None):
        if beam_rows is None:  # the first step reads the start tokens (a prompt's too), every later one the last token
            return model.decode_step(sequences, cache)[:2]
        cache.reorder_cache(beam_rows)
        return model.decode_step(sequences[:, -1:], cache)[:2]

    output, attentions = gnmt_search(
        step, input_ids, generation_config.num_beams, generation_config.max_length - input_ids.shape[1],
        eos_ids=set() if eos_tensor is None else set(eos_tensor.view(-1).tolist()),
        pad_id=int(pad_id) if pad_id is not None else 0, source_mask=cache.source_mask, length_alpha=length_alpha,
        coverage_beta=coverage_beta, logits_processor=logits_processor, return_attentions=returns_attentions,
    )
    if not generation_config.return_dict_in_generate:
        return output
    cross_attentions = None
    if returns_attentions:
        # the chosen hypothesis's weights at each step, `(batch_size, 1, 1, src_len)` per step as generate gives them
        # for one layer; zeros after a hypothesis ended
        cross_attentions = tuple((attentions[:, t, None, None],) for t in range(attentions.shape[1]))
    return GenerateBeamEncoderDecoderOutput(sequences=output, cross_attentions=cross_attentions)


class _FinishedHypotheses:
    """Each source's best finished hypothesis so far: its GNMT score, its tokens and (when asked for) its attention
    weights; and whether the source is done (no live beam can beat it)."""

    def __init__(self, batch_size: int):
        self.scores = [-math.inf] * batch_size
        self.tokens: list[list[int]] = [[] for _ in range(batch_size)]
        self.attentions: list[torch.Tensor | None] = [None] * batch_size
        self.done = [False] * batch_size

    def offer(self, source: int, score: float, tokens: list[int], attentions: torch.Tensor | None) -> None:
        if score > self.scores[source]:
            self.scores[source], self.tokens[source] = score, tokens
            self.attentions[source] = None if attentions is None else attentions.clone()

    def output(self, start_tokens: torch.Tensor, pad_id: int, src_len: int, return_attentions: bool):
        """`(batch_size, start + longest)` ids (padding after shorter hypotheses) and, with `return_attentions`, the
        chosen weights `(batch_size, longest, src_len)` (zeros after a hypothesis ended)."""
        batch_size, start_length = start_tokens.shape
        device = start_tokens.device
        length = max(len(tokens) for tokens in self.tokens)
        output = torch.full((batch_size, start_length + length), pad_id, dtype=torch.long, device=device)
        output[:, :start_length] = start_tokens
        for source, tokens in enumerate(self.tokens):
            output[source, start_length : start_length + len(tokens)] = torch.tensor(tokens, device=device)
        if not return_attentions:
            return output, None
        attentions = torch.zeros(batch_size, length, src_len, device=device)
        for source, chosen in enumerate(self.attentions):
            if chosen is not None:
                attentions[source, : chosen.shape[0]] = chosen
        return output, attentions


def gnmt_search(step, input_ids: torch.Tensor, num_beams: int, max_new_tokens: int, eos_ids: set[int], pad_id: int,
                source_mask: torch.Tensor, length_alpha: float = 0.0, coverage_beta: float = 0.0,
                logits_processor=None, return_attentions: bool = False):
    """The search itself, for any decoder: `step(sequences, beam_rows)` first reorders the decoder's state to
    `beam_rows` (None at the first step), then returns the next-token logits `(rows, vocab)` of `sequences`' last
    tokens and the attention weights `(rows, src_len)` (None when it has none; needed for coverage).

    `input_ids` holds each source's start tokens repeated `num_beams` times. Returns `(batch_size, length)` ids and,
    with `return_attentions`, each chosen hypothesis's weights `(batch_size, generated, src_len)` (else None).
    """
    if not (math.isfinite(length_alpha) and math.isfinite(coverage_beta)) or length_alpha < 0 or coverage_beta < 0:
        raise ValueError(f"length_alpha and coverage_beta must be finite numbers >= 0, got {length_alpha} and "
                         f"{coverage_beta}.")
    rows, src_len = input_ids.shape[0], source_mask.shape[1]
    batch_size, device = rows // num_beams, input_ids.device
    coverage = torch.zeros(rows, src_len, device=device)
    history = torch.zeros(rows, 0, src_len, device=device)  # each live beam's attention weights so far
    finished = _FinishedHypotheses(batch_size)
    # only the first beam of each source is live at the start, so the first step does not pick one token K times
    running_scores = torch.full((batch_size, num_beams), -math.inf, device=device)
    running_scores[:, 0] = 0.0
    sequences, beam_rows = input_ids, None
    largest_length_penalty = gnmt_length_penalty(max_new_tokens, length_alpha)  # of the longest hypothesis allowed
    for step_index in range(max_new_tokens):
        logits, weights = step(sequences, beam_rows)
        log_probs = F.log_softmax(logits.float(), dim=-1)
        if logits_processor is not None:
            log_probs = logits_processor(sequences, log_probs)
        if weights is not None:
            weights = weights.float()
            coverage = coverage + weights
            if return_attentions:
                history = torch.cat([history, weights[:, None]], dim=1)
        last_step = step_index == max_new_tokens - 1
        choices = _choose_beams(finished, running_scores, log_probs, sequences, input_ids.shape[1],
                                history if return_attentions else None, num_beams, eos_ids, pad_id, last_step,
                                penalties=gnmt_coverage_penalty(coverage, source_mask, coverage_beta).view(
                                    batch_size, num_beams).tolist(),
                                length_penalty=gnmt_length_penalty(step_index + 1, length_alpha),
                                largest_length_penalty=largest_length_penalty)
        if all(finished.done) or last_step:
            break
        next_rows, next_tokens, next_scores = zip(*choices)
        beam_rows = torch.tensor(next_rows, device=device)
        sequences = torch.cat([sequences[beam_rows], torch.tensor(next_tokens, device=device)[:, None]], dim=-1)
        running_scores = torch.tensor(next_scores, device=device).view(batch_size, num_beams)
        coverage, history = coverage[beam_rows], history[beam_rows]
    return finished.output(input_ids[::num_beams], pad_id, src_len, return_attentions)


def _choose_beams(finished: _FinishedHypotheses, running_scores, log_probs, sequences, start_length: int,
                  history, num_beams: int, eos_ids: set[int], pad_id: int, last_step: bool, penalties: list,
                  length_penalty: float, largest_length_penalty: float) -> list[tuple[int, int, float]]:
    """One step's choice: each source's `num_beams` best continuations `(row, token, log P)`, in source order. A
    continuation that ends (or any, at the last step) is offered to `finished` with its GNMT score instead. A source is
    done when its best finished score beats what its best live beam could still reach (log P only falls as a
    hypothesis grows and cp <= 0, so no live beam ends above log P / lp(longest)); done sources keep dummy beams so
    that every tensor keeps its shape."""
    batch_size, vocab_size = running_scores.shape[0], log_probs.shape[-1]
    totals = (running_scores.view(-1, 1) + log_probs).view(batch_size, num_beams * vocab_size)
    top_scores, top_indices = totals.topk(2 * num_beams, dim=-1)
    choices = []
    for source, (scores, indices) in enumerate(zip(top_scores.tolist(), top_indices.tolist())):
        kept = []
        for rank, (score, index) in enumerate(zip(scores, indices)):
            if finished.done[source] or score == -math.inf or len(kept) == num_beams:
                break
            beam, token = divmod(index, vocab_size)
            row = source * num_beams + beam
            ends = token in eos_ids
            if ends and rank >= num_beams:  # as in transformers, an end token counts only among the top num_beams
                continue
            if ends or last_step:
                finished.offer(source, score / length_penalty + penalties[source][beam],
                               sequences[row, start_length:].tolist() + [token],
                               None if history is None else history[row])
                if ends:
                    continue
            kept.append((row, token, score))
        if kept and finished.scores[source] >= kept[0][2] / largest_length_penalty:
            finished.done[source] = True
        if finished.done[source]:
            kept = []
        kept += [(source * num_beams, pad_id, -math.inf)] * (num_beams - len(kept))
        choices += kept
    return choices


__all__ = ["gnmt_beam_search", "gnmt_coverage_penalty", "gnmt_length_penalty", "gnmt_search", "greedy_search",
           "plain_greedy_settings"]
