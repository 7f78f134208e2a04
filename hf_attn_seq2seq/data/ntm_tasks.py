"""The Neural Turing Machine's copy task (Graves et al. 2014, section 4.1) as a `datasets` pipeline.

Each example is a sequence of random bit vectors. The model reads the vectors, then a delimiter (a step with only
the extra delimiter channel on), then blank steps during which it must write the sequence back:

    inputs   v1   v2   ... vL    delim  0  0 ... 0        (bits + 1 delimiter channel per step)
    labels   -100 -100 ... -100  -100   v1 v2 ... vL     (-100: not scored; only the copy is)

`load_copy_task` (`load_task("copy")`) gives training sequences of lengths 1-20, as in the paper, and test splits of
lengths 30 to 120 that no training sequence reaches, to measure whether what was learned generalises in length, and
of lengths 1-20 with a tenth to nine tenths of the bits on, to measure whether it generalises in content. Each
training sequence draws its share of ones uniformly from 0.1-0.9 (the paper's are all 0.5): a model trained on
half-on vectors only loses its place in the memory on sparse ones (RESULTS.md, section 10).
"""

import datasets
import numpy as np
import torch

from hf_attn_seq2seq.models.ntm.modeling_ntm import UNSCORED


COPY_BITS = 8
COPY_TRAIN_LENGTHS = (1, 20)
COPY_TEST_LENGTHS = (30, 40, 60, 80, 100, 120)  # the paper's figure 4 shows 30-80; 120 still fits 128 memory rows
COPY_TRAIN_ONES = (0.1, 0.9)  # each training sequence's share of ones, drawn uniformly per sequence
COPY_TEST_ONES_PERCENT = (10, 25, 50, 75, 90)  # test splits of lengths 1-20 at a fixed share of ones
COPY_DEFAULT_TRAIN_SIZE = 160_000  # beyond 20 minutes of training at batch 16 on one CPU core
COPY_EVALUATION_SIZES = {"validation": 512, "test": 1024, "longer": 256}


def copy_task_dataset(num_examples: int, lengths: tuple[int, int] = COPY_TRAIN_LENGTHS, bits: int = COPY_BITS,
                      seed: int | list[int] = 0,
                      ones_probability: float | tuple[float, float] = 0.5) -> datasets.Dataset:
    """`num_examples` sequences with a `sequence` column: `length x bits` lists of 0/1, the length uniform in
    `lengths` (inclusive), each bit 1 with `ones_probability` (a pair `(low, high)`: a probability drawn uniformly
    per sequence). The same seed gives the same data."""
    low, high = lengths
    densities = tuple(ones_probability) if isinstance(ones_probability, (tuple, list)) else (ones_probability,) * 2
    if len(densities) != 2 or not all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in densities) \
            or not 0 <= densities[0] <= densities[1] <= 1:
        raise ValueError(f"ones_probability must be a probability or a pair (low, high) of them, got "
                         f"{ones_probability!r}.")
    if isinstance(num_examples, bool) or not isinstance(num_examples, int) or num_examples < 1:
        raise ValueError(f"num_examples must be a positive integer, got {num_examples!r}.")
    if not 1 <= low <= high:
        raise ValueError(f"lengths must be (shortest, longest) with 1 <= shortest <= longest, got {lengths!r}.")
    if isinstance(bits, bool) or not isinstance(bits, int) or bits < 1:
        raise ValueError(f"bits must be a positive integer, got {bits!r}.")
    rng = np.random.default_rng(seed)  # a seed may also be a list of ints (numpy's SeedSequence entropy)
    sequences = []
    for _ in range(num_examples):
        length = int(rng.integers(low, high + 1))
        density = rng.uniform(*densities)
        sequences.append((rng.random((length, bits)) < density).astype(int).tolist())
    return datasets.Dataset.from_dict({"sequence": sequences})


