"""Train, evaluate and export an AttnSeq2Seq model (or, on the copy task, a Neural Turing Machine or its LSTM
baseline: `training.train_ntm`).

    python -m training.train --task date --preset attention --output-dir outputs/date-attention
    python -m training.train --task copy --preset ntm --output-dir outputs/copy-ntm

Writes `<output-dir>/checkpoints/` (Trainer checkpoints, for `--resume`) and `<output-dir>/model/`, a Hub-ready folder:
weights, config with `auto_map`, code, tokenizer, generation config, metrics, training curve, attention heatmaps and a
model card.
"""

import argparse
import dataclasses
import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path

import torch
from transformers import (
    AutoModelForSeq2SeqLM,
    DataCollatorForSeq2Seq,
    MarianConfig,
    MarianMTModel,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    set_seed,
)

import hf_attn_seq2seq  # noqa: F401  (registers the Auto classes)
from hf_attn_seq2seq import AttnSeq2SeqConfig, AttnSeq2SeqForConditionalGeneration
from hf_attn_seq2seq.averaging import average_into
from hf_attn_seq2seq.data.dates import LANGUAGES, LOCALES, NUMERIC, DateSampler, check_languages
from hf_attn_seq2seq.data.ntm_tasks import BIT_TASKS
from hf_attn_seq2seq.data.tasks import load_task, load_translation
from hf_attn_seq2seq.data.tokenization import (
    build_char_tokenizer,
    check_tokenizer_matches_model,
    load_tokenizer,
    train_subword_tokenizer,
)
from hf_attn_seq2seq.evaluation import predict_texts, tokenize, tokenized_references
from hf_attn_seq2seq.hub import generation_config_for, saved_model_type, write_model_folder
from hf_attn_seq2seq.metrics import load_metric, make_compute_metrics, tokenized_bleu
from hf_attn_seq2seq.models.attn_seq2seq.generation_attn_seq2seq import gnmt_beam_search
from hf_attn_seq2seq.presets import (
    DEFAULT_MODEL_TYPE,
    TASK_PRESETS,
    available_presets,
    convergence_threshold,
    load_preset,
    presets_for_model_types,
)
from hf_attn_seq2seq.visualization import plot_attention, plot_training_curve
from model_cards import render_model_card
from training.common import (
    MODEL_CONFIGS,
    TrainingTimeLimit,
    limit_examples,
    parameter_count,
    train_or_resume,
    warn_if_unconverged,
    without_accelerator,
)
from training.runs import RunFolder, check_run_identity, complete_checkpoints, hold_output_dir_lock, run_identity
from training.train_ntm import run_memory_task


logger = logging.getLogger("training.train")

