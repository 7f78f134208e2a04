"""ONNX export: the encoder and one decoder step as two ONNX graphs, for ONNX Runtime (`hf_attn_seq2seq.onnx.runtime`).

    from hf_attn_seq2seq.onnx.export import export_onnx
    export_onnx(model, tokenizer, "outputs/date-onnx")            # encoder.onnx, decoder_step.onnx, their int8 twins

    python -m training.export outputs/date-attention/model outputs/date-onnx

Both graphs take a dynamic batch size and source length:

- `encoder.onnx`: `input_ids`, `attention_mask` `(batch, src_len)` (int64) -> `encoder_states` `(batch, src_len, H)`,
  the decoder's initial `hidden_state` and `cell_state` `(batch, decoder_layers, H)`, and where the config uses them
  `source_keys` (the attention keys `W hs`, general and additive attention) and `peeky_state` `(batch, H)`.
- `decoder_step.onnx`: `input_ids` `(batch, 1)`, `hidden_state`, `cell_state`, `encoder_states`, `source_mask`
  `(batch, src_len)` (bool), and `source_keys`, `peeky_state`, `attentional_vector` `(batch, 2H)` (input feeding)
  where used -> `logits` `(batch, vocab)`, the new `hidden_state` and `cell_state`, the new `attentional_vector`
  (input feeding) and `attention_weights` `(batch, src_len)` (attention).

The encoder's LSTMs become ONNX `LSTM` operators with `sequence_lens`, so each row's final states are those of its last
real token and the backward direction starts there, as packed sequences do in PyTorch. The int8 twins come from ONNX
Runtime's dynamic quantization (weights int8, activations quantized per call). Needs the `onnx` extra
(`pip install "hf_attn_seq2seq[onnx]"`: onnx, onnxscript, onnxruntime).
"""

import contextlib
import copy
import functools
import json
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from hf_attn_seq2seq.models.attn_seq2seq.modeling_attn_seq2seq import (
    AttnSeq2SeqCache,
    _masked_lstm,
    _masked_lstm_direction,
)
from hf_attn_seq2seq.onnx.runtime import check_onnx_available
from hf_attn_seq2seq.onnx.tensors import (
    DECODER_FILE,
    ENCODER_FILE,
    ENCODER_INPUT_AXES,
    ENCODER_INPUTS,
    EXPORT_CONFIG_FILE,
    INT8_SUFFIX,
    STEP_DYNAMIC_AXES,
    STEP_INPUTS,
    encoder_outputs,
    step_inputs,
    step_outputs,
)
from hf_attn_seq2seq.saving import write_staged


OPSET = 18
FOLD_LIMIT = 1 << 28  # elements: every weight of a model this package trains


# ---------------------------------------------------------------------------------------------------------------
# One LSTM direction over right-padded rows, as one ONNX LSTM operator with per-row lengths
# ---------------------------------------------------------------------------------------------------------------


@torch.library.custom_op("hf_attn_seq2seq::lstm_direction", mutates_args=())
def lstm_direction(layer_input: torch.Tensor, lengths: torch.Tensor, weight_ih: torch.Tensor, weight_hh: torch.Tensor,
                   bias_ih: torch.Tensor, bias_hh: torch.Tensor, reverse: bool) -> tuple[torch.Tensor, torch.Tensor,
                                                                                           torch.Tensor]:
    """One direction of a single-layer LSTM over rows whose first `lengths` positions are real: outputs
    `(batch, src_len, H)` (zeros at padding) and the final `(batch, H)` hidden and cell states."""
    mask = torch.arange(layer_input.shape[1], device=layer_input.device)[None, :] < lengths[:, None]
    output, hidden, cell = _masked_lstm_direction(layer_input, mask, weight_ih, weight_hh, bias_ih, bias_hh, reverse)
    return output, hidden, cell


