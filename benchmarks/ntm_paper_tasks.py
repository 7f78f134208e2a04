"""The Neural Turing Machine against its LSTM baseline on the paper's other tasks (Graves et al. 2014, sections
4.2-4.5): repeat copy, associative recall, dynamic N-grams and priority sort.

    python -m benchmarks.ntm_paper_tasks --minutes 30 --seeds 0 1 --tasks repeat_copy associative_recall

For each task and seed, `training.train --task TASK` trains the task's NTM preset (the one `--task TASK` trains with
when no preset is named) and `--preset lstm` side by side, each a process on one CPU thread (the two share the 2
cores), for the same wall time, on the same data (the seed's task), with the same optimizer, batch size and schedule
(the presets' own: Adam 1e-3, batches of 16, gradients clipped at 10). Each keeps its checkpoint best on the
validation split in the task's metric (bit errors per sequence; cost per sequence for N-grams); every test split, the
generalisation splits included, is scored once at the end. Records NTM_PAPER_TASKS.json (each run's validation curve
with it) and RESULTS.md section 14, and copies each task's memory picture (the first seed's NTM) to
docs/ntm_<task>_memory_access.png. Each task has its budget: runs of a task's budget add their seeds to it, a run of
another budget replaces the task's rows; `--report-only` rebuilds a task's rows from the output folders of finished
runs.
"""

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.ntm_copy import run_pair
from benchmarks.report import NTM_PAPER_TASKS_PATH, rewrite_results
from hf_attn_seq2seq.data.ntm_paper_tasks import NGRAM_CONTEXT, PAPER_TASKS
from hf_attn_seq2seq.presets import TASK_PRESETS
from training.runs import RunFolder


MODELS = ("ntm", "lstm")  # the record's names for the two sides


def presets(task: str) -> dict[str, str]:
    """The preset of each side: the task's own NTM preset, and the LSTM baseline."""
    return {"ntm": TASK_PRESETS[task], "lstm": "lstm"}


def picture_path(task: str) -> Path:
    return Path(f"docs/ntm_{task}_memory_access.png")


def read_pair(task: str, seed: int, root: Path) -> dict:
    results = {}
    for side, preset in presets(task).items():
        folder = RunFolder(root / task / f"{preset}-seed{seed}").model
        results[side] = json.loads((folder / "metrics.json").read_text()) | {"folder": str(folder)}
    return results


def summary(metrics: dict, metric: str) -> dict:
    """What the report needs from one run's metrics.json."""
    return {
        "parameters": metrics["parameters"],
        "train_seconds": metrics["train_seconds"],
        "train_steps": metrics["train_steps"],
        "best_checkpoint_step": metrics["best_checkpoint_step"],
        "validation": metrics[f"validation_{metric}"],
        "curve": [[entry["step"], round(entry["seconds"], 1), entry[f"eval_{metric}"]]
                  for entry in metrics["evaluations"] if f"eval_{metric}" in entry],
        "test": metrics["test"],
    }


def reads_after_same_context(bits: np.ndarray, written_rows: np.ndarray, read_weights: np.ndarray,
                             first_step: int = 30) -> dict:
    """How an N-grams NTM reads: at each step from `first_step` on, the share of the read weighting on the rows that
    hold the bit which followed an earlier occurrence of the current context (the last `NGRAM_CONTEXT` bits). Reading
    those rows with equal weights gives the mean of what followed the context before, which is what the Bayesian
    optimum's counts estimate.

    `bits` `(sequences, steps)`; `written_rows` `(sequences, steps)`: the row the write head weights most at each step;
    `read_weights` `(sequences, steps, rows)`. The write head stores its input one step behind (the row written at
    step w holds bit w - 1), and a step reads the memory before its own write, so a row counts when its latest write
    came at a step w < t with bits w - 6 .. w - 2 equal to bits t - 4 .. t. `chance` is the share of the rows written
    so far that count: what a read spread evenly over them would put there.
    """
    shares, chance = [], []
    for sequence_bits, rows, weights in zip(bits, written_rows, read_weights):
        latest_write = {}  # row -> the step that wrote it last
        for step in range(len(sequence_bits)):
            if step >= first_step:
                context = tuple(sequence_bits[step - NGRAM_CONTEXT + 1 : step + 1])
                following = [row for row, written in latest_write.items() if written > NGRAM_CONTEXT
                             and tuple(sequence_bits[written - NGRAM_CONTEXT - 1 : written - 1]) == context]
                if following:
                    shares.append(float(weights[step, following].sum()))
                    chance.append(len(following) / len(latest_write))
            latest_write[int(rows[step])] = step
    if not shares:
        raise ValueError("No step has an earlier occurrence of its context; give longer sequences.")
    return {"steps": len(shares), "mean": statistics.fmean(shares), "median": statistics.median(shares),
            "chance": statistics.fmean(chance)}