# Which models each task trains: the text tasks the encoder-decoders, the tasks of bit vectors (the copy task and the
# NTM paper's others) the NTM and its baseline.
MEMORY_TASKS = tuple(BIT_TASKS)
TASKS = ("date", "addition", "reverse", "translation", *MEMORY_TASKS)
MEMORY_MODEL_TYPES = ("ntm", "ntm_lstm_baseline")
# the encoder-decoders: the package's own and transformers' Marian (the Transformer beside it, `--preset transformer`)
SEQ2SEQ_MODEL_TYPES = (DEFAULT_MODEL_TYPE, "marian")
TASK_DESCRIPTIONS = {
    "date": "date-format conversion (dates as people write them, in many languages -> ISO 8601)",
    "addition": "addition of two 1-3 digit numbers",
    "reverse": "string reversal",
}
# Typed in free form, none of them taken from the generated data.
SHOWCASE_INPUTS = {
    "addition": ["16+75", "999+1", "52+148"],
    "reverse": ["hello", "attention", "2024abc"],
}
# The date model's, with their language; the demo shows the first twelve as examples, so languages and forms alternate.
DATE_SHOWCASE_INPUTS = [
    ("September 27, 1994", "en"), ("2021년 3월 3일", "ko"), ("Mittwoch, 3. März 2021", "de"),
    ("3rd of March 2021", "en"), ("le 1er mai 1990", "fr"), ("2021年3月3日水曜日", "ja"), ("6/3/73", "en"),
    ("3 de marzo de 2021", "es"), ("Mar 31 '54", "en"), ("1999年12月31日", "zh"), ("04-JUN-93", "en"),
    ("quarta-feira, 7 de setembro de 1822", "pt"), ("TUESDAY, SEPTEMBER 25, 1984", "en"), ("4.7.1776", "de"),
    ("19800304", NUMERIC), ("Sat, 04 Jan 1958", "en"), ("25 aprile 1945", "it"), ("5 mei 1945", "nl"),
]
# The card's `language` metadata: the toy tasks other than dates have no words.
CARD_LANGUAGES = {"addition": None, "reverse": None}
TRAINING_DEFAULTS = {field.name: field.default for field in dataclasses.fields(Seq2SeqTrainingArguments)}
GENERATION_FIELDS = ("length_alpha", "coverage_beta")  # GNMT beam-search scoring of the final test translations


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=TASKS, default="date")
    parser.add_argument("--preset", default=None,
                        help=f"one of {', '.join(available_presets())} (default: the task's own preset, "
                             + ", ".join(f"{task}: {preset}" for task, preset in TASK_PRESETS.items()) + ")")
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--num-examples", type=int, default=None, help="toy tasks: examples to generate")
    parser.add_argument("--languages", nargs="+", default=None, metavar="LANG",
                        help=f"date task: the languages dates are written in (default: all of {', '.join(LANGUAGES)})")
    parser.add_argument("--dataset", default=None, help="translation: a local folder/file or a Hub dataset name")
    parser.add_argument("--dataset-config", default=None, help="translation: the Hub dataset's configuration name")
    parser.add_argument("--data-files", nargs="+", default=None, metavar="SPLIT=PATH",
                        help="translation: files for a `datasets` builder given as --dataset (e.g. json)")
    parser.add_argument("--source-lang", default=None)
    parser.add_argument("--target-lang", default=None)
    parser.add_argument("--test-split", default=None, help="split scored at the end (default: test)")
    parser.add_argument("--extra-test-splits", nargs="+", default=[], metavar="SPLIT",
                        help="more splits scored at the end, each reported beside the test split (e.g. Multi30k's "
                             "test_2017_flickr test_2017_mscoco test_2018_flickr)")
    parser.add_argument("--vocab-size", type=int, default=8000, help="translation: subword vocabulary size")
    parser.add_argument("--max-train-examples", type=int, default=None, help="use only the first N training pairs")
    parser.add_argument("--max-eval-examples", type=int, default=None,
                        help="use only the first N examples of the validation and of each test split")
    parser.add_argument("--max-source-length", type=int, default=None, help="tokens kept per source (truncation)")
    parser.add_argument("--max-target-length", type=int, default=None, help="tokens kept per target (truncation)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a model config value (e.g. hidden_size=128) or a Seq2SeqTrainingArguments "
                             "value (e.g. num_train_epochs=3); repeatable; VALUE is read as JSON when it parses")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in output-dir")
    parser.add_argument("--overwrite-output-dir", action="store_true",
                        help="train into an output dir that holds another run (its checkpoints are removed)")
    parser.add_argument("--init-from", default=None, help="fine-tune a trained model: a folder or a Hub id")
    parser.add_argument("--max-train-minutes", type=float, default=None,
                        help="stop training after this many minutes (evaluating and saving at that step), or at the "
                             "preset's length, whichever comes first")
    parser.add_argument("--average-checkpoints", type=int, default=None, metavar="N",
                        help="after training, use the mean of the last N checkpoints' weights (checkpoint averaging; "
                             "at least N checkpoints are kept)")
    parser.add_argument("--num-heatmaps", type=int, default=3, help="attention heatmaps of test examples")
    parser.add_argument("--hub-model-id", default=None, help="the repo id the model card's usage snippet loads")
    parser.add_argument("--allow-unconverged", action="store_true",
                        help="exit 0 even when the validation score is below the task's convergence threshold")
    args = parser.parse_args(argv)
    if args.preset is None:
        args.preset = TASK_PRESETS[args.task]
    return args


def final_validation_score(trainer, metric: str) -> float:
    """The validation `metric` after the last training step (evaluated now when the last evaluation is older)."""
    key = f"eval_{metric}"
    evaluations = [entry for entry in trainer.state.log_history if key in entry]
    if evaluations and evaluations[-1].get("step") == trainer.state.global_step:
        return float(evaluations[-1][key])
    return float(trainer.evaluate()[key])


def convergence_note(task: str, score: float, threshold: dict) -> str:
    return (f"did not converge: {threshold['metric']} {score:.2f}% on validation, below the {threshold['minimum']}% "
            f"that the {threshold['preset']!r} preset reaches on {task}; try {threshold['hint']}")


def config_fields(model_type: str) -> set[str]:
    return {field.name for field in dataclasses.fields(MODEL_CONFIGS[model_type])}


def apply_overrides(preset: dict, overrides: list[str]) -> dict:
    model_fields = config_fields(preset["model_type"])
    config_name = MODEL_CONFIGS[preset["model_type"]].__name__
    for item in overrides:
        key, separator, raw = item.partition("=")
        if not separator:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}.")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        if key in model_fields:
            preset["model"][key] = value
        elif key in TRAINING_DEFAULTS:
            preset["training"][key] = value
        elif key in GENERATION_FIELDS:
            preset["generation"][key] = value
        else:
            raise SystemExit(f"--set {key}: not a {config_name} or Seq2SeqTrainingArguments field, nor one of "
                             f"{', '.join(GENERATION_FIELDS)}.")
    return preset


# Set by the CLI from the tokenizer; a --set value would not match the vocabulary the run builds.
CLI_SET_CONFIG_KEYS = ("vocab_size", "pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id")
# Training values that must be positive numbers when given (`max_steps` only when set: its default -1 means unset).
POSITIVE_TRAINING_VALUES = ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps",
                            "learning_rate", "num_train_epochs", "max_steps")


def check_task_and_preset(task: str, preset_name: str, model_type: str) -> None:
    """A preset builds one kind of model; the task must be one that model does."""
    fitting_types = MEMORY_MODEL_TYPES if task in MEMORY_TASKS else SEQ2SEQ_MODEL_TYPES
    if model_type not in fitting_types:
        raise SystemExit(f"--preset {preset_name} builds a {model_type} model, which cannot learn the {task} task; "
                         f"its presets: {', '.join(presets_for_model_types(fitting_types))}.")


