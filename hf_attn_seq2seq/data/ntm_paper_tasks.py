"""The Neural Turing Machine paper's other tasks (Graves, Wayne and Danihelka, 2014, sections 4.2-4.5) as `datasets`
pipelines, beside the copy task (`ntm_tasks`). Each probes a different use of the memory:

- **repeat copy** (4.2, a nested loop): read a sequence of 8-bit vectors and a repeat count, write the sequence that
  many times, then an end marker.
- **associative recall** (4.3, content lookup): read a list of items (three 6-bit vectors each), then one of them as
  a query; write the item that followed it.
- **dynamic N-grams** (4.4, counting): read 200 bits drawn from a random 6-gram table; predict each next bit. The
  Bayesian optimum, which counts what followed each 5-bit context so far, is the yardstick.
- **priority sort** (4.5, writing by computed address): read 20 vectors with a priority each; write the 16 of
  highest priority, highest first.

A row holds the task itself (`sequence` and `repeats`; `items` and `query`; `bits` and the `table` they were drawn
from; `vectors` and `priorities`); the task's collator lays it out as the model reads it, one vector per step, input
phase first, then blank steps during which the model answers:

    inputs   x1 x2 ... xT  delimiter(s)  0  0 ... 0
    labels   -100 ...              -100  y1 y2 ... yK    (-100: not scored)

Every task has `train`, `validation` and `test` splits drawn as in training and, where the paper tests
generalisation, splits beyond what training shows (`test_repeats_20`, `test_length_20`, `test_items_12`). Each split
comes from its own random stream of the seed, so the same seed gives the same data and no split repeats another.
"""

import math
from dataclasses import dataclass

import datasets
import numpy as np
import torch

from hf_attn_seq2seq.models.ntm.modeling_ntm import UNSCORED


# ---------------------------------------------------------------------------------------------------------------
# Shared: row checks and the collator that pads laid-out rows
# ---------------------------------------------------------------------------------------------------------------


