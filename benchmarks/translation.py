"""Record Multi30k translation runs in benchmarks/RESULTS.md (section 6).

    python -m benchmarks.translation --run outputs/mt-de-en --run outputs/mt-en-de \\
        --beam-scoring outputs/mt-de-en/beam_scoring.json --preset-search outputs/translation_presets/summary.json

Each `--run` is the output folder of `python -m training.train --task translation ...`: its `model/metrics.json`
(test scores, parameters, wall time, command) and `model/training_log.json` (validation BLEU per epoch) are copied
into `benchmarks/TRANSLATION.json`, and RESULTS.md is written again from RESULTS.json and TRANSLATION.json.
"""

import argparse
import json
from pathlib import Path

from benchmarks.report import TRANSLATION_PATH
from training.runs import RunFolder


def summarize_run(folder: Path) -> dict:
    run_folder = RunFolder(folder)
    metrics = json.loads((run_folder.model / "metrics.json").read_text())
    log = json.loads((run_folder.model / "training_log.json").read_text())
    keys = ("command", "preset", "source_lang", "target_lang", "parameters", "train_seconds", "test_split",
            "test_bleu", "test_bleu_signature", "test_chrf", "test_bleu_lowercased_tokenized",
            "test_generation_seconds", "test_sentences", "examples", "extra_test_splits", "averaged_checkpoints")
    if "test_sentences" not in metrics:  # runs before the count was recorded: their predictions file has a line each
        predictions = run_folder.root / f"{metrics['test_split']}.predictions.txt"
        metrics["test_sentences"] = len(predictions.read_text(encoding="utf-8").splitlines())
    return {
        **{key: metrics[key] for key in keys if key in metrics},
        "validation_bleu_per_epoch": [round(entry["eval_bleu"], 2) for entry in log if "eval_bleu" in entry],
    }


def run_key(run: dict) -> tuple:
    """A row of the table: one model (its preset) in one direction."""
    return run.get("preset"), run.get("source_lang"), run.get("target_lang")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, action="append", default=[], help="a translation run's output folder")
    parser.add_argument("--beam-scoring", type=Path, default=None, help="beam_scoring.json of benchmarks.beam_scoring")
    parser.add_argument("--beam-scoring-direction", default="de→en")
    parser.add_argument("--num-beams", type=int, default=5)
    parser.add_argument("--notes", default=None, help="a paragraph shown under the tables")
    args = parser.parse_args(argv)

    data = json.loads(TRANSLATION_PATH.read_text()) if TRANSLATION_PATH.exists() else {}
    for folder in args.run:  # a new run of a preset and direction replaces that row; the others stay
        run = summarize_run(folder)
        runs = data.setdefault("runs", [])
        same = [index for index, old in enumerate(runs) if run_key(old) == run_key(run)]
        if same:
            runs[same[0]] = run
        else:
            runs.append(run)
    if args.beam_scoring:
        data["beam_scoring"] = {"direction": args.beam_scoring_direction, "num_beams": args.num_beams,
                                "results": json.loads(args.beam_scoring.read_text())}
    if args.notes is not None:
        data["notes"] = args.notes
    TRANSLATION_PATH.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")

    from benchmarks.report import rewrite_results

    print(rewrite_results())
    return data


if __name__ == "__main__":
    main()
