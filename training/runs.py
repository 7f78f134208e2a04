"""A training run's output folder: its layout, and what keeps runs in one folder apart (a lock, the run's identity,
checkpoint selection).

- `RunFolder`: the one place that knows the folder's layout.

- `hold_output_dir_lock`: one run per output folder at a time (a second one refuses instead of racing it).
- `check_run_identity`: the folder records what its run is (`run.json`: task, preset, overrides, data, seed); a
  command that is a different run refuses to resume it or to train into it, unless told to overwrite.
- `last_complete_checkpoint`: the newest checkpoint that can be resumed; incomplete ones are moved aside, never
  deleted.
"""

import fcntl
import json
import logging
import os
import shutil
import time
from pathlib import Path


logger = logging.getLogger("training.runs")

RUN_FILE = "run.json"
LOCK_FILE = ".lock"
# Settings that may change when a run is resumed: how long it trains and how it reports, not what it trains.
RESUMABLE_CHANGES = frozenset({"num_train_epochs", "max_steps", "logging_steps", "eval_steps", "save_steps",
                               "save_total_limit", "per_device_eval_batch_size", "dataloader_num_workers"})
IDENTITY_ARGS = ("task", "preset", "dataset", "dataset_config", "data_files", "source_lang", "target_lang",
                 "num_examples", "languages", "max_train_examples", "max_eval_examples", "max_source_length",
                 "max_target_length", "vocab_size", "seed", "init_from")


class RunFolder:
    """A run's output folder (`--output-dir`):

        run.json      the run's identity (`check_run_identity`)
        .lock         held while a run trains there (`hold_output_dir_lock`)
        checkpoints/  Trainer checkpoints, for --resume
        tokenizer/    the tokenizer built for the run, read again by --resume
        model/        the Hub-ready folder the run exports
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.run_file = self.root / RUN_FILE
        self.lock_file = self.root / LOCK_FILE
        self.checkpoints = self.root / "checkpoints"
        self.tokenizer = self.root / "tokenizer"
        self.model = self.root / "model"

    def holds_results(self) -> bool:
        """Whether the folder holds what a run produced: a checkpoint (complete or not) or an exported model."""
        return self.model.exists() or (self.checkpoints.is_dir() and any(self.checkpoints.iterdir()))

    def discard_training_state(self) -> None:
        """Remove an old run's checkpoints and tokenizer (its exported model stays until the new one replaces it)."""
        for stale in (self.checkpoints, self.tokenizer):
            shutil.rmtree(stale, ignore_errors=True)


class OutputDirInUse(SystemExit):
    pass


def hold_output_dir_lock(output_dir: Path):
    """Take the folder's lock for the life of this process; refuse when another run holds it. Returns the open lock
    file (keep a reference: closing it releases the lock)."""
    handle = open(RunFolder(output_dir).lock_file, "a+")  # held until the run ends
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise OutputDirInUse(f"{output_dir} is in use by another training run ({holder}); wait for it to finish or "
                             "choose another --output-dir.") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return handle


def run_identity(args) -> dict:
    """What makes a run this run: its task, preset, overrides, data and seed (not where or how it reports)."""
    identity = {name: getattr(args, name) for name in IDENTITY_ARGS}
    identity["overrides"] = sorted(args.overrides)
    return identity


def _override_keys(overrides: list[str]) -> dict[str, str]:
    return dict(item.partition("=")[::2] for item in overrides)


def identity_differences(recorded: dict, current: dict, resuming: bool) -> list[str]:
    """The settings in which two identities differ (when resuming, a longer or differently reported schedule is the
    same run)."""
    differences = [name for name in IDENTITY_ARGS if recorded.get(name) != current.get(name)]
    old, new = _override_keys(recorded.get("overrides", [])), _override_keys(current.get("overrides", []))
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key) and not (resuming and key in RESUMABLE_CHANGES):
            differences.append(f"--set {key}")
    return differences


def check_run_identity(output_dir: Path, identity: dict, resuming: bool, overwrite: bool) -> None:
    """Refuse a command that is not the run the folder holds; record the identity of a run that may go on."""
    folder = RunFolder(output_dir)
    record = folder.run_file
    if record.exists() and folder.holds_results():  # a run that stopped before it saved anything is no loss
        try:
            recorded = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            recorded = error
        if not isinstance(recorded, dict):
            if not overwrite:
                why = recorded if isinstance(recorded, Exception) else "not a JSON object"
                raise SystemExit(
                    f"{record} is not a run record this program can read ({why}); refusing to train into or resume "
                    "the run it stood for. Repair or move the file away, or pass --overwrite-output-dir to start "
                    "over there."
                )
            recorded = {}
        differences = identity_differences(recorded, identity, resuming)
        if differences and not overwrite:
            action = "resume" if resuming else "train into"
            raise SystemExit(
                f"{output_dir} holds another run (it differs in: {', '.join(differences)}); refusing to {action} it. "
                "Use another --output-dir, repeat the original command, or pass --overwrite-output-dir to start over "
                "there."
            )
        if differences and overwrite:  # the user asked for the old run to go
            folder.discard_training_state()
    elif resuming and not record.exists() and folder.holds_results():
        logger.warning("%s has no %s (written by an older version): resuming without checking that the command "
                       "matches the run", output_dir, RUN_FILE)
    temporary = record.with_name(f".{RUN_FILE}.{os.getpid()}")
    temporary.write_text(json.dumps(identity, indent=1, sort_keys=True) + "\n")
    os.replace(temporary, record)


def _step(path: Path) -> int:
    return int(path.name.rpartition("-")[2])


def _resumable(checkpoint: Path) -> str | None:
    """None when the checkpoint can be resumed, else why not."""
    try:
        json.loads((checkpoint / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return "no readable trainer_state.json (the save was cut off)"
    weights = checkpoint / "model.safetensors"
    if weights.exists():
        from safetensors import safe_open

        try:
            with safe_open(str(weights), framework="pt"):  # checks that the header's tensors lie inside the file
                pass
        except Exception as error:  # any failure to read means not resumable
            return f"model.safetensors cannot be read ({error})"
    return None


def _checkpoints(checkpoint_dir: Path) -> list[Path]:
    """Trainer's `checkpoint-N` folders, oldest first."""
    return sorted((p for p in checkpoint_dir.glob("checkpoint-*") if p.name.rpartition("-")[2].isdigit()), key=_step)


def complete_checkpoints(checkpoint_dir: Path) -> list[Path]:
    """The checkpoints that can be resumed (or averaged), oldest first; incomplete ones are left where they are."""
    return [checkpoint for checkpoint in _checkpoints(checkpoint_dir) if _resumable(checkpoint) is None]


def last_complete_checkpoint(checkpoint_dir: Path) -> Path | None:
    """The newest checkpoint that can be resumed. Newer ones that cannot (a run killed mid-save, truncated weights)
    are moved aside to `incomplete-checkpoint-N-<time>`, out of the Trainer's way, and never deleted."""
    for checkpoint in reversed(_checkpoints(checkpoint_dir)):
        problem = _resumable(checkpoint)
        if problem is None:
            return checkpoint
        aside = checkpoint.with_name(f"incomplete-{checkpoint.name}-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(checkpoint, aside)
        logger.warning("%s: %s; moved aside to %s, falling back to the previous checkpoint", checkpoint.name,
                       problem, aside.name)
    return None
