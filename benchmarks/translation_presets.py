"""What each candidate setting of the translation preset costs per training step on this machine.

    python -m benchmarks.translation_presets --dataset ../shared/data/multi30k --label 2026-12-06

Times training steps (forward, backward, clipping, AdamW) of the `translation` preset and of variants of it on real
Multi30k batches of 128 pairs, grouped by length as the preset trains, and converts them to minutes per epoch. With
the 60-minute budget this bounds the epochs each setting can train; the figures go to TRANSLATION.json and
RESULTS.md (section 6), beside the earlier measurements (each under its `--label`): the machine's speed varies from
day to day, so settings are compared within one measurement. The vocabulary candidates tokenize the same pairs with a
joint BPE vocabulary of their own size: a smaller one makes longer sequences and a smaller output layer.
"""

import argparse
import functools
import json
import random
import statistics
import time
from pathlib import Path

import torch
from transformers import DataCollatorForSeq2Seq

from hf_attn_seq2seq.data.tasks import load_translation
from hf_attn_seq2seq.data.tokenization import train_subword_tokenizer
from hf_attn_seq2seq.presets import load_preset


# name -> (preset, model options changed from it[, joint vocabulary size instead of --vocab-size])
CANDIDATES = {
    "translation preset (hidden 256, tied output)": ("translation", {}),
    "the preset on random batches (not grouped by length)": ("translation", {}),
    "hidden 512": ("translation", {"hidden_size": 512}),
    "untied output layer": ("translation", {"tie_word_embeddings": False}),
    "2+2 layers, residual": ("translation", {"encoder_layers": 2, "decoder_layers": 2, "residual": True}),
    "input feeding": ("translation", {"input_feeding": True}),
    "additive attention": ("translation", {"attention": "additive"}),
    "vocabulary 4,000 (joint BPE)": ("translation", {}, 4000),
    "vocabulary 16,000 (joint BPE)": ("translation", {}, 16000),
    "transformer preset (Marian, 3+3 layers, d_model 256)": ("transformer", {}),
}


def build(preset_name: str, changes: dict, tokenizer):
    """The candidate's model, built as the training CLI builds it."""
    from types import SimpleNamespace

    from training.train import build_model

    preset = load_preset(preset_name)
    preset["model"].update(changes)
    return build_model(SimpleNamespace(init_from=None), preset, tokenizer)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="../shared/data/multi30k")
    parser.add_argument("--source-lang", default="de")
    parser.add_argument("--target-lang", default="en")
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per candidate, after one warm-up step")
    parser.add_argument("--label", required=True,
                        help="the measurement's name in the record (e.g. the date): the table shows every recorded "
                             "measurement side by side, as the machine's speed varies from day to day")
    args = parser.parse_args(argv)

    data = load_translation(args.dataset, args.source_lang, args.target_lang)["train"]
    batch_size = load_preset("translation")["training"]["per_device_train_batch_size"]
    # the same random sample of pairs for every candidate, cut into batches after sorting by length (as
    # train_sampling_strategy="group_by_length" forms them) or in random order
    rng = random.Random(0)
    sample = rng.sample(range(len(data)), batch_size * 16)
    shuffle_state = rng.getstate()  # every vocabulary's grouped batches are shuffled alike
    steps_per_epoch = -(-len(data) // batch_size)

    @functools.cache
    def batches_for(vocab_size: int) -> tuple:
        """The tokenizer of a joint vocabulary of `vocab_size` and the sample's (grouped, random) batches in it: a
        smaller vocabulary cuts words into more pieces, so its batches are longer."""
        tokenizer = train_subword_tokenizer(list(data["source"]) + list(data["target"]), vocab_size=vocab_size)
        sources = tokenizer([data[i]["source"] for i in sample])["input_ids"]
        targets = tokenizer(text_target=[data[i]["target"] for i in sample])["input_ids"]
        collator = DataCollatorForSeq2Seq(tokenizer, padding=True)

        def batches_of(indices: list[int]) -> list[dict]:
            return [collator([{"input_ids": sources[i], "attention_mask": [1] * len(sources[i]),
                               "labels": targets[i]} for i in indices[start : start + batch_size]])
                    for start in range(0, len(indices), batch_size)]

        grouped = batches_of(sorted(range(len(sample)), key=lambda i: len(sources[i])))
        shuffler = random.Random()
        shuffler.setstate(shuffle_state)
        shuffler.shuffle(grouped)
        return tokenizer, grouped, batches_of(list(range(len(sample))))

    results = {}
    for name, (preset_name, changes, *vocab_size) in CANDIDATES.items():
        tokenizer, grouped_batches, random_batches = batches_for(vocab_size[0] if vocab_size else args.vocab_size)
        torch.manual_seed(0)
        model = build(preset_name, changes, tokenizer).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=load_preset(preset_name)["training"]["learning_rate"])

        candidate_batches = random_batches if "random batches" in name else grouped_batches
        times = []
        for index, batch in enumerate(candidate_batches[: 1 + args.steps]):
            started = time.perf_counter()
            model(**batch).loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            optimizer.zero_grad()
            if index:  # the first step warms up
                times.append(time.perf_counter() - started)
        seconds = statistics.median(times)
        results[name] = {
            "parameters": sum(p.numel() for p in model.parameters()),
            "ms_per_step": round(1000 * seconds, 1),
            "minutes_per_epoch": round(seconds * steps_per_epoch / 60, 2),
        }
        print(name, results[name], flush=True)
    return {"label": args.label, "batch_size": batch_size, "threads": torch.get_num_threads(), "candidates": results}


if __name__ == "__main__":
    from benchmarks.report import TRANSLATION_PATH

    measured = main()
    recorded = json.loads(TRANSLATION_PATH.read_text()) if TRANSLATION_PATH.exists() else {}
    # a measurement with the same label replaces that one; the others stay beside it
    recorded["preset_costs"] = [old for old in recorded.get("preset_costs", []) if old["label"] != measured["label"]]
    recorded["preset_costs"].append(measured)
    TRANSLATION_PATH.write_text(json.dumps(recorded, indent=1, ensure_ascii=False) + "\n")
    print(f"recorded in {Path(TRANSLATION_PATH)}; run `python -m benchmarks.translation` to refresh RESULTS.md")
