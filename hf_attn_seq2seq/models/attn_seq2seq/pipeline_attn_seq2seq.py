"""Seq2SeqGenerationPipeline: text in, generated text out, for any encoder-decoder that `generate()`s.

transformers 5 removed the "translation" and "text2text-generation" pipelines. This one fills the gap: with the
package installed it is the task "seq2seq-generation"; a saved model exposes it as "translation" through
`custom_pipelines` in its config.json, so `pipeline("translation", model=folder, trust_remote_code=True)` works as in
transformers 4.
"""

import torch
from transformers import GenerationConfig, Pipeline


TASK_NAME = "seq2seq-generation"
# What `generate` takes besides the inputs: every GenerationConfig field, a whole config, a custom decoding loop with
# its own settings (GNMT scoring), and the length ceiling's override.
GENERATION_SETTINGS = frozenset({key for key in vars(GenerationConfig()) if not key.startswith("_")}
                                | {"generation_config", "custom_generate", "length_alpha", "coverage_beta",
                                   "allow_long_generation"})


def check_text(text, index: int, type_error_prefix: str | None = None) -> None:
    """A source text every text-in path accepts: a string, not blank, and valid Unicode (a lone surrogate, as
    pasted from broken UTF-16, has no UTF-8 form for the tokenizer)."""
    if not isinstance(text, str):
        prefix = type_error_prefix or f"Input {index}"
        raise TypeError(f"{prefix} is {type(text).__name__}; give strings.")
    if not text.strip():
        raise ValueError(f"Input {index} is empty; give at least one character to generate from.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"Input {index} is not valid Unicode text: character {error.start} is a lone surrogate "
                         f"({text[error.start]!a}). Decode the text with its real encoding.") from None


def check_generation_budget(setting: str, budget: int, config) -> None:
    """The error `generate` and the ONNX runner give when a call would let one sequence grow past the model's
    `max_generation_tokens` (`setting` is what the call set, e.g. "max_new_tokens=5000"); callers skip it for
    `allow_long_generation=True`."""
    ceiling = getattr(config, "max_generation_tokens", None)
    if ceiling is not None and isinstance(budget, (int, float)) and budget > ceiling:
        raise ValueError(
            f"{setting} would let generate produce more than this model's max_generation_tokens={ceiling} tokens "
            "per sequence. Ask for fewer, or pass allow_long_generation=True to generate that many anyway (memory "
            "grows with every token and beam)."
        )


def source_length_limit(tokenizer, config) -> int:
    """The longest source, in tokens, that text-in paths (pipeline, ONNX runner, demo) accept: the smaller of the
    tokenizer's `model_max_length` and the model's `max_source_length` (a Transformer's positions)."""
    limits = [getattr(tokenizer, "model_max_length", None), getattr(config, "max_source_length", None),
              getattr(config, "max_position_embeddings", None)]
    limits = [limit for limit in limits if isinstance(limit, int) and limit > 0]
    return min(limits) if limits else 10**9


def check_source_length(length: int, limit: int, index: int | None = None) -> None:
    """The error every text-in path gives for a source above `limit` tokens (never a silent cut)."""
    if length > limit:
        which = "The input" if index is None else f"Input {index}"
        raise ValueError(f"{which} is {length} tokens long; this model reads at most {limit} "
                         "(max_source_length, or the tokenizer's model_max_length). Shorten it, or pass "
                         "truncation=True to cut it.")


def sequence_attentions(output) -> torch.Tensor:
    """From `generate(..., return_dict_in_generate=True, output_attentions=True)`: each returned sequence's attention
    weights per step, `(num_sequences, steps, src_len)`, following its beam through beam search."""
    if not output.cross_attentions or output.cross_attentions[0] is None:
        raise ValueError("This model has no attention (attention='none'), so there are no weights to return.")
    steps = torch.stack([step[-1][:, 0, -1] for step in output.cross_attentions], dim=1)  # beams x steps x src
    beam_indices = getattr(output, "beam_indices", None)
    if beam_indices is None:
        return steps
    # beam_indices covers the returned sequences, which end before the search did when the chosen beam finished
    # early; -1 marks steps after a sequence ended
    length = min(steps.shape[1], beam_indices.shape[1])
    beam_indices = beam_indices[:, :length].clamp(min=0)
    return steps[beam_indices, torch.arange(length, device=steps.device)[None, :]]