@lstm_direction.register_fake
def _lstm_direction_shapes(layer_input, lengths, weight_ih, weight_hh, bias_ih, bias_hh, reverse):
    batch_size, src_len, size = layer_input.shape[0], layer_input.shape[1], weight_hh.shape[1]
    return (layer_input.new_empty(batch_size, src_len, size), layer_input.new_empty(batch_size, size),
            layer_input.new_empty(batch_size, size))


def _lstm_direction_onnx(layer_input, lengths, weight_ih, weight_hh, bias_ih, bias_hh, reverse: bool = False):
    """The ONNX translation of `lstm_direction`: one `LSTM` operator (gates reordered from PyTorch's i, f, g, o to
    ONNX's i, o, f, c) reading `(src_len, batch, input)` with `sequence_lens`."""
    from onnxscript import opset18 as op

    size = weight_hh.shape[1]

    def onnx_gate_order(tensor):
        gate = [op.Slice(tensor, [index * size], [(index + 1) * size], [0]) for index in range(4)]
        return op.Concat(gate[0], gate[3], gate[1], gate[2], axis=0)  # i, f, g, o -> i, o, f, c

    weights = op.Unsqueeze(onnx_gate_order(weight_ih), [0])
    recurrence = op.Unsqueeze(onnx_gate_order(weight_hh), [0])
    biases = op.Unsqueeze(op.Concat(onnx_gate_order(bias_ih), onnx_gate_order(bias_hh), axis=0), [0])
    steps = op.Transpose(layer_input, perm=[1, 0, 2])
    outputs, final_hidden, final_cell = op.LSTM(steps, weights, recurrence, biases, op.Cast(lengths, to=6),
                                                direction="reverse" if reverse else "forward", hidden_size=size)
    outputs = op.Transpose(op.Squeeze(outputs, [1]), perm=[1, 0, 2])  # (src_len, 1, batch, H) -> (batch, src_len, H)
    return outputs, op.Squeeze(final_hidden, [0]), op.Squeeze(final_cell, [0])


def _onnx_lstm_direction(layer_input, mask, weight_ih, weight_hh, bias_ih, bias_hh, reverse):
    """`_masked_lstm_direction` as the custom operator, so that the export gives one ONNX LSTM per direction."""
    return lstm_direction(layer_input, mask.sum(dim=1), weight_ih, weight_hh, bias_ih, bias_hh, reverse)


# The encoder's `traced_lstm` during export.
_lstm_layer_for_export = functools.partial(_masked_lstm, direction=_onnx_lstm_direction)


# ---------------------------------------------------------------------------------------------------------------
# The two graphs
# ---------------------------------------------------------------------------------------------------------------


