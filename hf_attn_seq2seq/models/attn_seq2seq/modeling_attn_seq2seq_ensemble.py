"""An ensemble of AttnSeq2Seq models that decodes as one model.

At every decoder step each member reads the same source and the same target prefix, and the ensemble's next-token
scores are the members' log-probabilities averaged:

    log p(y_t | y_<t, X) = 1/N * sum_i log p_i(y_t | y_<t, X)     (then renormalized by the search's softmax)

The members keep their own encoders, decoders and recurrent states (`AttnSeq2SeqEnsembleCache` holds one
`AttnSeq2SeqCache` per member); they share the tokenizer, so they must share the vocabulary and special tokens. The
ensemble is a model like any other: `generate` (greedy, beam, sampling, `custom_generate=gnmt_beam_search`), the
pipeline, `save_pretrained` (one safetensors file, each member's weights under `members.<i>.`) and
`AutoModelForSeq2SeqLM.from_pretrained` with remote code alone.

    ensemble = AttnSeq2SeqEnsembleForConditionalGeneration.from_members([model_a, model_b])
    ensemble.generate(**inputs, num_beams=5, custom_generate=gnmt_beam_search, length_alpha=0.6)

Its `decode_step` and `new_cache` are the members' averaged, so every loop written over the decoder step (greedy
search, GNMT's beam search) runs an ensemble unchanged.
"""

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers.cache_utils import Cache
from transformers.generation import GenerationMixin
from transformers.modeling_outputs import ModelOutput, Seq2SeqLMOutput

from .configuration_attn_seq2seq import AttnSeq2SeqEnsembleConfig

# Every file the model code imports, imported here by name: transformers 5.5 (the floor) fetches a remote-code model's
# direct relative imports only, and the modeling file's own imports must travel too.
from .generation_attn_seq2seq import greedy_search  # noqa: F401
from .modeling_attn_seq2seq import (
    CACHE_FIELD,
    AttnSeq2SeqCache,
    AttnSeq2SeqEncoderOutput,
    AttnSeq2SeqForConditionalGeneration,
    AttnSeq2SeqPreTrainedModel,
    DecoderStepOutput,
    _given_state,
)
from .pipeline_attn_seq2seq import Seq2SeqGenerationPipeline  # noqa: F401


_MEMBER_FIELDS = ("last_hidden_state", "final_hidden_state", "final_cell_state", "attention_mask")


@dataclass
class AttnSeq2SeqEnsembleEncoderOutput(ModelOutput):
    r"""
    Every member's encoder output, flattened into tensors (`member_<i>_<field>`) so that `generate` repeats each of
    them for the beams as it repeats any encoder output. `last_hidden_state` and `attention_mask` are the first
    member's.
    """

    last_hidden_state: torch.FloatTensor | None = None
    attention_mask: torch.LongTensor | None = None

    @classmethod
    def from_members(cls, outputs: list[AttnSeq2SeqEncoderOutput]) -> "AttnSeq2SeqEnsembleEncoderOutput":
        flat = cls(last_hidden_state=outputs[0].last_hidden_state, attention_mask=outputs[0].attention_mask)
        for index, output in enumerate(outputs[1:], start=1):
            for field in _MEMBER_FIELDS:
                flat[f"member_{index}_{field}"] = getattr(output, field)
        flat["member_0_final_hidden_state"] = outputs[0].final_hidden_state
        flat["member_0_final_cell_state"] = outputs[0].final_cell_state
        return flat

    def member_output(self, index: int) -> AttnSeq2SeqEncoderOutput:
        if index == 0:
            return AttnSeq2SeqEncoderOutput(self.last_hidden_state, self["member_0_final_hidden_state"],
                                            self["member_0_final_cell_state"], self.attention_mask)
        if f"member_{index}_last_hidden_state" not in self:
            raise ValueError(f"This encoder output holds no member {index}: it was made by another ensemble.")
        return AttnSeq2SeqEncoderOutput(*(self[f"member_{index}_{field}"] for field in _MEMBER_FIELDS))


class AttnSeq2SeqEnsembleCache(Cache):
    """One `AttnSeq2SeqCache` per member; beam reordering, repetition and batch selection act on all of them."""

    def __init__(self, members: list[AttnSeq2SeqCache]):
        super().__init__(layers=[])
        self.members = list(members)

    @property
    def source_mask(self) -> torch.Tensor:
        return self.members[0].source_mask  # the members read the same tokens

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.members[0].get_seq_length()

    @property
    def seen_tokens(self) -> int:
        return self.members[0].seen_tokens

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        for member in self.members:
            member.reorder_cache(beam_idx)

    def batch_repeat_interleave(self, repeats: int) -> None:
        for member in self.members:
            member.batch_repeat_interleave(repeats)

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        for member in self.members:
            member.batch_select_indices(indices)

    def crop(self, max_length: int) -> None:
        raise NotImplementedError("A recurrent state cannot be cropped: it does not keep past steps.")

    def reset(self) -> None:
        raise NotImplementedError("A recurrent state cannot be reset without the encoder output; start a new one.")

    @property
    def batch_size(self) -> int:
        return self.members[0].batch_size

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
        return f"{self.__class__.__name__}(members={len(self.members)}, batch_size={self.batch_size})"


