"""Training presets: named model and training settings (the JSON files beside this module), one per architecture
and one per task, each task's measured to learn it (benchmarks/RESULTS.md, section 7)."""

import json
from pathlib import Path


PRESETS_DIR = Path(__file__).parent
# The preset each task trains with when none is named: the one measured to learn it.
TASK_PRESETS = {"date": "attention", "addition": "addition", "reverse": "reverse", "translation": "translation",
                "copy": "ntm-feedforward", "repeat_copy": "ntm", "associative_recall": "ntm", "ngrams": "ntm",
                "priority_sort": "ntm"}
DEFAULT_MODEL_TYPE = "attn_seq2seq"  # a preset without `model_type` builds the attention seq2seq


def available_presets() -> list[str]:
    return sorted(path.stem for path in PRESETS_DIR.glob("*.json"))


def load_preset(name: str) -> dict:
    path = PRESETS_DIR / f"{name}.json"
    if not path.exists():
        raise ValueError(f"Unknown preset {name!r}; expected one of {', '.join(available_presets())}.")
    preset = json.loads(path.read_text())
    return {"model_type": preset.get("model_type", DEFAULT_MODEL_TYPE), "model": dict(preset.get("model", {})),
            "training": dict(preset.get("training", {})),
            "generation": dict(preset.get("generation", {})), "convergence": dict(preset.get("convergence", {}))}


def presets_for_model_types(model_types) -> list[str]:
    """The presets that build a model of one of `model_types`."""
    return [name for name in available_presets() if load_preset(name)["model_type"] in model_types]


def convergence_threshold(task: str, preset: str | None = None) -> dict | None:
    """`{"metric", "minimum" or "maximum", "hint", "preset"}`: the validation score past which a run on `task` has not
    learned it (below the minimum, or above the maximum for an error count), stored with the preset that reaches it:
    `preset`'s own threshold for the task where it states one, else the task's own preset's; None for tasks without
    one (translation: BLEU depends on the corpus)."""
    name = preset if preset is not None and task in load_preset(preset)["convergence"] else TASK_PRESETS[task]
    threshold = load_preset(name)["convergence"].get(task)
    return None if threshold is None else {**threshold, "preset": name}


__all__ = ["DEFAULT_MODEL_TYPE", "PRESETS_DIR", "TASK_PRESETS", "available_presets", "convergence_threshold",
           "load_preset", "presets_for_model_types"]