class EncoderForExport(nn.Module):
    """The encoder and the per-source memory it gives the decoder (`AttnSeq2SeqDecoder.new_cache`)."""

    def __init__(self, model):
        super().__init__()
        self.model = model.model
        self.output_names = encoder_outputs(model.config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        cache = self.model.decoder.new_cache(self.model.encoder(input_ids, attention_mask))
        return tuple(getattr(cache, name).contiguous() for name in self.output_names)


class DecoderStepForExport(nn.Module):
    """The model's `decode_step` on the cache's tensors, given one by one: the next token's logits, the new recurrent
    state, the attention weights."""

    def __init__(self, model):
        super().__init__()
        self.generator = model
        self.config = model.config

    def forward(self, input_ids, hidden_state, cell_state, encoder_states=None, source_mask=None, source_keys=None,
                peeky_state=None, attentional_vector=None):
        cache = AttnSeq2SeqCache(hidden_state, cell_state, attentional_vector, encoder_states=encoder_states,
                                 source_keys=source_keys, source_mask=source_mask, peeky_state=peeky_state)
        logits, weights, cache = self.generator.decode_step(input_ids, cache)
        outputs = [logits, cache.hidden_state, cache.cell_state]
        if self.config.input_feeding:
            outputs.append(cache.attentional_vector)
        if weights is not None:
            outputs.append(weights)
        return tuple(outputs)


def example_inputs(model, batch_size: int = 2, src_len: int = 5) -> dict[str, torch.Tensor]:
    """Inputs of both graphs for tracing, the second row padded (so that nothing is specialised to full rows)."""
    config = model.config
    low = max(t for t in (config.pad_token_id, config.bos_token_id, config.eos_token_id) if t is not None) + 1
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(low, config.vocab_size, (batch_size, src_len), generator=generator)
    attention_mask = torch.ones(batch_size, src_len, dtype=torch.long)
    attention_mask[1:, src_len - 2:] = 0
    input_ids = input_ids.masked_fill(attention_mask == 0, config.pad_token_id)
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def _example_step_inputs(model, encoder: EncoderForExport, inputs: dict) -> dict:
    """Every argument of `DecoderStepForExport.forward` for tracing, by name: the first step from the encoder's
    output for `inputs`; None for those the config's decoder does not read."""
    config = model.config
    with torch.no_grad():
        encoded = dict(zip(encoder.output_names, encoder(*(inputs[name] for name in ENCODER_INPUTS))))
    rows = inputs["input_ids"].shape[0]
    encoded["input_ids"] = torch.full((rows, 1), config.decoder_start_token_id, dtype=torch.long)
    encoded["source_mask"] = inputs["attention_mask"].bool()
    if config.input_feeding:
        encoded["attentional_vector"] = torch.zeros(rows, 2 * config.hidden_size)
    used = set(step_inputs(config))
    return {name: encoded.get(name) if name in used else None for name in STEP_INPUTS}


@contextlib.contextmanager
def _quiet():
    """The exporter's and the quantizer's notes (an optional torchvision, deprecations inside torch.export, advice
    to pre-process) say nothing about this model; keep them off the user's terminal while exporting."""
    loggers = [logging.getLogger("torch.onnx"), logging.getLogger()]  # the quantizer logs to the root logger
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def _export(module: nn.Module, args: tuple, input_names: list[str], output_names: list[str], dynamic: dict,
            path: Path) -> None:
    import onnxscript.optimizer

    with _quiet():
        program = torch.onnx.export(
            module, args, input_names=input_names, output_names=output_names, dynamic_shapes=dynamic, dynamo=True,
            opset_version=OPSET, external_data=False, optimize=True, verbose=False,
            custom_translation_table={torch.ops.hf_attn_seq2seq.lstm_direction.default: _lstm_direction_onnx},
        )
    # Fold the LSTM gate reordering into the weights themselves (the default limits leave weights this size as
    # computations): fewer nodes per step, and weights that dynamic quantization recognises as LSTM weights.
    onnxscript.optimizer.optimize(program.model, input_size_limit=FOLD_LIMIT, output_size_limit=FOLD_LIMIT)
    program.save(str(path))


# What an export written before `onnx_export.json` listed its files may hold.
_EARLIER_EXPORT_FILES = frozenset({ENCODER_FILE, DECODER_FILE, ENCODER_FILE.replace(".onnx", f"{INT8_SUFFIX}.onnx"),
                                   DECODER_FILE.replace(".onnx", f"{INT8_SUFFIX}.onnx"), EXPORT_CONFIG_FILE,
                                   "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                                   "special_tokens_map.json", "added_tokens.json", "chat_template.jinja"})


def files_not_from_an_export(folder: Path) -> list[str]:
    """The entries of an existing `folder` that no earlier `export_onnx` wrote there: all of them when the folder
    holds no `onnx_export.json`, else those its list of files does not name. Empty for an empty folder."""
    entries = sorted(path.name for path in folder.iterdir())
    if not entries:
        return []
    try:
        record = json.loads((folder / EXPORT_CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return entries
    written = record.get("files") if isinstance(record, dict) else None
    ours = set(written) if isinstance(written, list) else _EARLIER_EXPORT_FILES
    return [name for name in entries if name not in ours or not (folder / name).is_file()
            or (folder / name).is_symlink()]


def export_onnx(model, tokenizer=None, folder: str | Path = "onnx", int8: bool = True,
                overwrite: bool = False) -> Path:
    """Write `encoder.onnx` and `decoder_step.onnx` (and with `int8` their dynamically quantized twins
    `encoder_int8.onnx`, `decoder_step_int8.onnx`) into `folder`, with the config, generation config and tokenizer,
    so that `OnnxAttnSeq2Seq.from_pretrained(folder)` needs nothing else. The int8 weights use 7 bits
    (`reduce_range`): full-range ones saturate ONNX Runtime's u8s8 products on x86 CPUs without VNNI (AVX2 alone).

    `folder` may be new, empty, or an earlier export (every file in it listed by its `onnx_export.json`): it is then
    replaced whole and atomically. A folder holding anything else is refused (`FileExistsError`), unless `overwrite`:
    the export's files then replace those of the same names one by one, and every other file stays.
    """
    folder = Path(folder)
    foreign = files_not_from_an_export(folder) if folder.is_dir() else []
    if foreign and not overwrite:
        listed = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise FileExistsError(
            f"{folder} holds files that no ONNX export wrote ({listed}): refusing to replace it. Export into a new "
            "or empty folder, or pass overwrite=True (--overwrite) to write the export's files into it, leaving the "
            "others."
        )
    check_onnx_available()
    model = copy.deepcopy(model).float().eval()
    model.model.encoder.traced_lstm = _lstm_layer_for_export
    config = model.config
    encoder, step = EncoderForExport(model), DecoderStepForExport(model)
    inputs = example_inputs(model)
    step_args = _example_step_inputs(model, encoder, inputs)
    dims = {"batch": torch.export.Dim("batch"), "src_len": torch.export.Dim("src_len")}

    def dynamic(axes: tuple[str, ...]) -> dict:
        return {axis: dims[dim] for axis, dim in enumerate(axes)}

    step_dynamic = tuple(None if step_args[name] is None else dynamic(STEP_DYNAMIC_AXES[name]) for name in STEP_INPUTS)
    step_names, step_output_names = step_inputs(config), step_outputs(config)

    def write(staging: Path) -> None:
        _export(encoder, tuple(inputs[name] for name in ENCODER_INPUTS), list(ENCODER_INPUTS), encoder.output_names,
                (dynamic(ENCODER_INPUT_AXES),) * len(ENCODER_INPUTS), staging / ENCODER_FILE)
        _export(step, tuple(step_args[name] for name in STEP_INPUTS), step_names, step_output_names, step_dynamic,
                staging / DECODER_FILE)
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            for name in (ENCODER_FILE, DECODER_FILE):
                with _quiet():
                    quantize_dynamic(staging / name, staging / name.replace(".onnx", f"{INT8_SUFFIX}.onnx"),
                                     weight_type=QuantType.QInt8, reduce_range=True)
        config.save_pretrained(staging)
        model.generation_config.save_pretrained(staging)
        if tokenizer is not None:
            tokenizer.save_pretrained(staging)
        files = sorted([path.name for path in staging.iterdir()] + [EXPORT_CONFIG_FILE])
        (staging / EXPORT_CONFIG_FILE).write_text(json.dumps({
            "encoder": {"inputs": list(ENCODER_INPUTS), "outputs": encoder.output_names},
            "decoder_step": {"inputs": step_names, "outputs": step_output_names},
            "int8": int8, "opset": OPSET, "torch_version": torch.__version__, "files": files,
        }, indent=2) + "\n")

    # into a folder of the user's, file by file and nothing else touched; the export's own folder, whole
    write_staged(folder, write, whole_folder=not foreign, last=EXPORT_CONFIG_FILE, stale=())
    return folder


__all__ = ["DECODER_FILE", "ENCODER_FILE", "DecoderStepForExport", "EncoderForExport", "export_onnx",
           "lstm_direction"]