class _EnsembleEncoder(nn.Module):
    """What `generate` runs once per call: every member's encoder on the same source."""

    def __init__(self, ensemble: "AttnSeq2SeqEnsembleForConditionalGeneration"):
        super().__init__()
        self._members = tuple(ensemble.members)  # a tuple, so the members are not registered a second time

    def forward(self, input_ids: torch.LongTensor | None = None, attention_mask: torch.Tensor | None = None,
                output_hidden_states: bool | None = None, return_dict: bool | None = None,
                inputs_embeds: torch.Tensor | None = None, **kwargs) -> AttnSeq2SeqEnsembleEncoderOutput:
        if inputs_embeds is not None:
            raise ValueError("An ensemble reads token ids: each member embeds them with its own table.")
        return AttnSeq2SeqEnsembleEncoderOutput.from_members(
            [member.get_encoder()(input_ids, attention_mask) for member in self._members])


class _EnsembleDecoder(nn.Module):
    """`new_cache` from the ensemble's encoder output, as `gnmt_beam_search` asks the decoder for it."""

    def __init__(self, ensemble: "AttnSeq2SeqEnsembleForConditionalGeneration"):
        super().__init__()
        self._members = tuple(ensemble.members)

    def new_cache(self, encoder_outputs: AttnSeq2SeqEnsembleEncoderOutput,
                  attention_mask: torch.Tensor | None = None) -> AttnSeq2SeqEnsembleCache:
        return AttnSeq2SeqEnsembleCache([member.get_decoder().new_cache(encoder_outputs.member_output(index),
                                                                        attention_mask)
                                         for index, member in enumerate(self._members)])


def average_log_probs(member_logits: list[torch.Tensor]) -> torch.Tensor:
    """The members' log-probabilities over the vocabulary (last axis), averaged."""
    return torch.stack([F.log_softmax(logits.float(), dim=-1) for logits in member_logits]).mean(dim=0)


def _average_weights(member_weights: list[torch.Tensor | None]) -> torch.Tensor | None:
    """The members' attention weights averaged (coverage penalties read them); None when no member attends."""
    weights = [w for w in member_weights if w is not None]
    return torch.stack(weights).mean(dim=0) if weights else None


