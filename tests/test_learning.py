"""End to end: a tiny attention model learns to reverse digit strings."""

import torch
from conftest import BOS, EOS, PAD, tiny_model


DIGIT_OFFSET = 3  # ids 0-2 are pad, bos, eos


def digit_strings(count: int, generator: torch.Generator, min_len: int = 3, max_len: int = 6) -> list[list[int]]:
    lengths = torch.randint(min_len, max_len + 1, (count,), generator=generator)
    return [(torch.randint(0, 10, (int(n),), generator=generator) + DIGIT_OFFSET).tolist() for n in lengths]


def pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(row) for row in rows)
    return torch.tensor([row + [value] * (width - len(row)) for row in rows])


def test_tiny_attention_model_learns_to_reverse_digits():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = tiny_model(vocab_size=DIGIT_OFFSET + 10, embedding_size=16, hidden_size=64, attention="dot").train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        sources = digit_strings(64, generator)
        input_ids = pad(sources, PAD)
        labels = pad([source[::-1] + [EOS] for source in sources], -100)
        loss = model(input_ids=input_ids, attention_mask=input_ids.ne(PAD).long(), labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    model.eval()
    held_out = digit_strings(200, torch.Generator().manual_seed(1))
    input_ids = pad(held_out, PAD)
    generated = model.generate(input_ids, attention_mask=input_ids.ne(PAD).long(), max_new_tokens=8)
    correct = 0
    for source, output in zip(held_out, generated.tolist()):
        assert output[0] == BOS
        tokens = output[1 : output.index(EOS)] if EOS in output else output[1:]
        correct += tokens == source[::-1]
    assert correct == len(held_out), f"exact match {correct}/{len(held_out)}"
