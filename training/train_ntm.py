"""The path of `training.train` for the tasks of bit vectors (the copy task and the Neural Turing Machine paper's
repeat copy, associative recall, dynamic N-grams and priority sort): a Neural Turing Machine (`--preset ntm`) or its
LSTM baseline (`--preset lstm`) trained with `Trainer`, scored in bit errors per sequence (N-grams: cost per sequence
in bits, beside the Bayesian optimum's), exported as a Hub-ready folder with the memory-access picture and a card.

    python -m training.train --task copy --preset ntm --output-dir outputs/copy-ntm
    python -m training.train --task repeat_copy --preset lstm --output-dir outputs/repeat-copy-lstm

Writes `<output-dir>/checkpoints/` (for `--resume`) and `<output-dir>/model/`. Training keeps the checkpoint best on
the validation split; the test splits are scored once, at the end: `test` (drawn as in training) and the splits
beyond training where the task has them (copy: `test_length_30` ... `test_length_80`; repeat copy: more repeats and
longer sequences; associative recall: more items).
"""

import dataclasses
import json
import logging
import os
import shutil
import time
from pathlib import Path

import torch
from transformers import AutoModel, Trainer, TrainerCallback, TrainingArguments, set_seed

from hf_attn_seq2seq import LSTMBaselineModel, NTMModel
from hf_attn_seq2seq.data.ntm_paper_tasks import cost_per_sequence, ngram_optimal_cost
from hf_attn_seq2seq.data.ntm_tasks import BIT_TASKS, COPY_TRAIN_LENGTHS
from hf_attn_seq2seq.data.tasks import load_task
from hf_attn_seq2seq.hub import write_model_folder
from hf_attn_seq2seq.models.ntm.modeling_ntm import bit_errors_per_sequence, bit_loss
from hf_attn_seq2seq.presets import convergence_threshold
from hf_attn_seq2seq.visualization import plot_memory_access, plot_training_curve
from model_cards.generate import render_memory_model_card
from training.common import (
    MODEL_CONFIGS,
    TrainingTimeLimit,
    limit_examples,
    parameter_count,
    train_or_resume,
    warn_if_unconverged,
    without_accelerator,
)
from training.runs import RunFolder


logger = logging.getLogger("training.train_ntm")

MODEL_CLASSES = {"ntm": NTMModel, "ntm_lstm_baseline": LSTMBaselineModel}
METRIC = "bit_errors_per_sequence"  # every task's but the N-grams', whose metric is the cost
COST = "cost_per_sequence"
SELECTION = "checkpoint_score"  # what the kept checkpoint is chosen by: bit errors, ties broken by the loss
TRAINING_FIELDS = {field.name for field in dataclasses.fields(TrainingArguments)}
MEMORY_PICTURE = "memory_access.png"
# set by the CLI from the task's input layout
TASK_SIZE_KEYS = ("input_size", "output_size")
ATTEMPT_FILE = "attempt.json"  # in the checkpoints folder: which attempt of a restarted run its checkpoints are
ATTEMPT_SEED_STRIDE = 10_000  # attempt k initialises from seed + k * stride
# transformers' settings for torch.compile; for the NTM they compile its memory step (`step_compile_options`)
COMPILE_KEYS = ("torch_compile", "torch_compile_backend", "torch_compile_mode")
CXX_COMPILERS = ("g++", "c++", "clang++")  # what inductor builds its CPU kernels with


def bit_error_metrics(prediction) -> dict:
    """Mean bit errors per sequence, the share of sequences answered without one error (%), and the checkpoint score:
    the mean bit errors plus less than half of one error's share, growing with the loss. Fewer errors always score
    lower; among checkpoints with as many (once a model converges, all with none) the lower loss wins, where the
    earliest would otherwise be kept, and on the copy task that one can still miss bits on sparse vectors."""
    logits = torch.as_tensor(prediction.predictions)
    labels = torch.as_tensor(prediction.label_ids)
    errors = bit_errors_per_sequence(logits, labels)
    mean_errors = float(errors.double().sum()) / len(errors)
    loss = float(bit_loss(logits, labels))
    tie_break = loss / (1 + loss) / (2 * len(errors))  # below half a step of 1/N errors per sequence
    return {METRIC: mean_errors, "sequences_copied": 100.0 * float((errors == 0).float().mean()),
            SELECTION: mean_errors + tie_break}


