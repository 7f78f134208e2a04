"""The Neural Turing Machine paper's other tasks as data: every laid-out row is checked against a plain-Python solution
of the task that reads only the model's inputs; splits are reproducible, separate and as documented; the N-gram data
follows its table and the Bayesian optimum counts as the paper's equation says; collators reject bad rows by name."""

import math
import random

import numpy as np
import pytest
import torch

from hf_attn_seq2seq.data.ntm_paper_tasks import (
    PAPER_TASKS,
    REPEAT_COUNT_SCALE,
    AssociativeRecallCollator,
    NGramCollator,
    PrioritySortCollator,
    RepeatCopyCollator,
    cost_per_sequence,
    ngram_dataset,
    ngram_optimal_cost,
)
from hf_attn_seq2seq.models.ntm.modeling_ntm import UNSCORED


def scored_answer(labels: torch.Tensor) -> list[list[int]]:
    """The scored label steps of one row, as lists of ints."""
    rows = labels[(labels != UNSCORED).all(dim=-1)]
    return rows.int().tolist()


def solve_repeat_copy(inputs: torch.Tensor) -> list[list[int]]:
    """Read the vectors up to the delimiter and the count beside it; write them count times, then the end marker."""
    vectors, count = [], None
    for step in inputs.tolist():
        if step[8] == 1.0:
            count = round(step[9] * REPEAT_COUNT_SCALE)
            break
        vectors.append([int(bit) for bit in step[:8]])
    return [vector + [0] for _ in range(count) for vector in vectors] + [[0] * 8 + [1]]


def solve_associative_recall(inputs: torch.Tensor) -> list[list[int]]:
    """Split the input at the delimiters into items and the query; answer with the item after the query."""
    items, current, query, in_query = [], None, [], False
    for step in inputs.tolist():
        if step[6] == 1.0:
            current = []
            items.append(current)
        elif step[7] == 1.0:
            if in_query:
                break
            in_query = True
        elif in_query:
            query.append([int(bit) for bit in step[:6]])
        elif current is not None:
            current.append([int(bit) for bit in step[:6]])
    return items[items.index(query) + 1]


def solve_priority_sort(inputs: torch.Tensor) -> list[list[int]]:
    pairs = []
    for step in inputs.tolist():
        if step[9] == 1.0:
            break
        pairs.append((step[8], [int(bit) for bit in step[:8]]))
    return [vector for _, vector in sorted(pairs, key=lambda pair: -pair[0])[:16]]


SOLVERS = {"repeat_copy": solve_repeat_copy, "associative_recall": solve_associative_recall,
           "priority_sort": solve_priority_sort}


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_every_split_is_the_task_a_plain_solution_solves(name):
    task = PAPER_TASKS[name]
    data = task.load(num_examples=40, seed=3)
    collator = task.collator()
    for split in data:
        rows = list(data[split].select(range(min(25, len(data[split])))))
        batch = collator(rows)
        assert batch["inputs"].shape[-1] == task.input_size and batch["labels"].shape[-1] == task.output_size
        for row in range(len(rows)):
            assert scored_answer(batch["labels"][row]) == SOLVERS[name](batch["inputs"][row]), (split, row)


def test_splits_are_reproducible_separate_and_as_documented():
    first, again = PAPER_TASKS["repeat_copy"].load(num_examples=30, seed=1), PAPER_TASKS["repeat_copy"].load(
        num_examples=30, seed=1)
    assert first["train"]["sequence"] == again["train"]["sequence"]
    other = PAPER_TASKS["repeat_copy"].load(num_examples=30, seed=2)
    assert first["train"]["sequence"] != other["train"]["sequence"]
    assert first["validation"]["sequence"][:20] != first["test"]["sequence"][:20]  # each split its own stream
    assert sorted(first) == ["test", "test_length_20", "test_repeats_20", "train", "validation"]
    assert all(11 <= r <= 20 for r in first["test_repeats_20"]["repeats"])
    assert all(11 <= len(s) <= 20 for s in first["test_length_20"]["sequence"])
    assert all(1 <= r <= 10 and 1 <= len(s) <= 10 for r, s in zip(first["train"]["repeats"],
                                                                   first["train"]["sequence"]))
    recall = PAPER_TASKS["associative_recall"].load(num_examples=30, seed=1)
    assert sorted(recall) == ["test", "test_items_12", "train", "validation"]
    assert all(2 <= len(items) <= 6 for items in recall["train"]["items"])
    assert all(7 <= len(items) <= 12 for items in recall["test_items_12"]["items"])
    assert all(0 <= q <= len(items) - 2 for q, items in zip(recall["train"]["query"], recall["train"]["items"]))
    sort = PAPER_TASKS["priority_sort"].load(num_examples=30, seed=1)
    assert all(len(v) == 20 and all(-1 <= p <= 1 for p in ps) for v, ps in zip(sort["train"]["vectors"],
                                                                              sort["train"]["priorities"]))
    assert len(PAPER_TASKS["ngrams"].load(num_examples=30, seed=1)["train"]) == 30


