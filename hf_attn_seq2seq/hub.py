"""Hub-ready export: a folder that is exactly what `push_to_hub` uploads, written atomically."""

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from transformers import GenerationConfig


def generation_config_for(model_config, num_beams: int = 1, **settings) -> GenerationConfig:
    """A generation config holding only what is set here (a full dump would pin `max_length=20`)."""
    return GenerationConfig(
        decoder_start_token_id=model_config.decoder_start_token_id,
        bos_token_id=model_config.bos_token_id,
        eos_token_id=model_config.eos_token_id,
        pad_token_id=model_config.pad_token_id,
        num_beams=num_beams,
        **settings,
    )


def write_model_folder(
    folder: str | Path,
    model,
    tokenizer,
    generation_config: GenerationConfig | None = None,
    metrics: dict | None = None,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write weights (safetensors), config with `auto_map`, code, tokenizer, generation config and `metrics.json`.

    Everything is written into a temporary folder beside `folder`, which then replaces `folder` in one rename, so an
    interrupted export never leaves a half-written model. `extra(tmp_folder)` may add files (card, images).
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        if generation_config is not None:
            model.generation_config = generation_config
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if metrics is not None:
            (staging / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        if extra is not None:
            extra(staging)
        _replace_folder(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def _replace_folder(new: Path, target: Path) -> None:
    if not target.exists():
        os.replace(new, target)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
    os.replace(target, retired / target.name)
    os.replace(new, target)
    shutil.rmtree(retired, ignore_errors=True)


__all__ = ["generation_config_for", "write_model_folder"]
