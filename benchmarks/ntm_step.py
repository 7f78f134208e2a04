"""The Neural Turing Machine's training step before and after a change of its code, side by side in one run.

    python -m benchmarks.ntm_step                        # against c361e8d, before both heads were addressed at once
    python -m benchmarks.ntm_step --before <commit> --rounds 5

As `benchmarks.layout_speed`: the commit's files are unpacked into a temporary folder; each round runs the same
measuring script once on the old tree and once on the working tree, each in its own one-thread process, alternating
so that drifts in the machine's speed reach both alike. Measured: one training step (forward, backward, Adam) of the
`ntm` preset (LSTM controller) and of `ntm-feedforward` on a batch of 16 training rows of every bit-vector task, the
model built from the same seed in both trees. Figures are medians over rounds; each ratio is after / before. The
step's arithmetic is the same (the outputs agree to float rounding: tests/test_ntm.py checks the model against the
paper's step written out head by head), so a ratio below 1 is time the NTM's training gains on every task.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.layout_speed import REPO, unpack, worker_results


BEFORE = "c361e8d"
RESULT_MARK = "NTM_STEP_RESULT "
RESULTS_PATH = Path(__file__).with_name("NTM_STEP.json")
PRESETS = ("ntm", "ntm-feedforward")
BATCH_SIZE = 16


def measure(repeats: int) -> dict:
    """Seconds per training step (median of `repeats`) for each preset and task, in the tree on `sys.path`."""
    import torch

    from hf_attn_seq2seq import NTMConfig, NTMModel
    from hf_attn_seq2seq.data.ntm_tasks import BIT_TASKS
    from hf_attn_seq2seq.data.tasks import load_task
    from hf_attn_seq2seq.presets import load_preset

    torch.set_num_threads(1)
    results = {}
    for task, spec in BIT_TASKS.items():
        rows = load_task(task, num_examples=BATCH_SIZE, seed=0)["train"]
        batch = spec.collator()([rows[index] for index in range(BATCH_SIZE)])
        for preset in PRESETS:
            torch.manual_seed(0)
            model = NTMModel(NTMConfig(**load_preset(preset)["model"], input_size=batch["inputs"].shape[-1],
                                       output_size=batch["labels"].shape[-1]))
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

            times = []
            for repeat in range(repeats + 1):  # the first is a warm-up
                started = time.perf_counter()
                model(**batch).loss.backward()
                optimizer.step()
                optimizer.zero_grad()
                if repeat:
                    times.append(time.perf_counter() - started)
            results[f"{preset}, {task} ({batch['inputs'].shape[1]} steps)"] = statistics.median(times)
    return results


def worker(repeats: int) -> None:
    import hf_attn_seq2seq

    results = measure(repeats)
    results["package"] = str(Path(hf_attn_seq2seq.__file__).parent)
    print(RESULT_MARK + json.dumps(results), flush=True)


def run_worker(tree: Path, repeats: int) -> dict:
    environment = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                   "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    # this file, run as a script: the old tree may have no copy of it
    completed = subprocess.run([sys.executable, __file__, "--worker", str(repeats)], cwd=tree, env=environment,
                               capture_output=True, text=True)
    return worker_results(completed, tree, RESULT_MARK)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default=BEFORE, help="the commit to compare with (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per measurement in each round")
    args = parser.parse_args(argv)
    runs = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as scratch:
        trees = {"before": unpack(args.before, Path(scratch)), "after": REPO}
        for round_index in range(args.rounds):
            for side in ("before", "after") if round_index % 2 == 0 else ("after", "before"):
                runs[side].append(run_worker(trees[side], args.repeats))
            print(f"round {round_index + 1} of {args.rounds} done", flush=True)
    figures = {}
    for name in runs["after"][0]:
        before = statistics.median(run[name] for run in runs["before"])
        after = statistics.median(run[name] for run in runs["after"])
        figures[name] = {"before": before, "after": after, "ratio": after / before}
        print(f"{name}: {1000 * before:.0f} ms -> {1000 * after:.0f} ms ({after / before:.2f})")
    record = {"before": args.before, "rounds": args.rounds, "repeats": args.repeats, "batch_size": BATCH_SIZE,
              "command": "python -m benchmarks.ntm_step " + " ".join(sys.argv[1:] if argv is None else argv),
              "figures": figures}
    RESULTS_PATH.write_text(json.dumps(record, indent=1) + "\n")
    from benchmarks.report import rewrite_results

    rewrite_results()
    return record


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(int(sys.argv[2]))
    else:
        main()
