"""The Neural Turing Machine against its LSTM baseline on the copy task (Graves et al. 2014, section 4.1).

    python -m benchmarks.ntm_copy --minutes 15 --seeds 0 1 2

For each seed, `training.train --task copy` trains `--preset ntm` and `--preset lstm` side by side, each a separate
process on one CPU thread (the two share the 2 cores), for the same wall time. Both read the same data (the seed's
copy task), with the same optimizer, batch size and schedule; each keeps its checkpoint with the fewest bit errors on
the validation split (lengths 1-20). Then each is scored on test sequences of lengths 1-20 and on lengths 30, 40, 60
and 80, which no training sequence reaches. Records NTM_COPY.json and RESULTS.md section 10, and copies the memory
picture of the first converged NTM seed to docs/ntm_memory_access.png.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.report import NTM_COPY_PATH, rewrite_results


PRESETS = ("ntm", "lstm")
PICTURE_PATH = Path("docs/ntm_memory_access.png")


def train_command(preset: str, seed: int, minutes: float, output_dir: Path) -> list[str]:
    return [sys.executable, "-m", "training.train", "--task", "copy", "--preset", preset, "--seed", str(seed),
            "--output-dir", str(output_dir), "--max-train-minutes", str(minutes), "--set", "max_steps=10000000",
            "--overwrite-output-dir", "--allow-unconverged"]


def run_pair(seed: int, minutes: float, root: Path) -> dict:
    """Both presets at once on `seed`, one thread each; returns each one's metrics.json."""
    environment = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1",
                       HF_DATASETS_OFFLINE="1", TQDM_DISABLE="1")
    processes = {}
    for preset in PRESETS:
        output_dir = root / f"{preset}-seed{seed}"
        log = open(root / f"{preset}-seed{seed}.log", "w")
        processes[preset] = (subprocess.Popen(train_command(preset, seed, minutes, output_dir), stdout=log,
                                              stderr=subprocess.STDOUT, env=environment), log, output_dir)
    results = {}
    for preset, (process, log, output_dir) in processes.items():
        if process.wait() != 0:
            raise SystemExit(f"{preset} seed {seed} failed; see {log.name}")
        log.close()
        results[preset] = json.loads((output_dir / "model" / "metrics.json").read_text())
        results[preset]["folder"] = str(output_dir / "model")
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=15.0, help="training wall time of each model")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--output-dir", type=Path, default=Path("outputs/ntm-copy"))
    args = parser.parse_args(argv)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    runs = {}
    for seed in args.seeds:
        runs[seed] = run_pair(seed, args.minutes, args.output_dir)
        print(f"seed {seed}: " + ", ".join(
            f"{preset} {runs[seed][preset]['test']['test']['bit_errors_per_sequence']:.2f} bit errors (1-20)"
            for preset in PRESETS), flush=True)
    record = {
        "command": "python -m benchmarks.ntm_copy " + " ".join(sys.argv[1:] if argv is None else argv),
        "minutes": args.minutes,
        "wall_seconds": round(time.perf_counter() - started),
        "seeds": {str(seed): {preset: summary(result) for preset, result in pair.items()}
                  for seed, pair in runs.items()},
    }
    converged = [seed for seed, pair in runs.items() if "did_not_converge" not in pair["ntm"]]
    if converged:
        PICTURE_PATH.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(runs[converged[0]]["ntm"]["folder"]) / "memory_access.png", PICTURE_PATH)
        record["picture"] = {"path": str(PICTURE_PATH), "seed": converged[0]}
    NTM_COPY_PATH.write_text(json.dumps(record, indent=1) + "\n")
    rewrite_results()
    return record


def summary(metrics: dict) -> dict:
    """What the report needs from one run's metrics.json."""
    return {key: metrics[key] for key in ("parameters", "train_seconds", "train_steps", "best_checkpoint_step",
                                          "validation_bit_errors_per_sequence",
                                          "seconds_to_validation_below_threshold", "test")} | {
        "converged": "did_not_converge" not in metrics}


if __name__ == "__main__":
    main()