def cost_metrics(prediction) -> dict:
    """The N-grams task's mean cost per sequence, in bits."""
    costs = cost_per_sequence(torch.as_tensor(prediction.predictions), torch.as_tensor(prediction.label_ids))
    return {COST: float(costs.mean())}


def task_metric(task: str) -> str:
    return BIT_TASKS[task].metric


def selection_metric(task: str) -> str:
    """The metric the kept checkpoint is chosen by: the cost for N-grams, else the bit errors with ties broken."""
    return COST if task_metric(task) == COST else SELECTION


def build_untrained_or_initial_model(args, preset: dict):
    """The model the run starts from: a fresh one of the preset, or `--init-from`'s."""
    model_class = MODEL_CLASSES[preset["model_type"]]
    spec = BIT_TASKS[args.task]
    if args.init_from:
        model = AutoModel.from_pretrained(args.init_from)
        if not isinstance(model, model_class):
            raise SystemExit(f"--init-from {args.init_from} holds a {model.config.model_type} model; --preset "
                             f"{args.preset} trains a {preset['model_type']} model.")
        sizes = (model.config.input_size, model.config.output_size)
        if sizes != (spec.input_size, spec.output_size):
            raise SystemExit(f"--init-from {args.init_from} reads {sizes[0]} and writes {sizes[1]} channels; the "
                             f"{args.task} task has {spec.input_size} and {spec.output_size}.")
        return model
    for key in TASK_SIZE_KEYS:
        if key in preset["model"]:
            raise SystemExit(f"--set {key}: set by the CLI from the {args.task} task's layout; it cannot be "
                             "overridden.")
    sizes = {"input_size": spec.input_size, "output_size": spec.output_size}
    return model_class(MODEL_CONFIGS[preset["model_type"]](**sizes, **preset["model"]))


def step_compile_options(preset: dict) -> dict | None:
    """`torch.compile` options for the NTM's memory step when the preset or `--set` asks for compilation with
    transformers' settings (`torch_compile`, or a backend or mode, which turn it on as in `TrainingArguments`), else
    None. Trainer would compile the whole forward, whose loop over time steps unrolls into a graph per sequence
    length; the step alone compiles once (`NTMModel.compile_memory_step`)."""
    training = preset["training"]
    if preset["model_type"] != "ntm" or not any(training.get(key) for key in COMPILE_KEYS):
        return None
    options = {"backend": training.get("torch_compile_backend") or "inductor"}
    if training.get("torch_compile_mode"):
        options["mode"] = training["torch_compile_mode"]
    return options


def build_model(args, preset: dict):
    """The run's model, with its memory step compiled where the preset asks and the machine can (inductor builds CPU
    kernels with a C++ compiler; without one the step runs as it is, at about half the speed, with a warning)."""
    model = build_untrained_or_initial_model(args, preset)
    options = step_compile_options(preset)
    if options is None:
        return model
    try:
        model.compile_memory_step(**options)  # compiles at the first step; the options are checked here
    except RuntimeError as error:  # torch names an unknown backend or mode
        raise SystemExit(f"--set torch_compile_backend / torch_compile_mode: {error}") from None
    if options["backend"] == "inductor" and model.device.type == "cpu" and not (
            os.environ.get("CXX") or any(shutil.which(compiler) for compiler in CXX_COMPILERS)):
        logger.warning("torch_compile: no C++ compiler (%s, or CXX) on this machine, which torch.compile needs for "
                       "CPU kernels; the NTM's memory step runs uncompiled, about half as fast",
                       ", ".join(CXX_COMPILERS))
        model.compiled_memory_step = None
        return model
    failure = compile_failure(model, preset)
    if failure is not None:
        logger.warning("torch_compile: torch.compile could not build the NTM's memory step on this machine (%s); it "
                       "runs uncompiled, about half as fast", failure)
        model.compiled_memory_step = None
    return model


