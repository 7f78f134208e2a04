"""The Neural Turing Machine: its addressing against hand-computed cases, gradients, saving, remote code, and a tiny
copy task that it learns in seconds."""

import copy
import json
import math
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModel

from hf_attn_seq2seq import LSTMBaselineConfig, LSTMBaselineModel, NTMConfig, NTMModel
from hf_attn_seq2seq.data.ntm_tasks import (
    COPY_TEST_LENGTHS,
    COPY_TEST_ONES_PERCENT,
    COPY_TRAIN_ONES,
    CopyTaskCollator,
    copy_task_dataset,
)
from hf_attn_seq2seq.data.tasks import load_task
from hf_attn_seq2seq.models.ntm.modeling_ntm import (
    COSINE_NORM_FLOOR,
    SHARPEN_EPSILON,
    UNSCORED,
    bit_errors_per_sequence,
    bit_loss,
    circular_shift,
    content_weights,
    interpolate,
    read_memory,
    sharpen,
    write_memory,
)


def tiny_ntm(seed: int = 0, **overrides) -> NTMModel:
    torch.manual_seed(seed)
    values = dict(input_size=5, output_size=4, controller_size=24, memory_rows=12, memory_width=6)
    values.update(overrides)
    return NTMModel(NTMConfig(**values))


def tiny_lstm(seed: int = 0) -> LSTMBaselineModel:
    torch.manual_seed(seed)
    return LSTMBaselineModel(LSTMBaselineConfig(input_size=5, output_size=4, hidden_size=16, num_layers=2))


TINY_MODELS = {"ntm": tiny_ntm, "ntm-feedforward": lambda: tiny_ntm(controller="feedforward"),
               "ntm-several-heads": lambda: tiny_ntm(controller="feedforward", read_heads=3, write_heads=2),
               "lstm": tiny_lstm}


def test_content_weights_are_a_softmax_of_scaled_cosine_similarities():
    memory = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    keys = torch.tensor([[[2.0, 0.0], [0.0, 3.0]]])  # two heads; cosine ignores the key's length
    similarities = [[1.0, 0.0, 1 / math.sqrt(2)], [0.0, 1.0, 1 / math.sqrt(2)]]
    for beta in (0.0, 1.0, 10.0):
        expected = torch.softmax(beta * torch.tensor(similarities), dim=-1)
        torch.testing.assert_close(content_weights(memory, keys, torch.full((1, 2, 1), beta))[0], expected)


def test_interpolation_gate_mixes_content_and_previous_weights():
    content, previous = torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 0.0, 1.0]])
    torch.testing.assert_close(interpolate(content, previous, torch.tensor([[0.25]])), torch.tensor([[0.25, 0, 0.75]]))


@pytest.mark.parametrize(("weights", "shift", "expected"), [
    ([0, 1, 0, 0], [0, 0, 1], [0, 0, 1, 0]),        # all mass on +1: one row forward
    ([0, 1, 0, 0], [1, 0, 0], [1, 0, 0, 0]),        # -1: one row back
    ([0, 0, 0, 1], [0, 0, 1], [1, 0, 0, 0]),        # circular: past the last row to the first
    ([1, 0, 0, 0], [0.25, 0.5, 0.25], [0.5, 0.25, 0, 0.25]),  # a spread shift blurs the weighting
])
def test_circular_shift_is_the_papers_convolution(weights, shift, expected):
    result = circular_shift(torch.tensor([weights], dtype=torch.float), torch.tensor([shift], dtype=torch.float))
    torch.testing.assert_close(result, torch.tensor([expected], dtype=torch.float))


def test_sharpening_raises_to_gamma_and_renormalises():
    result = sharpen(torch.tensor([[0.5, 0.25, 0.25]]), torch.tensor([[2.0]]))
    torch.testing.assert_close(result, torch.tensor([[2 / 3, 1 / 6, 1 / 6]]), atol=1e-6, rtol=0)
    torch.testing.assert_close(sharpen(torch.tensor([[0.5, 0.25, 0.25]]), torch.tensor([[1.0]])),
                               torch.tensor([[0.5, 0.25, 0.25]]), atol=1e-6, rtol=0)


