"""Training presets: named model and training settings (the JSON files beside this module), one per architecture
and one per task, each task's measured to learn it (benchmarks/RESULTS.md, section 7)."""

import json
from pathlib import Path


PRESETS_DIR = Path(__file__).parent
# The preset each task trains with when none is named: the one measured to learn it.
TASK_PRESETS = {"date": "attention", "addition": "addition", "reverse": "reverse", "translation": "translation"}


def available_presets() -> list[str]:
    return sorted(path.stem for path in PRESETS_DIR.glob("*.json"))


def load_preset(name: str) -> dict:
    path = PRESETS_DIR / f"{name}.json"
    if not path.exists():
        raise ValueError(f"Unknown preset {name!r}; expected one of {', '.join(available_presets())}.")
    preset = json.loads(path.read_text())
    return {"model": dict(preset.get("model", {})), "training": dict(preset.get("training", {})),
            "generation": dict(preset.get("generation", {})), "convergence": dict(preset.get("convergence", {}))}


def convergence_threshold(task: str) -> dict | None:
    """`{"metric", "minimum", "hint"}`: the validation score below which a run on `task` has not learned it, stored
    with the task's own preset (which reaches it); None for tasks without one (translation: BLEU depends on the
    corpus)."""
    return load_preset(TASK_PRESETS[task])["convergence"].get(task)


__all__ = ["PRESETS_DIR", "TASK_PRESETS", "available_presets", "convergence_threshold", "load_preset"]