def test_ngram_bits_follow_their_table_and_the_labels_are_the_next_bits():
    data = ngram_dataset(300, rng=np.random.default_rng(7))
    agree, total = 0.0, 0
    for table, bits in zip(data["table"], data["bits"]):
        assert len(bits) == 200 and set(bits) <= {0, 1}
        counts = {}
        for position in range(5, 200):
            context = int("".join(map(str, bits[position - 5 : position])), 2)
            counts.setdefault(context, []).append(bits[position])
        for context, seen in counts.items():  # contexts seen often: their frequency of 1s is near the table's
            if len(seen) >= 20:
                agree += abs(sum(seen) / len(seen) - table[context]) < 0.25
                total += 1
    assert total > 100 and agree / total > 0.95
    batch = NGramCollator()([{"bits": bits} for bits in data["bits"][:3]])
    for row, bits in enumerate(data["bits"][:3]):
        assert batch["inputs"][row, :, 0].int().tolist() == bits
        assert scored_answer(batch["labels"][row]) == [[bit] for bit in bits[5:]]
        assert (batch["labels"][row, :4] == UNSCORED).all() and (batch["labels"][row, -1] == UNSCORED).all()


def test_the_bayesian_optimum_counts_as_the_paper_says():
    assert ngram_optimal_cost([0, 0, 0, 0, 0, 1]) == pytest.approx(1.0)  # nothing seen after 00000: p = 1/2
    # after 00000 came a 0 once: p(0) = (1 + 1/2) / (1 + 1) = 3/4, then twice: p(0) = (2 + 1/2) / 3
    assert ngram_optimal_cost([0] * 8) == pytest.approx(1.0 - math.log2(3 / 4) - math.log2(2.5 / 3))
    rng = random.Random(0)
    noise = [rng.randint(0, 1) for _ in range(200)]
    # fair coin flips cost a bit each, plus what learning 32 unknown probabilities costs (about 1-2 bits each)
    assert 185 < ngram_optimal_cost(noise) < 195 + 32 * 2
    drawn = ngram_dataset(200, rng=np.random.default_rng(1))["bits"]
    assert np.mean([ngram_optimal_cost(bits) for bits in drawn]) < 150  # a table makes the bits predictable


def test_cost_per_sequence_is_bits_of_the_scored_targets():
    labels = torch.tensor([[[UNSCORED], [1.0], [0.0]]])
    logits = torch.tensor([[[5.0], [0.0], [0.0]]])  # probability 1/2 on both scored bits: one bit of cost each
    assert cost_per_sequence(logits, labels).tolist() == pytest.approx([2.0])


@pytest.mark.parametrize("collator, row, message", [
    (RepeatCopyCollator(), {"sequence": [[0, 1]], "repeats": 2}, "Row 0 of the repeat_copy batch: sequence must be a "
                                                                 "non-empty list of 8-bit vectors; got shape"),
    (RepeatCopyCollator(), {"sequence": [[0] * 8], "repeats": 0}, "repeats must be a whole number of at least 1"),
    (RepeatCopyCollator(), {"sequence": [[0] * 7 + [2]], "repeats": 1}, "sequence must hold only the bits 0 and 1"),
    (RepeatCopyCollator(), {"sequence": [[0] * 8]}, "Row 0 of the repeat_copy batch has no 'repeats' column"),
    (AssociativeRecallCollator(), {"items": [[[0] * 6] * 3], "query": 0}, "at least 2 items"),
    (AssociativeRecallCollator(), {"items": [[[0] * 6] * 3] * 3, "query": 2}, "query must be a whole number from 0 "
                                                                              "to 1"),
    (AssociativeRecallCollator(), {"items": [[[0] * 6] * 3, [[0] * 6] * 2], "query": 0}, "ragged"),
    (NGramCollator(), {"bits": [0, 1, 1]}, "bits must hold more than 5 bits"),
    (PrioritySortCollator(), {"vectors": [[0] * 8] * 20, "priorities": [0.5] * 19}, "priorities must be 20 finite"),
    (PrioritySortCollator(), {"vectors": [[0] * 8] * 20, "priorities": [2.0] * 20}, "in \\[-1, 1\\]"),
    (PrioritySortCollator(), {"vectors": [[0] * 8] * 10, "priorities": [0.0] * 10}, "at least 16"),
])
def test_collators_reject_bad_rows_with_clear_errors(collator, row, message):
    with pytest.raises(ValueError, match=message):
        collator([row])
    with pytest.raises(ValueError, match="No rows to batch"):
        collator([])


def test_shorter_rows_are_padded_with_blank_unscored_steps():
    rows = [{"sequence": [[1] * 8], "repeats": 1}, {"sequence": [[0] * 8] * 3, "repeats": 2}]
    batch = RepeatCopyCollator()(rows)
    assert batch["inputs"].shape[1] == 3 + 1 + 6 + 1
    short = 1 + 1 + 1 + 1
    assert (batch["inputs"][0, short:] == 0).all() and (batch["labels"][0, short:] == UNSCORED).all()