def _bit_array(value, name: str, shape_tail: tuple[int, ...], what: str) -> np.ndarray:
    """`value` as a float array of 0/1 whose trailing dimensions are `shape_tail`, with at least one entry."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {what}; got a ragged or non-numeric list.") from None
    if array.ndim != 1 + len(shape_tail) or array.shape[1:] != shape_tail or array.shape[0] == 0:
        raise ValueError(f"{name} must be {what}; got shape {array.shape}.")
    if not np.isin(array, (0.0, 1.0)).all():
        raise ValueError(f"{name} must hold only the bits 0 and 1.")
    return array


def _whole_number(value, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or \
            (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise ValueError(f"{name} must be a whole number {bound}; got {value!r}.")
    return int(value)


class LaidOutTaskCollator:
    """Batches rows that `layout(row)` turns into `(inputs (steps, input_size), labels (steps, output_size))`:
    `inputs` `(batch, steps, input_size)` and `labels` `(batch, steps, output_size)`, shorter rows padded at the end
    with blank, unscored steps. A bad row is a `ValueError` naming the row and what is wrong with it."""

    task = ""
    input_size = 0
    output_size = 0

    def layout(self, row: dict) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError(f"No rows to batch: the {self.task} task needs at least one example.")
        layouts = []
        for index, row in enumerate(rows):
            try:
                layouts.append(self.layout(row))
            except KeyError as error:
                raise ValueError(f"Row {index} of the {self.task} batch has no {error} column.") from None
            except ValueError as error:
                raise ValueError(f"Row {index} of the {self.task} batch: {error}") from None
        steps = max(len(inputs) for inputs, _ in layouts)
        inputs = torch.zeros(len(rows), steps, self.input_size)
        labels = torch.full((len(rows), steps, self.output_size), float(UNSCORED))
        for row, (row_inputs, row_labels) in enumerate(layouts):
            inputs[row, : len(row_inputs)] = torch.from_numpy(row_inputs).float()
            labels[row, : len(row_labels)] = torch.from_numpy(row_labels).float()
        return {"inputs": inputs, "labels": labels}


def _splits(seed: int, sizes: dict[str, tuple], make) -> datasets.DatasetDict:
    """One `make(size, *options, rng)` per split, each from its own random stream of `seed`."""
    return datasets.DatasetDict({
        split: make(size, *options, np.random.default_rng([seed, index]))
        for index, (split, (size, *options)) in enumerate(sizes.items())
    })


def _check_size(num_examples) -> int:
    if isinstance(num_examples, bool) or not isinstance(num_examples, int) or num_examples < 1:
        raise ValueError(f"num_examples must be a positive integer, got {num_examples!r}.")
    return num_examples


EVALUATION_SIZES = {"validation": 512, "test": 1024, "generalisation": 256}


# ---------------------------------------------------------------------------------------------------------------
# Repeat copy (section 4.2)
# ---------------------------------------------------------------------------------------------------------------

REPEAT_COPY_BITS = 8
REPEAT_COPY_TRAIN_LENGTHS = (1, 10)
REPEAT_COPY_TRAIN_REPEATS = (1, 10)
# The count channel holds repeats / 10 (the paper normalises the count), so 20 repeats read as 2.0.
REPEAT_COUNT_SCALE = 10


def repeat_copy_dataset(num_examples: int, lengths=REPEAT_COPY_TRAIN_LENGTHS, repeats=REPEAT_COPY_TRAIN_REPEATS,
                        rng=None) -> datasets.Dataset:
    """`sequence` (`length x 8` bits) and `repeats`, each uniform in its (inclusive) range."""
    rng = rng if rng is not None else np.random.default_rng(0)
    rows = {"sequence": [], "repeats": []}
    for _ in range(_check_size(num_examples)):
        length = int(rng.integers(lengths[0], lengths[1] + 1))
        rows["sequence"].append(rng.integers(0, 2, size=(length, REPEAT_COPY_BITS)).tolist())
        rows["repeats"].append(int(rng.integers(repeats[0], repeats[1] + 1)))
    return datasets.Dataset.from_dict(rows)


def load_repeat_copy_task(num_examples: int | None = None, seed: int = 0) -> datasets.DatasetDict:
    """`train` (default 100,000), `validation` and `test` with lengths and repeats 1-10; `test_repeats_20` (11-20
    repeats, more than training shows) and `test_length_20` (sequences of 11-20 vectors, longer)."""
    size = 100_000 if num_examples is None else num_examples
    evaluation = EVALUATION_SIZES
    return _splits(seed, {
        "train": (size, REPEAT_COPY_TRAIN_LENGTHS, REPEAT_COPY_TRAIN_REPEATS),
        "validation": (evaluation["validation"], REPEAT_COPY_TRAIN_LENGTHS, REPEAT_COPY_TRAIN_REPEATS),
        "test": (evaluation["test"], REPEAT_COPY_TRAIN_LENGTHS, REPEAT_COPY_TRAIN_REPEATS),
        "test_repeats_20": (evaluation["generalisation"], REPEAT_COPY_TRAIN_LENGTHS, (11, 20)),
        "test_length_20": (evaluation["generalisation"], (11, 20), REPEAT_COPY_TRAIN_REPEATS),
    }, repeat_copy_dataset)


class RepeatCopyCollator(LaidOutTaskCollator):
    """Inputs: the vectors (8 bits), then one step with the delimiter (channel 8) and the count (channel 9,
    repeats / 10). Labels: the sequence `repeats` times with the end channel (8) off, then a step with only the end
    channel on."""

    task = "repeat_copy"
    input_size = REPEAT_COPY_BITS + 2
    output_size = REPEAT_COPY_BITS + 1

    def layout(self, row: dict) -> tuple[np.ndarray, np.ndarray]:
        sequence = _bit_array(row["sequence"], "sequence", (REPEAT_COPY_BITS,),
                              f"a non-empty list of {REPEAT_COPY_BITS}-bit vectors")
        repeats = _whole_number(row["repeats"], "repeats", 1)
        length = len(sequence)
        answer = length * repeats + 1
        inputs = np.zeros((length + 1 + answer, self.input_size))
        inputs[:length, :REPEAT_COPY_BITS] = sequence
        inputs[length, REPEAT_COPY_BITS] = 1.0
        inputs[length, REPEAT_COPY_BITS + 1] = repeats / REPEAT_COUNT_SCALE
        labels = np.full((len(inputs), self.output_size), float(UNSCORED))
        labels[length + 1 :] = 0.0
        labels[length + 1 : length + 1 + length * repeats, :REPEAT_COPY_BITS] = np.tile(sequence, (repeats, 1))
        labels[-1, REPEAT_COPY_BITS] = 1.0
        return inputs, labels


# ---------------------------------------------------------------------------------------------------------------
# Associative recall (section 4.3)
# ---------------------------------------------------------------------------------------------------------------

RECALL_BITS = 6
RECALL_ITEM_VECTORS = 3
RECALL_TRAIN_ITEMS = (2, 6)


def associative_recall_dataset(num_examples: int, items=RECALL_TRAIN_ITEMS, rng=None) -> datasets.Dataset:
    """`items` (`count x 3 x 6` bits, the count uniform in `items`) and `query`, the index of a random item but the
    last (the answer is the item after it)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    rows = {"items": [], "query": []}
    for _ in range(_check_size(num_examples)):
        count = int(rng.integers(items[0], items[1] + 1))
        rows["items"].append(rng.integers(0, 2, size=(count, RECALL_ITEM_VECTORS, RECALL_BITS)).tolist())
        rows["query"].append(int(rng.integers(0, count - 1)))
    return datasets.Dataset.from_dict(rows)


