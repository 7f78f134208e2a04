import atexit
import itertools
import os
import shutil
import socket
import tempfile


# Tests never touch the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# The tests' own Hugging Face cache (per process: `make test` runs one pytest-xdist worker per core, and two workers
# copying the same trust_remote_code module into one cache could import a half-written file); the user's stays as it
# was. Each xdist worker (and each process it starts) gets one torch thread, so the workers do not oversubscribe.
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="hf-home-tests-")
atexit.register(shutil.rmtree, os.environ["HF_HOME"], ignore_errors=True)

import pytest  # noqa: E402
import torch  # noqa: E402


if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"  # for the processes a test starts
    torch.set_num_threads(1)

from hf_attn_seq2seq import AttnSeq2SeqConfig, AttnSeq2SeqForConditionalGeneration  # noqa: E402


VOCAB_SIZE = 23
PAD, BOS, EOS = 0, 1, 2


def option_grid() -> list[dict]:
    """Every valid combination of the architecture options, at a tiny size."""
    depths = [dict(encoder_layers=1, decoder_layers=1), dict(encoder_layers=2, decoder_layers=2)]
    depths += [dict(encoder_layers=2, decoder_layers=2, residual=True)]
    encoders = [dict(bidirectional=False)] + [
        dict(bidirectional=True, bidirectional_merge=merge) for merge in ("concat", "sum", "mean")
    ]
    grid = []
    for attention, peeky, feeding, layer, depth, encoder in itertools.product(
        ("dot", "general", "additive", "none"), (False, True), (False, True), ("top", "bottom"), depths, encoders
    ):
        if attention == "none" and (feeding or layer == "bottom"):
            continue  # impossible combinations, rejected by the config (tested separately)
        grid.append(
            dict(attention=attention, peeky=peeky, input_feeding=feeding, attention_layer=layer, **depth, **encoder)
        )
    return grid


def grid_id(options: dict) -> str:
    parts = [options["attention"], options["attention_layer"]]
    parts += [name for name in ("peeky", "input_feeding", "residual") if options.get(name)]
    if options.get("bidirectional"):
        parts.append("bi-" + options["bidirectional_merge"])
    parts.append(f"L{options['encoder_layers']}")
    return "-".join(parts)


def tiny_config(**overrides) -> AttnSeq2SeqConfig:
    values = dict(vocab_size=VOCAB_SIZE, embedding_size=6, hidden_size=8, pad_token_id=PAD, bos_token_id=BOS,
                  eos_token_id=EOS, decoder_start_token_id=BOS)
    values.update(overrides)
    return AttnSeq2SeqConfig(**values)


def tiny_model(seed: int = 0, **overrides) -> AttnSeq2SeqForConditionalGeneration:
    torch.manual_seed(seed)
    return AttnSeq2SeqForConditionalGeneration(tiny_config(**overrides)).eval()


def random_batch(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded token ids (no special tokens) and their attention mask."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.full((len(lengths), max(lengths)), PAD, dtype=torch.long)
    for row, length in enumerate(lengths):
        ids[row, :length] = torch.randint(3, VOCAB_SIZE, (length,), generator=generator)
    return ids, ids.ne(PAD).long()


def assert_each_row_as_if_alone(model, seed: int, source_lengths=(3, 7, 5), target_lengths=(4, 2, 6)) -> None:
    """Padding changes no sequence's output: every row of a padded batch gives the logits it gives alone."""
    input_ids, attention_mask = random_batch(list(source_lengths), seed=seed)
    decoder_ids, _ = random_batch(list(target_lengths), seed=seed + 1)
    with torch.no_grad():
        batched = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_ids).logits
        for row, (src_len, tgt_len) in enumerate(zip(source_lengths, target_lengths)):
            alone = model(input_ids=input_ids[row : row + 1, :src_len],
                          decoder_input_ids=decoder_ids[row : row + 1, :tgt_len]).logits
            torch.testing.assert_close(batched[row, :tgt_len], alone[0], atol=1e-5, rtol=0)


@pytest.fixture(autouse=True)
def network_disabled(monkeypatch):
    """Any connection beyond this machine fails the test (loopback stays open for torch.distributed)."""
    connect = socket.socket.connect

    def guarded_connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0])
            if not (host.startswith("127.") or host in ("localhost", "::1")):
                raise RuntimeError(f"tests must not use the network (tried to connect to {address})")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture(params=option_grid(), ids=grid_id)
def grid_options(request) -> dict:
    return request.param


@pytest.fixture(scope="session")
def demo_models(tmp_path_factory) -> dict[str, str]:
    """Two tiny trained folders for the demo: label -> model folder, one with attention and one without."""
    from training.train import main as train_main

    folders = {}
    for label, preset in (("attention", "reverse"), ("seq2seq", "seq2seq")):
        output = tmp_path_factory.mktemp(f"demo-{label}")
        # a few seconds of training: enough for non-empty outputs that differ from input to input
        train_main(["--task", "reverse", "--preset", preset, "--num-examples", "1000", "--output-dir", str(output),
                    "--set", "hidden_size=32", "--set", "embedding_size=8", "--set", "num_train_epochs=8",
                    "--set", "learning_rate=0.01", "--num-heatmaps", "0", "--allow-unconverged"])
        folders[label] = str(output / "model")
    return folders


@pytest.fixture(scope="session")
def memory_demo_models(tmp_path_factory) -> dict[str, str]:
    """Tiny trained Neural Turing Machines for the demo's memory view: task -> model folder (copy, repeat copy), each
    with its task's own preset (so both controllers are served)."""
    from training.train import main as train_main

    folders = {}
    for task in ("copy", "repeat_copy"):
        output = tmp_path_factory.mktemp(f"demo-{task}")
        train_main(["--task", task, "--num-examples", "64", "--max-eval-examples", "32",
                    "--output-dir", str(output), "--set", "controller_size=16", "--set", "memory_rows=32",
                    "--set", "memory_width=6", "--set", "max_steps=8", "--set", "eval_steps=4",
                    "--set", "logging_steps=4", "--allow-unconverged"])
        folders[task] = str(output / "model")
    return folders
