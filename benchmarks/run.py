"""Side-by-side speed and quality measurements; writes benchmarks/RESULTS.md.

    python -m benchmarks.run                 # everything (about 30 minutes on 2 cores, 24 of them for int8_large)
    python -m benchmarks.run --only generation threads

Each figure is a median over repeats, and each goal is a ratio of two measurements taken in the same run, so a noisy
shared machine moves both sides alike.
"""

import argparse
import json
import statistics
import sys
import time

import torch
from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments, TrainerCallback, set_seed
from transformers.generation import GenerationMixin

from benchmarks.report import RESULTS_PATH, write_results
from hf_attn_seq2seq import AttnSeq2SeqConfig, AttnSeq2SeqForConditionalGeneration
from hf_attn_seq2seq.data.tasks import load_task
from hf_attn_seq2seq.data.tokenization import build_char_tokenizer
from hf_attn_seq2seq.evaluation import tokenize
from hf_attn_seq2seq.hub import generation_config_for
from hf_attn_seq2seq.metrics import make_compute_metrics
from hf_attn_seq2seq.models.attn_seq2seq.modeling_attn_seq2seq import CACHE_FIELD
from hf_attn_seq2seq.presets import load_preset
from hf_attn_seq2seq.quantization import quantize_dynamic_int8


SECTIONS = ("training", "generation", "threads", "accuracy", "fast", "int8", "int8_large")


def interleaved_median_seconds(functions: dict, repeats: int = 9, warmup: int = 1) -> dict:
    """Median seconds of each function, timed in alternation so that drifts in the machine's speed reach all alike."""
    for function in functions.values():
        for _ in range(warmup):
            function()
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def median_seconds(function, repeats: int = 5, warmup: int = 1) -> float:
    return interleaved_median_seconds({"only": function}, repeats, warmup)["only"]


class Setup:
    """The main job's data, tokenizer and model configuration, shared by every section."""

    def __init__(self, num_examples: int | None = None, seed: int = 0, **model_overrides):
        set_seed(seed)
        self.data = load_task("date", num_examples=num_examples, seed=seed)
        self.tokenizer = build_char_tokenizer(list(self.data["train"]["source"]) + list(self.data["train"]["target"]))
        self.tokenized = tokenize(self.data, self.tokenizer, None, None)
        self.max_new_tokens = max(len(ids) for ids in self.tokenized["test"]["labels"]) + 2
        self.preset = load_preset("attention")
        self.preset["model"].update(model_overrides)
        self.collator = DataCollatorForSeq2Seq(self.tokenizer, padding=True)

    def new_model(self, seed: int = 0) -> AttnSeq2SeqForConditionalGeneration:
        torch.manual_seed(seed)
        config = AttnSeq2SeqConfig(vocab_size=len(self.tokenizer), pad_token_id=self.tokenizer.pad_token_id,
                                   bos_token_id=self.tokenizer.bos_token_id, eos_token_id=self.tokenizer.eos_token_id,
                                   decoder_start_token_id=self.tokenizer.bos_token_id, **self.preset["model"])
        model = AttnSeq2SeqForConditionalGeneration(config)
        model.generation_config = generation_config_for(config, max_new_tokens=self.max_new_tokens)
        return model

    def training_arguments(self, output_dir: str, **overrides) -> Seq2SeqTrainingArguments:
        values = dict(output_dir=output_dir, report_to="none", save_strategy="no", eval_strategy="no",
                      logging_steps=10_000, disable_tqdm=True, dataloader_pin_memory=False, use_cpu=True, seed=0,
                      predict_with_generate=True, per_device_eval_batch_size=256)
        values.update(self.preset["training"])
        values.update(overrides)
        return Seq2SeqTrainingArguments(**values)


# ------------------------------------------------------------------------------------------------------------------
# 1. Training throughput: Seq2SeqTrainer against a plain PyTorch loop
# ------------------------------------------------------------------------------------------------------------------


class StepTimer(TrainerCallback):
    def __init__(self, warmup_steps: int):
        self.warmup_steps = warmup_steps
        self.start = self.end = None

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.warmup_steps:
            self.start = time.perf_counter()
        self.end = time.perf_counter()