def load_associative_recall_task(num_examples: int | None = None, seed: int = 0) -> datasets.DatasetDict:
    """`train` (default 100,000), `validation` and `test` with 2-6 items; `test_items_12` with 7-12 items, more than
    training shows."""
    size = 100_000 if num_examples is None else num_examples
    evaluation = EVALUATION_SIZES
    return _splits(seed, {
        "train": (size, RECALL_TRAIN_ITEMS),
        "validation": (evaluation["validation"], RECALL_TRAIN_ITEMS),
        "test": (evaluation["test"], RECALL_TRAIN_ITEMS),
        "test_items_12": (evaluation["generalisation"], (7, 12)),
    }, associative_recall_dataset)


class AssociativeRecallCollator(LaidOutTaskCollator):
    """Inputs: each item after an item delimiter (channel 6); then the query item between two query delimiters
    (channel 7). Labels: the item that followed the query, over three blank steps."""

    task = "associative_recall"
    input_size = RECALL_BITS + 2
    output_size = RECALL_BITS

    def layout(self, row: dict) -> tuple[np.ndarray, np.ndarray]:
        items = _bit_array(row["items"], "items", (RECALL_ITEM_VECTORS, RECALL_BITS),
                           f"a non-empty list of items, each {RECALL_ITEM_VECTORS} vectors of {RECALL_BITS} bits")
        if len(items) < 2:
            raise ValueError("items must hold at least 2 items: the answer is the item after the query.")
        query = _whole_number(row["query"], "query", 0, len(items) - 2)
        width = RECALL_ITEM_VECTORS + 1
        steps = width * len(items) + 1 + RECALL_ITEM_VECTORS + 1 + RECALL_ITEM_VECTORS
        inputs = np.zeros((steps, self.input_size))
        for index, item in enumerate(items):
            inputs[width * index, RECALL_BITS] = 1.0
            inputs[width * index + 1 : width * (index + 1), :RECALL_BITS] = item
        start = width * len(items)
        inputs[start, RECALL_BITS + 1] = 1.0
        inputs[start + 1 : start + 1 + RECALL_ITEM_VECTORS, :RECALL_BITS] = items[query]
        inputs[start + 1 + RECALL_ITEM_VECTORS, RECALL_BITS + 1] = 1.0
        labels = np.full((steps, self.output_size), float(UNSCORED))
        labels[-RECALL_ITEM_VECTORS:] = items[query + 1]
        return inputs, labels


# ---------------------------------------------------------------------------------------------------------------
# Dynamic N-grams (section 4.4)
# ---------------------------------------------------------------------------------------------------------------

NGRAM_CONTEXT = 5  # a 6-gram: the next bit's probability depends on the five before it
NGRAM_LENGTH = 200
NGRAM_BETA = 0.5  # each context's probability of a 1 is drawn from Beta(1/2, 1/2)