def load_copy_task(num_examples: int | None = None, seed: int = 0) -> datasets.DatasetDict:
    """The copy task as `DatasetDict`: `train` (`num_examples` sequences, default 160,000), `validation` and `test` of
    lengths 1-20 with a share of ones from `COPY_TRAIN_ONES`; `test_length_30` ... `test_length_120` (half the bits
    on); and `test_ones_10` ... `test_ones_90`, lengths 1-20 with that percentage of ones. Every split is drawn from
    its own random stream of `seed`, so no split repeats another and the same seed gives the same data."""
    num_examples = COPY_DEFAULT_TRAIN_SIZE if num_examples is None else num_examples
    splits = {"train": (num_examples, COPY_TRAIN_LENGTHS, COPY_TRAIN_ONES),
              "validation": (COPY_EVALUATION_SIZES["validation"], COPY_TRAIN_LENGTHS, COPY_TRAIN_ONES),
              "test": (COPY_EVALUATION_SIZES["test"], COPY_TRAIN_LENGTHS, COPY_TRAIN_ONES)}
    for length in COPY_TEST_LENGTHS:
        splits[f"test_length_{length}"] = (COPY_EVALUATION_SIZES["longer"], (length, length), 0.5)
    for percent in COPY_TEST_ONES_PERCENT:
        splits[f"test_ones_{percent}"] = (COPY_EVALUATION_SIZES["longer"], COPY_TRAIN_LENGTHS, percent / 100)
    return datasets.DatasetDict({
        split: copy_task_dataset(size, lengths, seed=[seed, index], ones_probability=ones)
        for index, (split, (size, lengths, ones)) in enumerate(splits.items())
    })


class CopyTaskCollator:
    """Batches `sequence` rows into `inputs` `(batch, steps, bits + 1)` and `labels` `(batch, steps, bits)`, with -100
    at every step that is not part of the copy; shorter rows are padded with blank, unscored steps at the end."""

    task = "copy"
    input_size = COPY_BITS + 1  # the widths of the task's own 8-bit vectors (the collator takes any width)
    output_size = COPY_BITS

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("No rows to batch: the copy task needs at least one sequence.")
        sequences = [torch.tensor(row["sequence"], dtype=torch.float32) for row in rows]
        if any(sequence.dim() != 2 or 0 in sequence.shape for sequence in sequences):
            raise ValueError("Every sequence must be a non-empty list of equally long bit vectors.")
        bits = sequences[0].shape[1]
        if any(sequence.shape[1] != bits for sequence in sequences):
            raise ValueError(f"Every vector must have {bits} bits, like the first sequence's.")
        steps = max(2 * len(sequence) + 1 for sequence in sequences)
        inputs = torch.zeros(len(rows), steps, bits + 1)
        labels = torch.full((len(rows), steps, bits), float(UNSCORED))
        for row, sequence in enumerate(sequences):
            length = len(sequence)
            inputs[row, :length, :bits] = sequence
            inputs[row, length, bits] = 1.0  # the delimiter
            labels[row, length + 1 : 2 * length + 1] = sequence
        return {"inputs": inputs, "labels": labels}


# Every task of bit vectors the training CLI offers, by name: the copy task and the paper's other four.
from .ntm_paper_tasks import PAPER_TASKS, BitTask  # noqa: E402, I001 (after the copy task, which it sits beside)


BIT_TASKS = {
    "copy": BitTask("copy", load_copy_task, CopyTaskCollator, "bit_errors_per_sequence",
                    "the copy task of the Neural Turing Machine paper: read a sequence of random 8-bit vectors, then "
                    "a delimiter, then write the sequence back"),
    **PAPER_TASKS,
}

__all__ = ["BIT_TASKS", "COPY_BITS", "COPY_TEST_LENGTHS", "COPY_TEST_ONES_PERCENT", "COPY_TRAIN_LENGTHS",
           "COPY_TRAIN_ONES", "CopyTaskCollator", "copy_task_dataset", "load_copy_task"]