def compile_failure(model, preset: dict) -> str | None:
    """Compile the memory step now, forward and backward, on a batch of the training batch size (the graphs the
    training steps reuse), and say why it failed, or None. A backend can fail only here, at its first build: inductor
    reports C++ compile errors where its kernels do not fit the machine's CPU settings (`ATEN_CPU_CAPABILITY=default`,
    for one), and a run should then train uncompiled rather than stop at its first step."""
    batch_size = preset["training"].get("per_device_train_batch_size", 16)
    inputs = torch.zeros(batch_size, 1, model.config.input_size, dtype=model.dtype, device=model.device)
    try:
        model(inputs).logits.sum().backward()
    except RuntimeError as error:
        return str(error).strip().splitlines()[0][:300]
    finally:
        model.zero_grad(set_to_none=True)  # the weights and the optimizer never see this batch
    return None


def training_arguments(args, preset: dict, checkpoint_dir: Path) -> TrainingArguments:
    unknown = sorted(set(preset["training"]) - TRAINING_FIELDS)
    if unknown:
        raise SystemExit(f"--set {', '.join(unknown)}: not a TrainingArguments field (the copy task trains with "
                         "Trainer, without generation).")
    values = dict(
        output_dir=str(checkpoint_dir),
        per_device_train_batch_size=16,
        per_device_eval_batch_size=256,
        learning_rate=1e-3,
        lr_scheduler_type="constant",
        max_grad_norm=10.0,
        max_steps=8000,
        eval_strategy="steps",
        eval_steps=500,
        save_strategy="steps",
        save_total_limit=2,
        load_best_model_at_end=True,  # the fewest validation bit errors, ties to the lower loss (N-grams: lowest cost)
        metric_for_best_model=selection_metric(args.task),
        greater_is_better=False,
        logging_steps=100,
        report_to="none",
        seed=args.seed,
        remove_unused_columns=False,  # the collator builds the model's inputs from the task's columns
        dataloader_num_workers=0,
        use_cpu=without_accelerator(),
    )
    values.update(preset["training"])
    if preset["model_type"] == "ntm":  # compiled by build_model, step by step (step_compile_options)
        for key in COMPILE_KEYS:
            values.pop(key, None)
    values.setdefault("save_steps", values["eval_steps"])  # a checkpoint at every evaluation, to keep the best
    try:
        return TrainingArguments(**values)
    except ValueError as error:
        raise SystemExit(f"--set / preset {args.preset!r}: {error}") from None


class RestartIfUnlearned(TrainerCallback):
    """Stops an attempt whose best validation `metric` up to `step` (checked at the first evaluation from `step` on)
    is still above `above`: a model that has not come near the task's solution by then rarely finds it later, and a
    fresh initialisation usually does (the copy NTM, benchmarks/RESULTS.md section 10). A model that came near and
    has since lost ground is left to find it again."""

    def __init__(self, step: int, above: float, metric: str):
        self.step, self.above, self.key = step, above, f"eval_{metric}"
        self.checked = False
        self.triggered = False
        self.best = None  # the best score seen so far

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.checked or not metrics or self.key not in metrics:
            return control
        self.best = metrics[self.key] if self.best is None else min(self.best, metrics[self.key])
        if state.global_step < self.step:
            return control
        self.checked = True
        if self.best > self.above:
            self.triggered = True
            control.should_training_stop = True
        return control


