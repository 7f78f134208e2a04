"""Beam search with GNMT's scoring (Wu et al., 2016, section 7), as a `custom_generate` decoding loop.

transformers' beam search divides a finished hypothesis' log-probability by `length ** length_penalty` and has no
coverage penalty. GNMT scores a finished hypothesis `Y` of source `X` as

    s(Y, X) = log P(Y | X) / lp(Y) + cp(X; Y)
    lp(Y) = (5 + |Y|) ** alpha / (5 + 1) ** alpha
    cp(X; Y) = beta * sum_i log(min(sum_j p_ij, 1.0))

where `p_ij` is the attention weight of output step `j` on source token `i`: hypotheses that leave source tokens
unattended (dropped words) pay for it. With alpha = beta = 0 the score is the plain log-probability.

    from hf_attn_seq2seq.beam_search import gnmt_beam_search

    model.generate(**inputs, num_beams=5, custom_generate=gnmt_beam_search, length_alpha=0.6, coverage_beta=0.2)

Live beams are ranked by log-probability (all beams of a source have the same length at each step); the GNMT score
ranks the finished hypotheses. A source is done when no live beam can still beat its best finished hypothesis: log P
only falls as a hypothesis grows and cp <= 0, so log P / lp(longest allowed) bounds every continuation. At the length
limit the live beams are scored as they stand. With alpha = beta = 0 this returns what transformers' beam search
returns with `length_penalty=0.0, early_stopping="never"`.
"""

import math

import torch
from torch.nn import functional as F
from transformers.generation import GenerateBeamEncoderDecoderOutput

from .modeling_attn_seq2seq import CACHE_FIELD


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
    encoder_outputs = model_kwargs["encoder_outputs"]
    attention_mask = model_kwargs.get("attention_mask")
    source_mask = (attention_mask if attention_mask is not None else encoder_outputs.attention_mask).bool()
    returns_attentions = bool(generation_config.return_dict_in_generate and generation_config.output_attentions)
    needs_attention = coverage_beta > 0 or returns_attentions
    cache = None

    def step(sequences: torch.Tensor, beam_rows: torch.Tensor | None):
        nonlocal cache
        if beam_rows is not None:
            cache.reorder_cache(beam_rows)
        outputs = model(decoder_input_ids=sequences if cache is None else sequences[:, -1:],
                        encoder_outputs=encoder_outputs, attention_mask=attention_mask, past_key_values=cache,
                        use_cache=True, output_attentions=needs_attention, return_dict=True)
        cache = getattr(outputs, CACHE_FIELD)
        weights = outputs.cross_attentions[0][:, 0, -1] if needs_attention else None  # rows x src_len
        return outputs.logits[:, -1], weights

    output, attentions = gnmt_search(
        step, input_ids, generation_config.num_beams, generation_config.max_length - input_ids.shape[1],
        eos_ids=set() if eos_tensor is None else set(eos_tensor.view(-1).tolist()),
        pad_id=int(pad_id) if pad_id is not None else 0, source_mask=source_mask, length_alpha=length_alpha,
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
    rows, start_length = input_ids.shape
    batch_size = rows // num_beams
    device = input_ids.device
    coverage = torch.zeros(rows, source_mask.shape[1], device=device)
    # each live beam's attention weights so far (rows x steps x src_len), and those of each source's best hypothesis
    history = torch.zeros(rows, 0, source_mask.shape[1], device=device)
    best_attentions: list[torch.Tensor | None] = [None] * batch_size

    # only the first beam of each source is live at the start, so the first step does not pick one token K times
    running_scores = torch.full((batch_size, num_beams), -math.inf, device=device)
    running_scores[:, 0] = 0.0
    best: list[tuple[float, list[int]]] = [(-math.inf, []) for _ in range(batch_size)]
    done = [False] * batch_size
    sequences = input_ids
    beam_rows = None
    # log P only falls as a hypothesis grows and cp <= 0, so no live beam can end above log P / lp(longest)
    largest_length_penalty = gnmt_length_penalty(max_new_tokens, length_alpha)

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
        vocab_size = log_probs.shape[-1]
        totals = (running_scores.view(-1, 1) + log_probs).view(batch_size, num_beams * vocab_size)
        top_scores, top_indices = totals.topk(2 * num_beams, dim=-1)
        last_step = step_index == max_new_tokens - 1
        penalties = gnmt_coverage_penalty(coverage, source_mask, coverage_beta).view(batch_size, num_beams).tolist()
        length_penalty = gnmt_length_penalty(step_index + 1, length_alpha)  # generated tokens, the end included

        next_rows, next_tokens, next_scores = [], [], []
        for batch_index, (scores, indices) in enumerate(zip(top_scores.tolist(), top_indices.tolist())):
            kept = []
            for rank, (score, index) in enumerate(zip(scores, indices)):
                if done[batch_index] or score == -math.inf or len(kept) == num_beams:
                    break
                beam, token = divmod(index, vocab_size)
                row = batch_index * num_beams + beam
                ends = token in eos_ids
                if ends or last_step:
                    # as in transformers, an end token counts only among the top num_beams candidates
                    if ends and rank >= num_beams:
                        continue
                    final = score / length_penalty + penalties[batch_index][beam]
                    if final > best[batch_index][0]:
                        best[batch_index] = (final, sequences[row, start_length:].tolist() + [token])
                        if return_attentions:
                            best_attentions[batch_index] = history[row].clone()
                    if ends:
                        continue
                kept.append((row, token, score))
            if kept and best[batch_index][0] >= kept[0][2] / largest_length_penalty:
                done[batch_index] = True
            if done[batch_index]:
                kept = []
            while len(kept) < num_beams:  # finished sources keep dummy beams so every tensor keeps its shape
                kept.append((batch_index * num_beams, pad_id, -math.inf))
            for row, token, score in kept:
                next_rows.append(row)
                next_tokens.append(token)
                next_scores.append(score)
        if all(done) or last_step:
            break
        beam_rows = torch.tensor(next_rows, device=device)
        sequences = torch.cat([sequences[beam_rows], torch.tensor(next_tokens, device=device)[:, None]], dim=-1)
        running_scores = torch.tensor(next_scores, device=device).view(batch_size, num_beams)
        coverage = coverage[beam_rows]
        history = history[beam_rows]

    best = [tokens for _, tokens in best]
    length = max(len(tokens) for tokens in best)
    output = torch.full((batch_size, start_length + length), pad_id, dtype=torch.long, device=device)
    output[:, :start_length] = input_ids[::num_beams]
    for batch_index, tokens in enumerate(best):
        output[batch_index, start_length : start_length + len(tokens)] = torch.tensor(tokens, device=device)
    if not return_attentions:
        return output, None
    attentions = torch.zeros(batch_size, length, source_mask.shape[1], device=device)
    for batch_index, chosen in enumerate(best_attentions):
        if chosen is not None:
            attentions[batch_index, : chosen.shape[0]] = chosen
    return output, attentions


__all__ = ["gnmt_beam_search", "gnmt_coverage_penalty", "gnmt_length_penalty", "gnmt_search"]
