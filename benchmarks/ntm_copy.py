"""The Neural Turing Machine against its LSTM baseline on the copy task (Graves et al. 2014, section 4.1).

    python -m benchmarks.ntm_copy --minutes 15 --seeds 0 1 2

For each seed, `training.train --task copy` trains two presets side by side (by default `--preset ntm-feedforward`,
the NTM with the paper's feedforward controller, and `--preset lstm`, the baseline; `--presets ntm lstm` for the NTM
with an LSTM controller), each a separate process on one CPU thread (the two share the 2 cores), for the same wall
time. Both read the same data (the seed's copy task), with the same optimizer, batch size and schedule; each keeps
its checkpoint with the fewest bit errors on the validation split (lengths 1-20; among equals, the lowest loss).
A run of `ntm-feedforward` whose validation errors have not come below 1 by step 2,500 starts once more from a
fresh initialisation in the time left (the preset's restart rule); the record says which attempt was kept.
Then each is scored on test sequences of lengths 1-20, on lengths 30 to 120, which no training sequence reaches, and
on lengths 1-20 at fixed shares of ones (10% to 90%). Records NTM_COPY.json and RESULTS.md section 10, and copies
the memory picture of the first converged NTM seed to docs/ntm_memory_access.png, with what the picture shows
measured: the row each head weights most at each step. Runs of the same budget add their seeds and presets to the
record (a preset run again on a seed replaces its entry); `--report-only` rebuilds it from the output folders of a
finished run.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModel

from benchmarks.report import NTM_COPY_PATH, rewrite_results
from hf_attn_seq2seq.data.ntm_tasks import COPY_TRAIN_ONES, CopyTaskCollator, load_copy_task
from training.runs import RunFolder


PRESETS = ("ntm", "lstm")  # the NTM and its baseline on the paper's other tasks (benchmarks.ntm_paper_tasks)
COPY_PRESETS = ("ntm-feedforward", "lstm")  # the copy task's pair: the NTM its README command trains, the baseline
BASELINE_PRESET = "lstm"  # the one preset without a memory
PICTURE_PATH = Path("docs/ntm_memory_access.png")


def train_command(preset: str, seed: int, minutes: float, output_dir: Path, task: str = "copy") -> list[str]:
    return [sys.executable, "-m", "training.train", "--task", task, "--preset", preset, "--seed", str(seed),
            "--output-dir", str(output_dir), "--max-train-minutes", str(minutes), "--set", "max_steps=10000000",
            "--overwrite-output-dir", "--allow-unconverged"]


def run_pair(seed: int, minutes: float, root: Path, task: str = "copy", presets: tuple[str, ...] = PRESETS) -> dict:
    """`presets` at once on `seed` of `task`, one thread each; returns each one's metrics.json."""
    environment = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1",
                       HF_DATASETS_OFFLINE="1", TQDM_DISABLE="1")
    processes = {}
    for preset in presets:
        output_dir = root / f"{preset}-seed{seed}"
        log = open(root / f"{preset}-seed{seed}.log", "w")
        processes[preset] = (subprocess.Popen(train_command(preset, seed, minutes, output_dir, task), stdout=log,
                                              stderr=subprocess.STDOUT, env=environment), log, output_dir)
    results = {}
    for preset, (process, log, output_dir) in processes.items():
        if process.wait() != 0:
            raise SystemExit(f"{preset} seed {seed} failed; see {log.name}")
        log.close()
        results[preset] = json.loads((RunFolder(output_dir).model / "metrics.json").read_text())
        results[preset]["folder"] = str(RunFolder(output_dir).model)
    return results


def memory_access(folder: Path, seed: int, length: int = 20) -> dict:
    """The row each head weights most at each step, on 32 test sequences of `length` vectors (the first `length` of
    the seed's 30-vector test sequences, which no training run saw): does the write head move on by one row per input
    step, and during the copy does the read head stay on the written rows and walk them in the same direction? (A
    model may read a step ahead and carry the vector in its controller, so the read row is not compared with the
    write row of the same index.)"""
    model = AutoModel.from_pretrained(folder).eval()
    sequences = [sequence[:length] for sequence in load_copy_task(1, seed=seed)["test_length_30"]["sequence"][:32]]
    batch = CopyTaskCollator()([{"sequence": sequence} for sequence in sequences])
    with torch.no_grad():
        output = model(batch["inputs"], output_memory_access=True)
    rows = model.config.memory_rows
    write_weights, read_weights = output.write_weights[:, :, 0], output.read_weights[:, :, 0]  # the one head of each
    written = write_weights[:, :length].argmax(-1)  # sequences x input steps
    read = read_weights[:, length + 1 : 2 * length + 1].argmax(-1)  # sequences x copy steps
    write_moves = (written[:, 1:] - written[:, :-1]) % rows
    read_moves = (read[:, 1:] - read[:, :-1]) % rows
    direction = write_moves.flatten().mode().values  # 1 (forward) or rows - 1 (back), for a model that learned
    return {
        "sequences": len(sequences),
        "length": length,
        "write_direction": "forward" if int(direction) == 1 else "back" if int(direction) == rows - 1 else "none",
        "writes_one_row_per_step": float(torch.isin(write_moves, torch.tensor([1, rows - 1])).float().mean()),
        "reads_on_written_rows": float((read[:, :, None] == written[:, None, :]).any(-1).float().mean()),
        "reads_follow_write_direction": float((read_moves == direction).float().mean()),
        "mean_peak_write_weight": float(write_weights[:, :length].max(-1).values.mean()),
        "mean_peak_read_weight": float(read_weights[:, length + 1 : 2 * length + 1].max(-1).values.mean()),
    }


