"""PyTorch AttnSeq2Seq: an LSTM encoder-decoder with attention.

Reading order: helpers, attention, the decoder's per-source memory (the cache), the pre-trained base (loading and
saving checks), encoder, decoder (with `decode_step`), the bare model and the generation head. Tensor comments use
`batch`, `src_len`, `tgt_len`, `H` (hidden_size) and `E` (embedding_size). Where each concept lives:
docs/architecture.md in the project.
"""

import math
import os
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple

import torch
from safetensors import SafetensorError
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import initialization as init
from transformers.cache_utils import Cache
from transformers.generation import GenerationConfig, GenerationMixin
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import ModelOutput, Seq2SeqLMOutput, Seq2SeqModelOutput
from transformers.modeling_utils import PreTrainedModel

from .configuration_attn_seq2seq import AttnSeq2SeqConfig
from .generation_attn_seq2seq import greedy_search, plain_greedy_settings

# Imported so that the pipeline file travels with the model: transformers copies a model file's relative imports on
# `save_pretrained` and fetches them with remote code, so a re-saved or fine-tuned model keeps the pipeline that its
# config's `custom_pipelines` names.
from .pipeline_attn_seq2seq import Seq2SeqGenerationPipeline, check_generation_budget  # noqa: F401


# The output field that holds the decoder state: transformers 5.24 renamed it from `past_key_values` to `cache` (and
# warns when the old name is used).
CACHE_FIELD = "cache" if "cache" in Seq2SeqLMOutput.__dataclass_fields__ else "past_key_values"


def shift_tokens_right(labels: torch.Tensor, pad_token_id: int, decoder_start_token_id: int) -> torch.Tensor:
    """Decoder inputs for teacher forcing: the labels shifted one step right, starting with the start token."""
    shifted = labels.new_zeros(labels.shape)
    shifted[:, 1:] = labels[:, :-1].clone()
    shifted[:, 0] = decoder_start_token_id
    return shifted.masked_fill(shifted == -100, pad_token_id)


def _is_tracing() -> bool:
    """True while torch.export, torch.compile or torch.jit traces the model. Checks that read tensor values (and
    packed sequences, which tracing cannot express) are left out of the traced graph; eager calls keep them."""
    return torch.compiler.is_compiling() or torch.jit.is_tracing()


def _check_token_ids(token_ids: torch.Tensor, vocab_size: int, name: str) -> None:
    if _is_tracing():
        return
    if token_ids.is_floating_point() or token_ids.is_complex() or token_ids.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer token ids (torch.long), got dtype {token_ids.dtype}.")
    if token_ids.dim() != 2:
        raise ValueError(f"{name} must have shape (batch_size, sequence_length), got {tuple(token_ids.shape)}.")
    if token_ids.shape[0] == 0 or token_ids.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(token_ids.shape)}); give at least one token per sequence.")
    low, high = int(token_ids.min()), int(token_ids.max())
    if low < 0 or high >= vocab_size:
        raise ValueError(
            f"{name} holds token id {high if high >= vocab_size else low}, outside the model's vocabulary "
            f"[0, {vocab_size}). Does the tokenizer match the model (len(tokenizer) vs config.vocab_size)?"
        )


def drop_words(embedded: torch.Tensor, probability: float, training: bool) -> torch.Tensor:
    """Word dropout: while training, each token's whole embedding `(batch, len, E)` is zeroed with `probability`
    (not rescaled: a dropped word carries no signal, as an unknown one)."""
    if not training or probability == 0:
        return embedded
    keep = torch.rand(embedded.shape[:-1], device=embedded.device) >= probability
    return embedded * keep.unsqueeze(-1).to(embedded.dtype)


def _check_embeddings(embeddings: torch.Tensor, embedding_size: int, name: str) -> None:
    if embeddings.dim() != 3 or embeddings.shape[-1] != embedding_size or 0 in embeddings.shape[:2]:
        raise ValueError(f"{name} must have shape (batch_size, sequence_length, embedding_size={embedding_size}) "
                         f"with at least one position, got {tuple(embeddings.shape)}.")


# ---------------------------------------------------------------------------------------------------------------
# Attention
# ---------------------------------------------------------------------------------------------------------------