def check_init_from(name_or_path: str, task: str) -> None:
    """The folder or Hub id to fine-tune exists and holds a model that can learn `task`."""
    try:
        model_type = saved_model_type(name_or_path)
    except (OSError, ValueError) as error:
        raise SystemExit(f"--init-from: {error}") from None
    fitting_types = MEMORY_MODEL_TYPES if task in MEMORY_TASKS else SEQ2SEQ_MODEL_TYPES
    if model_type not in fitting_types:
        raise SystemExit(f"--init-from {name_or_path} holds a {model_type!r} model, which cannot learn the {task} "
                         f"task; give a folder of a {' or '.join(map(repr, fitting_types))} model.")


def validate_run_settings(args, preset: dict) -> None:
    """Refuse, before any data is made or read, the settings that would fail late or train nothing."""
    check_task_and_preset(args.task, args.preset, preset["model_type"])
    if args.extra_test_splits and args.task in MEMORY_TASKS:
        raise SystemExit(f"--extra-test-splits: the {args.task} task scores every one of its test splits already.")
    config_class = MODEL_CONFIGS[preset["model_type"]]
    if preset["model_type"] in SEQ2SEQ_MODEL_TYPES:
        for key in CLI_SET_CONFIG_KEYS:
            if key in preset["model"]:
                raise SystemExit(f"--set {key}: set by the CLI from the tokenizer it builds; it cannot be overridden. "
                                 "Fine-tune a model with another vocabulary through --init-from.")
    try:
        # the options alone (token ids are checked later)
        config_class(**({"vocab_size": 1 << 20} if config_class is AttnSeq2SeqConfig else {}), **preset["model"])
    except (TypeError, ValueError) as error:
        raise SystemExit(f"--set / preset {args.preset!r}: {error}") from None
    for key, value in preset["training"].items():
        default = TRAINING_DEFAULTS.get(key)
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise SystemExit(f"--set {key}={value!r}: expected a number (e.g. {default!r}).")
        elif isinstance(default, bool) and not isinstance(value, bool):
            raise SystemExit(f"--set {key}={value!r}: expected true or false.")
        if key in POSITIVE_TRAINING_VALUES and value <= 0:
            what = "nothing would be trained" if key in ("num_train_epochs", "max_steps") else "it must be positive"
            raise SystemExit(f"--set {key}={value!r}: {what}; give a value above 0.")
    if args.init_from:
        check_init_from(args.init_from, args.task)
    if args.languages is not None:
        if args.task != "date":
            raise SystemExit(f"--languages chooses the date task's languages; --task {args.task} has none.")
        try:
            chosen = set(check_languages(args.languages))
        except ValueError as error:
            raise SystemExit(f"--languages: {error}") from None
        args.languages = [language for language in LANGUAGES if language in chosen]  # `ko de` is the run `de ko` is
    if args.average_checkpoints is not None:
        if args.task in MEMORY_TASKS:
            raise SystemExit(f"--average-checkpoints: the {args.task} task keeps its best checkpoint on validation; "
                             "averaging is for the encoder-decoder tasks.")
        if args.average_checkpoints < 1:
            raise SystemExit(f"--average-checkpoints {args.average_checkpoints}: give a number of checkpoints, 1 or "
                             "more.")
    if args.max_train_examples is not None and args.max_train_examples <= 0:
        raise SystemExit(f"--max-train-examples {args.max_train_examples}: nothing would be trained; give a number "
                         "above 0 (leave it out to use every training pair).")
    if args.max_eval_examples is not None and args.max_eval_examples <= 0:
        raise SystemExit(f"--max-eval-examples {args.max_eval_examples}: nothing would be scored; give a number "
                         "above 0 (leave it out to score every example).")
    for flag, value in (("--num-examples", args.num_examples), ("--max-source-length", args.max_source_length),
                        ("--max-target-length", args.max_target_length),
                        ("--max-train-minutes", args.max_train_minutes)):
        if value is not None and not value > 0:  # NaN too
            raise SystemExit(f"{flag} {value}: give a number above 0.")


def card_dataset_name(args) -> str:
    """The card's dataset: a Hub dataset's name, a local corpus's folder or file name, or the generated toy task."""
    if args.task != "translation":
        return args.task
    return args.dataset if not Path(args.dataset).exists() else Path(args.dataset).resolve().name


