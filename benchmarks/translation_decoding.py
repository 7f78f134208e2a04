"""Decoding time per sentence of trained translation models, side by side in one process.

    python -m benchmarks.translation_decoding --model outputs/mt-de-en --model outputs/mt-de-en-transformer

Each `--model` is the output folder of `python -m training.train --task translation ...`. Every model translates the
same test sources with its preset's search (beam size and scoring, as the CLI scored its test split) in batches of
100 sentences of similar length; the models take turns for `--rounds` rounds, so drifts of the machine's speed reach
all of them, and the median round is kept. The figures go to TRANSLATION.json and RESULTS.md (section 6): the test
decoding times of the training runs were measured on whatever day each run was made, these in one run.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from benchmarks.report import TRANSLATION_PATH, rewrite_results
from hf_attn_seq2seq.data.tasks import load_translation
from hf_attn_seq2seq.evaluation import predict_texts
from hf_attn_seq2seq.presets import load_preset
from training.runs import RunFolder


BATCH_SIZE = 100  # sentences per generate call, as the CLI scores its test split


def load_run(folder: Path):
    """The run's exported model, tokenizer, record and the `generate` arguments its preset scores with."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from training.train import beam_scoring_kwargs

    model_folder = RunFolder(folder).model
    metrics = json.loads((model_folder / "metrics.json").read_text())
    preset = load_preset(metrics["preset"])
    model = AutoModelForSeq2SeqLM.from_pretrained(model_folder, trust_remote_code=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_folder)
    search = {"num_beams": model.generation_config.num_beams,
              "max_new_tokens": model.generation_config.max_new_tokens, **beam_scoring_kwargs(preset)}
    return model, tokenizer, metrics, search


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append", required=True, help="a translation run's folder")
    parser.add_argument("--dataset", default="../shared/data/multi30k")
    parser.add_argument("--split", default="test_2016_flickr")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    runs = [load_run(folder) for folder in args.model]
    directions = {(metrics["source_lang"], metrics["target_lang"]) for _, _, metrics, _ in runs}
    if len(directions) != 1:
        raise SystemExit(f"the models translate in different directions ({sorted(directions)}); compare one at a time")
    source_lang, target_lang = directions.pop()
    sources = list(load_translation(args.dataset, source_lang, target_lang, required_splits=(args.split,))
                   [args.split]["source"])
    seconds = {folder: [] for folder in args.model}
    for _ in range(args.rounds):
        for folder, (model, tokenizer, _, search) in zip(args.model, runs):
            started = time.perf_counter()
            predict_texts(model, tokenizer, sources, batch_size=BATCH_SIZE, **search)
            seconds[folder].append(time.perf_counter() - started)
    results = []
    for folder, (model, _, metrics, search) in zip(args.model, runs):
        median = statistics.median(seconds[folder])
        results.append({
            "preset": metrics["preset"], "model_type": model.config.model_type, "folder": str(folder),
            "parameters": sum(parameter.numel() for parameter in model.parameters()),
            "num_beams": search["num_beams"], "gnmt_scoring": "custom_generate" in search,
            "rounds_seconds": [round(value, 2) for value in seconds[folder]],
            "median_seconds": round(median, 2), "ms_per_sentence": round(1000 * median / len(sources), 1),
        })
        print(results[-1], flush=True)
    return {"direction": f"{source_lang}→{target_lang}", "split": args.split, "sentences": len(sources),
            "threads": torch.get_num_threads(), "batch_size": BATCH_SIZE, "models": results}


if __name__ == "__main__":
    measured = main()
    recorded = json.loads(TRANSLATION_PATH.read_text()) if TRANSLATION_PATH.exists() else {}
    recorded["decoding"] = measured
    TRANSLATION_PATH.write_text(json.dumps(recorded, indent=1, ensure_ascii=False) + "\n")
    rewrite_results()
    print(f"recorded in {TRANSLATION_PATH} and RESULTS.md")