def optimizer_name(setup: Setup) -> str:
    args = setup.training_arguments("/tmp/bench-trainer")
    optimizer_class, settings = Seq2SeqTrainer.get_optimizer_cls_and_kwargs(args)
    return optimizer_class.__name__ + (" (fused)" if settings.get("fused") else "")


def target_tokens(batches) -> int:
    return sum(int((batch["labels"] != -100).sum()) for batch in batches)


def bench_training(setup: Setup, warmup_steps: int = 10, timed_steps: int = 150, rounds: int = 3) -> dict:
    """Trainer against a plain loop, interleaved: `rounds` pairs of runs in alternating order, so drifts in the shared
    machine's speed reach both sides; the overhead is the median of the per-round time ratios. Both sides get the
    same optimizer (the class and settings the Trainer builds: fused AdamW), the same batches in the same order,
    collated on the fly by the same collator through a DataLoader, and the same clipping."""
    batch_size = setup.preset["training"]["per_device_train_batch_size"]
    total = warmup_steps + timed_steps
    train = setup.tokenized["train"].select(range(total * batch_size))
    tokens = target_tokens(setup.collator([train[i] for i in range(start, start + batch_size)])
                           for start in range(warmup_steps * batch_size, total * batch_size, batch_size))

    def arguments():
        return setup.training_arguments("/tmp/bench-trainer", max_steps=total, lr_scheduler_type="constant")

    class InOrderTrainer(Seq2SeqTrainer):
        def _get_train_sampler(self, *args, **kwargs):
            return torch.utils.data.SequentialSampler(self.train_dataset)

    def trainer_seconds() -> float:
        # the Trainer, fed in the same order (no shuffling) with the same optimizer settings
        timer = StepTimer(warmup_steps)
        trainer = InOrderTrainer(model=setup.new_model(), args=arguments(), train_dataset=train,
                                 data_collator=setup.collator, callbacks=[timer])
        trainer.train()
        return timer.end - timer.start

    def loop_seconds() -> float:
        # the plain loop: same model, data order, collation, optimizer and clipping
        model = setup.new_model().train()
        args = arguments()
        optimizer_class, optimizer_settings = Seq2SeqTrainer.get_optimizer_cls_and_kwargs(args, model)
        optimizer = optimizer_class(model.parameters(), **{**optimizer_settings, "lr": args.learning_rate,
                                                            "weight_decay": args.weight_decay})
        batches = torch.utils.data.DataLoader(train, batch_size=batch_size, collate_fn=setup.collator, shuffle=False)
        start = None
        for step, batch in enumerate(batches):
            if step == warmup_steps:
                start = time.perf_counter()
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad()
        return time.perf_counter() - start

    trainer_times, loop_times = [], []
    for index in range(rounds):
        if index % 2:
            loop_times.append(loop_seconds())
            trainer_times.append(trainer_seconds())
        else:
            trainer_times.append(trainer_seconds())
            loop_times.append(loop_seconds())
    ratios = [trainer / loop for trainer, loop in zip(trainer_times, loop_times)]
    return {
        "trainer_tokens_per_second": tokens / statistics.median(trainer_times),
        "loop_tokens_per_second": tokens / statistics.median(loop_times),
        "trainer_overhead": statistics.median(ratios) - 1,
        "round_overheads": [round(ratio - 1, 4) for ratio in ratios],
        "timed_steps": timed_steps,
        "rounds": rounds,
        "batch_size": batch_size,
        "optimizer": f"{optimizer_name(setup)}",
    }


# ------------------------------------------------------------------------------------------------------------------
# 2. Time to accuracy
# ------------------------------------------------------------------------------------------------------------------


class StopAtAccuracy(TrainerCallback):
    def __init__(self, target: float):
        self.target = target
        self.start = time.perf_counter()
        self.reached = None

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.reached is None and metrics and metrics.get("eval_exact_match", 0) >= self.target:
            self.reached = (time.perf_counter() - self.start, state.global_step, metrics["eval_exact_match"])
            control.should_training_stop = True