def load_data(args):
    if args.task == "translation":
        if not (args.dataset and args.source_lang and args.target_lang):
            raise SystemExit("--task translation needs --dataset, --source-lang and --target-lang.")
        kwargs = {"name": args.dataset_config} if args.dataset_config else {}
        if args.data_files:
            split_files = dict(item.partition("=")[::2] for item in args.data_files)
            if not all(split_files.values()):
                raise SystemExit(f"--data-files expects SPLIT=PATH items, got {args.data_files}.")
            kwargs["data_files"] = split_files
        data = load_translation(args.dataset, args.source_lang, args.target_lang, **kwargs)
    else:
        options = {"languages": args.languages} if args.task == "date" else {}
        data = load_task(args.task, num_examples=args.num_examples, seed=args.seed, **options)
    limit_examples(data, args.max_train_examples, args.max_eval_examples)
    test_split = args.test_split or "test"
    if test_split not in data:
        raise SystemExit(f"No split {test_split!r} to test on; splits: {sorted(data)}. Pass --test-split.")
    for split in args.extra_test_splits:
        if split not in data or split in ("train", "validation", test_split):
            raise SystemExit(f"--extra-test-splits: {split!r} is not a split to test on besides {test_split!r}; "
                             f"splits: {sorted(data)}.")
    if "validation" not in data:
        raise SystemExit(f"No validation split; splits: {sorted(data)}.")
    return data, test_split


def build_tokenizer(args, data, tokenizer_dir: Path):
    if args.init_from:
        return load_tokenizer(args.init_from)
    if args.resume and tokenizer_dir.exists():
        return load_tokenizer(tokenizer_dir)
    texts = list(data["train"]["source"]) + list(data["train"]["target"])
    if args.task == "translation":
        tokenizer = train_subword_tokenizer(texts, vocab_size=args.vocab_size)
    elif args.task == "date":  # every character the generator can write, seen in the sample drawn or not; NFKC reads
        # full-width digits and punctuation (`２０２１年３月３日`) as the ASCII ones
        tokenizer = build_char_tokenizer(texts + [DateSampler(args.languages).alphabet()], normalization="NFKC")
    else:
        tokenizer = build_char_tokenizer(texts)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun every process builds the same one; one saves it
        tokenizer.save_pretrained(tokenizer_dir)  # --resume reuses exactly this vocabulary
    return tokenizer


def build_model(args, preset: dict, tokenizer):
    if args.init_from:
        model = AutoModelForSeq2SeqLM.from_pretrained(args.init_from)
        check_tokenizer_matches_model(tokenizer, model.config)
        return model
    token_ids = dict(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                     bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                     decoder_start_token_id=tokenizer.bos_token_id)
    if preset["model_type"] == "marian":
        # one joint vocabulary: encoder, decoder and output layer share the embedding; generation ends at the end
        # token the model writes, not at one forced at the length limit
        config = MarianConfig(**token_ids, decoder_vocab_size=len(tokenizer), forced_eos_token_id=None,
                              **preset["model"])
        return MarianMTModel(config)
    return AttnSeq2SeqForConditionalGeneration(AttnSeq2SeqConfig(**token_ids, **preset["model"]))


def source_length_limit(config) -> int:
    """The longest source the model accepts: the LSTM model's `max_source_length`, a Transformer's positions."""
    return getattr(config, "max_source_length", None) or config.max_position_embeddings


def check_source_lengths(tokenized, model_limit: int, truncation: int | None,
                         limit_option: str = "max_source_length") -> None:
    longest = max(len(ids) for split in tokenized.values() for ids in split["input_ids"])
    if longest > model_limit:
        raise SystemExit(f"The longest source has {longest} tokens, more than the model accepts ({limit_option}="
                         f"{model_limit}). Pass --max-source-length {model_limit} to truncate sources"
                         + (f" (now {truncation})" if truncation else "") + f", or --set {limit_option}={longest}.")


def generation_length(tokenized, max_target_length: int) -> int:
    """`max_new_tokens` for the exported model: half as long again as all but the longest 0.1% of the targets (a few
    overlong lines do not set it), within the target length limit."""
    lengths = sorted(len(ids) for split in tokenized.values() for ids in split["labels"])
    typical_longest = lengths[int(0.999 * (len(lengths) - 1))]
    return min(max_target_length, int(typical_longest * 1.5) + 2)


