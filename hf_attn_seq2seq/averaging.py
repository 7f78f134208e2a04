"""Checkpoint averaging: the element-wise mean of several saved models' weights (the last checkpoints of one run, as
in Vaswani et al. 2017 and Junczys-Dowmunt et al. 2016), usually a little better than any one of them.

    from hf_attn_seq2seq.averaging import average_into

    checkpoints = sorted(Path("outputs/mt-de-en/checkpoints").glob("checkpoint-*"), key=step)[-5:]
    model = average_into(AutoModelForSeq2SeqLM.from_pretrained(checkpoints[-1]), checkpoints)
    model.save_pretrained("outputs/mt-de-en/averaged")

Weights are read from each folder's `model.safetensors` (Trainer checkpoints and `save_pretrained` folders alike),
never unpickled.
"""

from pathlib import Path

import torch
from safetensors import safe_open


WEIGHTS_FILE = "model.safetensors"


def _weights_file(folder: str | Path) -> Path:
    path = Path(folder) / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{folder} holds no {WEIGHTS_FILE}: give folders written by save_pretrained or by "
                                "Trainer's checkpoints (a sharded save is not averaged).")
    return path


def average_checkpoints(folders: list[str | Path]) -> dict[str, torch.Tensor]:
    """The mean of the weights saved in `folders`, tensor by tensor: summed in float64 and returned in each tensor's
    own dtype, so that N copies of one checkpoint average to that checkpoint exactly. Every folder must hold the same
    tensor names, shapes and dtypes (the checkpoints of one model); a folder that differs is named."""
    folders = list(folders)
    if not folders:
        raise ValueError("average_checkpoints needs at least one folder.")
    sums: dict[str, torch.Tensor] = {}
    dtypes: dict[str, torch.dtype] = {}
    for index, folder in enumerate(folders):
        with safe_open(str(_weights_file(folder)), framework="pt") as weights:
            names = set(weights.keys())
            if index and names != set(sums):
                different = sorted(names ^ set(sums))
                raise ValueError(f"{folder} holds other weights than {folders[0]} ({', '.join(different[:5])}): "
                                 "only checkpoints of one model can be averaged.")
            for name in sorted(names):
                tensor = weights.get_tensor(name)
                if not index:
                    sums[name], dtypes[name] = tensor.to(torch.float64), tensor.dtype
                elif tensor.shape != sums[name].shape or tensor.dtype != dtypes[name]:
                    raise ValueError(f"{folder}: {name} is {tuple(tensor.shape)} {tensor.dtype}, but "
                                     f"{tuple(sums[name].shape)} {dtypes[name]} in {folders[0]}: only checkpoints of "
                                     "one model can be averaged.")
                else:
                    sums[name] += tensor.to(torch.float64)
    if any(not dtype.is_floating_point for dtype in dtypes.values()):
        raise ValueError("The checkpoints hold integer tensors (a quantized model?); only float weights are averaged.")
    return {name: (total / len(folders)).to(dtypes[name]) for name, total in sums.items()}


def average_into(model, folders: list[str | Path]):
    """Load the mean of `folders`' weights (`average_checkpoints`) into `model`, which must have the same
    architecture; returns `model`. A weight the files leave out must be one the model ties to another (the output
    layer to the decoder embedding), which then takes the averaged value of the one it shares."""
    averaged = average_checkpoints(folders)
    missing, unexpected = model.load_state_dict(averaged, strict=False)
    tied = set(getattr(model, "all_tied_weights_keys", None) or getattr(model, "_tied_weights_keys", None) or {})
    untied_missing = sorted(set(missing) - tied)
    if untied_missing or unexpected:
        raise ValueError(f"The averaged weights do not fit the model: missing {untied_missing[:5]}, unexpected "
                         f"{sorted(unexpected)[:5]}. Average checkpoints of the model's own architecture.")
    return model


__all__ = ["average_checkpoints", "average_into"]