def bench_time_to_accuracy(setup: Setup, target: float = 99.9, eval_steps: int = 100):
    model = setup.new_model()
    model.generation_config = generation_config_for(model.config, max_length=setup.max_new_tokens + 1)
    stopper = StopAtAccuracy(target)
    trainer = Seq2SeqTrainer(
        model=model,
        args=setup.training_arguments("/tmp/bench-accuracy", eval_strategy="steps", eval_steps=eval_steps),
        train_dataset=setup.tokenized["train"],
        eval_dataset=setup.tokenized["validation"],  # the stop criterion reads validation, never test
        data_collator=setup.collator,
        compute_metrics=make_compute_metrics(setup.tokenizer),
        callbacks=[stopper],
    )
    stopper.start = time.perf_counter()
    trainer.train()
    result = {"target": target, "eval_steps": eval_steps, "stop_split": "validation"}
    if stopper.reached:
        result.update(seconds=stopper.reached[0], step=stopper.reached[1], exact_match=stopper.reached[2],
                      test_exact_match=trainer.evaluate(setup.tokenized["test"], metric_key_prefix="test")[
                          "test_exact_match"])
    model.generation_config = generation_config_for(model.config, max_new_tokens=setup.max_new_tokens)
    return result, model.eval()


# The book's model at its own settings (the seed's date task, chapter 8 of "Deep Learning from Scratch 2"): dot
# attention after a one-layer LSTM on each side, embeddings 16, hidden 256, the source reversed, Adam at 0.001 with a
# constant rate, batch 128, gradient norm clipped at 5.
BOOK_BASELINE = {
    "model": {"attention": "dot", "embedding_size": 16, "hidden_size": 256, "reverse_source": True},
    "training": {"per_device_train_batch_size": 128, "learning_rate": 0.001, "lr_scheduler_type": "constant",
                 "num_train_epochs": 10, "max_grad_norm": 5.0},
}
EVAL_EVERY_EXAMPLES = 12_800  # both runs read validation after the same number of training examples