def restart_rule(task: str, preset: dict, preset_name: str) -> dict | None:
    """The preset's rule for starting again from a fresh initialisation on `task`: `{"step", "above",
    "max_restarts"}`, or None."""
    rule = preset["convergence"].get(task, {}).get("restart")
    if rule is None:
        return None
    if not (isinstance(rule, dict) and set(rule) == {"step", "above", "max_restarts"}
            and all(isinstance(rule[key], int) and rule[key] >= 0 for key in ("step", "max_restarts"))
            and isinstance(rule["above"], (int, float))):
        raise SystemExit(f"preset {preset_name!r}: convergence.{task}.restart must be "
                         '{"step": int, "above": number, "max_restarts": int}, got ' + repr(rule))
    return rule


def attempt_seed(seed: int, attempt: int) -> int:
    """The seed attempt `attempt` initialises its model from (attempt 0: the run's own)."""
    return seed + ATTEMPT_SEED_STRIDE * attempt


def read_attempt(checkpoint_dir: Path) -> int:
    path = checkpoint_dir / ATTEMPT_FILE
    try:
        return int(json.loads(path.read_text(encoding="utf-8"))["attempt"])
    except FileNotFoundError:
        return 0
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SystemExit(f"--resume: {path} is not readable ({error}); start over with "
                         "--overwrite-output-dir.") from None


def record_attempt(checkpoint_dir: Path, attempt: int) -> None:
    """Record which attempt the folder's checkpoints belong to (read back by --resume)."""
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    temporary = checkpoint_dir / f".{ATTEMPT_FILE}.tmp"
    temporary.write_text(json.dumps({"attempt": attempt}) + "\n", encoding="utf-8")
    temporary.replace(checkpoint_dir / ATTEMPT_FILE)


