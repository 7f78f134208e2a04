"""The Neural Turing Machine's copy task (Graves et al. 2014, section 4.1) as a `datasets` pipeline.

Each example is a sequence of random bit vectors. The model reads the vectors, then a delimiter (a step with only
the extra delimiter channel on), then blank steps during which it must write the sequence back:

    inputs   v1 v2 ... vL  delim  0  0 ... 0        (bits + 1 delimiter channel per step)
    labels   0  0  ... 0   0      v1 v2 ... vL
    scored   .  .      .   .      x  x  ... x       (`output_mask`: only the copy is scored)
"""

import datasets
import numpy as np
import torch


COPY_BITS = 8
COPY_TRAIN_LENGTHS = (1, 20)


def copy_task_dataset(num_examples: int, lengths: tuple[int, int] = COPY_TRAIN_LENGTHS, bits: int = COPY_BITS,
                      seed: int = 0) -> datasets.Dataset:
    """`num_examples` sequences with a `sequence` column: `length x bits` lists of 0/1, the length uniform in
    `lengths` (inclusive). The same seed gives the same data."""
    low, high = lengths
    if isinstance(num_examples, bool) or not isinstance(num_examples, int) or num_examples < 1:
        raise ValueError(f"num_examples must be a positive integer, got {num_examples!r}.")
    if not 1 <= low <= high:
        raise ValueError(f"lengths must be (shortest, longest) with 1 <= shortest <= longest, got {lengths!r}.")
    if isinstance(bits, bool) or not isinstance(bits, int) or bits < 1:
        raise ValueError(f"bits must be a positive integer, got {bits!r}.")
    rng = np.random.default_rng(seed)
    sequences = [rng.integers(0, 2, size=(int(rng.integers(low, high + 1)), bits)).tolist()
                 for _ in range(num_examples)]
    return datasets.Dataset.from_dict({"sequence": sequences})


class CopyTaskCollator:
    """Batches `sequence` rows into `inputs` `(batch, steps, bits + 1)`, `labels` `(batch, steps, bits)` and
    `output_mask` `(batch, steps)`; shorter rows are padded with blank, unscored steps at the end."""

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        sequences = [torch.tensor(row["sequence"], dtype=torch.float32) for row in rows]
        bits = sequences[0].shape[1]
        steps = max(2 * len(sequence) + 1 for sequence in sequences)
        inputs = torch.zeros(len(rows), steps, bits + 1)
        labels = torch.zeros(len(rows), steps, bits)
        output_mask = torch.zeros(len(rows), steps, dtype=torch.bool)
        for row, sequence in enumerate(sequences):
            length = len(sequence)
            inputs[row, :length, :bits] = sequence
            inputs[row, length, bits] = 1.0  # the delimiter
            labels[row, length + 1 : 2 * length + 1] = sequence
            output_mask[row, length + 1 : 2 * length + 1] = True
        return {"inputs": inputs, "labels": labels, "output_mask": output_mask}


__all__ = ["COPY_BITS", "COPY_TRAIN_LENGTHS", "CopyTaskCollator", "copy_task_dataset"]