def bench_fast_preset(setup: Setup, target: float = 99.9) -> dict:
    """The `fast` date preset against the book's model, each trained until validation reaches `target` (then scored
    on test), in one run; evaluation time counts on both sides."""
    original = setup.preset
    results = {}
    try:
        for name, preset in (("book", BOOK_BASELINE), ("fast", load_preset("fast"))):
            setup.preset = {"model": dict(preset["model"]), "training": dict(preset["training"])}
            batch_size = setup.preset["training"]["per_device_train_batch_size"]
            results[name], _ = bench_time_to_accuracy(setup, target, eval_steps=EVAL_EVERY_EXAMPLES // batch_size)
            results[name]["settings"] = setup.preset
            print(name, results[name], flush=True)
    finally:
        setup.preset = original
    if "seconds" in results["book"] and "seconds" in results["fast"]:
        results["time_ratio"] = results["fast"]["seconds"] / results["book"]["seconds"]
    return results


# ------------------------------------------------------------------------------------------------------------------
# 3. Generation against a hand-written greedy loop, and time per token against output length
# ------------------------------------------------------------------------------------------------------------------


@torch.no_grad()
def hand_written_greedy(model, input_ids, attention_mask, new_tokens: int) -> torch.Tensor:
    """The least a greedy decoder can do: encode once, then one decoder step and one argmax per token."""
    cache = model.new_cache(input_ids, attention_mask)
    token = torch.full((input_ids.shape[0], 1), model.config.decoder_start_token_id)
    tokens = [token]
    for _ in range(new_tokens):
        token = model.decode_step(token, cache).logits.argmax(-1, keepdim=True)
        tokens.append(token)
    return torch.cat(tokens, dim=1)


class FixedLength:
    """Within it, `generate()` has no end-of-sequence token, so it makes exactly `new_tokens` like the hand loop.

    (An `eos_token_id=None` passed to generate is filled back in from the model's generation config.)"""

    def __init__(self, model, new_tokens: int, **settings):
        self.model, self.new_tokens, self.settings = model, new_tokens, settings

    def __enter__(self):
        self.saved = self.model.generation_config
        config = generation_config_for(self.model.config, max_new_tokens=self.new_tokens, **self.settings)
        config.eos_token_id = None
        self.model.generation_config = config
        return self.model

    def __exit__(self, *exc):
        self.model.generation_config = self.saved


def bench_generation(setup: Setup, model) -> dict:
    model.eval()
    sources = list(setup.data["test"]["source"])
    new_tokens = setup.max_new_tokens
    results = {}
    for label, batch_size, beams in (("greedy, batch 1", 1, 1), ("greedy, batch 64", 64, 1),
                                     ("beam 5, batch 16", 16, 5)):
        encoded = setup.tokenizer(sources[:batch_size], return_tensors="pt", padding=True)
        inputs = dict(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"])
        with torch.no_grad(), FixedLength(model, new_tokens, num_beams=beams):
            generate_seconds = median_seconds(lambda inputs=inputs: model.generate(**inputs), repeats=7)
            generated = model.generate(**inputs)
            entry = {"sequences_per_second": batch_size / generate_seconds, "seconds": generate_seconds}
            if beams == 1:
                hand_seconds = median_seconds(
                    lambda inputs=inputs: hand_written_greedy(model, **inputs, new_tokens=new_tokens), repeats=7
                )
                assert torch.equal(generated, hand_written_greedy(model, **inputs, new_tokens=new_tokens))
                # transformers' general loop, which every call that is not plain greedy search goes through
                general_seconds = median_seconds(
                    lambda inputs=inputs: GenerationMixin.generate(model, **inputs), repeats=7
                )
                assert torch.equal(generated, GenerationMixin.generate(model, **inputs))
                entry.update(hand_sequences_per_second=batch_size / hand_seconds,
                             ratio=generate_seconds / hand_seconds, general_loop_ratio=general_seconds / hand_seconds)
        results[label] = entry

    encoded = setup.tokenizer(sources[:1], return_tensors="pt")
    per_token = {}
    for length in (16, 64, 256):
        with torch.no_grad(), FixedLength(model, length):
            seconds = median_seconds(lambda: model.generate(**encoded), repeats=5)
        per_token[length] = seconds / length
    results["seconds_per_token"] = per_token
    results["per_token_ratio_256_vs_16"] = per_token[256] / per_token[16]
    results["onednn"] = torch.backends.mkldnn.enabled  # as the process had it; the model no longer switches it
    return results


# ------------------------------------------------------------------------------------------------------------------
# 4. int8
# ------------------------------------------------------------------------------------------------------------------


def exact_match(model, setup: Setup, batch_size: int = 250) -> float:
    sources, targets = list(setup.data["test"]["source"]), list(setup.data["test"]["target"])
    correct = 0
    for start in range(0, len(sources), batch_size):
        encoded = setup.tokenizer(sources[start : start + batch_size], return_tensors="pt", padding=True)
        with torch.no_grad():
            output = model.generate(**encoded)
        predictions = setup.tokenizer.batch_decode(output, skip_special_tokens=True)
        correct += sum(p.strip() == t for p, t in zip(predictions, targets[start : start + batch_size]))
    return 100 * correct / len(sources)


def bench_int8(setup: Setup, model) -> dict:
    quantized = quantize_dynamic_int8(model)
    encoded = setup.tokenizer(list(setup.data["test"]["source"][:1]), return_tensors="pt")
    with torch.no_grad(), FixedLength(model, setup.max_new_tokens), FixedLength(quantized, setup.max_new_tokens):
        seconds = interleaved_median_seconds({"fp32": lambda: model.generate(**encoded),
                                              "int8": lambda: quantized.generate(**encoded)})
    try:
        quantized.save_pretrained("/tmp/bench-int8")
        save = "saved"
    except NotImplementedError as error:
        save = f"refused with a clear error: {error}"
    fp32_accuracy, int8_accuracy = exact_match(model, setup), exact_match(quantized, setup)
    return {"hidden_size": model.config.hidden_size, "parameters": model.num_parameters(),
            "fp32_seconds_batch1": seconds["fp32"], "int8_seconds_batch1": seconds["int8"],
            "speedup": seconds["fp32"] / seconds["int8"], "fp32_exact_match": fp32_accuracy,
            "int8_exact_match": int8_accuracy, "accuracy_loss_points": fp32_accuracy - int8_accuracy, "save": save}


def bench_int8_large(num_examples: int | None, hidden_size: int = 1024, learning_rate: float = 1e-3) -> dict:
    """int8 where matrix work dominates a step: the date task at hidden size 1024 (weights of about 20 MB in fp32,
    beyond the CPU caches), trained to the same 99.9% as the main job."""
    setup = Setup(num_examples, hidden_size=hidden_size)
    setup.preset["training"]["learning_rate"] = learning_rate
    accuracy, model = bench_time_to_accuracy(setup)
    return {**bench_int8(setup, model), "learning_rate": learning_rate, "time_to_accuracy": accuracy}


# ------------------------------------------------------------------------------------------------------------------
# 5. Threads and oneDNN
# ------------------------------------------------------------------------------------------------------------------


def bench_threads(setup: Setup, model) -> dict:
    model.eval()
    encoded = setup.tokenizer(list(setup.data["test"]["source"][:1]), return_tensors="pt")
    with torch.no_grad():
        encoder_outputs = model.get_encoder()(encoded["input_ids"])
        cache = model(encoder_outputs=encoder_outputs, decoder_input_ids=torch.tensor([[1]]),
                      use_cache=True)[CACHE_FIELD]
    wide = setup.tokenizer(list(setup.data["test"]["source"][:64]), return_tensors="pt", padding=True)
    with torch.no_grad():
        wide_outputs = model.get_encoder()(wide["input_ids"], wide["attention_mask"])
        wide_cache = model(encoder_outputs=wide_outputs, attention_mask=wide["attention_mask"],
                           decoder_input_ids=torch.ones(64, 1, dtype=torch.long), use_cache=True)[CACHE_FIELD]
    original_threads = torch.get_num_threads()
    results = {}
    for batch_size, outputs, mask, state in ((1, encoder_outputs, None, cache),
                                             (64, wide_outputs, wide["attention_mask"], wide_cache)):
        step_input = torch.full((batch_size, 1), 5)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for onednn in (True, False):
                def step(outputs=outputs, mask=mask, state=state, step_input=step_input):
                    for _ in range(50):
                        model(encoder_outputs=outputs, attention_mask=mask, decoder_input_ids=step_input,
                              past_key_values=state)

                with torch.no_grad(), torch.backends.mkldnn.flags(enabled=onednn):
                    name = f"batch {batch_size}, {threads} thread(s), oneDNN {'on' if onednn else 'off'}"
                    results[name] = median_seconds(step) / 50
    torch.set_num_threads(original_threads)
    return results


# ------------------------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=SECTIONS, default=None)
    parser.add_argument("--num-examples", type=int, default=None)
    args = parser.parse_args(argv)
    wanted = set(args.only or SECTIONS)
    setup = Setup(args.num_examples)
    results = {}
    if "training" in wanted:
        results["training"] = bench_training(setup)
        print("training", results["training"], flush=True)
    model = None
    if wanted & {"accuracy", "generation", "int8", "threads"}:
        if "accuracy" in wanted or "int8" in wanted:
            results["accuracy"], model = bench_time_to_accuracy(setup)
            print("accuracy", results["accuracy"], flush=True)
        else:
            model = setup.new_model().eval()
    if "fast" in wanted:
        results["fast"] = bench_fast_preset(setup)
    if "generation" in wanted:
        results["generation"] = bench_generation(setup, model)
        print("generation", results["generation"], flush=True)
    if "threads" in wanted:
        results["threads"] = bench_threads(setup, model)
        print("threads", results["threads"], flush=True)
    if "int8" in wanted:
        results["int8"] = bench_int8(setup, model)
        print("int8", results["int8"], flush=True)
    if "int8_large" in wanted:
        results["int8_large"] = bench_int8_large(args.num_examples)
        print("int8_large", results["int8_large"], flush=True)
    command = ("python -m benchmarks.run " + " ".join(sys.argv[1:] if argv is None else argv)).strip()
    if args.only:  # a partial run replaces its sections in the record and keeps the others, saying which is which
        recorded = json.loads(RESULTS_PATH.with_suffix(".json").read_text())
        recorded.pop("remeasured", None)
        base_command = recorded.pop("command", "python -m benchmarks.run")
        results = {**recorded, **results, "remeasured": {"command": command, "sections": sorted(results)}}
        command = base_command
    print(write_results(results, command))
    return results


if __name__ == "__main__":
    main()