def run_memory_task(args, preset: dict, command: str, started: float) -> dict:
    """Train, evaluate and export into the output folder `training.train.main` has checked, locked and seeded.

    Where the preset has a restart rule for the task, an attempt still above its threshold at the rule's step stops,
    and a fresh initialisation (`attempt_seed`) trains on the same data in the time left; the attempt with the best
    validation score is kept. A run from --init-from continues a trained model and never restarts."""
    data = load_task(args.task, num_examples=args.num_examples, seed=args.seed)
    limit_examples(data, args.max_train_examples, args.max_eval_examples)
    metric = task_metric(args.task)
    folder = RunFolder(args.output_dir)
    checkpoint_dir = folder.checkpoints
    rule = None if args.init_from else restart_rule(args.task, preset, args.preset)
    attempt = read_attempt(checkpoint_dir) if args.resume else 0
    if not args.resume:
        record_attempt(checkpoint_dir, 0)
    if attempt:
        set_seed(attempt_seed(args.seed, attempt))
    model = build_model(args, preset)
    resume = args.resume
    seconds_before, steps_before = 0.0, 0
    log, evaluations, attempts = [], [], []
    while True:
        minutes_left = None if args.max_train_minutes is None else args.max_train_minutes - seconds_before / 60
        clock = TrainingTimeLimit(minutes_left)
        restart = None
        if rule is not None and attempt < rule["max_restarts"]:
            restart = RestartIfUnlearned(rule["step"], rule["above"], metric)
        trainer = Trainer(
            model=model,
            args=training_arguments(args, preset, checkpoint_dir),
            train_dataset=data["train"],
            eval_dataset=data["validation"],
            data_collator=BIT_TASKS[args.task].collator(),
            compute_metrics=cost_metrics if metric == COST else bit_error_metrics,
            callbacks=[clock] + ([restart] if restart else []),
        )
        logger.info("%s on %s: %s parameters, %d training sequences%s", args.preset, args.task,
                    f"{parameter_count(model):,}", len(data["train"]), f" (attempt {attempt + 1})" if attempt else "")
        train_or_resume(trainer, resume, checkpoint_dir)
        # every attempt's entries, with steps and seconds counted from the start of the run
        log += [{**entry, "step": entry["step"] + steps_before, "attempt": attempt}
                for entry in trainer.state.log_history if "step" in entry]
        evaluations += [{**entry, "step": entry["step"] + steps_before,
                         "seconds": round(entry["seconds"] + seconds_before, 1), "attempt": attempt}
                        for entry in clock.evaluations]
        seconds_before += clock.elapsed()
        steps_before += trainer.state.global_step
        if not (restart and restart.triggered):
            break
        attempts.append({"attempt": attempt, "best_score": trainer.state.best_metric,
                         "best_checkpoint_step": best_step(trainer),
                         "weights": {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}})
        if args.max_train_minutes is not None and seconds_before >= 60 * args.max_train_minutes:
            break
        attempt += 1
        logger.warning("%s on %s: %s at best %.2f on validation by step %d, above %s; starting again from a fresh "
                       "initialisation (seed %d)", args.preset, args.task, metric.replace("_", " "), restart.best,
                       trainer.state.global_step, rule["above"], attempt_seed(args.seed, attempt))
        folder.discard_training_state()  # the checkpoints of the attempt given up on
        record_attempt(checkpoint_dir, attempt)
        set_seed(attempt_seed(args.seed, attempt))
        model = build_model(args, preset)
        resume = False
    train_seconds = seconds_before
    kept = {"attempt": attempt, "best_checkpoint_step": best_step(trainer)}
    if attempts:
        last_score = trainer.state.best_metric
        earlier = min(attempts, key=lambda entry: entry["best_score"])
        if last_score is None or earlier["best_score"] < last_score:  # a fresh attempt that did worse is dropped
            model.load_state_dict(earlier["weights"])
            kept = {key: earlier[key] for key in kept}

    # the model now is the best checkpoint: its validation score decides whether the run learned the task
    validation = trainer.evaluate()[f"eval_{metric}"]
    threshold = convergence_threshold(args.task, args.preset)
    unconverged = None
    if threshold is not None and validation > threshold["maximum"]:
        unconverged = (f"did not converge: {validation:.2f} {metric.replace('_', ' ')} on validation, above the "
                       f"{threshold['maximum']} that the {threshold['preset']} preset reaches; "
                       f"try {threshold['hint']}")
    scores = {split: test_scores(trainer, data, split, metric) for split in data if split.startswith("test")}
    first_converged = None
    if threshold is not None:
        first_converged = next((entry for entry in evaluations
                                if entry.get(f"eval_{metric}", 1e9) < threshold["maximum"]), None)
    metrics = {
        "task": args.task,
        "preset": args.preset,
        "model_type": preset["model_type"],
        "command": command,
        "parameters": parameter_count(model),
        "train_seconds": round(train_seconds, 1),
        "train_steps": steps_before,
        "best_checkpoint_step": kept["best_checkpoint_step"],
        **({"attempts": attempt + 1, "kept_attempt": kept["attempt"] + 1,
            "attempt_seeds": [attempt_seed(args.seed, index) for index in range(attempt + 1)]} if attempt else {}),
        f"validation_{metric}": validation,
        "seconds_to_validation_below_threshold": first_converged["seconds"] if first_converged else None,
        "evaluations": [{key: entry[key] for key in ("step", "seconds", "attempt", f"eval_{metric}") if key in entry}
                        for entry in evaluations],
        "test": scores,
        **({"did_not_converge": unconverged} if unconverged else {}),
    }
    model_dir = folder.model
    write_model_folder(model_dir, model, None, metrics=metrics,
                       extra=lambda folder: write_reports(args, preset, trainer, data, folder, metrics, unconverged,
                                                          log))
    report(args, metrics, model_dir, started, unconverged)
    return metrics


def test_scores(trainer, data, split: str, metric: str) -> dict:
    """A test split's scores: bit errors per sequence and the share answered exactly, or (N-grams) the cost per
    sequence beside the Bayesian optimum's on the same sequences."""
    result = trainer.evaluate(data[split], metric_key_prefix=split)
    if metric == COST:
        optimum = sum(ngram_optimal_cost(bits) for bits in data[split]["bits"]) / len(data[split])
        return {COST: result[f"{split}_{COST}"], "optimal_cost_per_sequence": optimum}
    return {name: result[f"{split}_{name}"] for name in (METRIC, "sequences_copied")}


