"""What both training loops share (`training.train` for the encoder-decoders, `training.train_ntm` for the memory
models): the model classes by type, the time limit, resuming, and the banner of a run that did not converge."""

import logging
import sys
import time
from pathlib import Path

import torch
from transformers import MarianConfig, TrainerCallback

from hf_attn_seq2seq import AttnSeq2SeqConfig, LSTMBaselineConfig, NTMConfig
from hf_attn_seq2seq.presets import DEFAULT_MODEL_TYPE
from training.runs import last_complete_checkpoint


logger = logging.getLogger("training.train")

# "marian": transformers' own Transformer (MarianMTModel), the seed's comparison model, trained by the same CLI
MODEL_CONFIGS = {DEFAULT_MODEL_TYPE: AttnSeq2SeqConfig, "marian": MarianConfig, "ntm": NTMConfig,
                 "ntm_lstm_baseline": LSTMBaselineConfig}


class NotConvergedError(SystemExit):
    """The run finished but its validation score is far below what the task's preset is known to reach."""

    def __init__(self, message: str):
        print(message, file=sys.stderr)
        super().__init__(3)


def limit_examples(data, max_train_examples: int | None, max_eval_examples: int | None = None) -> None:
    """Keep only the first `max_train_examples` of `data["train"]` and the first `max_eval_examples` of every other
    split, validation and test splits alike (all of them where None)."""
    for split in list(data):
        limit = max_train_examples if split == "train" else max_eval_examples
        if limit is not None:
            data[split] = data[split].select(range(min(limit, len(data[split]))))


def without_accelerator() -> bool:
    """Trainer's `use_cpu`: without an accelerator, torchrun processes join one DDP group (gloo) only with
    use_cpu=True; otherwise each would silently train alone."""
    return not (torch.cuda.is_available() or torch.backends.mps.is_available())


def train_or_resume(trainer, resume: bool, checkpoint_dir: Path) -> None:
    """`trainer.train()`, from the last complete checkpoint in `checkpoint_dir` with --resume."""
    resume_from = None
    if resume:
        resume_from = last_complete_checkpoint(checkpoint_dir)
        if resume_from is None:
            raise SystemExit(f"--resume: no complete checkpoint in {checkpoint_dir}.")
        logger.info("resuming from %s", resume_from)
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)


def parameter_count(model) -> int:
    return sum(p.numel() for p in model.parameters())


class TrainingTimeLimit(TrainerCallback):
    """Stops training once `minutes` have passed since it began (None: no limit), evaluating and saving at that step
    so the last stretch counts; and records every evaluation during training with the seconds since it began."""

    def __init__(self, minutes: float | None = None):
        self.seconds = None if minutes is None else 60.0 * minutes
        self.started = time.perf_counter()
        self.training = False
        self.evaluations: list[dict] = []

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()
        self.training = True

    def on_train_end(self, args, state, control, **kwargs):
        self.training = False

    def on_step_end(self, args, state, control, **kwargs):
        if self.seconds is not None and self.elapsed() >= self.seconds and not control.should_training_stop:
            control.should_training_stop = True
            control.should_evaluate = args.eval_strategy != "no"
            control.should_save = args.save_strategy != "no"
        return control

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.training:
            self.evaluations.append({"step": state.global_step, "seconds": round(self.elapsed(), 1),
                                     **(metrics or {})})


def warn_if_unconverged(args, unconverged: str | None) -> None:
    """A run that did not learn its task says so in a banner and exits with status 3 (0 with --allow-unconverged)."""
    if unconverged:
        banner = "!" * 80
        message = f"{banner}\nWARNING: {args.preset} on {args.task} {unconverged}\n{banner}"
        if not args.allow_unconverged:
            raise NotConvergedError(message + "\n(exit status 3; pass --allow-unconverged to exit 0)")
        print(message)
