"""Fine-tuning a converged date model with `--init-from`: validation before and after, at the preset's from-scratch
learning rate and at a tenth of it, for short and whole runs. Writes FINE_TUNING.json and RESULTS.md's section.

    python -m benchmarks.fine_tuning [--base outputs/date-fast/model]

Without `--base`, trains the converged model first (`--task date --preset fast`, seed 0). Each fine-tuning run draws
its data with another seed (1), so the validation split is new to the model. One run at a time, on all threads.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import FINE_TUNING_PATH, rewrite_results
from training.runs import RunFolder


PRESET = "fast"


def train(output_dir: Path, *extra: str) -> tuple[dict, float]:
    started = time.perf_counter()
    command = [sys.executable, "-m", "training.train", "--task", "date", "--preset", PRESET,
               "--output-dir", str(output_dir), *extra]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads((RunFolder(output_dir).model / "metrics.json").read_text()), time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, default=None, help="a converged date model folder (else trained here)")
    parser.add_argument("--steps", type=int, nargs="+", default=[20, 100, 0], help="0: the preset's whole length")
    args = parser.parse_args(argv)
    from hf_attn_seq2seq.presets import load_preset

    from_scratch = load_preset(PRESET)["training"]["learning_rate"]
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        base = args.base
        if base is None:
            base_metrics, _ = train(scratch / "base")
            base = RunFolder(scratch / "base").model
            print(f"base model: test exact match {base_metrics['test_exact_match']:.2f}")
        runs = []
        for steps in args.steps:
            for factor in (1.0, 0.1):
                learning_rate = from_scratch * factor
                extra = ["--init-from", str(base), "--seed", "1", "--set", f"learning_rate={learning_rate}"]
                if steps:
                    extra += ["--set", f"max_steps={steps}"]
                metrics, seconds = train(scratch / f"tuned-{steps}-{factor}", *extra)
                tuning = metrics["fine_tuning"]
                runs.append({"steps": steps or "preset", "learning_rate": learning_rate, "factor": factor,
                             "validation_before": tuning["validation_before"],
                             "validation_after": tuning["validation_after"], "kept": tuning["kept"],
                             "test_exact_match": metrics["test_exact_match"], "seconds": round(seconds, 1)})
                print(runs[-1])
    given = sys.argv[1:] if argv is None else argv
    record = {"command": " ".join(["python -m benchmarks.fine_tuning", *given]),
              "preset": PRESET, "from_scratch_learning_rate": from_scratch, "runs": runs,
              "base": str(args.base) if args.base else f"python -m training.train --task date --preset {PRESET}"}
    FINE_TUNING_PATH.write_text(json.dumps(record, indent=2) + "\n")
    rewrite_results()
    return record


if __name__ == "__main__":
    main()