def best_step(trainer) -> int | None:
    checkpoint = trainer.state.best_model_checkpoint
    return int(Path(checkpoint).name.rpartition("-")[2]) if checkpoint else None


def picture_row(task: str, data) -> dict:
    """The test example the memory picture shows: for the copy task the first of the longest training length, else
    the first test example."""
    if task != "copy":
        return data["test"][0]
    longest = COPY_TRAIN_LENGTHS[1]
    sequence = next((sequence for sequence in data["test"]["sequence"] if len(sequence) == longest),
                    max(data["test"]["sequence"], key=len))
    return {"sequence": sequence}


def write_reports(args, preset: dict, trainer, data, folder: Path, metrics: dict, unconverged: str | None,
                  log: list[dict]) -> None:
    """Training log and curve (every attempt's, steps counted from the start of the run), the memory-access picture
    (the NTM) and the card, into the folder being exported."""
    spec = BIT_TASKS[args.task]
    (folder / "training_log.json").write_text(json.dumps(log, indent=1) + "\n")
    plot_training_curve(log, folder / "training_curve.png", metric=f"eval_{spec.metric}", x_axis="step")
    picture = None
    if preset["model_type"] == "ntm":
        plot_memory_access(trainer.model, spec.collator()([picture_row(args.task, data)]), folder / MEMORY_PICTURE)
        picture = MEMORY_PICTURE
    best = "the lowest cost" if spec.metric == COST else "the fewest bit errors (among equals, the lowest loss)"
    card = render_memory_model_card(
        model_name=f"{args.preset}-{args.task}",
        model_type=preset["model_type"],
        task=args.task,
        task_description=spec.description,
        config=trainer.model.config,
        scores=metrics["test"],
        command=metrics["command"],
        model_id=args.hub_model_id or f"{args.preset}-{args.task}",
        memory_picture=picture,
        training_details=f"{metrics['parameters']:,} parameters; trained for {metrics['train_steps']:,} steps in "
                         f"{metrics['train_seconds']:.0f} s on {torch.get_num_threads()} CPU threads; the checkpoint "
                         f"kept is step {metrics['best_checkpoint_step']}{attempts_note(metrics)}, the one with "
                         f"{best} on the validation split.",
        warning=f"This run {unconverged}." if unconverged else "",
    )
    card.save(folder / "README.md")


def attempts_note(metrics: dict) -> str:
    """For a run that started again from fresh initialisations: which attempt the kept checkpoint is from."""
    if "attempts" not in metrics:
        return ""
    return (f" of attempt {metrics['kept_attempt']} of {metrics['attempts']} (an attempt still far from the task at "
            f"the preset's check starts again from a fresh initialisation; seeds {metrics['attempt_seeds']})")


def report(args, metrics: dict, model_dir: Path, started: float, unconverged: str | None) -> None:
    if task_metric(args.task) == COST:
        print(f"\n{args.preset} on {args.task}: cost per sequence in bits (the Bayesian optimum's)")
        for split, score in metrics["test"].items():
            print(f"  {split:>16}: {score[COST]:8.2f}  ({score['optimal_cost_per_sequence']:.2f})")
    else:
        print(f"\n{args.preset} on {args.task}: bit errors per sequence (sequences answered without error)")
        for split, score in metrics["test"].items():
            print(f"  {split:>16}: {score[METRIC]:8.2f}  ({score['sequences_copied']:.1f}%)")
    print(f"saved {model_dir} in {time.perf_counter() - started:.0f} s total")
    warn_if_unconverged(args, unconverged)


__all__ = ["bit_error_metrics", "cost_metrics", "run_memory_task"]