class AttnSeq2SeqEnsembleForConditionalGeneration(AttnSeq2SeqPreTrainedModel, GenerationMixin):
    """Several `AttnSeq2SeqForConditionalGeneration` members decoding together (log-probabilities averaged per
    step). Build one with `from_members`, or load a saved one with `from_pretrained`."""

    config_class = AttnSeq2SeqEnsembleConfig
    config: AttnSeq2SeqEnsembleConfig
    base_model_prefix = "ensemble"
    supports_gradient_checkpointing = False

    def __init__(self, config: AttnSeq2SeqEnsembleConfig):
        super().__init__(config)
        self.members = nn.ModuleList(AttnSeq2SeqForConditionalGeneration(member_config)
                                     for member_config in config.member_configs())
        self._encoder = _EnsembleEncoder(self)
        self._decoder = _EnsembleDecoder(self)
        self.post_init()
        # transformers gathers tied weights from direct children only, and the members sit in a ModuleList
        for index, member in enumerate(self.members):
            self.all_tied_weights_keys.update({f"members.{index}.{target}": f"members.{index}.{source}"
                                               for target, source in member.all_tied_weights_keys.items()})

    @classmethod
    def from_members(cls, members: list[AttnSeq2SeqForConditionalGeneration]):
        """An ensemble holding copies of `members`' weights (the members must share vocabulary and special
        tokens; `AttnSeq2SeqEnsembleConfig` says which setting differs)."""
        if not members:
            raise ValueError("An ensemble needs at least one member model.")
        for index, member in enumerate(members):
            if not isinstance(member, AttnSeq2SeqForConditionalGeneration):
                raise TypeError(f"Member {index} is a {type(member).__name__}; an ensemble holds "
                                "AttnSeq2SeqForConditionalGeneration models.")
        ensemble = cls(AttnSeq2SeqEnsembleConfig(members=[member.config.to_dict() for member in members]))
        with torch.no_grad():
            for own, member in zip(ensemble.members, members):
                own.load_state_dict(member.state_dict())
        ensemble.generation_config = members[0].generation_config.__class__.from_dict(
            members[0].generation_config.to_dict())
        return ensemble.to(members[0].device).eval()

    def _init_weights(self, module: nn.Module) -> None:
        pass  # the members initialise their own layers

    def get_encoder(self, modality: str | None = None) -> _EnsembleEncoder:
        return self._encoder

    def get_decoder(self) -> _EnsembleDecoder:
        return self._decoder

    def get_input_embeddings(self) -> nn.Embedding:
        return self.members[0].get_input_embeddings()

    def new_cache(self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None = None):
        """Encode `input_ids` with every member; the memory `decode_step` reads."""
        return self._decoder.new_cache(self._encoder(input_ids, attention_mask))

    def decode_step(self, input_ids: torch.LongTensor, cache: AttnSeq2SeqEnsembleCache) -> DecoderStepOutput:
        """Every member's step on the same tokens: the averaged log-probabilities `(batch_size, vocab_size)`, the
        averaged attention weights and `cache`, updated in place."""
        steps = [member.decode_step(input_ids, member_cache)
                 for member, member_cache in zip(self.members, cache.members)]
        return DecoderStepOutput(average_log_probs([step.logits for step in steps]),
                                 _average_weights([step.attention_weights for step in steps]), cache)

    prepare_inputs_for_generation = AttnSeq2SeqForConditionalGeneration.prepare_inputs_for_generation
    _check_generation_length = AttnSeq2SeqForConditionalGeneration._check_generation_length
    prepare_decoder_input_ids_from_labels = AttnSeq2SeqForConditionalGeneration.prepare_decoder_input_ids_from_labels

    @torch.no_grad()
    def generate(self, *args, **kwargs):
        """`GenerationMixin.generate`, with the members' length ceiling (`allow_long_generation=True` lifts it)."""
        self._check_generation_length(kwargs.get("generation_config"), kwargs)
        return super().generate(*args, **kwargs)

    def forward(self, input_ids=None, attention_mask=None, decoder_input_ids=None, decoder_attention_mask=None,
                encoder_outputs=None, past_key_values=None, labels=None, use_cache=None, output_attentions=None,
                return_dict=None, cache=None, **kwargs) -> Seq2SeqLMOutput | tuple:
        """The members' teacher-forced (or cached) passes on the same tokens; `logits` are the averaged
        log-probabilities `(batch_size, tgt_len, vocab_size)`, and `labels` give their cross-entropy."""
        return_dict = self.config.return_dict if return_dict is None else return_dict
        use_cache = (False if labels is not None else self.config.use_cache) if use_cache is None else use_cache
        if labels is not None and decoder_input_ids is None:
            decoder_input_ids = self.prepare_decoder_input_ids_from_labels(labels)
        if encoder_outputs is None:
            encoder_outputs = self._encoder(input_ids, attention_mask)
        elif not isinstance(encoder_outputs, AttnSeq2SeqEnsembleEncoderOutput):
            encoder_outputs = AttnSeq2SeqEnsembleEncoderOutput(**dict(encoder_outputs))
        state = _given_state(past_key_values, cache)
        member_states = state.members if state is not None else [None] * len(self.members)
        outputs = [member(attention_mask=attention_mask, decoder_input_ids=decoder_input_ids,
                          decoder_attention_mask=decoder_attention_mask,
                          encoder_outputs=encoder_outputs.member_output(index), past_key_values=member_state,
                          use_cache=use_cache, output_attentions=output_attentions, return_dict=True)
                   for index, (member, member_state) in enumerate(zip(self.members, member_states))]
        logits = average_log_probs([output.logits for output in outputs])
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        new_state = None
        if use_cache:
            new_state = AttnSeq2SeqEnsembleCache([getattr(output, CACHE_FIELD) for output in outputs])
        cross_attentions = None
        if output_attentions and outputs[0].cross_attentions is not None:
            cross_attentions = (_average_weights([output.cross_attentions[0] for output in outputs
                                                  if output.cross_attentions is not None]),)
        output = Seq2SeqLMOutput(loss=loss, logits=logits, **{CACHE_FIELD: new_state},
                                 cross_attentions=cross_attentions,
                                 encoder_last_hidden_state=encoder_outputs.last_hidden_state)
        return output if return_dict else output.to_tuple()


__all__ = [
    "AttnSeq2SeqEnsembleCache",
    "AttnSeq2SeqEnsembleEncoderOutput",
    "AttnSeq2SeqEnsembleForConditionalGeneration",
    "average_log_probs",
]
