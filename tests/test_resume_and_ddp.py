"""Training survives a real SIGKILL (--resume ends where an uninterrupted run ends) and runs under torchrun DDP."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file


ROOT = Path(__file__).resolve().parents[1]
SMALL_RUN = ["--task", "reverse", "--num-examples", "2000", "--set", "hidden_size=64", "--set", "embedding_size=8",
             "--set", "learning_rate=0.01", "--num-heatmaps", "0", "--allow-unconverged"]


def train_command(output_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "training.train", *SMALL_RUN, "--output-dir", str(output_dir), *extra]


def run(command: list[str]) -> None:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]


def complete_checkpoints(checkpoint_dir: Path) -> list[Path]:
    found = []
    for path in checkpoint_dir.glob("checkpoint-*"):
        try:
            json.loads((path / "trainer_state.json").read_text())
        except (OSError, ValueError):
            continue
        found.append(path)
    return found


def test_run_killed_with_sigkill_resumes_to_the_same_weights(tmp_path):
    schedule = ("--set", "num_train_epochs=4", "--set", "per_device_train_batch_size=32", "--set", "dropout=0.1")
    run(train_command(tmp_path / "straight", *schedule))

    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    process = subprocess.Popen(train_command(tmp_path / "killed", *schedule), cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not complete_checkpoints(tmp_path / "killed" / "checkpoints") and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (tmp_path / "killed" / "model").exists()

    run(train_command(tmp_path / "killed", *schedule, "--resume"))
    straight = load_file(tmp_path / "straight" / "model" / "model.safetensors")
    resumed = load_file(tmp_path / "killed" / "model" / "model.safetensors")
    assert straight.keys() == resumed.keys()
    for name, tensor in straight.items():
        torch.testing.assert_close(resumed[name], tensor, atol=1e-5, rtol=1e-4)
    final = json.loads((tmp_path / "killed" / "model" / "metrics.json").read_text())
    assert final["test_exact_match"] == json.loads((tmp_path / "straight" / "model" / "metrics.json").read_text())[
        "test_exact_match"]


def test_resume_skips_a_half_written_checkpoint(tmp_path):
    schedule = ("--set", "num_train_epochs=2", "--set", "per_device_train_batch_size=32")
    run(train_command(tmp_path / "run", *schedule))
    checkpoints = tmp_path / "run" / "checkpoints"
    complete = sorted(complete_checkpoints(checkpoints), key=lambda p: int(p.name.split("-")[1]))
    # a save cut off after the weights: no trainer_state.json yet
    broken = checkpoints / "checkpoint-999"
    shutil.copytree(complete[-1], broken)
    (broken / "trainer_state.json").unlink()
    run(train_command(tmp_path / "run", "--set", "num_train_epochs=3", "--set", "per_device_train_batch_size=32",
                      "--resume"))
    assert not broken.exists() and len(list(checkpoints.glob("incomplete-checkpoint-999-*"))) == 1  # moved aside
    log = json.loads((tmp_path / "run" / "model" / "training_log.json").read_text())
    assert [entry["epoch"] for entry in log if "eval_exact_match" in entry][-1] == 3.0


@pytest.mark.skipif(shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
                    reason="torchrun is not installed")
def test_two_process_ddp_matches_one_process_with_the_same_global_batch(tmp_path):
    steps = ("--set", "max_steps=12", "--set", "logging_steps=1", "--set", "dropout=0.0")
    torchrun = str(Path(sys.executable).parent / "torchrun")
    run([torchrun, "--standalone", "--nproc_per_node=2", "-m", "training.train", *SMALL_RUN, "--output-dir",
         str(tmp_path / "ddp"), "--set", "per_device_train_batch_size=16", *steps])
    run(train_command(tmp_path / "single", "--set", "per_device_train_batch_size=32", *steps))

    def losses(name: str) -> list[float]:
        log = json.loads((tmp_path / name / "model" / "training_log.json").read_text())
        return [entry["loss"] for entry in log if "loss" in entry]

    ddp, single = losses("ddp"), losses("single")
    assert len(ddp) == len(single) == 12
    assert single[-1] < single[0]  # it trained
    assert ddp == pytest.approx(single, rel=1e-3)
    ddp_weights = load_file(tmp_path / "ddp" / "model" / "model.safetensors")
    single_weights = load_file(tmp_path / "single" / "model" / "model.safetensors")
    for name, tensor in single_weights.items():
        torch.testing.assert_close(ddp_weights[name], tensor, atol=1e-4, rtol=1e-3)
