"""Generation with ONNX Runtime from a folder written by `hf_attn_seq2seq.onnx.export.export_onnx`.

    from hf_attn_seq2seq.onnx.runtime import OnnxAttnSeq2Seq

    runner = OnnxAttnSeq2Seq.from_pretrained("outputs/date-onnx")              # precision="int8" for the int8 twins
    runner(["September 27, 1994", "6/3/73"])                   # [{'translation_text': '1994-09-27'}, ...]
    runner.generate(input_ids, attention_mask, num_beams=5, length_alpha=0.6)  # ids, as model.generate returns them

Both searches are the PyTorch model's own loops (`generation_attn_seq2seq`) over the decoder-step graph: greedy search
returns the ids `model.generate` returns (padding after each row's end token); beam search is GNMT's (the loop behind
`generate(custom_generate=gnmt_beam_search)`), with the same `length_alpha` and `coverage_beta`. Sessions are
thread-safe: one runner serves many threads. Needs the `onnx` extra (`pip install "hf_attn_seq2seq[onnx]"`).
"""

import json
from pathlib import Path

import numpy as np
import torch
from transformers import GenerationConfig

from hf_attn_seq2seq.data.tokenization import load_tokenizer
from hf_attn_seq2seq.models.attn_seq2seq.configuration_attn_seq2seq import AttnSeq2SeqConfig
from hf_attn_seq2seq.models.attn_seq2seq.generation_attn_seq2seq import gnmt_search, greedy_search
from hf_attn_seq2seq.models.attn_seq2seq.pipeline_attn_seq2seq import (
    check_generation_budget,
    check_source_length,
    check_text,
    source_length_limit,
)
from hf_attn_seq2seq.onnx.tensors import DECODER_FILE, ENCODER_FILE, EXPORT_CONFIG_FILE, INT8_SUFFIX, RECURRENT


PRECISIONS = ("fp32", "int8")