def read_pair(seed: int, root: Path, presets: tuple[str, ...] = COPY_PRESETS) -> dict:
    """`presets`' metrics.json from a finished run's folders."""
    results = {}
    for preset in presets:
        folder = RunFolder(root / f"{preset}-seed{seed}").model
        results[preset] = json.loads((folder / "metrics.json").read_text()) | {"folder": str(folder)}
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=15.0, help="training wall time of each model")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--presets", nargs="+", default=list(COPY_PRESETS),
                        help="the presets trained side by side on each seed, one CPU thread each (at most 2: the "
                             "machine's cores)")
    parser.add_argument("--output-dir", type=Path, default=Path("outputs/ntm-copy"))
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: rebuild the record from the output folders of a finished run")
    args = parser.parse_args(argv)
    presets = tuple(args.presets)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    # Runs of the same length add their seeds to the record (a seed run again replaces its entry).
    previous = json.loads(NTM_COPY_PATH.read_text()) if NTM_COPY_PATH.exists() else {}
    if previous.get("minutes") != args.minutes or previous.get("train_ones") != list(COPY_TRAIN_ONES):
        previous = {}  # another budget or another training distribution: a new record
    seeds = dict(previous.get("seeds", {}))
    for seed in args.seeds:
        pair = read_pair(seed, args.output_dir, presets) if args.report_only else \
            run_pair(seed, args.minutes, args.output_dir, presets=presets)
        seeds[str(seed)] = seeds.get(str(seed), {}) | {preset: summary(result) for preset, result in pair.items()}
        print(f"seed {seed}: " + ", ".join(
            f"{preset} {pair[preset]['test']['test']['bit_errors_per_sequence']:.2f} bit errors (1-20)"
            for preset in presets), flush=True)
    seeds = dict(sorted(seeds.items(), key=lambda item: int(item[0])))
    commands = previous.get("commands") or ([previous["command"]] if "command" in previous else [])
    record = {
        "commands": commands + ["python -m benchmarks.ntm_copy " + " ".join(sys.argv[1:] if argv is None else argv)],
        "minutes": args.minutes,
        "train_ones": list(COPY_TRAIN_ONES),
        "wall_seconds": previous.get("wall_seconds", 0) + round(time.perf_counter() - started),
        "seeds": seeds,
        "notes": previous.get("notes", []),  # what the figures alone do not say (written by hand)
    }
    # The picture and the head measurements are of the copy task's own NTM preset (the README's command); those of
    # a preset whose folders are gone are kept from the previous record.
    picture_preset = next(preset for preset in COPY_PRESETS if preset != BASELINE_PRESET)
    previous_access = previous.get("memory_access", {})
    if previous_access and all(key.isdigit() for key in previous_access):
        previous_access = {"ntm": previous_access}  # records before presets other than `ntm` were measured
    record["memory_access"] = dict(previous_access)
    for preset in {preset for pair in seeds.values() for preset in pair} - {BASELINE_PRESET}:
        folders = {seed: RunFolder(args.output_dir / f"{preset}-seed{seed}").model for seed in seeds}
        measured = {seed: memory_access(folder, int(seed)) for seed, folder in folders.items() if folder.is_dir()}
        record["memory_access"][preset] = record["memory_access"].get(preset, {}) | measured
        converged = [seed for seed in measured if seeds[seed][preset]["converged"]]
        if preset == picture_preset and converged:
            PICTURE_PATH.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folders[converged[0]] / "memory_access.png", PICTURE_PATH)
            record["picture"] = {"path": str(PICTURE_PATH), "seed": converged[0], "preset": preset}
    if "picture" not in record and "picture" in previous:
        record["picture"] = previous["picture"]
    NTM_COPY_PATH.write_text(json.dumps(record, indent=1) + "\n")
    rewrite_results()
    return record


def summary(metrics: dict) -> dict:
    """What the report needs from one run's metrics.json."""
    kept = {key: metrics[key] for key in ("parameters", "train_seconds", "train_steps", "best_checkpoint_step",
                                          "validation_bit_errors_per_sequence",
                                          "seconds_to_validation_below_threshold", "test")}
    # the last evaluation during training: how far the run had drifted from its kept checkpoint when time ran out
    kept["last_validation_bit_errors_per_sequence"] = metrics["evaluations"][-1]["eval_bit_errors_per_sequence"]
    kept |= {key: metrics[key] for key in ("attempts", "kept_attempt") if key in metrics}  # a run that restarted
    return kept | {"converged": "did_not_converge" not in metrics}


if __name__ == "__main__":
    main()
