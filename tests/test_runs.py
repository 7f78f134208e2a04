"""One output folder, one run: the lock, the run's identity, and checkpoints that are never deleted."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from training.runs import LOCK_FILE, RUN_FILE, last_complete_checkpoint
from training.train import main


TINY = ["--task", "reverse", "--num-examples", "120", "--set", "hidden_size=16", "--set", "embedding_size=8",
        "--set", "num_train_epochs=1", "--num-heatmaps", "0", "--allow-unconverged"]


def train(output_dir, *extra):
    return main([*TINY, "--output-dir", str(output_dir), *extra])


def test_a_different_run_refuses_to_resume_or_train_into_the_folder(tmp_path):
    folder = tmp_path / "run"
    train(folder)
    weights = (folder / "model" / "model.safetensors").read_bytes()
    recorded = json.loads((folder / RUN_FILE).read_text())
    assert recorded["task"] == "reverse" and recorded["seed"] == 0
    with pytest.raises(SystemExit, match=r"holds another run \(it differs in: --set hidden_size\); refusing to "
                                         r"train into it"):
        train(folder, "--set", "hidden_size=24")
    with pytest.raises(SystemExit, match=r"differs in: seed\); refusing to resume it"):
        train(folder, "--seed", "3", "--resume")
    assert (folder / "model" / "model.safetensors").read_bytes() == weights  # nothing of the first run changed
    assert json.loads((folder / RUN_FILE).read_text()) == recorded
    # the same run may go on, for longer; told to, another run may start over there
    train(folder, "--resume", "--set", "num_train_epochs=2")
    train(folder, "--set", "hidden_size=24", "--overwrite-output-dir")
    assert json.loads((folder / RUN_FILE).read_text())["overrides"] != recorded["overrides"]


def test_a_date_run_in_other_languages_is_another_run(tmp_path):
    """The languages choose the data and the tokenizer's alphabet: resuming with others would mix two runs."""
    folder = tmp_path / "run"
    date_run = ["--task", "date", "--num-examples", "120", "--set", "hidden_size=16", "--set", "embedding_size=8",
                "--set", "num_train_epochs=1", "--num-heatmaps", "0", "--allow-unconverged",
                "--output-dir", str(folder)]
    main([*date_run, "--languages", "ko", "de"])
    assert json.loads((folder / RUN_FILE).read_text())["languages"] == ["de", "ko"]  # in one order, however given
    with pytest.raises(SystemExit, match=r"differs in: languages\); refusing to resume it"):
        main([*date_run, "--languages", "de", "--resume"])
    main([*date_run, "--languages", "de", "ko", "de", "--resume", "--set", "num_train_epochs=2"])  # the same run


def test_a_second_run_into_a_folder_in_use_refuses(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    holder = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from training.runs import hold_output_dir_lock
        lock = hold_output_dir_lock(Path({str(folder)!r}))
        print("locked", flush=True)
        time.sleep(60)
    """)
    root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True, cwd=root)
    try:
        assert process.stdout.readline().strip() == "locked"
        with pytest.raises(SystemExit, match=r"is in use by another training run \(pid \d+\)"):
            train(folder)
        assert not (folder / "model").exists()
    finally:
        process.kill()
        process.wait()
    train(folder)  # the lock goes with the process that held it
    assert (folder / "model" / "model.safetensors").exists() and (folder / LOCK_FILE).exists()


def make_checkpoint(folder: Path, step: int, state: bool = True, weights: bytes | None = None) -> Path:
    checkpoint = folder / f"checkpoint-{step}"
    checkpoint.mkdir(parents=True)
    if state:
        (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    if weights is not None:
        (checkpoint / "model.safetensors").write_bytes(weights)
    (checkpoint / "optimizer.pt").write_bytes(b"optimizer state")
    return checkpoint


def test_checkpoints_that_cannot_be_resumed_are_moved_aside_never_deleted(tmp_path):
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.ones(100)}, tmp_path / "good.safetensors")
    good = (tmp_path / "good.safetensors").read_bytes()
    checkpoints = tmp_path / "checkpoints"
    oldest = make_checkpoint(checkpoints, 100, weights=good)
    make_checkpoint(checkpoints, 200, weights=good[:-40])  # truncated weights
    make_checkpoint(checkpoints, 300, state=False, weights=good)  # cut off before trainer_state.json
    assert last_complete_checkpoint(checkpoints) == oldest
    aside = sorted(p.name.rsplit("-", 2)[0] for p in checkpoints.glob("incomplete-*"))
    assert aside == ["incomplete-checkpoint-200", "incomplete-checkpoint-300"]
    for folder in checkpoints.glob("incomplete-*"):
        assert (folder / "optimizer.pt").read_bytes() == b"optimizer state"  # nothing deleted


def test_resume_with_no_resumable_checkpoint_keeps_them_all(tmp_path):
    folder = tmp_path / "run"
    train(folder)
    checkpoints = folder / "checkpoints"
    for checkpoint in checkpoints.glob("checkpoint-*"):
        (checkpoint / "trainer_state.json").unlink()
    before = sorted(path.name for path in checkpoints.rglob("*") if path.is_file())
    with pytest.raises(SystemExit, match="no complete checkpoint"):
        train(folder, "--resume")
    after = sorted(path.name for path in checkpoints.rglob("*") if path.is_file())
    assert after == before  # moved aside, every file still there


def test_a_run_that_stopped_before_saving_anything_does_not_block_the_corrected_command(tmp_path):
    folder = tmp_path / "run"
    translation = ["--task", "translation", "--source-lang", "de", "--target-lang", "en", "--output-dir", str(folder)]
    with pytest.raises(Exception, match="no such file or folder"):
        main([*translation, "--dataset", str(tmp_path / "typo.tsv")])
    assert (folder / RUN_FILE).exists() and not (folder / "checkpoints").exists()
    train(folder)  # another run, but the first one left nothing to lose
    assert json.loads((folder / RUN_FILE).read_text())["task"] == "reverse"