def ngram_dataset(num_examples: int, rng=None, length: int = NGRAM_LENGTH) -> datasets.Dataset:
    """`table` (the probability of a 1 after each of the 32 five-bit contexts, from Beta(1/2, 1/2)) and `bits`,
    `length` bits (200 in the paper) drawn from it (the first five uniformly)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    rows = {"table": [], "bits": []}
    for _ in range(_check_size(num_examples)):
        table = rng.beta(NGRAM_BETA, NGRAM_BETA, size=2**NGRAM_CONTEXT)
        bits = [int(bit) for bit in rng.integers(0, 2, size=NGRAM_CONTEXT)]
        context = int("".join(map(str, bits)), 2)  # the last five bits, oldest first, as a number
        for draw in rng.random(length - NGRAM_CONTEXT).tolist():
            bit = int(draw < table[context])
            bits.append(bit)
            context = ((context << 1) | bit) & (2**NGRAM_CONTEXT - 1)
        rows["table"].append(table.tolist())
        rows["bits"].append(bits)
    return datasets.Dataset.from_dict(rows)


def load_ngram_task(num_examples: int | None = None, seed: int = 0) -> datasets.DatasetDict:
    """`train` (default 50,000 sequences, each from its own table), `validation` and `test`."""
    size = 50_000 if num_examples is None else num_examples
    return _splits(seed, {"train": (size,), "validation": (EVALUATION_SIZES["validation"],),
                          "test": (EVALUATION_SIZES["test"],)}, ngram_dataset)


def ngram_optimal_cost(bits: list[int]) -> float:
    """The Bayesian optimum's cost (bits) of predicting `bits[5:]`: after context c it predicts a 1 with probability
    `(N1 + 1/2) / (N1 + N0 + 1)`, the counts of 1s and 0s seen after c so far (the paper's equation for a Beta(1/2,
    1/2) prior)."""
    counts: dict[tuple, list[int]] = {}
    cost = 0.0
    for position in range(NGRAM_CONTEXT, len(bits)):
        context = tuple(bits[position - NGRAM_CONTEXT : position])
        zeros, ones = counts.setdefault(context, [0, 0])
        probability_of_one = (ones + NGRAM_BETA) / (ones + zeros + 2 * NGRAM_BETA)
        cost -= math.log2(probability_of_one if bits[position] else 1 - probability_of_one)
        counts[context][bits[position]] += 1
    return cost


class NGramCollator(LaidOutTaskCollator):
    """Inputs: one bit per step. Labels: from the fifth step on, the next bit (the model predicts bit t + 1 having
    read bits up to t), so the bits scored are those the optimum predicts, `bits[5:]`."""

    task = "ngrams"
    input_size = 1
    output_size = 1

    def layout(self, row: dict) -> tuple[np.ndarray, np.ndarray]:
        bits = _bit_array(row["bits"], "bits", (), "a list of bits")
        if len(bits) <= NGRAM_CONTEXT:
            raise ValueError(f"bits must hold more than {NGRAM_CONTEXT} bits (a context and a bit to predict); got "
                             f"{len(bits)}.")
        labels = np.full((len(bits), 1), float(UNSCORED))
        labels[NGRAM_CONTEXT - 1 : -1, 0] = bits[NGRAM_CONTEXT:]
        return bits[:, None], labels


def cost_per_sequence(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The N-grams task's metric: the cost in bits (`-log2` of the probability given to each scored target bit),
    summed per sequence `(batch,)`."""
    scored = labels != UNSCORED
    targets = torch.where(scored, labels, 0).to(logits.dtype)
    nats = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return (nats * scored).flatten(1).sum(dim=-1) / math.log(2)


# ---------------------------------------------------------------------------------------------------------------
# Priority sort (section 4.5)
# ---------------------------------------------------------------------------------------------------------------

SORT_BITS = 8
SORT_INPUTS = 20
SORT_OUTPUTS = 16


def priority_sort_dataset(num_examples: int, rng=None, num_inputs: int = SORT_INPUTS) -> datasets.Dataset:
    """`vectors` (`num_inputs x 8` bits, 20 in the paper) and `priorities`, one per vector, uniform in [-1, 1]."""
    rng = rng if rng is not None else np.random.default_rng(0)
    rows = {"vectors": [], "priorities": []}
    for _ in range(_check_size(num_examples)):
        rows["vectors"].append(rng.integers(0, 2, size=(num_inputs, SORT_BITS)).tolist())
        rows["priorities"].append(rng.uniform(-1.0, 1.0, size=num_inputs).tolist())
    return datasets.Dataset.from_dict(rows)