class Seq2SeqGenerationPipeline(Pipeline):
    """Generate text from text with an encoder-decoder model.

    Call it with a string or a list of strings. Generation settings (`num_beams`, `max_new_tokens`, `do_sample`, ...)
    go to `model.generate`, at construction or per call. Each result is a dict with `translation_text` (task
    "translation") or `generated_text` (other task names); `return_attentions=True` adds `source_tokens`,
    `output_tokens` and `attentions` (a list per output token of weights over the source tokens).
    """

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_tokenizer = True
    _pipeline_calls_generate = True
    _default_generation_config = GenerationConfig(max_new_tokens=256)

    def __init__(self, *args, **kwargs):
        # Generation settings given here apply to every call, under those of the call. They are kept by this class
        # (transformers versions differ in where their base class keeps them, and some drop them).
        self._construction_settings = {key: kwargs.pop(key) for key in list(kwargs) if key in GENERATION_SETTINGS}
        super().__init__(*args, **kwargs)
        vocab_size = getattr(self.model.config, "vocab_size", None)
        if self.tokenizer is not None and vocab_size is not None and len(self.tokenizer) > vocab_size:
            raise ValueError(
                f"The tokenizer has {len(self.tokenizer)} tokens but the model's vocab_size is {vocab_size}: they do "
                "not belong together. Load the tokenizer saved with the model."
            )

    def _sanitize_parameters(self, return_attentions=None, truncation=None, clean_up_tokenization_spaces=None,
                             **generate_kwargs):
        preprocess_params = {} if truncation is None else {"truncation": truncation}
        forward_params = dict(generate_kwargs)
        postprocess_params = {}
        if return_attentions is not None:
            forward_params["return_attentions"] = return_attentions
            postprocess_params["return_attentions"] = return_attentions
        if clean_up_tokenization_spaces is not None:
            postprocess_params["clean_up_tokenization_spaces"] = clean_up_tokenization_spaces
        return preprocess_params, forward_params, postprocess_params

    def __call__(self, inputs, **kwargs):
        """`inputs`: a string, a list of strings, or an iterable of strings (a generator, a `KeyDataset` over a
        `datasets.Dataset` column), for which the results come back as an iterator, as in every transformers
        pipeline."""
        if isinstance(inputs, (list, tuple)):
            if not inputs:
                return []  # transformers' own __call__ reads inputs[0]
            for index, text in enumerate(inputs):
                self._check_text(text, f"item {index} of the input list", index)
        elif isinstance(inputs, (str, dict)) or not (hasattr(inputs, "__iter__") or hasattr(inputs, "__getitem__")):
            self._check_text(inputs, "the input", 0)
        # streamed items (generators, datasets) are checked one by one in `preprocess`
        result = super().__call__(inputs, **kwargs)
        # as in transformers 4: a list of inputs with one result each gives a flat list of dicts
        if isinstance(inputs, (list, tuple)) and all(len(item) == 1 for item in result):
            return [item[0] for item in result]
        return result

    def _check_text(self, text, where: str, index: int) -> None:
        check_text(text, index, f"{type(self).__name__} takes a string or a list of strings; {where}")

    def preprocess(self, text: str, truncation: bool = False):
        self._check_text(text, "an input", 0)
        limit = source_length_limit(self.tokenizer, self.model.config)
        encoded = self.tokenizer(text, return_tensors="pt", truncation=truncation, max_length=limit, verbose=False)
        check_source_length(encoded["input_ids"].shape[-1], limit)
        return encoded

    def _with_default_length(self, generate_kwargs: dict) -> dict:
        """The call's generation settings (those given at construction under those of the call), with the pipeline's
        default length where neither they nor the model's generation config set one. Only public transformers API:
        this file runs on whatever transformers a Hub user has."""
        if "generation_config" in generate_kwargs or "max_new_tokens" in generate_kwargs \
                or "max_length" in generate_kwargs:
            return generate_kwargs
        model_settings = self.model.generation_config.to_diff_dict()
        if model_settings.get("max_new_tokens") is not None or model_settings.get("max_length") is not None:
            return generate_kwargs
        default = self._default_generation_config.max_new_tokens
        ceiling = getattr(self.model.config, "max_generation_tokens", None)
        return {**generate_kwargs, "max_new_tokens": min(default, ceiling) if ceiling else default}

    def _forward(self, model_inputs, return_attentions: bool = False, **generate_kwargs):
        if "generation_config" not in generate_kwargs:  # a call's whole config replaces the construction settings
            generate_kwargs = {**self._construction_settings, **generate_kwargs}
        generate_kwargs = self._with_default_length(generate_kwargs)
        if return_attentions:
            generate_kwargs.update(return_dict_in_generate=True, output_attentions=True)
        input_ids = model_inputs["input_ids"]
        output = self.model.generate(input_ids=input_ids, attention_mask=model_inputs.get("attention_mask"),
                                     **generate_kwargs)
        sequences = output.sequences if return_attentions else output
        num_inputs = input_ids.shape[0]
        per_input = sequences.shape[0] // num_inputs  # num_return_sequences
        # every tensor shaped per input, so that batched calls unbatch into one entry per input
        result = {"output_ids": sequences.reshape(num_inputs, per_input, -1)}
        if return_attentions:
            weights = sequence_attentions(output)  # rows x steps x src_len
            result["attentions"] = weights.reshape(num_inputs, per_input, *weights.shape[1:])
            result["input_ids"] = input_ids
        return result

    def postprocess(self, model_outputs, return_attentions: bool = False, clean_up_tokenization_spaces=False):
        key = "translation_text" if self.task == "translation" else "generated_text"
        records = []
        for index, ids in enumerate(model_outputs["output_ids"][0]):
            text = self.tokenizer.decode(ids, skip_special_tokens=True,
                                         clean_up_tokenization_spaces=clean_up_tokenization_spaces)
            record = {key: text.strip()}
            if return_attentions:
                record.update(self._attention_record(model_outputs["input_ids"][0], ids,
                                                     model_outputs["attentions"][0, index]))
            records.append(record)
        return records

    def _attention_record(self, source_ids, output_ids, weights) -> dict:
        source_length = int((source_ids != self.tokenizer.pad_token_id).sum())
        tokens = output_ids[1:].tolist()  # without the decoder start token
        if self.tokenizer.eos_token_id in tokens:
            tokens = tokens[: tokens.index(self.tokenizer.eos_token_id) + 1]
        return {
            "source_tokens": self.tokenizer.convert_ids_to_tokens(source_ids[:source_length].tolist()),
            "output_tokens": self.tokenizer.convert_ids_to_tokens(tokens),
            "attentions": weights[: len(tokens), :source_length].tolist(),
        }


__all__ = ["GENERATION_SETTINGS", "TASK_NAME", "Seq2SeqGenerationPipeline", "check_generation_budget",
           "check_source_length", "check_text",
           "sequence_attentions", "source_length_limit"]