class AttnSeq2SeqAttention(nn.Module):
    """Base of the score functions: masked softmax over the source and the weighted sum of encoder states.

    Keys that depend only on the source (`W hs`) come from `project_keys`, which runs once per source; `forward`
    scores every decoder position in one batched product.
    """

    def project_keys(self, encoder_states: torch.Tensor) -> torch.Tensor:
        return encoder_states

    def score(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        # queries: batch x tgt_len x H, keys: batch x src_len x H -> scores: batch x tgt_len x src_len
        return torch.bmm(queries, keys.transpose(1, 2))

    def forward(
        self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, source_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.score(queries, keys)  # batch x tgt_len x src_len
        scores = scores.masked_fill(~source_mask[:, None, :], torch.finfo(scores.dtype).min)
        weights = scores.softmax(dim=-1)  # batch x tgt_len x src_len
        context = torch.bmm(weights, values)  # batch x tgt_len x H
        return context, weights


class DotAttention(AttnSeq2SeqAttention):
    """Luong et al. 2015, section 3.1, `dot`: score(hs, h) = hs · h."""


class GeneralAttention(AttnSeq2SeqAttention):
    """Luong et al. 2015, section 3.1, `general`: score(hs, h) = hs · W h, with `W hs` precomputed per source."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.key_projection = nn.Linear(hidden_size, hidden_size, bias=False)

    def project_keys(self, encoder_states: torch.Tensor) -> torch.Tensor:
        return self.key_projection(encoder_states)


class AdditiveAttention(AttnSeq2SeqAttention):
    """Bahdanau et al. 2015, appendix A.1.2: score(hs, h) = v · tanh(W1 hs + W2 h), `W1 hs` precomputed per source."""

    def __init__(self, hidden_size: int):
        super().__init__()
        self.key_projection = nn.Linear(hidden_size, hidden_size, bias=False)
        self.query_projection = nn.Linear(hidden_size, hidden_size, bias=False)
        self.energy = nn.Linear(hidden_size, 1, bias=False)

    def project_keys(self, encoder_states: torch.Tensor) -> torch.Tensor:
        return self.key_projection(encoder_states)

    def score(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        projected_queries = self.query_projection(queries)  # batch x tgt_len x H
        # energies: batch x tgt_len x src_len x H
        energies = torch.tanh(projected_queries.unsqueeze(2) + keys.unsqueeze(1))
        return self.energy(energies).squeeze(-1)  # batch x tgt_len x src_len


ATTENTION_CLASSES = {"dot": DotAttention, "general": GeneralAttention, "additive": AdditiveAttention}


def build_attention(config: AttnSeq2SeqConfig) -> AttnSeq2SeqAttention | None:
    if config.attention == "none":
        return None
    if config.attention == "dot":
        return DotAttention()
    return ATTENTION_CLASSES[config.attention](config.hidden_size)


# ---------------------------------------------------------------------------------------------------------------
# The decoder's per-source memory (the generation cache)
# ---------------------------------------------------------------------------------------------------------------


class AttnSeq2SeqCache(Cache):
    """What the decoder keeps between steps: the per-source memory, built once from the encoder output by
    `AttnSeq2SeqDecoder.new_cache`, and the recurrent state that each step rewrites through `update_recurrent_state`.

    Unlike a key/value cache it does not grow. Every tensor is batch-first, so that generate's expansion, beam
    reordering and batch selection act on dim 0.

    Read by every step, the same for all beams of a source:
        encoder_states (`(batch_size, src_len, hidden_size)`): `hs`, the encoder's state at every source position.
        source_keys (`(batch_size, src_len, hidden_size)`, *optional*): the attention keys `W hs` (general and
            additive attention); None where attention scores `hs` itself (dot) or there is no attention.
        source_mask (`torch.BoolTensor` of shape `(batch_size, src_len)`): True at real source tokens.
        peeky_state (`(batch_size, hidden_size)`, *optional*): the encoder's final top-layer state, which a peeky
            decoder reads at every step; None otherwise.
    Rewritten by every step:
        hidden_state, cell_state (`(batch_size, decoder_layers, hidden_size)`): each decoder layer's `(h, c)`.
        attentional_vector (`(batch_size, 2 * hidden_size)`, *optional*): the last `[c; h]` (input feeding only).
    """

    SOURCE_FIELDS = ("encoder_states", "source_keys", "source_mask", "peeky_state")
    RECURRENT_FIELDS = ("hidden_state", "cell_state", "attentional_vector")

    def __init__(
        self,
        hidden_state: torch.Tensor,
        cell_state: torch.Tensor,
        attentional_vector: torch.Tensor | None = None,
        *,
        encoder_states: torch.Tensor | None = None,
        source_keys: torch.Tensor | None = None,
        source_mask: torch.Tensor | None = None,
        peeky_state: torch.Tensor | None = None,
    ):
        super().__init__(layers=[])
        self.hidden_state = hidden_state
        self.cell_state = cell_state
        self.attentional_vector = attentional_vector
        self.encoder_states = encoder_states
        self.source_keys = source_keys
        self.source_mask = source_mask
        self.peeky_state = peeky_state
        # A tensor, not an int: exporters that flatten the cache (transformers.exporters) keep ints as constants of
        # the graph's input spec, and a counter that changes every step would refuse the next step. On the CPU, so
        # that reading it never waits for an accelerator.
        self.seen_tokens_count = torch.zeros((), dtype=torch.long)

    @property
    def attention_keys(self) -> torch.Tensor | None:
        """What attention scores the decoder state against: `W hs` where the score projects it, else `hs`."""
        return self.encoder_states if self.source_keys is None else self.source_keys

    def layer_state(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Decoder layer `index`'s `(h_0, c_0)`, shaped `(1, batch_size, hidden_size)` as an LSTM call takes them."""
        return self.hidden_state[:, index][None].contiguous(), self.cell_state[:, index][None].contiguous()

    def update_recurrent_state(self, hidden_state: torch.Tensor, cell_state: torch.Tensor,
                               attentional_vector: torch.Tensor | None, read_tokens: int) -> None:
        """After a step (or a teacher-forced pass) over `read_tokens` decoder tokens: the layers' new `(h, c)`
        `(batch_size, decoder_layers, hidden_size)` and, with input feeding, the last attentional vector."""
        self.hidden_state = hidden_state
        self.cell_state = cell_state
        self.attentional_vector = attentional_vector
        self.seen_tokens_count = self.seen_tokens_count + read_tokens

    @property
    def seen_tokens(self) -> int:
        """The decoder tokens this state has read."""
        return int(self.seen_tokens_count)

    def _apply_to_tensors(self, fn, names: tuple[str, ...]) -> None:
        done = {}  # a tensor held under two names (dot attention's keys are the states) is changed once
        for name in names:
            tensor = getattr(self, name)
            if tensor is not None:
                if id(tensor) not in done:
                    done[id(tensor)] = fn(tensor)
                setattr(self, name, done[id(tensor)])

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.seen_tokens

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        # Beam search only reorders beams of the same source, and those share their per-source memory: leave it.
        self._apply_to_tensors(lambda t: t.index_select(0, beam_idx.to(t.device)), self.RECURRENT_FIELDS)

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._apply_to_tensors(lambda t: t.repeat_interleave(repeats, dim=0),
                               self.RECURRENT_FIELDS + self.SOURCE_FIELDS)

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._apply_to_tensors(lambda t: t[indices], self.RECURRENT_FIELDS + self.SOURCE_FIELDS)

    def crop(self, max_length: int) -> None:
        raise NotImplementedError("A recurrent state cannot be cropped: it does not keep past steps.")

    def reset(self) -> None:
        raise NotImplementedError("A recurrent state cannot be reset without the encoder output; start a new one.")

    @property
    def batch_size(self) -> int:
        return self.hidden_state.shape[0]

    @property
    def is_compileable(self) -> bool:
        return False

    @property
    def is_croppable(self) -> bool:
        return False

    @property
    def is_initialized(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(batch_size={self.batch_size}, seen_tokens={self.seen_tokens})"


# ---------------------------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class AttnSeq2SeqEncoderOutput(ModelOutput):
    r"""
    last_hidden_state (`torch.FloatTensor` of shape `(batch_size, src_len, hidden_size)`):
        `hs`, the top encoder layer's state at every source position (zeros at padding).
    final_hidden_state (`torch.FloatTensor` of shape `(batch_size, encoder_layers, hidden_size)`):
        each layer's `h` after its last real token (for the bidirectional layer, both directions merged).
    final_cell_state (`torch.FloatTensor` of shape `(batch_size, encoder_layers, hidden_size)`):
        each layer's `c`, likewise.
    attention_mask (`torch.LongTensor` of shape `(batch_size, src_len)`):
        1 for real source tokens, 0 for padding; carried so that the decoder masks padding even when `generate` is
        called without an attention mask.
    hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned when `output_hidden_states=True`):
        the embeddings and every layer's output, each `(batch_size, src_len, ...)`.
    """

    last_hidden_state: torch.FloatTensor | None = None
    final_hidden_state: torch.FloatTensor | None = None
    final_cell_state: torch.FloatTensor | None = None
    attention_mask: torch.LongTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


# ---------------------------------------------------------------------------------------------------------------
# Pre-trained base
# ---------------------------------------------------------------------------------------------------------------


# The generation head's own layers, which the bare model's save lacks and a load of the bare model leaves out.
_HEAD_PREFIXES = ("lm_head.", "output_projection.")


def _bad_settings(settings_file: Path) -> str:
    """`"name='value', ...: "` for the settings in a generation config file that fail validation on their own, to
    name them in the error."""
    import json

    try:
        saved = json.loads(settings_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return ""
    bad = []
    for key, value in saved.items() if isinstance(saved, dict) else ():
        try:
            GenerationConfig(**{key: value}).validate()
        except Exception:  # any failure of the setting alone names it
            bad.append(f"{key}={value!r}")
    return f"{', '.join(bad)}: " if bad else ""


def _untie_output_layer_saved_tied(model, report: dict, saved_tied: bool) -> None:
    """A folder saved with tied embeddings stores the output layer's weight once, as the decoder embedding. Loaded with
    `tie_word_embeddings=False` (what PEFT advises before adapting the output layer), the output layer starts as a copy
    of it: the model computes what the saved one did, with two tensors that training or a merge may now set apart."""
    missing = report["missing_keys"]
    config = model.config
    if (saved_tied and not config.tie_word_embeddings and config.output_projection
            and {str(name) for name in missing} == {"lm_head.weight"}):
        with torch.no_grad():
            model.lm_head.weight.copy_(model.model.decoder.embed_tokens.weight)
        report["missing_keys"] = type(missing)()


def _check_loading_report(source, model, report: dict) -> None:
    """Raise when the saved weights do not fit the architecture the config describes (another model's weights, or a
    config edited after the save). Between the bare model and the generation head (a folder saved from one class,
    loaded into the other, as `AutoModel` does) only the shared layers must fit."""
    config = model.config
    other_class = bool(config.architectures) and type(model).__name__ not in config.architectures
    problems = []
    for key, what in (("missing_keys", "missing"), ("unexpected_keys", "unexpected"), ("mismatched_keys", "of "
                                                                                      "another shape")):
        names = sorted(str(item[0] if isinstance(item, (tuple, list)) else item) for item in report.get(key) or ())
        if other_class and key != "mismatched_keys":
            names = [name for name in names if not name.startswith(_HEAD_PREFIXES)]
        if names:
            shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
            problems.append(f"{len(names)} {what} ({shown})")
    if problems:
        raise ValueError(
            f"The weights in {source} do not fit its config (model_type {config.model_type!r}, attention "
            f"{getattr(config, 'attention', None)!r}): {'; '.join(problems)}. Loading would leave those layers "
            "random. Use the config.json saved with these weights, or pass output_loading_info=True to load anyway "
            "and inspect the report."
        )


def _atomic_writer():
    """The package's atomic save (`hf_attn_seq2seq.saving.write_staged`) where the package is in use, else None: a
    folder loaded with remote code alone saves as transformers does. Looked up, not imported, so that remote code
    never imports the package."""
    saving = sys.modules.get("hf_attn_seq2seq.saving")
    return None if saving is None else saving.write_staged


class AttnSeq2SeqPreTrainedModel(PreTrainedModel):
    config_class = AttnSeq2SeqConfig
    config: AttnSeq2SeqConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _is_stateful = True

    def get_encoder(self, modality: str | None = None):
        """transformers' own lookup, with "text", this model's one modality, as the default: the text encoder, and for
        another modality (`"image"`, `"audio"`...) the model itself, meaning "none" (transformers' exporters read an
        encoder given there as one of that modality)."""
        return super().get_encoder(modality=None if modality == "text" else modality)

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        # The decoder keeps a recurrent state (AttnSeq2SeqCache), not keys and values.
        return False

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """`PreTrainedModel.from_pretrained`, refusing weights that do not fit the config: a missing, unexpected or
        differently shaped tensor is a `ValueError` naming it, where transformers would initialise it at random and
        only log a report. A caller who passes `output_loading_info=True` gets the report instead and decides."""
        wants_report = kwargs.get("output_loading_info", False)
        kwargs["output_loading_info"] = True
        # No layer of this model has a Hub kernel; transformers 5.25 turns kernels on by default and then requires the
        # `kernels` package, so a load would fail where it is not installed.
        kwargs.setdefault("use_kernels", False)
        settings_file = Path(str(pretrained_model_name_or_path)) / "generation_config.json"
        try:
            if settings_file.is_file():
                GenerationConfig.from_pretrained(settings_file.parent)  # its own errors name no file
        except (TypeError, ValueError) as error:
            raise ValueError(f"{settings_file} holds a setting generate cannot use ({_bad_settings(settings_file)}"
                             f"{error}). Fix or remove the file.") from None
        try:
            model, report = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        except SafetensorError as error:
            raise ValueError(
                f"The weights in {pretrained_model_name_or_path} cannot be read: model.safetensors is truncated or "
                f"corrupt ({error}). Save or download the model again."
            ) from error
        if report.get("missing_keys") and isinstance(model, AttnSeq2SeqForConditionalGeneration):
            hub_options = {key: kwargs[key] for key in ("cache_dir", "revision", "token", "local_files_only",
                                                        "subfolder") if key in kwargs}
            saved_config, _ = cls.config_class.get_config_dict(pretrained_model_name_or_path, **hub_options)
            _untie_output_layer_saved_tied(model, report, saved_tied=bool(saved_config.get("tie_word_embeddings")))
        if not wants_report:
            _check_loading_report(pretrained_model_name_or_path, model, report)
        for name, parameter in model.named_parameters():
            if parameter.device.type != "meta" and not torch.isfinite(parameter).all():
                raise ValueError(
                    f"The weights in {pretrained_model_name_or_path} are corrupt: {name} holds non-finite values "
                    "(NaN or infinity), which would make every output empty. Save or download the model again."
                )
        # safetensors places each tensor at an arbitrary 8-byte offset of the file and transformers keeps the weights
        # there. MKL's GEMM kernels below AVX2 (which it may pick on non-Intel CPUs) sum in an order set by 64-byte
        # alignment, so such weights give outputs a few ULPs from the saved model's. Fresh copies are 64-byte aligned.
        with torch.no_grad():
            for parameter in model.parameters():
                if parameter.device.type != "meta":
                    parameter.data = parameter.data.clone()
        return (model, report) if wants_report else model

    def save_pretrained(self, save_directory, *args, **kwargs):
        """`PreTrainedModel.save_pretrained`, made atomic per file where the package is in use (`_atomic_writer`).

        Files are written to a temporary folder beside `save_directory` and each is moved into place with one rename,
        so an interrupted save leaves every file either old or new, never truncated. (With `push_to_hub=True` the
        plain transformers save runs, as the upload reads from `save_directory`.)
        """
        if getattr(self, "is_int8_quantized", False) or any(
            type(module).__module__.startswith("torch.ao.nn.quantized") for module in self.modules()
        ):
            raise NotImplementedError(
                "A dynamically quantized (int8) model cannot be saved with save_pretrained: its packed weights have "
                "no safetensors form. Save the fp32 model and quantize it again after loading."
            )
        write_staged = _atomic_writer()
        if write_staged is None or kwargs.get("push_to_hub") or os.path.isfile(save_directory):
            return super().save_pretrained(save_directory, *args, **kwargs)
        return write_staged(save_directory, lambda staging: super(AttnSeq2SeqPreTrainedModel, self).save_pretrained(
            staging, *args, **kwargs), whole_folder=False)

    def resize_token_embeddings(self, new_num_tokens: int | None = None, pad_to_multiple_of: int | None = None,
                                mean_resizing: bool = True) -> nn.Embedding:
        """`PreTrainedModel.resize_token_embeddings`, which resizes the encoder embeddings and the output layer, plus
        the decoder's own embedding table (new rows start at the mean of the old ones, as new output rows do with
        `mean_resizing`, else from the model's initialization)."""
        embeddings = super().resize_token_embeddings(new_num_tokens, pad_to_multiple_of, mean_resizing)
        decoder = self.base_model.decoder
        old, size = decoder.embed_tokens, embeddings.weight.shape[0]
        if old.num_embeddings != size:
            new = nn.Embedding(size, old.embedding_dim, padding_idx=old.padding_idx, device=old.weight.device,
                               dtype=old.weight.dtype)
            self._init_weights(new)
            kept = min(size, old.num_embeddings)
            with torch.no_grad():
                new.weight[:kept] = old.weight[:kept]
                if mean_resizing and size > kept:
                    new.weight[kept:] = old.weight.mean(dim=0)
            new.requires_grad_(old.weight.requires_grad)
            decoder.embed_tokens = new
            self.tie_weights()
        return embeddings

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # Uniform ±init_range for embeddings and linear layers (Luong et al. 2015), PyTorch's own LSTM range
        # ±1/sqrt(H) and a forget-gate bias of 1 so that early gradients flow through time.
        init_range = self.config.init_range
        if isinstance(module, nn.Embedding):
            weight = torch.empty_like(module.weight).uniform_(-init_range, init_range)
            if module.padding_idx is not None:
                weight[module.padding_idx] = 0.0
            init.copy_(module.weight, weight)
        elif isinstance(module, nn.Linear):
            init.uniform_(module.weight, -init_range, init_range)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LSTM):
            bound = 1.0 / math.sqrt(module.hidden_size)
            for name, parameter in module.named_parameters():
                if name.startswith("weight"):
                    init.uniform_(parameter, -bound, bound)
                elif name.startswith("bias_ih"):
                    # gate order in PyTorch: input, forget, cell, output
                    bias = torch.zeros_like(parameter)
                    bias[module.hidden_size : 2 * module.hidden_size] = 1.0
                    init.copy_(parameter, bias)
                else:
                    init.zeros_(parameter)


# ---------------------------------------------------------------------------------------------------------------
# Encoder
# ---------------------------------------------------------------------------------------------------------------


def _merge_directions(forward: torch.Tensor, backward: torch.Tensor, merge: str) -> torch.Tensor:
    if merge == "concat":
        return torch.cat([forward, backward], dim=-1)
    if merge == "sum":
        return forward + backward
    return (forward + backward) / 2


class LSTMLayer(GradientCheckpointingLayer, nn.LSTM):
    """One LSTM layer, with `nn.LSTM`'s parameters and names, as a transformers `GradientCheckpointingLayer`: under
    `model.gradient_checkpointing_enable()` its activations are recomputed in the backward pass.

    `layer(layer_input, h_0, c_0, lengths=None)` returns `(output, h_n, c_n)`, running over packed sequences when
    `lengths` (on the CPU) are given; the initial states are optional.
    """

    def forward(self, layer_input: torch.Tensor, *initial: torch.Tensor, lengths: torch.Tensor | None = None):
        return lstm_over_rows(partial(nn.LSTM.forward, self), layer_input, initial, lengths)


def lstm_over_rows(run_lstm, layer_input: torch.Tensor, initial: tuple, lengths: torch.Tensor | None):
    """`(output, h_n, c_n)` of `run_lstm(input, (h_0, c_0) or None)` (an `nn.LSTM` call, float or int8), over packed
    sequences when `lengths` (on the CPU) are given, so that padding reaches neither direction nor the final states."""
    initial = tuple(initial) or None
    if lengths is None:
        output, (h_n, c_n) = run_lstm(layer_input, initial)
        return output, h_n, c_n
    packed = pack_padded_sequence(layer_input, lengths, batch_first=True, enforce_sorted=False)
    packed_output, (h_n, c_n) = run_lstm(packed, initial)
    output, _ = pad_packed_sequence(packed_output, batch_first=True, total_length=layer_input.shape[1])
    return output, h_n, c_n


def _masked_lstm_direction(layer_input: torch.Tensor, mask: torch.Tensor, weight_ih: torch.Tensor,
                           weight_hh: torch.Tensor, bias_ih: torch.Tensor, bias_hh: torch.Tensor, reverse: bool):
    """One LSTM direction over right-padded rows as a loop of cell steps that keep each row's state once its tokens
    end (`reverse`: from each row's last token back). Returns the outputs `(batch, src_len, H)`, zeros at padding,
    and the final hidden and cell states `(batch, H)`."""
    batch_size, src_len, _ = layer_input.shape
    input_gates = F.linear(layer_input, weight_ih, bias_ih)  # batch x src_len x 4H, every step at once
    hidden = layer_input.new_zeros(batch_size, weight_hh.shape[1])
    cell = layer_input.new_zeros(batch_size, weight_hh.shape[1])
    steps = [None] * src_len
    for t in reversed(range(src_len)) if reverse else range(src_len):
        gates = input_gates[:, t] + F.linear(hidden, weight_hh, bias_hh)
        input_gate, forget_gate, cell_input, output_gate = gates.chunk(4, dim=-1)  # PyTorch's gate order
        new_cell = torch.sigmoid(forget_gate) * cell + torch.sigmoid(input_gate) * torch.tanh(cell_input)
        new_hidden = torch.sigmoid(output_gate) * torch.tanh(new_cell)
        real = mask[:, t, None]
        hidden, cell = torch.where(real, new_hidden, hidden), torch.where(real, new_cell, cell)
        steps[t] = torch.where(real, new_hidden, torch.zeros_like(new_hidden))
    return torch.stack(steps, dim=1), hidden, cell


def _masked_lstm(lstm: nn.LSTM, layer_input: torch.Tensor, mask: torch.Tensor, direction=_masked_lstm_direction):
    """One single-layer `lstm` over right-padded rows: what packed sequences compute, in operations that torch.export
    can trace (for a fixed source length). Returns `(output, h_n, c_n)` shaped as `nn.LSTM`'s, with zeros at
    padding. `direction` runs one direction (an exporter may give its own, with `_masked_lstm_direction`'s
    signature)."""
    outputs, final_hidden, final_cell = [], [], []
    for suffix in ("", "_reverse") if lstm.bidirectional else ("",):
        output, hidden, cell = direction(
            layer_input, mask, getattr(lstm, f"weight_ih_l0{suffix}"), getattr(lstm, f"weight_hh_l0{suffix}"),
            getattr(lstm, f"bias_ih_l0{suffix}"), getattr(lstm, f"bias_hh_l0{suffix}"), reverse=bool(suffix))
        outputs.append(output)
        final_hidden.append(hidden)
        final_cell.append(cell)
    return torch.cat(outputs, dim=-1), torch.stack(final_hidden), torch.stack(final_cell)


def _lstm_reading_order(source_mask: torch.Tensor, lengths: torch.Tensor, reverse: bool) -> torch.Tensor:
    """`(batch, src_len)` positions in the order the encoder LSTMs read them: each row's real tokens first (last to
    first when `reverse`), then its padding."""
    rank = source_mask.long().cumsum(dim=1) - 1  # index of each real token among its row's real tokens
    if reverse:
        rank = lengths[:, None] - 1 - rank
    positions = torch.arange(source_mask.shape[1], device=source_mask.device)
    key = torch.where(source_mask, rank, lengths[:, None] + positions)  # distinct keys; padding sorts last
    return key.argsort(dim=1)


def _gather_positions(states: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """`states` (batch x src_len x D) rearranged into reading order."""
    return states.gather(1, order[..., None].expand(-1, -1, states.shape[-1]))


def _scatter_positions(states: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """The inverse of `_gather_positions`: states in reading order back at the source's own positions. A gather by
    the inverse permutation, which exported graphs run far faster than a scatter."""
    return _gather_positions(states, order.argsort(dim=1))


class AttnSeq2SeqEncoder(nn.Module):
    """Embedding and an LSTM stack that keeps every time step's state `hs`.

    Each layer runs over packed sequences, so padding reaches neither the backward direction nor the final states.
    """

    def __init__(self, config: AttnSeq2SeqConfig):
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.dropout = nn.Dropout(config.dropout)
        layers = []
        for index in range(config.encoder_layers):
            input_size = config.embedding_size if index == 0 else config.hidden_size
            if index == 0 and config.bidirectional:
                # concat halves each direction so that the merged state keeps hidden_size
                halves = config.bidirectional_merge == "concat"
                direction_size = config.hidden_size // 2 if halves else config.hidden_size
                layers.append(LSTMLayer(input_size, direction_size, batch_first=True, bidirectional=True))
            else:
                layers.append(LSTMLayer(input_size, config.hidden_size, batch_first=True))
        self.layers = nn.ModuleList(layers)
        # How a traced call (torch.export, torch.compile) runs one LSTM layer over right-padded rows: a loop of cell
        # steps for a fixed source length. An exporter may put an operator with per-row lengths in its place.
        self.traced_lstm = _masked_lstm

    def _check_lengths(self, lengths: torch.Tensor) -> None:
        empty_rows = (lengths == 0).nonzero().flatten().tolist()
        if empty_rows:
            raise ValueError(
                f"Source row(s) {empty_rows} have no tokens (all padding); every sequence needs at least one token."
            )
        if int(lengths.max()) > self.config.max_source_length:
            raise ValueError(
                f"Source of {int(lengths.max())} tokens is longer than max_source_length="
                f"{self.config.max_source_length}; truncate it (tokenizer(..., truncation=True))."
            )

    def source_mask(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """The mask of real tokens (bool), derived from padding when none is given."""
        if attention_mask is None:
            if self.config.pad_token_id is None:
                return torch.ones_like(input_ids, dtype=torch.bool)
            return input_ids.ne(self.config.pad_token_id)
        if attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"attention_mask has shape {tuple(attention_mask.shape)} but input_ids has {tuple(input_ids.shape)}."
            )
        return attention_mask.bool()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs,
    ) -> AttnSeq2SeqEncoderOutput:
        """`input_ids` `(batch_size, src_len)`, or `inputs_embeds` `(batch_size, src_len, embedding_size)` in their
        place (then padding is known only from `attention_mask`)."""
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        source_mask = self._checked_source_mask(input_ids, attention_mask, inputs_embeds)
        embedded = self.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds  # batch x src_len x E
        embedded = drop_words(embedded, self.config.word_dropout, self.training)
        hidden, final_hidden, final_cell, all_hidden_states = self._run_stack(embedded, source_mask,
                                                                              output_hidden_states)
        return AttnSeq2SeqEncoderOutput(
            last_hidden_state=hidden,
            final_hidden_state=final_hidden,
            final_cell_state=final_cell,
            attention_mask=source_mask.long(),
            hidden_states=all_hidden_states,
        )

    def _checked_source_mask(self, input_ids, attention_mask, inputs_embeds) -> torch.Tensor:
        """The input checks: exactly one of `input_ids` and `inputs_embeds`, of the right kind and shape; returns the
        mask of real tokens (bool)."""
        if input_ids is not None and inputs_embeds is not None:
            raise ValueError("Give input_ids or inputs_embeds, not both.")
        if input_ids is None and inputs_embeds is None:
            raise ValueError("Give input_ids, inputs_embeds or encoder_outputs.")
        if inputs_embeds is not None:
            _check_embeddings(inputs_embeds, self.config.embedding_size, "inputs_embeds")
            if attention_mask is None:
                return torch.ones(inputs_embeds.shape[:2], dtype=torch.bool, device=inputs_embeds.device)
            return self.source_mask(attention_mask, attention_mask)
        _check_token_ids(input_ids, self.config.vocab_size, "input_ids")
        return self.source_mask(input_ids, attention_mask)

    def _reading_order(self, source_mask: torch.Tensor, lengths: torch.Tensor, tracing: bool):
        """The LSTMs read each row's real tokens from the front: reversed when the config says so (Sutskever et al.
        2014), and gathered there from wherever the mask puts them (left padding). Returns the mask of the positions
        read (each row's first `length`) and the reading order, or None where it is the source's own."""
        reading_mask = torch.arange(source_mask.shape[1], device=lengths.device)[None, :] < lengths[:, None]
        if tracing or self.config.reverse_source or not torch.equal(source_mask, reading_mask):
            return reading_mask, _lstm_reading_order(source_mask, lengths, reverse=self.config.reverse_source)
        return reading_mask, None

    def _run_stack(self, embedded: torch.Tensor, source_mask: torch.Tensor, output_hidden_states: bool):
        """The LSTM stack over the source in reading order. Returns the top layer's states back at the source's own
        positions (so that attention weights and heatmaps stay in reading order), each layer's final `h` and `c`
        `(batch, encoder_layers, H)` and, when asked for, the embeddings and every layer's output."""
        lengths = source_mask.sum(dim=1)
        tracing = _is_tracing()
        if not tracing:
            self._check_lengths(lengths)
        reading_mask, order = self._reading_order(source_mask, lengths, tracing)
        lengths_cpu = None if tracing else lengths.cpu()
        is_padded = not tracing and bool((lengths_cpu < source_mask.shape[1]).any())
        all_hidden_states = (embedded,) if output_hidden_states else None
        hidden = embedded if order is None else _gather_positions(embedded, order)
        final_hidden, final_cell = [], []
        for index, lstm in enumerate(self.layers):
            layer_input = self.dropout(hidden)
            if tracing:
                output, h_n, c_n = self.traced_lstm(lstm, layer_input, reading_mask)
            else:
                output, h_n, c_n = lstm(layer_input, lengths=lengths_cpu if is_padded else None)
            # output: batch x src_len x (directions * direction_size); h_n, c_n: directions x batch x direction_size
            if lstm.bidirectional:
                merge = self.config.bidirectional_merge
                size = lstm.hidden_size
                output = _merge_directions(output[..., :size], output[..., size:], merge)
                h_n, c_n = _merge_directions(h_n[0], h_n[1], merge), _merge_directions(c_n[0], c_n[1], merge)
            else:
                h_n, c_n = h_n[0], c_n[0]
            if self.config.residual and index > 0:
                output = output + hidden
            hidden = output
            final_hidden.append(h_n)
            final_cell.append(c_n)
            if output_hidden_states:
                all_hidden_states += (hidden if order is None else _scatter_positions(hidden, order),)
        if order is not None:
            hidden = all_hidden_states[-1] if output_hidden_states else _scatter_positions(hidden, order)
        return hidden, torch.stack(final_hidden, dim=1), torch.stack(final_cell, dim=1), all_hidden_states


# ---------------------------------------------------------------------------------------------------------------
# Decoder
# ---------------------------------------------------------------------------------------------------------------


class DecoderStepFeatures(NamedTuple):
    """One decoder step of `AttnSeq2SeqDecoder.decode_step` (a named tuple: it is made once per generated token)."""

    features: torch.Tensor  # (batch_size, decoder_feature_size): [c; h] (plus the peeky state)
    attention_weights: torch.Tensor | None  # (batch_size, src_len); None without attention
    cache: "AttnSeq2SeqCache"  # the cache, updated in place


class DecoderStepOutput(NamedTuple):
    """One decoder step of `AttnSeq2SeqForConditionalGeneration.decode_step`."""

    logits: torch.Tensor  # (batch_size, vocab_size): the next token's scores
    attention_weights: torch.Tensor | None  # (batch_size, src_len); None without attention
    cache: "AttnSeq2SeqCache"  # the cache, updated in place


class _StackPass(NamedTuple):
    top: torch.Tensor  # batch x tgt_len x H, the top layer's output `h`
    context: torch.Tensor | None  # batch x tgt_len x H, the weighted sum `c`
    weights: torch.Tensor | None  # batch x tgt_len x src_len
    layer_outputs: list[torch.Tensor]
    hidden_state: torch.Tensor  # batch x decoder_layers x H, each layer's last `h`
    cell_state: torch.Tensor


class AttnSeq2SeqDecoder(nn.Module):
    """Embedding, an LSTM stack and attention; returns the features `[c; h]` (plus the peeky state) per position.

    Attention runs at one layer, `attention_layer_index`: the top one (Luong et al. 2015) or the bottom one (GNMT, Wu
    et al. 2016); the layers above it read the context beside their input. Without input feeding the whole target
    runs through each LSTM in one call and attention scores every position in one batched product; with input
    feeding the stack runs once per position.
    """

    def __init__(self, config: AttnSeq2SeqConfig):
        super().__init__()
        self.config = config
        hidden_size = config.hidden_size
        self.embed_tokens = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.dropout = nn.Dropout(config.dropout)
        self.attention = build_attention(config)
        self.attention_layer_index = None
        if self.attention is not None:
            self.attention_layer_index = 0 if config.attention_layer == "bottom" else config.decoder_layers - 1
        bottom_input_size = config.embedding_size
        if config.peeky:
            bottom_input_size += hidden_size
        if config.input_feeding:
            bottom_input_size += self.attentional_vector_size
        self.layers = nn.ModuleList(
            LSTMLayer(bottom_input_size if index == 0 else hidden_size * (2 if self._reads_context(index) else 1),
                      hidden_size, batch_first=True)
            for index in range(config.decoder_layers)
        )

    @property
    def attentional_vector_size(self) -> int:
        return 2 * self.config.hidden_size

    def _reads_context(self, index: int) -> bool:
        """Whether layer `index` reads the context beside its input (it is above the attention layer)."""
        return self.attention_layer_index is not None and index > self.attention_layer_index

    def new_cache(self, encoder_outputs: AttnSeq2SeqEncoderOutput,
                  attention_mask: torch.Tensor | None = None) -> AttnSeq2SeqCache:
        """The per-source memory for decoding from `encoder_outputs`: the encoder states and their attention keys
        (projected once per source), the source mask (the encoder output's, else `attention_mask`, else every
        position), the peeky state, and the layers' initial states (the encoder's final ones)."""
        states = encoder_outputs.last_hidden_state  # batch x src_len x H
        mask = encoder_outputs.attention_mask if encoder_outputs.attention_mask is not None else attention_mask
        source_mask = (torch.ones(states.shape[:2], dtype=torch.bool, device=states.device) if mask is None
                       else mask.bool())
        hidden, cell = encoder_outputs.final_hidden_state, encoder_outputs.final_cell_state
        layers = self.config.decoder_layers
        if hidden.shape[1] != layers:  # a decoder deeper or shallower than the encoder starts every layer from the top
            hidden = hidden[:, -1:].expand(-1, layers, -1)
            cell = cell[:, -1:].expand(-1, layers, -1)
        attentional_vector = None
        if self.config.input_feeding:
            attentional_vector = hidden.new_zeros(hidden.shape[0], self.attentional_vector_size)
        source_keys = None
        if self.attention is not None:
            source_keys = self.attention.project_keys(states)
            if source_keys is states:
                source_keys = None
        return AttnSeq2SeqCache(
            hidden, cell, attentional_vector, encoder_states=states, source_keys=source_keys,
            source_mask=source_mask, peeky_state=encoder_outputs.final_hidden_state[:, -1] if self.config.peeky
            else None,
        )

    def _run_layers(self, bottom_input: torch.Tensor, cache: AttnSeq2SeqCache) -> _StackPass:
        """One pass of the LSTM stack and attention over `tgt_len` positions (all of them, or one step)."""
        hidden, context, weights = bottom_input, None, None  # hidden: batch x tgt_len x input size of layer 0
        new_hidden, new_cell, layer_outputs = [], [], []
        for index, lstm in enumerate(self.layers):
            layer_input = hidden if context is None else torch.cat([hidden, context], dim=-1)
            output, h_n, c_n = lstm(self.dropout(layer_input), *cache.layer_state(index))  # output: batch x tgt x H
            if self.config.residual and index > 0:
                output = output + hidden
            if index == self.attention_layer_index:
                context, weights = self.attention(output, cache.attention_keys, cache.encoder_states,
                                                  cache.source_mask)
            hidden = output
            new_hidden.append(h_n[0])
            new_cell.append(c_n[0])
            layer_outputs.append(output)
        return _StackPass(hidden, context, weights, layer_outputs, torch.stack(new_hidden, dim=1),
                          torch.stack(new_cell, dim=1))

    def forward(
        self,
        input_ids: torch.LongTensor | None,
        cache: AttnSeq2SeqCache,
        inputs_embeds: torch.Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None, tuple[torch.Tensor, ...] | None]:
        """
        Args:
            input_ids: `(batch_size, tgt_len)` decoder inputs, or None when `inputs_embeds` are given.
            cache: the per-source memory and the recurrent state to start from (`new_cache`); updated in place.
            inputs_embeds: `(batch_size, tgt_len, E)`, used instead of looking up `input_ids`.
            output_hidden_states: also return the embeddings and every layer's output.

        Returns:
            features `(batch_size, tgt_len, decoder_feature_size)`, attention weights `(batch_size, tgt_len,
            src_len)` (None without attention) and, when asked for, the hidden states `(embeddings, layer 1, ...)`,
            each `(batch_size, tgt_len, ...)`.
        """
        embedded = self.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds  # batch x tgt_len x E
        embedded = drop_words(embedded, self.config.word_dropout, self.training)
        tgt_len = embedded.shape[1]
        peeky = None if cache.peeky_state is None else cache.peeky_state[:, None].expand(-1, tgt_len, -1)
        bottom_input = embedded if peeky is None else torch.cat([embedded, peeky], dim=-1)
        if self.config.input_feeding:
            passes, attentional_vector = [], cache.attentional_vector
            for t in range(tgt_len):  # each position reads the attentional vector [c; h] of the one before
                step = self._run_layers(torch.cat([bottom_input[:, t : t + 1], attentional_vector[:, None]], dim=-1),
                                        cache)
                attentional_vector = torch.cat([step.context, step.top], dim=-1)[:, 0]  # batch x 2H
                cache.update_recurrent_state(step.hidden_state, step.cell_state, attentional_vector, read_tokens=1)
                passes.append(step)
            hidden = torch.cat([step.top for step in passes], dim=1)
            context = torch.cat([step.context for step in passes], dim=1)
            weights = torch.cat([step.weights for step in passes], dim=1)
            layer_outputs = [torch.cat(outputs, dim=1) for outputs in zip(*(step.layer_outputs for step in passes))]
        else:
            stack = self._run_layers(bottom_input, cache)
            hidden, context, weights, layer_outputs = stack.top, stack.context, stack.weights, stack.layer_outputs
            cache.update_recurrent_state(stack.hidden_state, stack.cell_state, None, read_tokens=tgt_len)

        features = [hidden] if context is None else [context, hidden]  # the seed's [c; h]
        if peeky is not None:
            features.append(peeky)
        hidden_states = (embedded, *layer_outputs) if output_hidden_states else None
        return torch.cat(features, dim=-1), weights, hidden_states

    def decode_step(self, input_ids: torch.LongTensor, cache: AttnSeq2SeqCache) -> DecoderStepFeatures:
        """The decoder step: the tokens `cache` has not read yet `(batch_size, n)` (one per step in generation) ->
        the last position's features `[c; h]`, its attention weights, and `cache`, updated."""
        features, weights, _ = self(input_ids, cache)
        return DecoderStepFeatures(features[:, -1], None if weights is None else weights[:, -1], cache)


# ---------------------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------------------


def _given_state(past_key_values, cache):
    """The decoder state passed in: transformers 5.24 names the generation cache `cache`, earlier versions
    `past_key_values`; both are accepted."""
    if cache is not None and past_key_values is not None:
        raise ValueError("Give the decoder state as `cache` or as `past_key_values`, not both.")
    return cache if cache is not None else past_key_values


def _as_encoder_output(encoder_outputs) -> AttnSeq2SeqEncoderOutput:
    if isinstance(encoder_outputs, AttnSeq2SeqEncoderOutput):
        return encoder_outputs
    if isinstance(encoder_outputs, (tuple, list)):
        return AttnSeq2SeqEncoderOutput(*encoder_outputs)
    return AttnSeq2SeqEncoderOutput(**dict(encoder_outputs))


def _encoder_fields(encoder_outputs: AttnSeq2SeqEncoderOutput | None, cache: AttnSeq2SeqCache) -> dict:
    """The encoder's part of a `Seq2Seq*Output`; a call that continues from a cache without the encoder output gets the
    states the cache holds."""
    if encoder_outputs is None:
        return {"encoder_last_hidden_state": cache.encoder_states}
    return {"encoder_last_hidden_state": encoder_outputs.last_hidden_state,
            "encoder_hidden_states": encoder_outputs.hidden_states}


class AttnSeq2SeqModel(AttnSeq2SeqPreTrainedModel):
    """The bare encoder-decoder: returns the decoder's output features `[c; h]`, not vocabulary logits."""

    def __init__(self, config: AttnSeq2SeqConfig):
        super().__init__(config)
        self.encoder = AttnSeq2SeqEncoder(config)
        self.decoder = AttnSeq2SeqDecoder(config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.encoder.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.encoder.embed_tokens = value

    def get_decoder(self) -> "AttnSeq2SeqDecoder":
        return self.decoder

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: AttnSeq2SeqEncoderOutput | tuple | None = None,
        past_key_values: AttnSeq2SeqCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        cache: AttnSeq2SeqCache | None = None,
        **kwargs,
    ) -> Seq2SeqModelOutput | tuple:
        r"""
        decoder_attention_mask is accepted for API compatibility and unused: the decoder is causal, so padding at the
        end of a target never reaches the positions before it. The decoder state comes as `past_key_values` or, under
        the name transformers 5.24 gives it, `cache`. `inputs_embeds` / `decoder_inputs_embeds` replace the embedding
        lookups of `input_ids` / `decoder_input_ids` (give one of each pair).

        Returns `Seq2SeqModelOutput` with `last_hidden_state` of shape `(batch_size, tgt_len, decoder_feature_size)`;
        `cross_attentions`, when asked for, a one-tuple of `(batch_size, 1, tgt_len, src_len)` weights; and the
        encoder's and decoder's hidden states (embeddings, then every layer) with `output_hidden_states`.
        """
        use_cache = self.config.use_cache if use_cache is None else use_cache
        return_dict = self.config.return_dict if return_dict is None else return_dict
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = self.config.output_hidden_states if output_hidden_states is None else \
            output_hidden_states
        features, weights, state, encoder_outputs, decoder_hidden_states = self._encode_and_decode(
            input_ids, attention_mask, decoder_input_ids, encoder_outputs, _given_state(past_key_values, cache),
            output_hidden_states, inputs_embeds, decoder_inputs_embeds,
        )
        output = Seq2SeqModelOutput(
            last_hidden_state=features,
            **{CACHE_FIELD: state if use_cache else None},
            decoder_hidden_states=decoder_hidden_states,
            cross_attentions=(weights[:, None],) if output_attentions and weights is not None else None,
            **_encoder_fields(encoder_outputs, state),
        )
        return output if return_dict else output.to_tuple()

    def _encode_and_decode(self, input_ids, attention_mask, decoder_input_ids, encoder_outputs, cache,
                           output_hidden_states=False, inputs_embeds=None, decoder_inputs_embeds=None):
        """Encode (unless `encoder_outputs` or a `cache` is given), build the per-source memory (unless a `cache` is
        given) and run the decoder over `decoder_input_ids` from it.

        Returns `(features, attention weights or None, cache, encoder_outputs or None, decoder hidden states or
        None)`.
        """
        if decoder_input_ids is not None and decoder_inputs_embeds is not None:
            raise ValueError("Give decoder_input_ids or decoder_inputs_embeds, not both.")
        if decoder_input_ids is None and decoder_inputs_embeds is None:
            raise ValueError("decoder_input_ids (or labels, for the generation head) are required.")
        if decoder_inputs_embeds is not None:
            _check_embeddings(decoder_inputs_embeds, self.config.embedding_size, "decoder_inputs_embeds")
        if encoder_outputs is not None:
            encoder_outputs = _as_encoder_output(encoder_outputs)
        elif cache is None:  # the encoder checks that exactly one of input_ids and inputs_embeds is given
            encoder_outputs = self.encoder(input_ids, attention_mask, output_hidden_states=output_hidden_states,
                                           inputs_embeds=inputs_embeds)
        if cache is None:
            if decoder_input_ids is not None:
                _check_token_ids(decoder_input_ids, self.config.vocab_size, "decoder_input_ids")
            cache = self.decoder.new_cache(encoder_outputs, attention_mask)
        features, weights, decoder_hidden_states = self.decoder(decoder_input_ids, cache, decoder_inputs_embeds,
                                                                output_hidden_states)
        return features, weights, cache, encoder_outputs, decoder_hidden_states


class AttnSeq2SeqForConditionalGeneration(AttnSeq2SeqPreTrainedModel, GenerationMixin):
    """The encoder-decoder with its output Affine over the vocabulary; computes the loss from `labels`."""

    def __init__(self, config: AttnSeq2SeqConfig):
        super().__init__(config)
        self.model = AttnSeq2SeqModel(config)
        if config.output_projection:
            # an output layer of the decoder embedding's shape reads embedding-sized vectors
            self.output_projection = nn.Linear(config.decoder_feature_size, config.embedding_size, bias=False)
            self.lm_head = nn.Linear(config.embedding_size, config.vocab_size)
        else:
            self.output_projection = None
            self.lm_head = nn.Linear(config.decoder_feature_size, config.vocab_size)
        if config.tie_word_embeddings:
            self._tied_weights_keys = {"lm_head.weight": "model.decoder.embed_tokens.weight"}
        self.dropout = nn.Dropout(config.dropout)
        self.post_init()

    def get_decoder(self) -> "AttnSeq2SeqDecoder":
        return self.model.decoder

    def get_input_embeddings(self) -> nn.Embedding:
        return self.model.encoder.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.model.encoder.embed_tokens = value

    def save_pretrained(self, save_directory, *args, **kwargs):
        if not self.config.tie_word_embeddings and self.lm_head.weight is self.model.decoder.embed_tokens.weight:
            # Untied in the config after the model was built tied (PEFT does so after merging an adapter into the
            # output layer): the save must hold both tensors, so they become two here as the config says.
            self.lm_head.weight = nn.Parameter(self.lm_head.weight.detach().clone(),
                                               requires_grad=self.lm_head.weight.requires_grad)
            self._tied_weights_keys = None
            if getattr(self, "all_tied_weights_keys", None):
                self.all_tied_weights_keys = {}
        if self._auto_class is not None:
            # Also let AutoModel(..., trust_remote_code=True) load the bare encoder-decoder from this folder.
            auto_map = dict(getattr(self.config, "auto_map", None) or {})
            auto_map.setdefault("AutoModel", f"{AttnSeq2SeqModel.__module__.split('.')[-1]}.AttnSeq2SeqModel")
            self.config.auto_map = auto_map
        return super().save_pretrained(save_directory, *args, **kwargs)

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def prepare_inputs_for_generation(
        self,
        input_ids: torch.LongTensor,
        next_sequence_length: int | None = None,
        past_key_values: AttnSeq2SeqCache | None = None,
        attention_mask: torch.Tensor | None = None,
        encoder_outputs: AttnSeq2SeqEncoderOutput | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        cache: AttnSeq2SeqCache | None = None,
        **kwargs,
    ) -> dict:
        """The decoder tokens the state has not seen yet, and the state; every other model keyword (e.g.
        `decoder_attention_mask`, custom ones) is forwarded as transformers' own implementation does.

        A state passed back into `generate` (with `decoder_input_ids` holding the sequences it was returned with)
        continues where it stopped: its `get_seq_length()` tokens are not read again. A state made for `batch` rows
        serves `batch * num_beams` rows by repeating each row.
        """
        # The generic version builds position ids and 4-D masks and inspects `forward`'s signature at every step
        # (about as long as the LSTM step itself); a recurrent decoder needs only its new token(s) and its state.
        state = _given_state(past_key_values, cache)
        if state is not None:
            seen = state.get_seq_length()
            if seen >= input_ids.shape[1]:
                raise ValueError(f"The decoder state has read {seen} tokens but decoder_input_ids holds "
                                 f"{input_ids.shape[1]}: pass the sequences it was returned with.")
            if state.batch_size != input_ids.shape[0]:
                if input_ids.shape[0] % state.batch_size:
                    raise ValueError(f"The decoder state holds {state.batch_size} rows, which cannot serve "
                                     f"{input_ids.shape[0]} sequences.")
                state.batch_repeat_interleave(input_ids.shape[0] // state.batch_size)
            input_ids = input_ids[:, seen:]
        elif next_sequence_length is not None:
            input_ids = input_ids[:, -next_sequence_length:]
        model_inputs = {
            "decoder_input_ids": input_ids,
            "past_key_values": state,
            "attention_mask": attention_mask,
            "encoder_outputs": encoder_outputs,
            "use_cache": use_cache,
            "output_attentions": output_attentions,
            "output_hidden_states": output_hidden_states,
        }
        for key, value in kwargs.items():
            model_inputs.setdefault(key, value)
        model_inputs.pop("labels", None)  # Seq2SeqTrainer leaves them among the inputs it generates from
        return model_inputs

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head = value

    def _vocabulary_logits(self, features: torch.Tensor) -> torch.Tensor:
        """The output Affine over the decoder features `[c; h]` (through the tied projection when there is one)."""
        if self.training:
            features = self.dropout(features)
        if self.output_projection is not None:
            features = self.output_projection(features)
        return self.lm_head(features)

    def new_cache(self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None = None) -> AttnSeq2SeqCache:
        """Encode `input_ids` `(batch_size, src_len)` and return the per-source memory that `decode_step` reads."""
        return self.model.decoder.new_cache(self.model.encoder(input_ids, attention_mask))

    def decode_step(self, input_ids: torch.LongTensor, cache: AttnSeq2SeqCache) -> DecoderStepOutput:
        """The decoder step that generation, beam search, the ONNX export and the runtime all run: the tokens
        `cache` has not read yet `(batch_size, n)` (one per step in generation) -> the next token's logits
        `(batch_size, vocab_size)`, the attention weights `(batch_size, src_len)` (None without attention) and
        `cache`, updated in place.

            cache = model.new_cache(input_ids, attention_mask)
            step = model.decode_step(start_tokens, cache)          # step.logits, step.attention_weights, step.cache
        """
        features, weights, cache = self.model.decoder.decode_step(input_ids, cache)
        return DecoderStepOutput(self._vocabulary_logits(features), weights, cache)

    @torch.no_grad()
    def generate(self, inputs: torch.Tensor | None = None, generation_config: GenerationConfig | None = None,
                 logits_processor=None, stopping_criteria=None, prefix_allowed_tokens_fn=None, synced_gpus=None,
                 assistant_model=None, streamer=None, negative_prompt_ids=None, negative_prompt_attention_mask=None,
                 custom_generate=None, **kwargs):
        """`GenerationMixin.generate`, with plain greedy search run by a direct loop over decoder steps.

        A call whose only settings are the special tokens and `max_new_tokens` (no sampling, beams, processors,
        criteria, streamer or dict output; see `plain_greedy_settings`) returns the same ids as transformers' loop
        without its per-token overhead; every other call goes to `GenerationMixin.generate` unchanged.
        """
        self._check_generation_length(generation_config, kwargs)
        extras = (logits_processor, stopping_criteria, prefix_allowed_tokens_fn, synced_gpus, assistant_model,
                  streamer, negative_prompt_ids, negative_prompt_attention_mask, custom_generate)
        settings = None
        if all(extra is None for extra in extras):
            settings = plain_greedy_settings(self, inputs, generation_config, kwargs)
        if settings is None:
            return super().generate(
                inputs, generation_config, logits_processor, stopping_criteria, prefix_allowed_tokens_fn,
                synced_gpus, assistant_model, streamer, negative_prompt_ids, negative_prompt_attention_mask,
                custom_generate, **kwargs,
            )
        cache = self.new_cache(settings.input_ids, settings.attention_mask)
        device = settings.input_ids.device

        def step(tokens):
            logits = self.decode_step(torch.from_numpy(tokens).to(device), cache).logits
            return logits.argmax(dim=-1).cpu().numpy(), None

        tokens, _ = greedy_search(step, settings.start_tokens(), settings.max_new_tokens, settings.eos_token_ids,
                                  settings.pad_token_id)
        return torch.from_numpy(tokens).to(device)

    def _check_generation_length(self, generation_config: GenerationConfig | None, kwargs: dict) -> None:
        """Refuse (before any work) a length budget above `config.max_generation_tokens`, unless the call passes
        `allow_long_generation=True` (taken out of `kwargs`)."""
        if kwargs.pop("allow_long_generation", False):
            return
        settings = generation_config if generation_config is not None else self.generation_config
        max_new_tokens = kwargs.get("max_new_tokens", settings.max_new_tokens)
        max_length = kwargs.get("max_length", settings.max_length)
        if max_new_tokens is not None:
            check_generation_budget(f"max_new_tokens={max_new_tokens}", max_new_tokens, self.config)
        elif isinstance(max_length, (int, float)):  # the decoder start token counts in max_length
            check_generation_budget(f"max_length={max_length}", max_length - 1, self.config)

    def prepare_decoder_input_ids_from_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """Teacher-forcing inputs for `labels` (what `DataCollatorForSeq2Seq(model=...)` calls; label smoothing in
        `Trainer` needs them, as it takes the labels away from the model)."""
        return shift_tokens_right(labels, self.config.pad_token_id, self.config.decoder_start_token_id)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: AttnSeq2SeqEncoderOutput | tuple | None = None,
        past_key_values: AttnSeq2SeqCache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        decoder_inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        num_items_in_batch: int | torch.Tensor | None = None,
        cache: AttnSeq2SeqCache | None = None,
        **kwargs,
    ) -> Seq2SeqLMOutput | tuple:
        r"""
        labels (`torch.LongTensor` of shape `(batch_size, tgt_len)`, *optional*):
            target token ids; -100 marks positions left out of the loss. When neither `decoder_input_ids` nor
            `decoder_inputs_embeds` is given it is `labels` shifted right behind `decoder_start_token_id`.
        num_items_in_batch (*optional*):
            the number of target tokens in the whole (accumulated) batch, passed by `Trainer`; the loss is the sum
            over this batch divided by it, so gradient accumulation gives the same gradients as one large batch.
        cache (`AttnSeq2SeqCache`, *optional*):
            the decoder state under the name transformers 5.24 gives it; the same as `past_key_values`.

        Returns `Seq2SeqLMOutput` with `logits` of shape `(batch_size, tgt_len, vocab_size)`.
        """
        return_dict = self.config.return_dict if return_dict is None else return_dict
        output_attentions = self.config.output_attentions if output_attentions is None else output_attentions
        output_hidden_states = self.config.output_hidden_states if output_hidden_states is None else \
            output_hidden_states
        if labels is not None:
            if use_cache is None:
                use_cache = False
            if decoder_input_ids is None and decoder_inputs_embeds is None:
                _check_token_ids(labels.masked_fill(labels == -100, 0), self.config.vocab_size, "labels")
                decoder_input_ids = shift_tokens_right(
                    labels, self.config.pad_token_id, self.config.decoder_start_token_id
                )
        use_cache = self.config.use_cache if use_cache is None else use_cache
        features, weights, state, encoder_outputs, decoder_hidden_states = self.model._encode_and_decode(
            input_ids, attention_mask, decoder_input_ids, encoder_outputs, _given_state(past_key_values, cache),
            output_hidden_states, inputs_embeds, decoder_inputs_embeds,
        )
        logits = self._vocabulary_logits(features)  # batch x tgt_len x vocab_size

        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100, reduction="sum"
            )
            if num_items_in_batch is None:
                num_items_in_batch = (labels != -100).sum().clamp(min=1)
            loss = loss / num_items_in_batch

        output = Seq2SeqLMOutput(
            loss=loss,
            logits=logits,
            **{CACHE_FIELD: state if use_cache else None},
            decoder_hidden_states=decoder_hidden_states,
            cross_attentions=(weights[:, None],) if output_attentions and weights is not None else None,
            **_encoder_fields(encoder_outputs, state),
        )
        return output if return_dict else output.to_tuple()


__all__ = [
    "CACHE_FIELD",
    "AttnSeq2SeqCache",
    "AttnSeq2SeqEncoderOutput",
    "AttnSeq2SeqForConditionalGeneration",
    "AttnSeq2SeqModel",
    "AttnSeq2SeqPreTrainedModel",
    "DecoderStepOutput",
]
