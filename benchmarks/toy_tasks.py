"""Do the CLI's toy-task presets learn their tasks? Records RESULTS.md section 7.

    python -m benchmarks.toy_tasks --task addition --task reverse            # train with the default command, score
    python -m benchmarks.toy_tasks --candidate addition "attention, 20 epochs" outputs/add-att-20   # record a try

For each `--task` this runs the task's default command (`python -m training.train --task TASK --output-dir DIR`,
no other argument) in a subprocess, timing its wall clock, then scores the exported model on the task's test split
(from the run) and on fresh sources drawn with another seed, none of them in the training data, whose answers are
computed here by Python (`int(a) + int(b)`, `text[::-1]`), not taken from the generator. Strings of lengths 13-20
(the reversal task trains on 3-12) are reported as a look at generalization.

`--candidate TASK NAME FOLDER` records a run made while choosing the preset (its validation curve, test score and
time), so that RESULTS.md shows what was tried. Results go to `benchmarks/TOY_TASKS.json`; RESULTS.md is re-rendered.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.report import TOY_TASKS_PATH
from training.runs import RunFolder


FRESH_SEED = 1
FRESH_SIZE = 5000


def answer(task: str, source: str) -> str:
    """The right output for `source`, computed independently of the data generator."""
    if task == "addition":
        left, right = source.split("+")
        return str(int(left) + int(right))
    if task == "reverse":
        return source[::-1]
    raise ValueError(f"no independent answer for task {task!r}")


def score_sources(model, tokenizer, task: str, sources: list[str], max_new_tokens: int) -> dict:
    from hf_attn_seq2seq.evaluation import predict_texts

    predictions = predict_texts(model, tokenizer, sources, max_new_tokens, batch_size=250)
    wrong = [(s, p) for s, p in zip(sources, predictions) if p != answer(task, s)]
    return {"size": len(sources), "exact_match": 100.0 * (1 - len(wrong) / len(sources)),
            "errors": [f"{s} -> {p} (expected {answer(task, s)})" for s, p in wrong[:10]]}


def summarize_run(folder: Path) -> dict:
    metrics = json.loads((RunFolder(folder).model / "metrics.json").read_text())
    log = json.loads((RunFolder(folder).model / "training_log.json").read_text())
    return {
        "command": metrics["command"],
        "preset": metrics["preset"],
        "parameters": metrics["parameters"],
        "train_seconds": metrics["train_seconds"],
        "test_exact_match": metrics["test_exact_match"],
        "validation_exact_match_per_epoch": [round(e["eval_exact_match"], 2) for e in log if "eval_exact_match" in e],
        **({"did_not_converge": metrics["did_not_converge"]} if "did_not_converge" in metrics else {}),
    }


def bench_task(task: str, output_dir: Path) -> dict:
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    from hf_attn_seq2seq.data.tasks import load_task

    folder = output_dir / task
    command = [sys.executable, "-m", "training.train", "--task", task, "--output-dir", str(folder)]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    wall_seconds = time.perf_counter() - started
    result = {**summarize_run(folder), "wall_seconds": round(wall_seconds, 1)}

    model = AutoModelForSeq2SeqLM.from_pretrained(RunFolder(folder).model).eval()
    tokenizer = AutoTokenizer.from_pretrained(RunFolder(folder).model)
    max_new_tokens = model.generation_config.max_new_tokens
    training_sources = set(load_task(task)["train"]["source"])  # the default command's data (seed 0)
    fresh = fresh_sources(task, training_sources)
    result["fresh"] = {name: score_sources(model, tokenizer, task, sources, max_new_tokens)
                       for name, sources in fresh.items()}
    return result


def fresh_sources(task: str, training_sources: set[str]) -> dict[str, list[str]]:
    from hf_attn_seq2seq.data.tasks import REVERSE_LENGTHS, fresh_task_sources

    sets = {"fresh": fresh_task_sources(task, FRESH_SIZE, FRESH_SEED, exclude=training_sources)}
    if task == "reverse":
        longest = REVERSE_LENGTHS[1]
        sets[f"lengths {longest + 1}-20"] = fresh_task_sources(task, FRESH_SIZE, FRESH_SEED,
                                                               lengths=(longest + 1, 20))
    return sets


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", action="append", default=[], choices=("addition", "reverse"))
    parser.add_argument("--candidate", nargs=3, action="append", default=[], metavar=("TASK", "NAME", "FOLDER"))
    parser.add_argument("--comparison", type=Path, default=None,
                        help="results.md of `training.compare --task addition`, shown in the section")
    parser.add_argument("--notes", default=None, help="a paragraph shown under the tables")
    parser.add_argument("--output-dir", type=Path, default=Path("outputs/toy_tasks"))
    args = parser.parse_args(argv)

    data = json.loads(TOY_TASKS_PATH.read_text()) if TOY_TASKS_PATH.exists() else {}
    for task, name, folder in args.candidate:
        data.setdefault("candidates", {}).setdefault(task, {})[name] = summarize_run(Path(folder))
    for task in args.task:
        data.setdefault("final", {})[task] = bench_task(task, args.output_dir)
        print(task, json.dumps(data["final"][task], indent=1), flush=True)
    if args.notes is not None:
        data["notes"] = args.notes
    if args.comparison:
        text = args.comparison.read_text().strip().splitlines()
        command = ("python -m training.compare --task addition --with-reversal --models seq2seq peeky attention "
                   "--epochs 12")
        data["comparison"] = [f"`{command}`: {text[0][0].lower()}{text[0][1:]}"] + text[1:] + [""]
    TOY_TASKS_PATH.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")

    from benchmarks.report import rewrite_results

    rewrite_results()
    return data


if __name__ == "__main__":
    main()
