"""hf_attn_seq2seq: the LSTM encoder-decoder with attention as a Hugging Face transformers model."""

from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM
from transformers.pipelines import PIPELINE_REGISTRY

from . import saving  # noqa: F401  (the models' save_pretrained writes through it where it is loaded)
from .models.attn_seq2seq.configuration_attn_seq2seq import AttnSeq2SeqConfig, AttnSeq2SeqEnsembleConfig
from .models.attn_seq2seq.generation_attn_seq2seq import gnmt_beam_search
from .models.attn_seq2seq.modeling_attn_seq2seq import (
    AttnSeq2SeqCache,
    AttnSeq2SeqForConditionalGeneration,
    AttnSeq2SeqModel,
    AttnSeq2SeqPreTrainedModel,
    DecoderStepOutput,
)
from .models.attn_seq2seq.modeling_attn_seq2seq_ensemble import (
    AttnSeq2SeqEnsembleCache,
    AttnSeq2SeqEnsembleForConditionalGeneration,
)
from .models.attn_seq2seq.pipeline_attn_seq2seq import TASK_NAME, Seq2SeqGenerationPipeline
from .models.ntm.configuration_ntm import LSTMBaselineConfig, NTMConfig
from .models.ntm.modeling_ntm import LSTMBaselineModel, LSTMBaselinePreTrainedModel, NTMModel, NTMPreTrainedModel


__version__ = "0.1.0"

# Local Auto-class registration: with the package imported, Auto* load our folders without trust_remote_code.
AutoConfig.register(AttnSeq2SeqConfig.model_type, AttnSeq2SeqConfig, exist_ok=True)
AutoModel.register(AttnSeq2SeqConfig, AttnSeq2SeqModel, exist_ok=True)
AutoModelForSeq2SeqLM.register(AttnSeq2SeqConfig, AttnSeq2SeqForConditionalGeneration, exist_ok=True)
AutoConfig.register(AttnSeq2SeqEnsembleConfig.model_type, AttnSeq2SeqEnsembleConfig, exist_ok=True)
AutoModelForSeq2SeqLM.register(AttnSeq2SeqEnsembleConfig, AttnSeq2SeqEnsembleForConditionalGeneration, exist_ok=True)
AutoConfig.register(NTMConfig.model_type, NTMConfig, exist_ok=True)
AutoModel.register(NTMConfig, NTMModel, exist_ok=True)
AutoConfig.register(LSTMBaselineConfig.model_type, LSTMBaselineConfig, exist_ok=True)
AutoModel.register(LSTMBaselineConfig, LSTMBaselineModel, exist_ok=True)

# Hub registration: save_pretrained writes `auto_map` and copies the code files next to the weights.
AttnSeq2SeqConfig.register_for_auto_class()
AttnSeq2SeqModel.register_for_auto_class("AutoModel")
AttnSeq2SeqForConditionalGeneration.register_for_auto_class("AutoModelForSeq2SeqLM")
AttnSeq2SeqEnsembleConfig.register_for_auto_class()
AttnSeq2SeqEnsembleForConditionalGeneration.register_for_auto_class("AutoModelForSeq2SeqLM")
# The NTM and its baseline map bit vectors to bit vectors; no transformers head class fits that, so AutoModel loads
# them whole.
NTMConfig.register_for_auto_class()
NTMModel.register_for_auto_class("AutoModel")
LSTMBaselineConfig.register_for_auto_class()
LSTMBaselineModel.register_for_auto_class("AutoModel")

# pipeline("seq2seq-generation", model=...) with the package installed, no trust_remote_code needed. ("translation",
# which transformers 5 removed and refuses as a registered task, comes through the config's `custom_pipelines`.)
if TASK_NAME not in PIPELINE_REGISTRY.get_supported_tasks():
    PIPELINE_REGISTRY.register_pipeline(
        TASK_NAME, pipeline_class=Seq2SeqGenerationPipeline, pt_model=AutoModelForSeq2SeqLM, type="text"
    )

__all__ = [
    "AttnSeq2SeqCache",
    "AttnSeq2SeqConfig",
    "AttnSeq2SeqEnsembleCache",
    "AttnSeq2SeqEnsembleConfig",
    "AttnSeq2SeqEnsembleForConditionalGeneration",
    "AttnSeq2SeqForConditionalGeneration",
    "AttnSeq2SeqModel",
    "AttnSeq2SeqPreTrainedModel",
    "DecoderStepOutput",
    "LSTMBaselineConfig",
    "LSTMBaselineModel",
    "LSTMBaselinePreTrainedModel",
    "NTMConfig",
    "NTMModel",
    "NTMPreTrainedModel",
    "Seq2SeqGenerationPipeline",
    "TASK_NAME",
    "gnmt_beam_search",
]