def check_onnx_available() -> None:
    missing = []
    for module in ("onnx", "onnxscript", "onnxruntime"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ImportError(f"ONNX export and runtime need {', '.join(missing)}: pip install \"hf_attn_seq2seq[onnx]\".")


class OnnxAttnSeq2Seq:
    """The encoder and decoder-step graphs in ONNX Runtime sessions, with greedy and beam search over them."""

    def __init__(self, folder: str | Path, precision: str = "fp32", num_threads: int | None = None,
                 providers: list[str] | None = None):
        check_onnx_available()
        import onnxruntime

        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
        folder = Path(folder)
        if not (folder / EXPORT_CONFIG_FILE).is_file():
            raise FileNotFoundError(f"{folder} has no {EXPORT_CONFIG_FILE}: not a folder written by export_onnx "
                                    "(python -m training.export MODEL_FOLDER OUTPUT_FOLDER).")
        self.folder = folder
        self.precision = precision
        self.export_config = json.loads((folder / EXPORT_CONFIG_FILE).read_text())
        if precision == "int8" and not self.export_config.get("int8"):
            raise FileNotFoundError(f"{folder} was exported without the int8 graphs (export_onnx(..., int8=True)).")
        self.config = AttnSeq2SeqConfig.from_pretrained(folder)
        self.generation_config = GenerationConfig.from_pretrained(folder)
        options = onnxruntime.SessionOptions()
        if num_threads is not None:
            options.intra_op_num_threads = num_threads
            options.inter_op_num_threads = 1
        suffix = INT8_SUFFIX if precision == "int8" else ""
        providers = providers or ["CPUExecutionProvider"]

        def session(name: str):
            path = folder / name.replace(".onnx", f"{suffix}.onnx")
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing: export the model again (python -m training.export).")
            try:
                return onnxruntime.InferenceSession(str(path), options, providers=providers)
            except Exception as error:  # onnxruntime raises its own classes for unreadable graphs
                raise ValueError(f"{path} cannot be read as an ONNX graph: it is truncated or corrupt "
                                 f"({type(error).__name__}). Export the model again.") from None

        self.encoder = session(ENCODER_FILE)
        self.decoder = session(DECODER_FILE)
        self.encoder_outputs = [output.name for output in self.encoder.get_outputs()]
        self.decoder_inputs = [item.name for item in self.decoder.get_inputs()]
        self.decoder_outputs = [output.name for output in self.decoder.get_outputs()]
        for graph, names, expected in (
                (ENCODER_FILE, self.encoder_outputs, self.export_config.get("encoder", {}).get("outputs")),
                (DECODER_FILE, self.decoder_inputs, self.export_config.get("decoder_step", {}).get("inputs"))):
            if expected is not None and sorted(names) != sorted(expected):
                raise ValueError(f"{folder / graph} does not belong with the rest of {folder}: its tensors are "
                                 f"{sorted(names)}, where {EXPORT_CONFIG_FILE} lists {sorted(expected)} (a graph of "
                                 "another model?). Export the model again into an empty folder.")
        self.tokenizer = None
        if (folder / "tokenizer.json").is_file():
            self.tokenizer = load_tokenizer(folder)

    @classmethod
    def from_pretrained(cls, folder: str | Path, **kwargs) -> "OnnxAttnSeq2Seq":
        return cls(folder, **kwargs)

    # -- the two graphs ------------------------------------------------------------------------------------------

    def encode(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> dict[str, np.ndarray]:
        """The encoder's outputs by name, plus the `source_mask` the decoder step reads."""
        outputs = self.encoder.run(None, {"input_ids": input_ids.astype(np.int64),
                                          "attention_mask": attention_mask.astype(np.int64)})
        state = dict(zip(self.encoder_outputs, outputs))
        state["source_mask"] = attention_mask.astype(bool)
        if self.config.input_feeding:
            state["attentional_vector"] = np.zeros((input_ids.shape[0], 2 * self.config.hidden_size), np.float32)
        return state

    def step(self, tokens: np.ndarray, state: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """One decoder step for `tokens` `(rows, 1)`: returns the logits `(rows, vocab)` and attention weights
        `(rows, src_len)` (None without attention), and updates `state`'s recurrent tensors."""
        feeds = {name: state[name] for name in self.decoder_inputs if name != "input_ids"}
        feeds["input_ids"] = tokens.astype(np.int64)
        outputs = dict(zip(self.decoder_outputs, self.decoder.run(None, feeds)))
        for name in RECURRENT:
            if f"{name}_out" in outputs:
                state[name] = outputs[f"{name}_out"]
        return outputs["logits"], outputs.get("attention_weights")

    # -- search ---------------------------------------------------------------------------------------------------

    def _settings(self, max_new_tokens, num_beams, allow_long_generation=False) -> tuple[int, int, set[int], int, int]:
        settings = self.generation_config
        if max_new_tokens is None:
            max_new_tokens = settings.max_new_tokens or (settings.max_length or 20) - 1
        if num_beams is None:
            num_beams = settings.num_beams or 1
        for name, value in (("max_new_tokens", max_new_tokens), ("num_beams", num_beams)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}.")
        if not allow_long_generation:
            check_generation_budget(f"max_new_tokens={max_new_tokens}", max_new_tokens, self.config)
        eos = settings.eos_token_id if settings.eos_token_id is not None else self.config.eos_token_id
        eos_ids = set(eos) if isinstance(eos, (list, tuple)) else ({eos} if eos is not None else set())
        pad = settings.pad_token_id if settings.pad_token_id is not None else self.config.pad_token_id
        start = settings.decoder_start_token_id
        if start is None:
            start = self.config.decoder_start_token_id
        return max_new_tokens, num_beams, eos_ids, int(pad or 0), int(start)

    def generate(self, input_ids, attention_mask=None, max_new_tokens: int | None = None,
                 num_beams: int | None = None, length_alpha: float = 0.0, coverage_beta: float = 0.0,
                 return_attentions: bool = False, allow_long_generation: bool = False):
        """`(batch, length)` ids starting with the decoder start token, as `model.generate` returns them; with
        `return_attentions` also each row's attention weights per generated token `(batch, steps, src_len)`."""
        input_ids = np.asarray(input_ids.cpu() if isinstance(input_ids, torch.Tensor) else input_ids)
        if input_ids.ndim != 2 or 0 in input_ids.shape:
            raise ValueError(f"input_ids must have shape (batch_size, sequence_length), got {input_ids.shape}.")
        if not np.issubdtype(input_ids.dtype, np.integer):
            raise TypeError(f"input_ids must hold integer token ids, got dtype {input_ids.dtype}.")
        if input_ids.shape[1] > self.config.max_source_length:
            raise ValueError(f"Source of {input_ids.shape[1]} tokens is longer than max_source_length="
                             f"{self.config.max_source_length}; truncate it (tokenizer(..., truncation=True)).")
        if attention_mask is None:
            attention_mask = input_ids != self.config.pad_token_id
        attention_mask = np.asarray(attention_mask.cpu() if isinstance(attention_mask, torch.Tensor)
                                    else attention_mask)
        if attention_mask.shape != input_ids.shape:
            raise ValueError(f"attention_mask has shape {attention_mask.shape} but input_ids has {input_ids.shape}.")
        if not attention_mask.any(axis=1).all():
            raise ValueError("Every row needs at least one token; a row of the attention mask is all zeros.")
        if input_ids.min() < 0 or input_ids.max() >= self.config.vocab_size:
            raise ValueError(f"input_ids hold ids outside the model's vocabulary [0, {self.config.vocab_size}).")
        max_new_tokens, num_beams, eos_ids, pad_id, start_id = self._settings(max_new_tokens, num_beams,
                                                                               allow_long_generation)
        state = self.encode(input_ids, attention_mask)
        if num_beams == 1:
            return self._greedy(state, input_ids.shape[0], max_new_tokens, eos_ids, pad_id, start_id,
                                return_attentions)
        return self._beam(state, input_ids.shape[0], num_beams, max_new_tokens, eos_ids, pad_id, start_id,
                          length_alpha, coverage_beta, return_attentions)

    def _greedy(self, state, batch_size, max_new_tokens, eos_ids, pad_id, start_id, return_attentions):
        def step(tokens: np.ndarray):
            logits, weights = self.step(tokens, state)
            return logits.argmax(axis=-1), weights

        start = np.full((batch_size, 1), start_id, dtype=np.int64)
        output, attentions = greedy_search(step, start, max_new_tokens, sorted(eos_ids), pad_id, return_attentions)
        output = torch.from_numpy(output)
        if not return_attentions:
            return output
        return output, None if attentions is None else torch.from_numpy(attentions)

    def _beam(self, state, batch_size, num_beams, max_new_tokens, eos_ids, pad_id, start_id, length_alpha,
              coverage_beta, return_attentions):
        state = {name: np.repeat(value, num_beams, axis=0) for name, value in state.items()}
        source_mask = torch.from_numpy(state["source_mask"])

        def step(sequences: torch.Tensor, beam_rows: torch.Tensor | None):
            if beam_rows is not None:
                rows = beam_rows.numpy()
                for name in RECURRENT:
                    if name in state:
                        state[name] = state[name][rows]
            logits, weights = self.step(sequences[:, -1:].numpy(), state)
            return torch.from_numpy(logits), None if weights is None else torch.from_numpy(weights)

        start = torch.full((batch_size * num_beams, 1), start_id, dtype=torch.long)
        output, attentions = gnmt_search(step, start, num_beams, max_new_tokens, eos_ids, pad_id, source_mask,
                                         length_alpha, coverage_beta, return_attentions=return_attentions)
        return (output, attentions) if return_attentions else output

    # -- text in, text out -------------------------------------------------------------------------------------------

    def __call__(self, inputs, **settings):
        """Texts in, `[{"translation_text": ...}]` out (a dict for a single string), as the translation pipeline
        returns them; `settings` go to `generate`."""
        if self.tokenizer is None:
            raise ValueError(f"{self.folder} holds no tokenizer; pass ids to generate() instead.")
        single = isinstance(inputs, str)
        if not single and not isinstance(inputs, (list, tuple)):
            raise TypeError(f"{type(self).__name__} takes a string or a list of strings; the input is "
                            f"{type(inputs).__name__}.")
        texts = [inputs] if single else list(inputs)
        if not texts:
            return []
        for index, text in enumerate(texts):
            check_text(text, index)
        limit = source_length_limit(self.tokenizer, self.config)
        encoded = self.tokenizer(texts, return_tensors="np", padding=True, verbose=False)
        for index, length in enumerate(encoded["attention_mask"].sum(axis=1)):
            check_source_length(int(length), limit, None if single else index)
        ids = self.generate(encoded["input_ids"], encoded["attention_mask"], **settings)
        results = [{"translation_text": text.strip()}
                   for text in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]
        return results[0] if single else results


__all__ = ["OnnxAttnSeq2Seq", "check_onnx_available"]
