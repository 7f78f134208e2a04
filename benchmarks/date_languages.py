"""Does the main job's date model read dates as people write them, in every language and family? RESULTS.md section 12.

    python -m benchmarks.date_languages                                   # run `make train`'s command, time it, score
    python -m benchmarks.date_languages --model outputs/date-attention    # score a finished run of that command
    python -m benchmarks.date_languages --candidate "NAME" FOLDER         # record a try made while choosing the recipe

The model is scored on its own test split (from the run) and on a fresh sample drawn with another seed: the same
number of dates for every family and language the generator knows (`dates.date_families()`), none of them a training
source. The book's formats are reported on their own, with as many dates for each of them. Each fresh target is the
generator's; that the generator's targets are right is checked in the tests by an independent parser (`dateparser`).
Results go to `benchmarks/DATE_LANGUAGES.json`; RESULTS.md is re-rendered.
"""

import argparse
import json
import random
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.report import DATE_LANGUAGES_PATH
from benchmarks.toy_tasks import summarize_run
from training.runs import RunFolder


MAIN_JOB = ["--task", "date", "--preset", "fast", "--num-examples", "150000"]  # the Makefile's `train` target
MAIN_JOB_EXAMPLES = 150_000
# Seed 1 drew the samples looked at while the recipe was chosen; the figures recorded are from seed 2, which nothing
# was chosen on.
FRESH_SEED = 2
PER_FAMILY_AND_LANGUAGE = 200


def fresh_samples(training_sources: set[str], per_cell: int, seed: int) -> list:
    """`per_cell` distinct samples of every (family, language), none of them a training source; the book's family
    gets `per_cell` per format."""
    from hf_attn_seq2seq.data.dates import BOOK_FORMATS, DateSampler, date_families

    sampler, rng = DateSampler(), random.Random(f"date-fresh-{seed}")
    samples = []
    for family, languages in date_families().items():
        wanted = per_cell * len(BOOK_FORMATS) if family == "book" else per_cell
        for language in languages:
            drawn: dict[str, object] = {}
            for _ in range(100 * wanted):
                sample = sampler.sample(rng, family, language)
                if sample.source not in training_sources:
                    drawn.setdefault(sample.source, sample)
                    if len(drawn) == wanted:
                        break
            samples += drawn.values()
    return samples


def accuracy(pairs: list[tuple[object, str]]) -> dict:
    wrong = [(sample, prediction) for sample, prediction in pairs if prediction != sample.target]
    return {"size": len(pairs), "exact_match": round(100.0 * (1 - len(wrong) / len(pairs)), 2),
            "errors": [f"{s.source} -> {p} (expected {s.target})" for s, p in wrong[:5]]}


def score_fresh(model_dir: Path, training_sources: set[str], per_cell: int) -> dict:
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from hf_attn_seq2seq.evaluation import predict_texts

    model = AutoModelForSeq2SeqLM.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    samples = fresh_samples(training_sources, per_cell, FRESH_SEED)
    started = time.perf_counter()
    predictions = predict_texts(model, tokenizer, [s.source for s in samples],
                                model.generation_config.max_new_tokens, batch_size=250)
    decode_seconds = time.perf_counter() - started
    groups: dict[str, dict[str, list]] = {"family": defaultdict(list), "language": defaultdict(list),
                                          "cell": defaultdict(list), "book": defaultdict(list)}
    for sample, prediction in zip(samples, predictions):
        groups["family"][sample.family].append((sample, prediction))
        groups["language"][sample.language].append((sample, prediction))
        groups["cell"][f"{sample.family} / {sample.language}"].append((sample, prediction))
        if sample.family == "book":
            groups["book"][sample.form].append((sample, prediction))
    result = {name: {key: accuracy(pairs) for key, pairs in group.items()} for name, group in groups.items()}
    result["all"] = accuracy(list(zip(samples, predictions)))
    result["all"]["decode_seconds"] = round(decode_seconds, 1)
    result["full_width_digits"] = score_full_width(model, tokenizer, samples)
    result["worst_cells"] = sorted(result.pop("cell").items(), key=lambda item: item[1]["exact_match"])[:8]
    result["per_family_and_language"] = per_cell
    result["seed"] = FRESH_SEED
    return result


FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def score_full_width(model, tokenizer, samples: list) -> dict:
    """The Korean, Japanese and Chinese sources again with full-width digits, as their input methods often type them
    (the date tokenizer's NFKC normalization reads them as ASCII digits; the generator never writes them)."""
    from hf_attn_seq2seq.evaluation import predict_texts

    east_asian = [sample for sample in samples if sample.language in ("ko", "ja", "zh")]
    typed = [sample.source.translate(FULL_WIDTH) for sample in east_asian]
    predictions = predict_texts(model, tokenizer, typed, model.generation_config.max_new_tokens, batch_size=250)
    result = accuracy(list(zip(east_asian, predictions)))
    result["example"] = typed[0]
    return result


def score_run(folder: Path, wall_seconds: float | None) -> dict:
    from hf_attn_seq2seq.data.tasks import load_task

    run = summarize_run(folder)
    if wall_seconds is not None:
        run["wall_seconds"] = round(wall_seconds, 1)
    metrics = json.loads((RunFolder(folder).model / "metrics.json").read_text())
    run["validation_exact_match"] = metrics.get("validation_exact_match")
    training_sources = set(load_task("date", MAIN_JOB_EXAMPLES)["train"]["source"])  # the main job's data (seed 0)
    run["fresh"] = score_fresh(RunFolder(folder).model, training_sources, PER_FAMILY_AND_LANGUAGE)
    return run


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="a finished run of the main job's command")
    parser.add_argument("--candidate", nargs=2, action="append", default=[], metavar=("NAME", "FOLDER"))
    parser.add_argument("--output-dir", type=Path, default=Path("outputs/date-languages"))
    parser.add_argument("--notes", default=None, help="a paragraph shown under the tables")
    args = parser.parse_args(argv)

    data = json.loads(DATE_LANGUAGES_PATH.read_text()) if DATE_LANGUAGES_PATH.exists() else {}
    for name, folder in args.candidate:
        data.setdefault("candidates", {})[name] = summarize_run(Path(folder))
    if not args.candidate:
        folder, wall_seconds = args.model, None
        if folder is None:
            folder = args.output_dir
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "training.train", *MAIN_JOB, "--output-dir", str(folder),
                            "--overwrite-output-dir"], check=True)
            wall_seconds = time.perf_counter() - started
        data["main_job"] = score_run(folder, wall_seconds)
        print(json.dumps({k: v for k, v in data["main_job"].items() if k != "fresh"}, indent=1))
        print(json.dumps(data["main_job"]["fresh"]["family"], indent=1, ensure_ascii=False))
    if args.notes is not None:
        data["notes"] = args.notes
    DATE_LANGUAGES_PATH.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")

    from benchmarks.report import rewrite_results

    rewrite_results()
    return data


if __name__ == "__main__":
    main()
