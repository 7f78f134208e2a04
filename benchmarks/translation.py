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


TRANSLATION_PATH = Path(__file__).with_name("TRANSLATION.json")
PUBLISHED = ("BLEU 28.3 on test 2016 de→en (lowercased tokenized) for a bidirectional-GRU encoder with Bahdanau "
             "attention, 20.5M parameters, trained on a GPU")


def summarize_run(folder: Path) -> dict:
    metrics = json.loads((folder / "model" / "metrics.json").read_text())
    log = json.loads((folder / "model" / "training_log.json").read_text())
    keys = ("command", "preset", "source_lang", "target_lang", "parameters", "train_seconds", "test_split",
            "test_bleu", "test_bleu_signature", "test_chrf", "test_bleu_lowercased_tokenized",
            "test_generation_seconds", "examples")
    return {
        **{key: metrics[key] for key in keys if key in metrics},
        "validation_bleu_per_epoch": [round(entry["eval_bleu"], 2) for entry in log if "eval_bleu" in entry],
    }


def translation_section(data: dict) -> list[str]:
    """Markdown lines of RESULTS.md's translation section."""
    from benchmarks.beam_scoring import scoring_table  # imports the model stack; only needed here

    lines = ["## 6. Translation: Multi30k (German↔English), 2-core CPU", ""]
    runs = data.get("runs", [])
    if runs:
        lines += ["| direction | test BLEU, lowercased tokenized | test sacreBLEU | test chrF | parameters | "
                  "training wall time | test decoding |", "|---|---|---|---|---|---|---|"]
        for run in runs:
            lines.append(
                f"| {run['source_lang']}→{run['target_lang']} | **{run['test_bleu_lowercased_tokenized']:.2f}** | "
                f"{run['test_bleu']:.2f} | {run['test_chrf']:.2f} | {run['parameters']:,} | "
                f"{run['train_seconds'] / 60:.1f} min | {run['test_generation_seconds']:.0f} s |")
        lines += ["", f"Test split `{runs[0]['test_split']}` (1,000 sentences). sacreBLEU signature: "
                      f"`{runs[0]['test_bleu_signature']}` (detokenized cased output against the raw references). "
                      "The lowercased tokenized figure scores output and the `tok/*.lc.norm.tok.*` references after "
                      "Moses lowercasing, punctuation normalization and tokenization, the convention of the "
                      f"published LSTM/GRU numbers. For comparison, the published figure is {PUBLISHED}. The "
                      "training wall time covers the tokenizer, training and a beam-search validation pass after "
                      "every epoch.", ""]
        for run in runs:
            lines += [f"{run['source_lang']}→{run['target_lang']}: `{run['command']}`  ",
                      "validation sacreBLEU per epoch: " + ", ".join(f"{b:.1f}" for b in
                                                                       run["validation_bleu_per_epoch"]), ""]
    if data.get("preset_costs"):
        costs = data["preset_costs"]
        lines += [f"Cost of candidate settings (`python -m benchmarks.translation_presets`: median training step on "
                  f"length-grouped batches of {costs['batch_size']} pairs, {costs['threads']} threads):", "",
                  "| setting | parameters | ms per step | minutes per epoch |", "|---|---|---|---|"]
        lines += [f"| {name} | {c['parameters']:,} | {c['ms_per_step']:.0f} | {c['minutes_per_epoch']:.1f} |"
                  for name, c in costs["candidates"].items()]
        lines += [""]
    if data.get("beam_scoring"):
        scoring = data["beam_scoring"]
        lines += [f"Beam-search scoring, measured on the validation split ({scoring['direction']}, beam "
                  f"{scoring['num_beams']}):", ""]
        lines += scoring_table(scoring["results"]) + [""]
    if data.get("notes"):
        lines += [data["notes"], ""]
    return lines


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, action="append", default=[], help="a translation run's output folder")
    parser.add_argument("--beam-scoring", type=Path, default=None, help="beam_scoring.json of benchmarks.beam_scoring")
    parser.add_argument("--beam-scoring-direction", default="de→en")
    parser.add_argument("--num-beams", type=int, default=5)
    parser.add_argument("--notes", default=None, help="a paragraph shown under the tables")
    args = parser.parse_args(argv)

    data = json.loads(TRANSLATION_PATH.read_text()) if TRANSLATION_PATH.exists() else {}
    if args.run:
        data["runs"] = [summarize_run(folder) for folder in args.run]
    if args.beam_scoring:
        data["beam_scoring"] = {"direction": args.beam_scoring_direction, "num_beams": args.num_beams,
                                "results": json.loads(args.beam_scoring.read_text())}
    if args.notes is not None:
        data["notes"] = args.notes
    TRANSLATION_PATH.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")

    from benchmarks.run import RESULTS_PATH, write_results

    results = json.loads(RESULTS_PATH.with_suffix(".json").read_text())
    command = results.pop("command", "python -m benchmarks.run")
    print(write_results(results, command))
    return data


if __name__ == "__main__":
    main()
