"""What an ONNX export folder holds: its files, and the tensors of its two graphs by name, as the export writes them
and the runtime feeds them.

The encoder graph gives the decoder's per-source memory (`AttnSeq2SeqCache`'s tensors, by the same names); the
decoder-step graph reads it with one step's tokens and gives the logits, the recurrent state (`<name>_out`, fed back
as `<name>` at the next step) and the attention weights.
"""

from hf_attn_seq2seq.models.attn_seq2seq.modeling_attn_seq2seq import AttnSeq2SeqCache


ENCODER_FILE, DECODER_FILE = "encoder.onnx", "decoder_step.onnx"
INT8_SUFFIX = "_int8"
EXPORT_CONFIG_FILE = "onnx_export.json"

ENCODER_INPUTS = ("input_ids", "attention_mask")
# the cache's tensors that each step rewrites; the step graph returns them as `<name>_out`
RECURRENT = AttnSeq2SeqCache.RECURRENT_FIELDS
# the encoder's inputs are `(batch, src_len)`; the decoder step's, by name: the batch, and the source length where the
# tensor has one
ENCODER_INPUT_AXES = ("batch", "src_len")
STEP_DYNAMIC_AXES = {
    "input_ids": ("batch",), "hidden_state": ("batch",),
    "cell_state": ("batch",), "encoder_states": ("batch", "src_len"), "source_mask": ("batch", "src_len"),
    "source_keys": ("batch", "src_len"), "peeky_state": ("batch",), "attentional_vector": ("batch",),
}


def uses_source_keys(config) -> bool:
    """General and additive attention project the encoder states into keys once per source."""
    return config.attention in ("general", "additive")


def encoder_outputs(config) -> list[str]:
    """The encoder graph's outputs: the per-source memory the decoder step reads, and the initial recurrent state."""
    names = ["encoder_states", "hidden_state", "cell_state"]
    if uses_source_keys(config):
        names.append("source_keys")
    if config.peeky:
        names.append("peeky_state")
    return names


# the decoder-step graph's inputs, in the order of `DecoderStepForExport.forward`'s arguments
STEP_INPUTS = ("input_ids", "hidden_state", "cell_state", "encoder_states", "source_mask", "source_keys",
               "peeky_state", "attentional_vector")


def step_inputs(config) -> list[str]:
    """The decoder-step graph's inputs for `config`: those of `STEP_INPUTS` that its decoder reads."""
    used = {"encoder_states": config.attention != "none", "source_mask": config.attention != "none",
            "source_keys": uses_source_keys(config), "peeky_state": config.peeky,
            "attentional_vector": config.input_feeding}
    return [name for name in STEP_INPUTS if used.get(name, True)]


def step_outputs(config) -> list[str]:
    names = ["logits", "hidden_state_out", "cell_state_out"]
    if config.input_feeding:
        names.append("attentional_vector_out")
    if config.attention != "none":
        names.append("attention_weights")
    return names


__all__ = ["DECODER_FILE", "ENCODER_FILE", "ENCODER_INPUTS", "ENCODER_INPUT_AXES", "EXPORT_CONFIG_FILE", "INT8_SUFFIX",
           "RECURRENT", "STEP_DYNAMIC_AXES", "STEP_INPUTS", "encoder_outputs", "step_inputs", "step_outputs",
           "uses_source_keys"]
