"""The Neural Turing Machine's training step before and after a change of its code, side by side in one run.

    python -m benchmarks.ntm_step                        # against c361e8d, before both heads were addressed at once
    python -m benchmarks.ntm_step --before <commit> --rounds 5
    python -m benchmarks.ntm_step --compiled             # the working tree's step as it is and compiled

As `benchmarks.layout_speed`: the commit's files are unpacked into a temporary folder; each round runs the same
measuring script once on the old tree and once on the working tree, each in its own one-thread process, alternating
so that drifts in the machine's speed reach both alike. Measured: one training step (forward, backward, Adam) of the
`ntm` preset (LSTM controller) and of `ntm-feedforward` on a batch of 16 training rows of every bit-vector task, the
model built from the same seed in both trees. Figures are medians over rounds; each ratio is after / before. The
step's arithmetic is the same (the outputs agree to float rounding: tests/test_ntm.py checks the model against the
paper's step written out head by head), so a ratio below 1 is time the NTM's training gains on every task.

With `--compiled` both sides are the working tree, one running the memory step as it is and one through
`NTMModel.compile_memory_step` (the `torch_compile` training setting); each process compiles once per preset and
task, in a warm-up step that is not timed and is reported on its own.
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
COMPILED_RESULTS_PATH = Path(__file__).with_name("NTM_COMPILED_STEP.json")
WARM_UP_SUFFIX = ": warm-up"  # the untimed first step of a measurement (with --compiled, the compile)
PRESETS = ("ntm", "ntm-feedforward")
BATCH_SIZE = 16


def measure(repeats: int, compiled: bool = False) -> dict:
    """Seconds per training step (median of `repeats`) for each preset and task, in the tree on `sys.path`, and the
    seconds of each first step (a warm-up, and with `compiled` the compile)."""
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
            if compiled:
                # Each model compiles afresh: compiled code is kept per function, and the tasks' other widths would
                # otherwise recompile it for dynamic shapes (slower kernels) and, past torch's limit, not at all.
                torch.compiler.reset()
                model.compile_memory_step()
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

            times = []
            for _ in range(repeats + 1):  # the first is a warm-up
                started = time.perf_counter()
                model(**batch).loss.backward()
                optimizer.step()
                optimizer.zero_grad()
                times.append(time.perf_counter() - started)
            name = f"{preset}, {task} ({batch['inputs'].shape[1]} steps)"
            results[name] = statistics.median(times[1:])
            results[name + WARM_UP_SUFFIX] = times[0]
    return results


def worker(repeats: int, compiled: bool) -> None:
    import hf_attn_seq2seq

    results = measure(repeats, compiled)
    results["package"] = str(Path(hf_attn_seq2seq.__file__).parent)
    print(RESULT_MARK + json.dumps(results), flush=True)


def run_worker(tree: Path, repeats: int, compiled: bool = False) -> dict:
    environment = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                   "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    # this file, run as a script: the old tree may have no copy of it
    command = [sys.executable, __file__, "--worker", str(repeats)] + (["--compiled"] if compiled else [])
    completed = subprocess.run(command, cwd=tree, env=environment, capture_output=True, text=True)
    return worker_results(completed, tree, RESULT_MARK)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default=BEFORE, help="the commit to compare with (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per measurement in each round")
    parser.add_argument("--compiled", action="store_true",
                        help="compare the working tree's step as it is (before) with it compiled (after)")
    args = parser.parse_args(argv)
    runs = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as scratch:
        if args.compiled:
            sides = {"before": (REPO, False), "after": (REPO, True)}
        else:
            sides = {"before": (unpack(args.before, Path(scratch)), False), "after": (REPO, False)}
        for round_index in range(args.rounds):
            for side in ("before", "after") if round_index % 2 == 0 else ("after", "before"):
                runs[side].append(run_worker(sides[side][0], args.repeats, compiled=sides[side][1]))
            print(f"round {round_index + 1} of {args.rounds} done", flush=True)
    figures = {}
    for name in runs["after"][0]:
        if name.endswith(WARM_UP_SUFFIX):
            continue
        before = statistics.median(run[name] for run in runs["before"])
        after = statistics.median(run[name] for run in runs["after"])
        figures[name] = {"before": before, "after": after, "ratio": after / before}
        if args.compiled:
            figures[name]["compile_seconds"] = statistics.median(run[name + WARM_UP_SUFFIX] for run in runs["after"])
        print(f"{name}: {1000 * before:.0f} ms -> {1000 * after:.0f} ms ({after / before:.2f})")
    record = {"before": "the working tree, uncompiled" if args.compiled else args.before, "rounds": args.rounds,
              "repeats": args.repeats, "batch_size": BATCH_SIZE,
              "command": "python -m benchmarks.ntm_step " + " ".join(sys.argv[1:] if argv is None else argv),
              "figures": figures}
    (COMPILED_RESULTS_PATH if args.compiled else RESULTS_PATH).write_text(json.dumps(record, indent=1) + "\n")
    from benchmarks.report import rewrite_results

    rewrite_results()
    return record


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(int(sys.argv[2]), compiled="--compiled" in sys.argv[3:])
    else:
        main()