def test_read_is_a_weighted_sum_and_write_erases_then_adds():
    memory = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    torch.testing.assert_close(read_memory(memory, torch.tensor([[[0.25, 0.75], [1.0, 0.0]]])),
                               torch.tensor([[[2.5, 3.5], [1.0, 2.0]]]))  # one read vector per head
    written = write_memory(torch.ones(1, 2, 2), torch.tensor([[[1.0, 0.0]]]), erase=torch.tensor([[[1.0, 0.0]]]),
                           add=torch.tensor([[[0.5, 0.5]]]))
    torch.testing.assert_close(written, torch.tensor([[[0.5, 1.5], [1.0, 1.0]]]))  # row 1 untouched
    half = write_memory(torch.ones(1, 2, 2), torch.tensor([[[0.5, 0.5]]]), erase=torch.tensor([[[1.0, 1.0]]]),
                        add=torch.zeros(1, 1, 2))
    torch.testing.assert_close(half, torch.full((1, 2, 2), 0.5))
    # two write heads on row 0: both erasures apply before either add, so neither add is erased
    both = write_memory(torch.ones(1, 2, 2), torch.tensor([[[1.0, 0.0], [1.0, 0.0]]]),
                        erase=torch.tensor([[[1.0, 0.0], [0.0, 0.5]]]), add=torch.tensor([[[0.5, 0.0], [0.0, 0.5]]]))
    torch.testing.assert_close(both, torch.tensor([[[0.5, 1.0], [1.0, 1.0]]]))