def training_arguments(args, preset: dict, checkpoint_dir: Path, num_train_examples: int) -> Seq2SeqTrainingArguments:
    batch_size = preset["training"].get("per_device_train_batch_size", 128)
    steps_per_epoch = -(-num_train_examples // batch_size)
    values = dict(
        output_dir=str(checkpoint_dir),
        per_device_train_batch_size=128,
        per_device_eval_batch_size=256,
        learning_rate=1e-3,
        num_train_epochs=6,
        lr_scheduler_type="linear",
        max_grad_norm=5.0,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=2,
        logging_steps=max(1, min(50, steps_per_epoch // 2)),  # short runs still log their loss
        predict_with_generate=True,
        report_to="none",
        seed=args.seed,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        use_cpu=without_accelerator(),
    )
    values.update(preset["training"])
    if args.average_checkpoints and values["save_total_limit"] is not None:
        values["save_total_limit"] = max(values["save_total_limit"], args.average_checkpoints)
    if args.init_from:
        values["eval_on_start"] = True  # the first evaluation scores the loaded model before any update
        if "learning_rate" not in overridden_keys(args.overrides):
            values["learning_rate"] *= FINE_TUNING_LEARNING_RATE_FACTOR
    return Seq2SeqTrainingArguments(**values)


# A trained model moves far from its optimum at a from-scratch learning rate; a tenth of it keeps a converged date
# model's validation score over a whole fine-tuning run (benchmarks/RESULTS.md, "Fine-tuning with --init-from").
FINE_TUNING_LEARNING_RATE_FACTOR = 0.1


def overridden_keys(overrides: list[str]) -> set[str]:
    return {item.partition("=")[0] for item in overrides}


def validation_metric(task: str) -> str:
    """The validation score a run is judged by: BLEU for translation, exact match for the toy tasks."""
    return "bleu" if task == "translation" else "exact_match"


def keep_the_better_of_start_and_end(state: "Run") -> None:
    """After fine-tuning (`--init-from`), go back to the loaded model when validation is worse than it was before the
    first update, and say so: a fine-tuning run never exports a model that lost what it had."""
    metric = validation_metric(state.args.task)
    key = f"eval_{metric}"
    history = [entry for entry in state.trainer.state.log_history if key in entry]
    if not history or history[0].get("step") != 0:
        return
    before, after = float(history[0][key]), final_validation_score(state.trainer, metric)
    state.fine_tuning = {"metric": metric, "validation_before": before, "validation_after": after,
                         "kept": "fine-tuned"}
    if after >= before:
        return
    state.fine_tuning["kept"] = "start"
    logger.warning("Fine-tuning lowered validation %s from %.2f to %.2f: the exported model is the one --init-from "
                   "loaded. Try a lower --set learning_rate=... (now %g).", metric, before, after,
                   state.trainer.args.learning_rate)
    state.model = AutoModelForSeq2SeqLM.from_pretrained(state.args.init_from)
    raise_generation_ceiling(state.model.config, state.max_new_tokens)
    state.trainer.model = state.trainer.model_wrapped = state.model


def score_translations(args, data, split: str, model, tokenizer, max_new_tokens: int, num_beams: int,
                       prefix: str = "test", **generate_kwargs) -> tuple[dict, list[str]]:
    """sacreBLEU and chrF of the detokenized output against the raw references, and BLEU in the lowercased
    tokenized convention; returns `(scores, predictions)`. `generate_kwargs` go to `generate` (e.g. GNMT scoring)."""
    sources, references = list(data[split]["source"]), list(data[split]["target"])
    started = time.perf_counter()
    predictions = predict_texts(model, tokenizer, sources, max_new_tokens, num_beams, **generate_kwargs)
    seconds = time.perf_counter() - started
    bleu = load_metric("bleu").compute(predictions=predictions, references=references)
    lowercased_tokenized = tokenized_references(args.dataset, split, args.target_lang, references)
    scores = {
        f"{prefix}_bleu": bleu["score"],
        f"{prefix}_bleu_signature": bleu["signature"],
        f"{prefix}_chrf": load_metric("chrf").compute(predictions=predictions, references=references)["score"],
        f"{prefix}_bleu_lowercased_tokenized": tokenized_bleu(predictions, lowercased_tokenized, args.target_lang),
        f"{prefix}_generation_seconds": round(seconds, 1),
        f"{prefix}_sentences": len(sources),  # with the seconds, the decoding time per sentence
    }
    return scores, predictions


def translation_notes(metrics: dict, num_beams: int, preset: dict) -> str:
    """How the translation scores were computed, for the model card."""
    scoring = beam_scoring_kwargs(preset)
    search = f"beam search (beam {num_beams})" if num_beams > 1 else "greedy search"
    if scoring:
        search += f" with GNMT scoring (alpha {scoring['length_alpha']}, beta {scoring['coverage_beta']})"
    return (f"Outputs from {search}. `bleu` is sacreBLEU on the detokenized, cased output against the raw references "
            f"(`{metrics.get('test_bleu_signature', '')}`); `bleu_lowercased_tokenized` scores output and references "
            "lowercased and Moses-tokenized (Multi30k's `tok/*.lc.norm.tok.*` convention, in which the published "
            "LSTM/GRU results are reported), so the two are not comparable with each other.")


def beam_scoring_kwargs(preset: dict) -> dict:
    """`generate` arguments for the preset's beam-search scoring: GNMT's when it sets `length_alpha` or
    `coverage_beta`, else transformers' own."""
    generation = preset.get("generation", {})
    if generation.get("length_alpha") or generation.get("coverage_beta"):
        return {"custom_generate": gnmt_beam_search, "length_alpha": float(generation.get("length_alpha", 0.0)),
                "coverage_beta": float(generation.get("coverage_beta", 0.0))}
    return {}


def main(argv: list[str] | None = None) -> dict:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    started = time.perf_counter()
    set_seed(args.seed)
    try:
        preset = apply_overrides(load_preset(args.preset), args.overrides)
    except ValueError as error:  # an unknown preset
        raise SystemExit(str(error)) from None
    validate_run_settings(args, preset)
    guarded = int(os.environ.get("RANK", "0")) == 0  # under torchrun, one process guards the folder for the run
    try:
        args.output_dir.mkdir(parents=True, exist_ok=True)
        lock = hold_output_dir_lock(args.output_dir) if guarded else None
    except OSError as error:  # a file in the folder's place, a read-only mount, no permission
        raise SystemExit(f"--output-dir {args.output_dir}: cannot write there ({error.strerror or error}). Choose a "
                         "folder you can write to.") from None
    if not guarded:
        return run(args, argv, preset, started)
    try:
        check_run_identity(args.output_dir, run_identity(args), args.resume, args.overwrite_output_dir)
        return run(args, argv, preset, started)
    finally:
        lock.close()


@dataclasses.dataclass
class Run:
    """What the steps of one training run share, in the order they fill it."""

    args: argparse.Namespace
    preset: dict
    command: str
    started: float
    data: object = None
    test_split: str = "test"
    tokenizer: object = None
    model: object = None
    tokenized: object = None
    max_new_tokens: int = 0
    num_beams: int = 1
    trainer: object = None
    train_seconds: float = 0.0
    fine_tuning: dict | None = None  # --init-from: validation before and after, and which model was kept
    averaged_checkpoints: list[str] | None = None  # --average-checkpoints: the checkpoints the model is the mean of
    extra_test_scores: dict = dataclasses.field(default_factory=dict)  # --extra-test-splits: split -> its scores

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.args.output_dir)

    @property
    def model_dir(self) -> Path:
        return self.folder.model


def run(args, argv: list[str] | None, preset: dict, started: float) -> dict:
    """Train, evaluate and export, into the output folder `main` has checked and locked."""
    command = "python -m training.train " + shlex.join(sys.argv[1:] if argv is None else argv)
    if args.task in MEMORY_TASKS:
        return run_memory_task(args, preset, command, started)
    state = Run(args, preset, command, started)
    prepare(state)
    train(state)
    if args.average_checkpoints:
        average_last_checkpoints(state)
    if args.init_from:
        keep_the_better_of_start_and_end(state)
    metrics, unconverged = evaluate(state)
    if not state.trainer.is_world_process_zero():
        return metrics  # under torchrun, one process writes the folder and prints
    export(state, metrics, unconverged)
    report(state, metrics, unconverged)
    return metrics


def prepare(state: Run) -> None:
    """Data, tokenizer, model and tokenized splits, and the generation length."""
    args = state.args
    state.data, state.test_split = load_data(args)
    state.tokenizer = build_tokenizer(args, state.data, state.folder.tokenizer)
    state.model = build_model(args, state.preset, state.tokenizer)
    # Targets are cut at the tokenizer's limit unless told otherwise, so one overlong line cannot stall training.
    max_target_length = args.max_target_length or state.tokenizer.model_max_length
    state.tokenized = tokenize(state.data, state.tokenizer, args.max_source_length, max_target_length)
    check_source_lengths(state.tokenized, source_length_limit(state.model.config), args.max_source_length,
                         "max_source_length" if hasattr(state.model.config, "max_source_length")
                         else "max_position_embeddings")
    state.max_new_tokens = generation_length(state.tokenized, max_target_length)
    raise_generation_ceiling(state.model.config, state.max_new_tokens)
    state.num_beams = int(state.preset["training"].pop("generation_num_beams", 1))


def raise_generation_ceiling(config, max_new_tokens: int) -> None:
    """The model's own ceiling (the LSTM model's; a Transformer has none) never refuses the length its targets
    need."""
    if hasattr(config, "max_generation_tokens"):
        config.max_generation_tokens = max(config.max_generation_tokens, max_new_tokens)


def train(state: Run) -> None:
    """Seq2SeqTrainer over the training split, evaluating on validation; resumes when asked."""
    args, model, tokenizer = state.args, state.model, state.tokenizer
    # While training, the length limit goes in `max_length` (start token included): Seq2SeqTrainer fills the model's
    # generation config with every default after its first evaluation batch, and max_length=20 beside max_new_tokens
    # warns on every batch.
    model.generation_config = generation_config_for(model.config, max_length=state.max_new_tokens + 1,
                                                    num_beams=state.num_beams)
    metric_names = ("exact_match", "bleu", "chrf") if args.task == "translation" else ("exact_match",)
    checkpoint_dir = state.folder.checkpoints
    state.trainer = Seq2SeqTrainer(
        model=model,
        args=training_arguments(args, state.preset, checkpoint_dir, len(state.tokenized["train"])),
        train_dataset=state.tokenized["train"],
        eval_dataset=state.tokenized["validation"],
        # with the model, the collator adds decoder_input_ids (label smoothing in Trainer takes the labels away)
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model, padding=True),
        processing_class=tokenizer,
        compute_metrics=make_compute_metrics(tokenizer, metric_names),
        callbacks=[TrainingTimeLimit(args.max_train_minutes)],
    )
    logger.info("%s on %s: %s parameters, %d training examples", args.preset, args.task, f"{parameter_count(model):,}",
                len(state.tokenized["train"]))
    train_or_resume(state.trainer, args.resume, checkpoint_dir)
    state.train_seconds = time.perf_counter() - state.started


def average_last_checkpoints(state: Run) -> None:
    """--average-checkpoints N: the model becomes the mean of the last N complete checkpoints' weights, and is scored
    on validation again, so that the convergence check (and, fine-tuning, the choice of the better model) reads the
    averaged model's score."""
    wanted = state.args.average_checkpoints
    checkpoints = complete_checkpoints(state.folder.checkpoints)[-wanted:]
    if not checkpoints:
        raise SystemExit(f"--average-checkpoints: no complete checkpoint in {state.folder.checkpoints}.")
    if len(checkpoints) < wanted:
        logger.warning("--average-checkpoints %d: only %d checkpoint(s) were saved; averaging those", wanted,
                       len(checkpoints))
    average_into(state.model, checkpoints)
    state.averaged_checkpoints = [checkpoint.name for checkpoint in checkpoints]
    logger.info("averaged %s", ", ".join(state.averaged_checkpoints))
    state.trainer.evaluate()


def evaluate(state: Run) -> tuple[dict, str | None]:
    """Test scores and the run's record; and, when the validation score is below the task's threshold, the note
    that says the run did not converge."""
    args, model = state.args, state.model
    threshold = convergence_threshold(args.task, args.preset)
    unconverged = None
    if threshold is not None:
        tuning = state.fine_tuning
        if tuning and tuning["kept"] == "start" and tuning["metric"] == threshold["metric"]:
            validation_score = tuning["validation_before"]  # the exported model is not the last one evaluated
        else:
            validation_score = final_validation_score(state.trainer, threshold["metric"])
        if validation_score < threshold["minimum"]:
            unconverged = convergence_note(args.task, validation_score, threshold)
    if args.task == "translation":
        model.generation_config = generation_config_for(model.config, max_new_tokens=state.max_new_tokens,
                                                        num_beams=state.num_beams)
        test_metrics, test_predictions = score_translations(
            args, state.data, state.test_split, model, state.tokenizer, state.max_new_tokens, state.num_beams,
            **beam_scoring_kwargs(state.preset))
        (args.output_dir / f"{state.test_split}.predictions.txt").write_text("\n".join(test_predictions) + "\n")
    else:
        test_metrics = state.trainer.evaluate(state.tokenized[state.test_split], metric_key_prefix="test")
    state.extra_test_scores = {split: score_extra_split(state, split) for split in args.extra_test_splits}
    metrics = {
        "task": args.task,
        "preset": args.preset,
        "command": state.command,
        "parameters": parameter_count(model),
        "train_seconds": round(state.train_seconds, 1),
        "test_split": state.test_split,
        **({"source_lang": args.source_lang, "target_lang": args.target_lang} if args.task == "translation" else {}),
        **{key: value for key, value in test_metrics.items() if key.startswith("test_")},
        **({"did_not_converge": unconverged} if unconverged else {}),
        **({"fine_tuning": state.fine_tuning} if state.fine_tuning else {}),
        **({"averaged_checkpoints": state.averaged_checkpoints} if state.averaged_checkpoints else {}),
        **({"extra_test_splits": state.extra_test_scores} if state.extra_test_scores else {}),
    }
    return metrics, unconverged


def score_extra_split(state: Run, split: str) -> dict:
    """One of `--extra-test-splits` scored as the test split is (translation: with its predictions file), its keys
    without the prefix."""
    args = state.args
    if args.task == "translation":
        scores, predictions = score_translations(
            args, state.data, split, state.model, state.tokenizer, state.max_new_tokens, state.num_beams,
            prefix=split, **beam_scoring_kwargs(state.preset))
        (args.output_dir / f"{split}.predictions.txt").write_text("\n".join(predictions) + "\n")
    else:
        scores = state.trainer.evaluate(state.tokenized[split], metric_key_prefix=split)
    return {key.removeprefix(f"{split}_"): value for key, value in scores.items() if key.startswith(f"{split}_")}


def extra_splits_table(scores: dict) -> str:
    """The `--extra-test-splits` scores as a markdown table (the card's and the README's form)."""
    names = [name for name in CARD_SCORES if any(name in split_scores for split_scores in scores.values())]
    lines = ["| split | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    lines += [f"| {split} | " + " | ".join(f"{split_scores[name]:.2f}" if name in split_scores else ""
                                           for name in names) + " |" for split, split_scores in scores.items()]
    return "\n".join(lines)


