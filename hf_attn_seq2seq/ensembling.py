"""Ensembles of saved models: several folders trained on the same tokenizer, decoding together (log-probabilities
averaged per step; `AttnSeq2SeqEnsembleForConditionalGeneration`).

    from hf_attn_seq2seq.ensembling import save_ensemble

    save_ensemble(["outputs/mt-de-en/model", "outputs/mt-de-en-seed2/model"], "outputs/mt-de-en-ensemble")
    translator = pipeline("translation", model="outputs/mt-de-en-ensemble", trust_remote_code=True)

The ensemble folder is a model folder like any other (one safetensors file, config, code, tokenizer, the first
member's generation settings), so it loads, generates, exports to the Hub and serves the pipeline as a single model.
"""

import json
from pathlib import Path

from transformers import AutoTokenizer

from hf_attn_seq2seq.hub import write_model_folder
from hf_attn_seq2seq.models.attn_seq2seq.modeling_attn_seq2seq import AttnSeq2SeqForConditionalGeneration
from hf_attn_seq2seq.models.attn_seq2seq.modeling_attn_seq2seq_ensemble import (
    AttnSeq2SeqEnsembleForConditionalGeneration,
)


def _same_tokenizer(first, other) -> str | None:
    """What differs between two tokenizers that an ensemble's members must share, or None."""
    if first.get_vocab() != other.get_vocab():
        return "its vocabulary"
    if first.all_special_tokens != other.all_special_tokens:
        return "its special tokens"
    if first.backend_tokenizer.to_str() != other.backend_tokenizer.to_str():
        return "how it splits text (normalizer, pre-tokenizer or model)"
    return None


def load_members(folders: list[str | Path]):
    """The member models (eval mode) and the tokenizer they share; a folder whose tokenizer differs from the
    first's is named with what differs."""
    folders = [Path(folder) for folder in folders]
    if not folders:
        raise ValueError("An ensemble needs at least one member folder.")
    tokenizer = AutoTokenizer.from_pretrained(folders[0])
    models = []
    for folder in folders:
        if folder != folders[0]:
            difference = _same_tokenizer(tokenizer, AutoTokenizer.from_pretrained(folder))
            if difference is not None:
                raise ValueError(f"{folder}: its tokenizer differs from {folders[0]}'s in {difference}; the members "
                                 "of an ensemble read and write the same tokens.")
        models.append(AttnSeq2SeqForConditionalGeneration.from_pretrained(folder).eval())
    return models, tokenizer


def build_ensemble(folders: list[str | Path]):
    """`(ensemble, tokenizer)` from saved member folders."""
    models, tokenizer = load_members(folders)
    return AttnSeq2SeqEnsembleForConditionalGeneration.from_members(models), tokenizer


def save_ensemble(folders: list[str | Path], output: str | Path) -> Path:
    """Write the ensemble of `folders` as a Hub-ready model folder at `output` (replaced whole and atomically);
    `metrics.json` names the members and carries the first member's showcase examples (the demo's inputs)."""
    ensemble, tokenizer = build_ensemble(folders)
    metrics = {"ensemble_members": [str(Path(folder).resolve()) for folder in folders]}
    first_metrics = Path(folders[0]) / "metrics.json"
    if first_metrics.is_file():
        examples = json.loads(first_metrics.read_text()).get("examples")
        if examples:
            metrics["examples"] = examples
    return write_model_folder(output, ensemble, tokenizer, metrics=metrics)


__all__ = ["build_ensemble", "load_members", "save_ensemble"]
