"""hf_attn_seq2seq: the LSTM encoder-decoder with attention as a Hugging Face transformers model."""

from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM

from .configuration_attn_seq2seq import AttnSeq2SeqConfig
from .modeling_attn_seq2seq import (
    AttnSeq2SeqCache,
    AttnSeq2SeqForConditionalGeneration,
    AttnSeq2SeqModel,
    AttnSeq2SeqPreTrainedModel,
)


__version__ = "0.1.0"

# Local Auto-class registration: with the package imported, Auto* load our folders without trust_remote_code.
AutoConfig.register(AttnSeq2SeqConfig.model_type, AttnSeq2SeqConfig, exist_ok=True)
AutoModel.register(AttnSeq2SeqConfig, AttnSeq2SeqModel, exist_ok=True)
AutoModelForSeq2SeqLM.register(AttnSeq2SeqConfig, AttnSeq2SeqForConditionalGeneration, exist_ok=True)

# Hub registration: save_pretrained writes `auto_map` and copies the code files next to the weights.
AttnSeq2SeqConfig.register_for_auto_class()
AttnSeq2SeqModel.register_for_auto_class("AutoModel")
AttnSeq2SeqForConditionalGeneration.register_for_auto_class("AutoModelForSeq2SeqLM")

__all__ = [
    "AttnSeq2SeqCache",
    "AttnSeq2SeqConfig",
    "AttnSeq2SeqForConditionalGeneration",
    "AttnSeq2SeqModel",
    "AttnSeq2SeqPreTrainedModel",
]
