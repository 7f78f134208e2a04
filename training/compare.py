"""The seed's "attention evaluation": which model learns a task fastest?

    python -m training.compare --output-dir outputs/compare
    python -m training.compare --task addition --with-reversal --models seq2seq peeky attention --epochs 12 \
        --output-dir outputs/compare-addition

Trains the `seq2seq`, `peeky` and `attention` presets and, standing for the seed's Transformer, a transformers Marian
model of about the same parameter count, on the same data (the task's, date by default) for the same number of epochs
and through the same pipeline (Seq2SeqTrainer with the training settings of the task's own preset, greedy generation,
exact match on the test split after every epoch). `--with-reversal` adds each LSTM preset with `reverse_source=True`
(the encoder reads the source backwards, Sutskever et al. 2014). Writes `results.json`, `results.md` (a table) and
`accuracy.png` (accuracy per epoch, one line per model).
"""

import argparse
import json
import time
from pathlib import Path

from transformers import (
    DataCollatorForSeq2Seq,
    MarianConfig,
    MarianMTModel,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    TrainerCallback,
    set_seed,
)

from hf_attn_seq2seq import AttnSeq2SeqConfig, AttnSeq2SeqForConditionalGeneration
from hf_attn_seq2seq.data.tasks import load_task
from hf_attn_seq2seq.data.tokenization import build_char_tokenizer
from hf_attn_seq2seq.evaluation import tokenize
from hf_attn_seq2seq.hub import generation_config_for
from hf_attn_seq2seq.metrics import make_compute_metrics
from hf_attn_seq2seq.presets import TASK_PRESETS, load_preset


PRESETS = ("seq2seq", "peeky", "attention")
# A small Transformer (Marian) with about the parameters of the attention preset (~0.6M).
MARIAN_SIZE = dict(d_model=128, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                   decoder_attention_heads=4, encoder_ffn_dim=256, decoder_ffn_dim=256, max_position_embeddings=64,
                   scale_embedding=True)  # as real Marian models: otherwise positions drown the 0.02-std embeddings
# A post-LN Transformer does not train at the LSTMs' 3e-3 without warm-up (its loss stalls near 1.0): it gets the
# usual Transformer recipe instead. Everything else (data, batch, epochs, evaluation) is shared.
MARIAN_TRAINING = dict(learning_rate=1e-3, warmup_steps=0.1)  # warm-up over the first 10% of steps


class EpochTimer(TrainerCallback):
    """Seconds spent training in each epoch (evaluation excluded)."""

    def __init__(self):
        self.seconds: list[float] = []

    def on_epoch_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()

    def on_epoch_end(self, args, state, control, **kwargs):
        self.seconds.append(time.perf_counter() - self._start)


def build_models(tokenizer, with_reversal: bool = False) -> dict:
    ids = dict(pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
               eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.bos_token_id)
    models = {}
    for preset in PRESETS:
        for reverse_source in (False, True) if with_reversal else (False,):
            options = {**load_preset(preset)["model"], "reverse_source": reverse_source}
            config = AttnSeq2SeqConfig(vocab_size=len(tokenizer), **ids, **options)
            models[preset + (" (reversed)" if reverse_source else "")] = AttnSeq2SeqForConditionalGeneration(config)
    marian = MarianConfig(vocab_size=len(tokenizer), forced_eos_token_id=None, dropout=0.1, **ids, **MARIAN_SIZE)
    models["transformer (Marian)"] = MarianMTModel(marian)
    return models


def train_one(name, model, tokenizer, tokenized, args, max_new_tokens: int) -> dict:
    set_seed(args.seed)
    model.generation_config = generation_config_for(model.config, max_length=max_new_tokens + 1)
    training = load_preset(TASK_PRESETS[args.task])["training"]
    if isinstance(model, MarianMTModel):
        training.update(MARIAN_TRAINING)
    training.update(num_train_epochs=args.epochs, output_dir=str(args.output_dir / "runs" / name.split()[0]),
                    eval_strategy="epoch", save_strategy="no", logging_steps=50, predict_with_generate=True,
                    per_device_eval_batch_size=256, report_to="none", seed=args.seed, dataloader_pin_memory=False)
    timer = EpochTimer()
    trainer = Seq2SeqTrainer(
        model=model,
        args=Seq2SeqTrainingArguments(**training),
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["test"],
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True),
        processing_class=tokenizer,
        compute_metrics=make_compute_metrics(tokenizer),
        callbacks=[timer],
    )
    trainer.train()
    accuracy = [entry["eval_exact_match"] for entry in trainer.state.log_history if "eval_exact_match" in entry]
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "test_exact_match_per_epoch": accuracy,
        "seconds_per_epoch": sum(timer.seconds) / len(timer.seconds),
    }


def write_report(results: dict, output_dir: Path, epochs: int, task: str = "date") -> str:
    header = "| model | parameters | s/epoch | " + " | ".join(f"epoch {e}" for e in range(1, epochs + 1)) + " |"
    lines = [header, "|" + "---|" * (3 + epochs)]
    for name, result in results.items():
        scores = " | ".join(f"{score:.2f}" for score in result["test_exact_match_per_epoch"])
        lines.append(f"| {name} | {result['parameters']:,} | {result['seconds_per_epoch']:.1f} | {scores} |")
    table = "\n".join(lines)
    caption = f"Test exact match (%) on the {task} task after each epoch."
    (output_dir / "results.md").write_text(f"{caption}\n\n{table}\n")
    (output_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")

    from hf_attn_seq2seq.visualization import _pyplot

    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    for name, result in results.items():
        scores = result["test_exact_match_per_epoch"]
        axis.plot(range(1, len(scores) + 1), scores, marker="o", label=name)
    axis.set_xlabel("epoch")
    axis.set_ylabel("test exact match (%)")
    axis.set_ylim(0, 100)
    axis.set_title(f"{task} task")
    axis.legend()
    figure.tight_layout()
    figure.savefig(output_dir / "accuracy.png", dpi=120)
    plt.close(figure)
    return table


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", type=Path, default=Path("outputs/compare"))
    parser.add_argument("--task", choices=("date", "addition", "reverse"), default="date")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--num-examples", type=int, default=None,
                        help="examples to generate (default: the task's own default)")
    parser.add_argument("--with-reversal", action="store_true",
                        help="also train each LSTM preset with the source reversed (reverse_source=True)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="*", default=None, help="a subset of the models, by name")
    args = parser.parse_args(argv)
    args.output_dir.mkdir(parents=True, exist_ok=True)

    data = load_task(args.task, num_examples=args.num_examples, seed=args.seed)
    tokenizer = build_char_tokenizer(list(data["train"]["source"]) + list(data["train"]["target"]))
    tokenized = tokenize(data, tokenizer, None, None)
    max_new_tokens = max(len(ids) for ids in tokenized["test"]["labels"]) + 2
    set_seed(args.seed)
    results = {}
    for name, model in build_models(tokenizer, args.with_reversal).items():
        if args.models and name.split()[0] not in args.models:
            continue
        results[name] = train_one(name, model, tokenizer, tokenized, args, max_new_tokens)
        print(name, results[name], flush=True)
    table = write_report(results, args.output_dir, args.epochs, args.task)
    print(table)
    return results


if __name__ == "__main__":
    main()