CARD_SCORES = {"exact_match": "test_exact_match", "bleu": "test_bleu", "chrf": "test_chrf",
               "bleu_lowercased_tokenized": "test_bleu_lowercased_tokenized"}


def card_scores(metrics: dict) -> dict:
    return {name: metrics[key] for name, key in CARD_SCORES.items() if key in metrics}


def export(state: Run, metrics: dict, unconverged: str | None) -> None:
    """The Hub-ready folder: model, tokenizer and code, with showcase predictions, reports and the card."""
    args, model = state.args, state.model
    # the exported generation config: only what is set here
    model.generation_config = generation_config_for(model.config, max_new_tokens=state.max_new_tokens,
                                                    num_beams=state.num_beams)
    showcase = showcase_inputs(args) or list(state.data[state.test_split]["source"][:5])
    predictions = predict_texts(model, state.tokenizer, showcase, state.max_new_tokens, state.num_beams)
    metrics["examples"] = dict(zip(showcase, predictions))
    write_model_folder(state.model_dir, model, state.tokenizer, model.generation_config, metrics,
                       extra=lambda folder: write_reports(state, folder, metrics, showcase, unconverged))


def showcase_inputs(args) -> list[str]:
    """Free-form inputs to show the model on: for dates, those in the languages it was trained on."""
    if args.task == "date":
        languages = set(check_languages(args.languages)) | {NUMERIC}
        return [text for text, language in DATE_SHOWCASE_INPUTS if language in languages]
    return SHOWCASE_INPUTS.get(args.task, [])


