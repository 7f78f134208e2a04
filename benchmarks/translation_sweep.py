"""Record the Multi30k recipe search in benchmarks/RESULTS.md (section 6): every try, its cost and its validation BLEU.

    python -m benchmarks.translation_sweep --try "dropout 0.4, 20 epochs, mean of last 4=outputs/sweep/de-en-d04"
    python -m benchmarks.translation_sweep --ensemble "2 seeds=outputs/sweep/de-en-d04,outputs/sweep/de-en-d04-seed2"

A try is the output folder of a `training.train --task translation ... --test-split validation` run: the search reads
the validation split only (test 2016 is scored once, by the chosen recipe's own run). Its `model/metrics.json` gives
the final model's validation scores with the preset's search (beam 5, GNMT scoring), the wall time and the command;
its training log the sacreBLEU of each epoch's model (beam 5, transformers' scoring). An ensemble try decodes the
validation split with the ensemble of the given runs' models (the first run's search) and costs the sum of their
runs.
"""

import argparse
import json
import time
from pathlib import Path

from benchmarks.report import TRANSLATION_SWEEP_PATH
from training.runs import RunFolder


def summarize_try(name: str, folder: Path) -> dict:
    model = RunFolder(folder).model
    metrics = json.loads((model / "metrics.json").read_text())
    if metrics.get("test_split") != "validation":
        raise SystemExit(f"{folder}: tested on {metrics.get('test_split')!r}; the recipe search reads validation "
                         "only (--test-split validation).")
    log = json.loads((model / "training_log.json").read_text())
    epochs = [entry for entry in log if "eval_bleu" in entry]
    per_epoch = [round(entry["eval_bleu"], 2) for entry in epochs]
    if metrics.get("averaged_checkpoints"):
        per_epoch = per_epoch[:-1]  # the last evaluation scored the averaged model
    return {
        "name": name,
        "direction": f"{metrics['source_lang']}→{metrics['target_lang']}",
        "command": metrics["command"],
        "parameters": metrics["parameters"],
        "minutes": round(metrics["train_seconds"] / 60, 1),
        "validation_bleu_per_epoch": per_epoch,
        "averaged_checkpoints": metrics.get("averaged_checkpoints"),
        "validation_bleu": round(metrics["test_bleu"], 2),
        "validation_bleu_lowercased_tokenized": round(metrics["test_bleu_lowercased_tokenized"], 2),
    }


def score_ensemble(name: str, folders: list[Path], dataset: Path) -> dict:
    """Validation scores of the ensemble of the runs' models, decoded with the first run's search."""
    from types import SimpleNamespace

    from hf_attn_seq2seq.data.tasks import load_translation
    from hf_attn_seq2seq.ensembling import build_ensemble
    from hf_attn_seq2seq.presets import load_preset
    from training.train import beam_scoring_kwargs, score_translations

    runs = [json.loads((RunFolder(folder).model / "metrics.json").read_text()) for folder in folders]
    source_lang, target_lang = runs[0]["source_lang"], runs[0]["target_lang"]
    ensemble, tokenizer = build_ensemble([RunFolder(folder).model for folder in folders])
    settings = ensemble.generation_config
    data = load_translation(str(dataset), source_lang, target_lang)
    started = time.perf_counter()
    scores, _ = score_translations(SimpleNamespace(dataset=str(dataset), target_lang=target_lang), data,
                                   "validation", ensemble, tokenizer, settings.max_new_tokens, settings.num_beams,
                                   prefix="validation", **beam_scoring_kwargs(load_preset(runs[0]["preset"])))
    return {
        "name": name,
        "direction": f"{source_lang}→{target_lang}",
        "command": "ensemble of " + ", ".join(str(folder) for folder in folders),
        "parameters": sum(run["parameters"] for run in runs),
        "minutes": round(sum(run["train_seconds"] for run in runs) / 60, 1),
        "members": [str(folder) for folder in folders],
        "validation_bleu": round(scores["validation_bleu"], 2),
        "validation_bleu_lowercased_tokenized": round(scores["validation_bleu_lowercased_tokenized"], 2),
        "decoding_seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--try", dest="tries", action="append", default=[], metavar="NAME=FOLDER",
                        help="a run's output folder, recorded under NAME (a try of the same name is replaced)")
    parser.add_argument("--ensemble", action="append", default=[], metavar="NAME=FOLDER,FOLDER",
                        help="the ensemble of these runs' models, scored on validation")
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/multi30k"))
    parser.add_argument("--notes", default=None, help="a paragraph shown under the table")
    args = parser.parse_args(argv)

    data = json.loads(TRANSLATION_SWEEP_PATH.read_text()) if TRANSLATION_SWEEP_PATH.exists() else {"tries": []}
    new = []
    for item in args.tries:
        name, folder = item.split("=", 1)
        new.append(summarize_try(name, Path(folder)))
    for item in args.ensemble:
        name, folders = item.split("=", 1)
        new.append(score_ensemble(name, [Path(folder) for folder in folders.split(",")], args.dataset))
    names = {entry["name"] for entry in new}
    data["tries"] = [entry for entry in data["tries"] if entry["name"] not in names] + new
    if args.notes is not None:
        data["notes"] = args.notes
    TRANSLATION_SWEEP_PATH.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")

    from benchmarks.report import rewrite_results

    print(rewrite_results())
    return data


if __name__ == "__main__":
    main()