def one_head_at_a_time(model: NTMModel, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The paper's step written out plainly, each head addressed on its own with torch's cosine similarity, the
    write heads' erasures applied one after another and then their adds: the reference for the model, which
    addresses every head in one batched pass."""

    def address(outputs, sizes, memory, previous):
        key, strength, gate, shift, gamma = torch.split(outputs, sizes, dim=-1)[:5]
        similarity = torch.nn.functional.cosine_similarity(memory, torch.tanh(key)[:, None], dim=-1,
                                                           eps=COSINE_NORM_FLOOR)
        weights = torch.softmax(torch.nn.functional.softplus(strength) * similarity, dim=-1)
        weights = torch.sigmoid(gate) * weights + (1 - torch.sigmoid(gate)) * previous
        shift = torch.softmax(shift, dim=-1)
        reach = (shift.shape[-1] - 1) // 2
        weights = sum(shift[:, [k + reach]] * torch.roll(weights, k, dims=-1) for k in range(-reach, reach + 1))
        powered = (weights + SHARPEN_EPSILON) ** (1 + torch.nn.functional.softplus(gamma))
        return powered / powered.sum(-1, keepdim=True)

    config = model.config
    memory, read, weights, controller = model.initial_state(len(inputs), inputs.device, inputs.dtype)
    weights = list(weights.unbind(1))  # read heads first
    logits, seen = [], []
    for step in range(inputs.shape[1]):
        controller_input = torch.cat([inputs[:, step], read], dim=-1)
        if config.controller == "lstm":
            controller = model.controller(controller_input, controller)
            state = controller[0]
        else:
            state = model.controller(controller_input)
        reads = model.read_head.parameters_layer(state).chunk(config.read_heads, dim=-1)
        writes = model.write_head.parameters_layer(state).chunk(config.write_heads, dim=-1)
        weights = [address(outputs, heads.sizes, memory, previous) for outputs, heads, previous
                   in zip(reads + writes, [model.read_head] * len(reads) + [model.write_head] * len(writes), weights)]
        read = torch.cat([(head_weights[:, :, None] * memory).sum(1) for head_weights in weights[:len(reads)]], -1)
        for head_weights, outputs in zip(weights[len(reads):], writes):
            erase = torch.sigmoid(torch.split(outputs, model.write_head.sizes, dim=-1)[5])
            memory = memory * (1 - head_weights[:, :, None] * erase[:, None])
        for head_weights, outputs in zip(weights[len(reads):], writes):
            add = torch.tanh(torch.split(outputs, model.write_head.sizes, dim=-1)[6])
            memory = memory + head_weights[:, :, None] * add[:, None]
        logits.append(model.output_layer(torch.cat([state, read], dim=-1)))
        seen.append(torch.stack(weights, 1))
    seen = torch.stack(seen, 1)
    return torch.stack(logits, 1), seen[:, :, :config.read_heads], seen[:, :, config.read_heads:]


@pytest.mark.parametrize("options", [dict(), dict(controller="feedforward", shift_range=2),
                                     dict(read_heads=3, write_heads=2, initial_gate_bias=-1.0)],
                         ids=["lstm", "feedforward-shifts-2", "3-read-2-write-heads"])
def test_every_head_addressed_at_once_equals_each_head_addressed_alone(options):
    model = tiny_ntm(**options)
    batch = CopyTaskCollator()(list(copy_task_dataset(3, lengths=(2, 5), bits=4, seed=2)))
    output = model(batch["inputs"], output_memory_access=True)
    logits, reads, writes = one_head_at_a_time(model, batch["inputs"])
    assert reads.shape[2] == model.config.read_heads and writes.shape[2] == model.config.write_heads
    torch.testing.assert_close(output.read_weights, reads)
    torch.testing.assert_close(output.write_weights, writes)
    torch.testing.assert_close(output.logits, logits)
    # the heads differ (else mixing them up would pass unseen)
    assert (reads[:, :, 0] - writes[:, :, 0]).abs().max() > 1e-3


@pytest.mark.parametrize("options", [dict(), dict(controller="feedforward"), dict(memory_init="learned"),
                                     dict(controller="feedforward", read_heads=2, write_heads=3)],
                         ids=["lstm", "feedforward", "learned-memory", "2-read-3-write-heads"])
def test_gradients_reach_every_parameter_and_weightings_stay_distributions(options):
    model = tiny_ntm(**options)
    batch = CopyTaskCollator()(list(copy_task_dataset(3, lengths=(2, 4), bits=4, seed=1)))
    output = model(**batch, output_memory_access=True)
    output.loss.backward()
    silent = [name for name, parameter in model.named_parameters()
              if parameter.grad is None or not parameter.grad.abs().sum() > 0]
    assert silent == []
    for weights in (output.read_weights, output.write_weights):
        assert weights.min() >= 0
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))


@pytest.mark.parametrize("kind", ["ntm", "ntm-feedforward", "lstm"])
def test_save_and_load_are_exact_and_auto_classes_find_the_model(tmp_path, kind):
    controller = "feedforward" if kind == "ntm-feedforward" else "lstm"
    model = (tiny_lstm() if kind == "lstm" else tiny_ntm(memory_init="learned", controller=controller)).eval()
    model.save_pretrained(tmp_path)
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert auto_map["AutoModel"] == f"modeling_ntm.{type(model).__name__}"
    assert (tmp_path / "modeling_ntm.py").is_file() and (tmp_path / "configuration_ntm.py").is_file()
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(model) and type(AutoConfig.from_pretrained(tmp_path)) is type(model.config)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    # Bit-exact outputs need the weights 64-byte aligned, as fresh tensors are: MKL's kernels below AVX2 sum in an
    # order set by alignment (`make test-other-kernels` runs this file on them).
    assert all(parameter.data_ptr() % 64 == 0 for parameter in loaded.parameters())
    inputs = torch.rand(2, 6, 5)
    with torch.no_grad():
        assert torch.equal(model(inputs).logits, loaded(inputs).logits)


@pytest.mark.parametrize("kind", ["ntm", "ntm-feedforward", "ntm-several-heads", "lstm"])
def test_a_fresh_process_loads_it_with_remote_code_alone(tmp_path, kind):
    model = TINY_MODELS[kind]().eval()
    model.save_pretrained(tmp_path / "ntm")
    inputs = torch.rand(1, 5, 5)
    with torch.no_grad():
        expected = model(inputs).logits
    torch.save(inputs, tmp_path / "inputs.pt")
    script = textwrap.dedent(f"""
        import sys, torch
        from transformers import AutoModel
        model = AutoModel.from_pretrained({str(tmp_path / "ntm")!r}, trust_remote_code=True).eval()
        assert "hf_attn_seq2seq" not in sys.modules, "the package was imported"
        inputs = torch.load({str(tmp_path / "inputs.pt")!r})
        with torch.no_grad():
            torch.save(model(inputs).logits, {str(tmp_path / "logits.pt")!r})
    """)
    environment = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"), PYTHONPATH="")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment,
                            cwd=tmp_path, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    assert torch.equal(torch.load(tmp_path / "logits.pt"), expected)


def test_bad_configs_and_inputs_get_clear_errors():
    with pytest.raises(ValueError, match="Unknown controller 'gru'"):
        NTMConfig(controller="gru")
    with pytest.raises(ValueError, match="memory_rows must be a positive integer"):
        NTMConfig(memory_rows=0)
    for name in ("read_heads", "write_heads"):
        with pytest.raises(ValueError, match=f"{name} must be a positive integer"):
            NTMConfig(**{name: 0})
    with pytest.raises(ValueError, match="allows 7 shifts, more than the 4 memory rows"):
        NTMConfig(memory_rows=4, shift_range=3)
    for bad in ("low", float("nan"), True):
        with pytest.raises(ValueError, match="initial_gate_bias must be a finite number or None"):
            NTMConfig(initial_gate_bias=bad)
    model = tiny_ntm()
    with pytest.raises(ValueError, match="inputs must have shape \\(batch, steps, input_size=5\\)"):
        model(torch.rand(2, 3, 4))
    with pytest.raises(ValueError, match="labels must have shape"):
        model(torch.rand(2, 3, 5), labels=torch.zeros(2, 3, 5))


def test_the_copy_collator_lays_out_input_delimiter_and_scored_copy():
    rows = [{"sequence": [[1, 0], [0, 1]]}, {"sequence": [[1, 1]]}]
    batch = CopyTaskCollator()(rows)
    assert batch["inputs"].shape == (2, 5, 3) and batch["labels"].shape == (2, 5, 2)
    assert batch["inputs"][0].tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0], [0, 0, 0]]
    assert batch["labels"][0].tolist() == [[-100, -100]] * 3 + [[1, 0], [0, 1]]  # only the copy is scored
    assert batch["labels"][1].tolist() == [[-100, -100]] * 2 + [[1, 1]] + [[-100, -100]] * 2  # nor is padding
    dataset = copy_task_dataset(50, lengths=(1, 3), bits=2, seed=4)
    assert {len(row) for row in dataset["sequence"]} <= {1, 2, 3} and dataset["sequence"] == copy_task_dataset(
        50, lengths=(1, 3), bits=2, seed=4)["sequence"]
    assert np.concatenate(copy_task_dataset(20, lengths=(3, 3), ones_probability=0.0)["sequence"]).sum() == 0
    assert np.concatenate(copy_task_dataset(20, lengths=(3, 3), ones_probability=1.0)["sequence"]).min() == 1


@pytest.mark.parametrize("ones", [-0.1, 1.5, (0.9, 0.1), (0.1,), "half", True])
def test_a_share_of_ones_that_is_not_a_probability_is_refused(ones):
    with pytest.raises(ValueError, match="ones_probability must be a probability or a pair"):
        copy_task_dataset(2, ones_probability=ones)


def test_a_tiny_copy_task_is_learned_in_seconds():
    torch.manual_seed(0)
    model = tiny_ntm(input_size=5, output_size=4, controller_size=32, memory_rows=8, memory_width=8)
    collate = CopyTaskCollator()
    train = copy_task_dataset(400 * 32, lengths=(1, 3), bits=4, seed=0)["sequence"]
    test = collate([{"sequence": s} for s in copy_task_dataset(200, lengths=(1, 3), bits=4, seed=1)["sequence"]])
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)

    def errors() -> float:
        with torch.no_grad():
            logits = model(test["inputs"]).logits
        return float(bit_errors_per_sequence(logits, test["labels"]).mean())

    before = errors()
    for start in range(0, len(train), 32):
        loss = model(**collate([{"sequence": s} for s in train[start : start + 32]])).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        optimizer.zero_grad()
    after = errors()
    assert before > 2.0 and after < 0.1, (before, after)  # bits wrong per sequence of 1-3 four-bit vectors


def test_the_memory_access_picture_draws_inputs_outputs_and_both_weightings(tmp_path):
    from hf_attn_seq2seq.visualization import plot_memory_access

    model = tiny_ntm()
    drawn = plot_memory_access(model, [[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 0, 0]], tmp_path / "memory.png")
    assert (tmp_path / "memory.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert drawn["inputs"].shape == (7, 5) and drawn["outputs"].shape == (7, 4)
    assert drawn["write_weights"].shape == drawn["read_weights"].shape == (7, 12)


def test_the_loss_and_the_metric_read_only_the_scored_steps():
    labels = torch.tensor([[[UNSCORED, UNSCORED], [1.0, 0.0], [0.0, 1.0]]])
    logits = torch.tensor([[[5.0, -5.0], [3.0, 2.0], [-1.0, 4.0]]])  # step 1: second bit wrong; step 2: right
    assert bit_errors_per_sequence(logits, labels).tolist() == [1.0]
    changed = logits.clone()
    changed[0, 0] = torch.tensor([-7.0, 9.0])  # an unscored step changes neither the loss nor the errors
    assert torch.equal(bit_loss(changed, labels), bit_loss(logits, labels))
    assert bit_errors_per_sequence(changed, labels).tolist() == [1.0]
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits[0, 1:], labels[0, 1:])
    torch.testing.assert_close(bit_loss(logits, labels), expected)
    assert bit_loss(logits, None) is None


@pytest.mark.parametrize("kind", list(TINY_MODELS))
def test_padding_changes_no_sequences_outputs_or_loss(kind):
    model = TINY_MODELS[kind]().eval()
    short = {"sequence": [[1, 0, 1, 1], [0, 1, 1, 0]]}
    long = {"sequence": [[1, 1, 0, 0]] * 6}
    collate = CopyTaskCollator()
    alone, together = collate([short]), collate([short, long])
    with torch.no_grad():
        alone_output = model(**alone)
        together_output = model(**together)
        together_short_loss = model(together["inputs"][:1], labels=together["labels"][:1]).loss
    steps = alone["inputs"].shape[1]
    torch.testing.assert_close(together_output.logits[0, :steps], alone_output.logits[0], rtol=0, atol=1e-6)
    torch.testing.assert_close(together_short_loss, alone_output.loss, rtol=0, atol=1e-6)


def test_the_copy_task_has_training_lengths_and_longer_test_splits_from_separate_streams():
    data = load_task("copy", num_examples=300, seed=5)
    assert list(data) == ["train", "validation", "test"] + [f"test_length_{n}" for n in COPY_TEST_LENGTHS] + [
        f"test_ones_{percent}" for percent in COPY_TEST_ONES_PERCENT]
    assert len(data["train"]) == 300
    for split in ("train", "validation", "test", *(f"test_ones_{percent}" for percent in COPY_TEST_ONES_PERCENT)):
        assert {len(sequence) for sequence in data[split]["sequence"]} <= set(range(1, 21))
    for length in COPY_TEST_LENGTHS:
        assert {len(sequence) for sequence in data[f"test_length_{length}"]["sequence"]} == {length}
    # the share of ones: fixed per split where the split says so, spread over COPY_TRAIN_ONES in training
    for percent in COPY_TEST_ONES_PERCENT:
        assert np.mean(np.concatenate(data[f"test_ones_{percent}"]["sequence"])) == pytest.approx(percent / 100,
                                                                                                  abs=0.02)
    shares = [np.mean(sequence) for sequence in data["train"]["sequence"] if len(sequence) >= 15]
    assert COPY_TRAIN_ONES[0] - 0.1 < min(shares) < 0.25 and 0.75 < max(shares) < COPY_TRAIN_ONES[1] + 0.1
    assert {len(vector) for vector in data["test"]["sequence"][0]} == {8}
    assert data["validation"]["sequence"] != data["test"]["sequence"][: len(data["validation"])]
    again = load_task("copy", num_examples=300, seed=5)
    assert all(data[split]["sequence"] == again[split]["sequence"] for split in data)
    assert load_task("copy", num_examples=300, seed=6)["test"]["sequence"] != data["test"]["sequence"]


@pytest.mark.parametrize(("rows", "message"), [
    ([], "at least one sequence"),
    ([{"sequence": []}], "non-empty list of equally long bit vectors"),
    ([{"sequence": [[1, 0]]}, {"sequence": [[1, 0, 1]]}], "must have 2 bits"),
])
def test_the_collator_names_what_is_wrong_with_its_rows(rows, message):
    with pytest.raises(ValueError, match=message):
        CopyTaskCollator()(rows)


def test_content_addressing_near_empty_rows_has_a_bounded_gradient():
    # Untouched rows keep the constant initial memory; their similarity's gradient must not blow up (it did, and
    # the spikes undid a trained copy model).
    memory = torch.full((1, 4, 20), 1e-6)
    memory[0, 0] = torch.linspace(-1, 1, 20)  # one written row
    memory.requires_grad_(True)
    key = torch.linspace(1, -0.5, 20)[None, None]
    weights = content_weights(memory, key, torch.tensor([[[5.0]]]))
    (weights * torch.tensor([[[0.3, -1.0, 2.0, 0.5]]])).sum().backward()
    assert torch.isfinite(memory.grad).all() and memory.grad.norm() < 1e4, memory.grad.norm()
    torch.testing.assert_close(weights.sum(), torch.tensor(1.0))


@pytest.mark.parametrize("controller, heads", [("lstm", 1), ("feedforward", 1), ("feedforward", 3)])
def test_the_initial_gate_bias_sets_every_gate_and_nothing_else(controller, heads, tmp_path):
    default, biased = [tiny_ntm(controller=controller, read_heads=heads, write_heads=heads, initial_gate_bias=bias)
                       for bias in (None, -3.0)]
    changed = {name for (name, left), right in zip(default.named_parameters(), biased.parameters())
               if not torch.equal(left, right)}
    assert changed == {"read_head.parameters_layer.bias", "write_head.parameters_layer.bias"}
    for name in ("read_head", "write_head"):
        head = getattr(biased, name)
        difference = head.parameters_layer.bias - getattr(default, name).parameters_layer.bias
        assert len(head.gate_units) == heads
        assert (head.parameters_layer.bias[head.gate_units] == -3.0).all()
        assert difference.nonzero().flatten().tolist() == head.gate_units
        # each gate unit is the gate (the output after the key and the strength) of its head
        per_head = sum(head.sizes)
        assert [unit % per_head for unit in head.gate_units] == [biased.config.memory_width + 1] * heads
    # loading a trained folder keeps its trained biases: the option only starts new models
    with torch.no_grad():
        biased.read_head.parameters_layer.bias.add_(0.5)
    biased.save_pretrained(tmp_path)
    loaded = NTMModel.from_pretrained(tmp_path)
    assert loaded.config.initial_gate_bias == -3.0
    assert torch.equal(loaded.read_head.parameters_layer.bias, biased.read_head.parameters_layer.bias)


def test_the_forward_pass_is_memory_step_applied_step_by_step():
    model = tiny_ntm(read_heads=2, write_heads=2).eval()
    inputs = torch.rand(3, 7, 5)
    with torch.no_grad():
        output = model(inputs, output_memory_access=True)
        memory, read, weights, controller = model.initial_state(3, inputs.device, inputs.dtype)
        logits = []
        for step in range(inputs.shape[1]):
            step_logits, read, weights, memory, controller = model.memory_step(inputs[:, step], read, weights,
                                                                               memory, controller)
            logits.append(step_logits)
    assert torch.equal(output.logits, torch.stack(logits, dim=1))
    assert torch.equal(output.memory, memory)
    assert torch.equal(output.write_weights[:, -1], weights[:, 2:])


@pytest.mark.skipif(not any(shutil.which(compiler) for compiler in ("g++", "c++", "clang++")),
                    reason="torch.compile builds CPU kernels with a C++ compiler, and this machine has none")
def test_the_compiled_memory_step_computes_what_the_step_does_and_saves_nothing_of_its_own(tmp_path):
    eager = tiny_ntm(read_heads=2, write_heads=2)
    compiled = tiny_ntm(read_heads=2, write_heads=2)
    compiled.compile_memory_step()
    batch = CopyTaskCollator()(list(copy_task_dataset(4, lengths=(2, 5), bits=4, seed=3)))
    expected, got = eager(**batch), compiled(**batch)
    expected.loss.backward()
    got.loss.backward()
    # fused kernels sum in their own order: equal to float rounding, not bit for bit
    torch.testing.assert_close(got.logits, expected.logits, rtol=1e-5, atol=1e-6)
    for (name, parameter), reference in zip(compiled.named_parameters(), eager.parameters()):
        torch.testing.assert_close(parameter.grad, reference.grad, rtol=1e-4, atol=1e-6, msg=name)
    # a deep copy computes with its own weights, not the original's
    copied = copy.deepcopy(compiled).eval()
    with torch.no_grad():
        copied.output_layer.bias.add_(1.0)
        torch.testing.assert_close(copied(batch["inputs"]).logits, got.logits.detach() + 1.0, rtol=1e-5, atol=1e-5)
    compiled.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path)
    assert loaded.compiled_memory_step is None  # a runtime choice, not part of the model
    assert set(loaded.state_dict()) == set(eager.state_dict())
    assert "compile" not in (tmp_path / "config.json").read_text()