def card_languages(args) -> list[str] | None:
    if args.task == "date":
        return list(check_languages(args.languages))
    return CARD_LANGUAGES.get(args.task, [args.source_lang, args.target_lang])


def date_card_notes(args, examples: dict[str, str]) -> str:
    """The date card's languages, reading conventions and showcase predictions."""
    languages = ", ".join(f"`{language}` ({', '.join(LOCALES[language])})"
                          for language in check_languages(args.languages))
    rows = "\n".join(f"| `{source}` | `{prediction}` |" for source, prediction in examples.items())
    return (f"Languages (CLDR locales through Babel): {languages}; and numeric forms. Families: CLDR's full, long, "
            "medium and short patterns and common skeletons, ordinals, apostrophe years, dashed month abbreviations, "
            "compact digits, RFC 2822 and ISO variants, extra spaces and commas, upper and lower case, and the "
            "book's formats. The tokenizer normalizes text to NFKC, so full-width digits read as ASCII digits.\n\n"
            "How ambiguous dates are read: numeric day and month with `/` or `-` and the year last are read month "
            "first (`6/3/73` is 1973-06-03); with dots, day first (`4.7.1776` is 1776-07-04); a four-digit year "
            "first is year-month-day; two-digit years fall in 1950-2049. A source that is not a date still gets a "
            "`YYYY-MM-DD`-shaped answer, which means nothing.\n\n"
            f"| input | output |\n|---|---|\n{rows}")