def load_priority_sort_task(num_examples: int | None = None, seed: int = 0) -> datasets.DatasetDict:
    """`train` (default 100,000), `validation` and `test`: 20 vectors in, the 16 of highest priority out."""
    size = 100_000 if num_examples is None else num_examples
    return _splits(seed, {"train": (size,), "validation": (EVALUATION_SIZES["validation"],),
                          "test": (EVALUATION_SIZES["test"],)}, priority_sort_dataset)


class PrioritySortCollator(LaidOutTaskCollator):
    """Inputs: each vector (8 bits) with its priority (channel 8), then a delimiter (channel 9). Labels: the
    `num_outputs` (16 in the paper) vectors of highest priority, highest first, over as many blank steps."""

    task = "priority_sort"
    input_size = SORT_BITS + 2
    output_size = SORT_BITS

    def __init__(self, num_outputs: int = SORT_OUTPUTS):
        self.num_outputs = _whole_number(num_outputs, "num_outputs", 1)

    def layout(self, row: dict) -> tuple[np.ndarray, np.ndarray]:
        vectors = _bit_array(row["vectors"], "vectors", (SORT_BITS,), f"a non-empty list of {SORT_BITS}-bit vectors")
        try:
            priorities = np.asarray(row["priorities"], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError("priorities must be a list of numbers.") from None
        if priorities.shape != (len(vectors),) or not np.isfinite(priorities).all() or \
                (np.abs(priorities) > 1).any():
            raise ValueError(f"priorities must be {len(vectors)} finite numbers in [-1, 1], one per vector.")
        if len(vectors) < self.num_outputs:
            raise ValueError(f"vectors must hold at least {self.num_outputs}, the number written back; got "
                             f"{len(vectors)}.")
        count = len(vectors)
        inputs = np.zeros((count + 1 + self.num_outputs, self.input_size))
        inputs[:count, :SORT_BITS] = vectors
        inputs[:count, SORT_BITS] = priorities
        inputs[count, SORT_BITS + 1] = 1.0
        labels = np.full((len(inputs), self.output_size), float(UNSCORED))
        order = np.argsort(-priorities, kind="stable")[: self.num_outputs]
        labels[count + 1 :] = vectors[order]
        return inputs, labels


# ---------------------------------------------------------------------------------------------------------------
# The tasks, by name
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BitTask:
    """A task of bit vectors: its data, collator, the model's input and output widths, and its metric."""

    name: str
    load: object
    collator: type
    metric: str  # "bit_errors_per_sequence" or "cost_per_sequence"
    description: str

    @property
    def input_size(self) -> int:
        return self.collator.input_size

    @property
    def output_size(self) -> int:
        return self.collator.output_size


PAPER_TASKS = {
    "repeat_copy": BitTask("repeat_copy", load_repeat_copy_task, RepeatCopyCollator, "bit_errors_per_sequence",
                           "the repeat copy task of the Neural Turing Machine paper: read a sequence of 8-bit vectors "
                           "and a repeat count, write the sequence that many times, then an end marker"),
    "associative_recall": BitTask("associative_recall", load_associative_recall_task, AssociativeRecallCollator,
                                  "bit_errors_per_sequence",
                                  "the associative recall task of the Neural Turing Machine paper: read a list of "
                                  "items, then one of them; write the item that followed it"),
    "ngrams": BitTask("ngrams", load_ngram_task, NGramCollator, "cost_per_sequence",
                      "the dynamic N-grams task of the Neural Turing Machine paper: predict each next bit of a "
                      "sequence drawn from a random 6-gram table"),
    "priority_sort": BitTask("priority_sort", load_priority_sort_task, PrioritySortCollator,
                             "bit_errors_per_sequence",
                             "the priority sort task of the Neural Turing Machine paper: read 20 vectors with a "
                             "priority each, write the 16 of highest priority, highest first"),
}


__all__ = ["PAPER_TASKS", "AssociativeRecallCollator", "BitTask", "LaidOutTaskCollator", "NGramCollator",
           "PrioritySortCollator", "RepeatCopyCollator", "associative_recall_dataset", "cost_per_sequence",
           "load_associative_recall_task", "load_ngram_task", "load_priority_sort_task", "load_repeat_copy_task",
           "ngram_dataset", "ngram_optimal_cost", "priority_sort_dataset", "repeat_copy_dataset"]