def ngram_memory_use(folder: Path, seed: int, sequences: int = 64) -> dict:
    """`reads_after_same_context` for the NTM in `folder` on the first `sequences` test sequences of `seed`'s task."""
    import torch
    from transformers import AutoModel

    from hf_attn_seq2seq.data.ntm_paper_tasks import NGramCollator, load_ngram_task

    rows = load_ngram_task(num_examples=1, seed=seed)["test"].select(range(sequences))
    batch = NGramCollator()(list(rows))
    model = AutoModel.from_pretrained(folder).eval()
    with torch.no_grad():
        output = model(batch["inputs"], output_memory_access=True)
    return {"sequences": sequences, **reads_after_same_context(
        batch["inputs"][:, :, 0].long().numpy(), output.write_weights[:, :, 0].argmax(-1).numpy(),
        output.read_weights[:, :, 0].numpy())}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="training wall time of each model")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--tasks", nargs="+", choices=sorted(PAPER_TASKS), default=sorted(PAPER_TASKS))
    parser.add_argument("--output-dir", type=Path, default=Path("outputs/ntm-paper-tasks"))
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: rebuild the record from the output folders of finished runs")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    previous = json.loads(NTM_PAPER_TASKS_PATH.read_text()) if NTM_PAPER_TASKS_PATH.exists() else {}
    tasks = {task: {"minutes": previous["minutes"], **entry} if "minutes" in previous else entry
             for task, entry in previous.get("tasks", {}).items()}  # records before budgets were per task
    for task in args.tasks:
        metric = PAPER_TASKS[task].metric
        root = args.output_dir / task
        root.mkdir(parents=True, exist_ok=True)
        # seeds of the same budget add up; another budget starts the task afresh
        seeds = dict(tasks[task]["seeds"]) if tasks.get(task, {}).get("minutes") == args.minutes else {}
        for seed in args.seeds:
            if args.report_only:
                pair = read_pair(task, seed, args.output_dir)
            else:
                runs = run_pair(seed, args.minutes, root, task, tuple(presets(task).values()))
                pair = {side: runs[preset] for side, preset in presets(task).items()}
            seeds[str(seed)] = {preset: summary(result, metric) for preset, result in pair.items()}
            print(f"{task} seed {seed}: " + ", ".join(
                f"{preset} {pair[preset][f'validation_{metric}']:.2f} {metric.replace('_', ' ')} on validation"
                for preset in MODELS), flush=True)
        first_seed = min(seeds, key=int)
        first_ntm = RunFolder(root / f"{presets(task)['ntm']}-seed{first_seed}").model
        entry = {"metric": metric, "minutes": args.minutes, "presets": presets(task),
                 "seeds": dict(sorted(seeds.items(), key=lambda item: int(item[0])))}
        # The picture and the reading come from the first seed's NTM; when its folder is not under this output dir
        # (seeds recorded from separate runs), the record keeps what was measured on it before.
        kept = tasks[task] if tasks.get(task, {}).get("minutes") == args.minutes else {}
        if (first_ntm / "memory_access.png").is_file():
            picture_path(task).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(first_ntm / "memory_access.png", picture_path(task))
            entry["picture"] = {"path": str(picture_path(task)), "seed": first_seed}
        elif kept.get("picture", {}).get("seed") == first_seed:
            entry["picture"] = kept["picture"]
        if task == "ngrams":
            if first_ntm.is_dir():
                entry["memory_use"] = {"seed": first_seed, **ngram_memory_use(first_ntm, int(first_seed))}
            elif kept.get("memory_use", {}).get("seed") == first_seed:
                entry["memory_use"] = kept["memory_use"]
        tasks[task] = entry
    commands = previous.get("commands", [])
    record = {
        "commands": commands + ["python -m benchmarks.ntm_paper_tasks " + " ".join(sys.argv[1:] if argv is None
                                                                                      else argv)],
        "wall_seconds": previous.get("wall_seconds", 0) + round(time.perf_counter() - started),
        "tasks": dict(sorted(tasks.items())),
        "notes": previous.get("notes", []),  # what the figures alone do not say (written by hand)
    }
    NTM_PAPER_TASKS_PATH.write_text(json.dumps(record, indent=1) + "\n")
    rewrite_results()
    return record


if __name__ == "__main__":
    main()