def write_reports(state: Run, folder: Path, metrics: dict, showcase: list[str], unconverged: str | None) -> None:
    """Training log and curve, attention heatmaps of test sources and the model card, into the folder being
    exported."""
    args, model, log = state.args, state.model, state.trainer.state.log_history
    (folder / "training_log.json").write_text(json.dumps(log, indent=1) + "\n")
    plot_training_curve(log, folder / "training_curve.png")
    heatmap_sources = [showcase[0]] if args.task == "date" else []
    heatmap_sources += list(state.data[state.test_split]["source"][: args.num_heatmaps])
    heatmap_file = None
    if getattr(model.config, "attention", "none") != "none":  # the LSTM model's attention (a Transformer has none)
        for index, source in enumerate(heatmap_sources):
            plot_attention(model, state.tokenizer, source, folder / f"attention_{index}.png",
                           max_new_tokens=state.max_new_tokens)
        heatmap_file = "attention_0.png" if heatmap_sources else None
    card = render_model_card(
        model_name=f"attn-seq2seq-{args.task}-{args.preset}",
        task_description=TASK_DESCRIPTIONS.get(args.task, f"translation {args.source_lang}->{args.target_lang}"),
        config=model.config,
        metrics=card_scores(metrics),
        command=state.command,
        example=showcase[0],
        model_id=args.hub_model_id or f"attn-seq2seq-{args.task}-{args.preset}",
        dataset_name=card_dataset_name(args),
        dataset_type=None if args.task == "translation" else "generated",
        dataset_split=state.test_split,
        languages=card_languages(args),
        heatmap_file=heatmap_file,
        training_details=f"{metrics['parameters']:,} parameters; trained in {state.train_seconds:.0f} s on "
                         f"{torch.get_num_threads()} CPU threads; test split `{state.test_split}`.",
        results_notes=(translation_notes(metrics, state.num_beams, state.preset) if args.task == "translation"
                       else date_card_notes(args, metrics["examples"]) if args.task == "date" else "")
        + (f"\n\nThe other test splits, scored the same way:\n\n{extra_splits_table(state.extra_test_scores)}"
           if state.extra_test_scores else ""),
        warning=f"This run {unconverged}." if unconverged else "",
    )
    card.save(folder / "README.md")


def report(state: Run, metrics: dict, unconverged: str | None) -> None:
    """Scores and showcase predictions on stdout; a run that did not converge says so and exits non-zero."""
    args = state.args
    print(f"\n{args.preset} on {args.task}: test ({state.test_split}) " +
          ", ".join(f"{name} {value:.2f}" for name, value in card_scores(metrics).items()))
    for split, scores in state.extra_test_scores.items():
        print(f"{args.preset} on {args.task}: {split} " +
              ", ".join(f"{name} {scores[name]:.2f}" for name in CARD_SCORES if name in scores))
    for source, prediction in metrics["examples"].items():
        print(f"  {source!r:>34} -> {prediction}")
    if state.fine_tuning:
        tuning = state.fine_tuning
        kept = "the model --init-from loaded" if tuning["kept"] == "start" else "the fine-tuned model"
        print(f"fine-tuning: validation {tuning['metric']} {tuning['validation_before']:.2f} before, "
              f"{tuning['validation_after']:.2f} after; exported {kept}")
    total_seconds = time.perf_counter() - state.started
    print(f"saved {state.model_dir} (heatmap: {state.model_dir / 'attention_0.png'}) in {total_seconds:.0f} s total")
    warn_if_unconverged(args, unconverged)


if __name__ == "__main__":
    main()
