"""Tokenizing pairs and generating for many sources: shared by the training CLI, the comparison and the benchmarks."""

from pathlib import Path

import torch

from hf_attn_seq2seq.data.tasks import read_lines
from hf_attn_seq2seq.metrics import moses_tokenize


def tokenize(data, tokenizer, max_source_length: int | None, max_target_length: int | None):
    def encode(batch):
        encoded = tokenizer(batch["source"], max_length=max_source_length, truncation=max_source_length is not None)
        targets = tokenizer(text_target=batch["target"], max_length=max_target_length,
                            truncation=max_target_length is not None)
        encoded["labels"] = targets["input_ids"]
        return encoded

    return data.map(encode, batched=True, remove_columns=["source", "target"], desc="tokenize")


def predict_texts(model, tokenizer, sources: list[str], max_new_tokens: int, num_beams: int = 1,
                  batch_size: int = 100, **generate_kwargs) -> list[str]:
    """Generate for every source, in batches of similar length (less padding); returns texts in input order."""
    order = sorted(range(len(sources)), key=lambda index: len(sources[index]))
    predictions = [""] * len(sources)
    model.eval()
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        encoded = tokenizer([sources[index] for index in batch], return_tensors="pt", padding=True, truncation=True)
        with torch.no_grad():
            output = model.generate(input_ids=encoded["input_ids"].to(model.device),
                                    attention_mask=encoded["attention_mask"].to(model.device),
                                    max_new_tokens=max_new_tokens, num_beams=num_beams, **generate_kwargs)
        for index, text in zip(batch, tokenizer.batch_decode(output, skip_special_tokens=True)):
            predictions[index] = text.strip()
    return predictions


def tokenized_references(dataset: str, split: str, lang: str, references: list[str]) -> list[str]:
    """The split's lowercased tokenized references: the dataset's own `tok/{split}.lc.norm.tok.{lang}[.gz]` file when
    it has one (Multi30k does), else the raw references through the same Moses pipeline."""
    split_file = "val" if split == "validation" else split
    for path in (Path(dataset) / "tok" / f"{split_file}.lc.norm.tok.{lang}{suffix}" for suffix in (".gz", "")):
        if path.is_file() and len(lines := read_lines(path)) == len(references):
            return lines
    return moses_tokenize(references, lang)


__all__ = ["predict_texts", "tokenize", "tokenized_references"]
