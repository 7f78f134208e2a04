"""2 MB pages for PyTorch's CPU allocator, on the translation CLI's training, side by side.

    python -m benchmarks.huge_pages --dataset ../shared/data/multi30k

The training CLI sets THP_MEM_ALLOC_ENABLE=1 (training/__init__.py): PyTorch's CPU allocator then asks the kernel for
2 MB pages for buffers of 2 MB or more. torch reads the variable once per process, so each measurement is a run of
`training.train` of its own: the `translation` preset on the first 12,800 Multi30k de→en pairs for one epoch of 100
steps (same data, batches, model, optimizer and label smoothing), with the variable at 0 and at 1 in turn; the two
alternate, so drifts of the machine's speed reach both. Records Trainer's training time, the process's CPU time in
the kernel and its minor page faults, in TRANSLATION.json and RESULTS.md (section 6).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.report import TRANSLATION_PATH, rewrite_results


SETTINGS = {"4 KB pages (THP_MEM_ALLOC_ENABLE=0)": "0", "2 MB pages (THP_MEM_ALLOC_ENABLE=1, the CLI's)": "1"}
TRAIN_EXAMPLES = 12_800


def train_command(dataset: str, output_dir: Path) -> list[str]:
    return [sys.executable, "-m", "training.train", "--task", "translation", "--dataset", dataset,
            "--source-lang", "de", "--target-lang", "en", "--test-split", "validation", "--preset", "translation",
            "--max-train-examples", str(TRAIN_EXAMPLES), "--max-eval-examples", "100",
            "--set", "num_train_epochs=1", "--allow-unconverged", "--output-dir", str(output_dir)]


def measure(value: str, dataset: str, threads: int) -> dict:
    """A training run with THP_MEM_ALLOC_ENABLE=value: Trainer's train_runtime, the run's kernel time and faults."""
    environment = dict(os.environ, THP_MEM_ALLOC_ENABLE=value, OMP_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1",
                       HF_DATASETS_OFFLINE="1", TQDM_DISABLE="1")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(train_command(dataset, Path(folder) / "run"), env=environment, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log = json.loads((Path(folder) / "run" / "model" / "training_log.json").read_text())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"train_seconds": round(next(entry["train_runtime"] for entry in log if "train_runtime" in entry), 1),
            "kernel_seconds": round(after.ru_stime - before.ru_stime, 1),
            "user_seconds": round(after.ru_utime - before.ru_utime, 1),
            "minor_faults": after.ru_minflt - before.ru_minflt}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="../shared/data/multi30k")
    parser.add_argument("--repeats", type=int, default=2, help="runs per setting")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    thp_mode = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    runs = {name: [] for name in SETTINGS}
    for repeat in range(args.repeats):
        for name, value in SETTINGS.items():
            runs[name].append(measure(value, args.dataset, args.threads))
            print(repeat, name, runs[name][-1], flush=True)
    settings = {name: {"runs": measured,
                       **{f"median_{key}": statistics.median(run[key] for run in measured)
                          for key in ("train_seconds", "kernel_seconds", "minor_faults")}}
                for name, measured in runs.items()}
    off, on = (settings[name]["median_train_seconds"] for name in SETTINGS)
    return {"kernel_setting": thp_mode.read_text().strip() if thp_mode.exists() else None, "threads": args.threads,
            "train_examples": TRAIN_EXAMPLES, "settings": settings, "speedup": round(off / on, 2)}


if __name__ == "__main__":
    measured = main()
    recorded = json.loads(TRANSLATION_PATH.read_text()) if TRANSLATION_PATH.exists() else {}
    recorded["huge_pages"] = measured
    TRANSLATION_PATH.write_text(json.dumps(recorded, indent=1, ensure_ascii=False) + "\n")
    print(rewrite_results())
