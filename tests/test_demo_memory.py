"""The demo's memory view of a Neural Turing Machine: what it draws is what the model computes, on generated and
typed examples, and bad input is a message, never a traceback."""

import json
import re
import shutil
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
import torch

from hf_attn_seq2seq.data.ntm_tasks import copy_task_dataset
from hf_attn_seq2seq.demo import (
    DemoInputError,
    DemoModel,
    MemoryDemoModel,
    describe_step,
    load_demo_model,
    memory_views,
)
from hf_attn_seq2seq.models.ntm.configuration_ntm import LSTMBaselineConfig


SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def copy_model(memory_demo_models) -> MemoryDemoModel:
    return MemoryDemoModel(memory_demo_models["copy"])


def pictures(page_html: str) -> dict[str, ElementTree.Element]:
    """Each SVG picture of the view by its class."""
    found = {}
    for match in re.finditer(r"<svg.*?</svg>", page_html, flags=re.S):
        svg = ElementTree.fromstring(match.group(0))
        found[svg.get("class")] = svg
    return found


def cell_values(svg: ElementTree.Element) -> np.ndarray:
    """`(steps, rows)`: the value in each cell's tooltip."""
    return np.array([[float(rect.find(f"{SVG}title").text.split(": ")[1].split()[0])
                      for rect in group.iter(f"{SVG}rect")]
                     for group in svg.iter(f"{SVG}g") if group.get("class") == "memory-step"])


def plain_copy_layout(sequence: list[list[int]]) -> torch.Tensor:
    """The copy task's input written out by hand: the vectors, a delimiter step, then blank steps for the copy."""
    length, bits = len(sequence), len(sequence[0])
    inputs = torch.zeros(1, 2 * length + 1, bits + 1)
    inputs[0, :length, :bits] = torch.tensor(sequence, dtype=torch.float32)
    inputs[0, length, bits] = 1.0
    return inputs


def test_the_view_draws_what_the_model_computes_on_a_generated_copy_example(copy_model):
    sequence = copy_task_dataset(1, (7, 7), seed=3)[0]["sequence"]
    summary, described, page = memory_views(copy_model, seed=3, size=7)
    with torch.no_grad():
        output = copy_model.model(plain_copy_layout(sequence), output_memory_access=True)
    predicted = (output.logits[0, 8:] > 0).int()
    wrong = int((predicted != torch.tensor(sequence)).sum())
    assert f"{wrong} wrong bits of {7 * 8}" in summary and "copy task" in summary
    assert "15 steps" in described
    drawn = pictures(page)
    assert set(drawn) == {"memory-inputs", "memory-outputs", "memory-writes", "memory-reads"}
    np.testing.assert_array_equal(cell_values(drawn["memory-inputs"]), plain_copy_layout(sequence)[0].numpy())
    np.testing.assert_allclose(cell_values(drawn["memory-outputs"]), torch.sigmoid(output.logits[0]).numpy(),
                               atol=6e-4)
    for name, weights in (("memory-writes", output.write_weights[0, :, 0]),
                          ("memory-reads", output.read_weights[0, :, 0])):
        rows = [int(label.text) for label in drawn[name].iter(f"{SVG}text") if label.text.isdigit()]
        values = cell_values(drawn[name])
        assert values.shape[0] == 15
        np.testing.assert_allclose(values[:, 0], weights[:, rows[0]].numpy(), atol=6e-4)
        # the rows left out of the picture carry no weight at any step
        shown = range(rows[0], rows[0] + values.shape[1])
        hidden = [row for row in range(weights.shape[1]) if row not in shown]
        assert not hidden or float(weights[:, hidden].max()) <= 0.01


def test_a_step_to_follow_is_outlined_and_described(copy_model):
    _, described, page = memory_views(copy_model, seed=1, size=4, step=6)
    result = copy_model.run(copy_model.example(1, 4))
    write_row = int(np.argmax(result.write_weights[5]))
    assert described == describe_step(result, 6) and described.startswith("Step 6 of 9: ")
    assert f"write head on memory row {write_row} " in described
    assert page.count('class="current-step"') == 4
    assert memory_views(copy_model, seed=1, size=4, step=0)[2].count('class="current-step"') == 0


def test_a_typed_example_runs_as_bits_or_as_the_tasks_row(copy_model):
    bits = "10110010 01100011 00000000"
    row = {"sequence": [[int(bit) for bit in vector] for vector in bits.split()]}
    as_bits, as_json = memory_views(copy_model, typed=bits), memory_views(copy_model, typed="\ufeff" + json.dumps(row))
    assert as_bits == as_json and "of 24" in as_bits[0]


@pytest.mark.parametrize("settings, message", [
    (dict(typed="1011 2"), "as bits (0 and 1)"),
    (dict(typed="{\"sequence\": [[0, 1]"), "is not JSON"),
    (dict(typed="[1, 2]"), "must be a JSON object"),
    (dict(typed="{\"sequence\": [[0, 1, 1]]}"), "lays out 4 input channels a step; this model reads 9"),
    (dict(typed="{\"rows\": []}"), "no 'sequence' column"),
    (dict(size=0), "sequence length must be a whole number from 1 to 32"),
    (dict(size=2.5), "sequence length must be a whole number"),
    (dict(seed=-1), "seed must be a whole number"),
    (dict(step="x"), "step must be a whole number"),
])
def test_bad_input_is_a_message_not_a_traceback(copy_model, settings, message):
    summary, described, page = memory_views(copy_model, **settings)
    assert summary.startswith("**Cannot run:**") and message in summary, summary
    assert described == page == ""


def test_a_second_task_reads_its_task_from_the_folder_and_its_row_typed_as_json(memory_demo_models, tmp_path):
    model = load_demo_model(memory_demo_models["repeat_copy"], "repeat")
    assert isinstance(model, MemoryDemoModel) and model.task == "repeat_copy" and model.label == "repeat"
    row = {"sequence": [[1, 0, 1, 0, 1, 0, 1, 0], [0, 0, 1, 1, 0, 0, 1, 1]], "repeats": 3}
    summary, _, page = memory_views(model, typed=json.dumps(row))
    # 3 copies and the end marker, 9 output channels a step
    assert "repeat copy task" in summary and f"of {(2 * 3 + 1) * 9}" in summary
    assert len([g for g in pictures(page)["memory-reads"].iter(f"{SVG}g")]) == 2 + 1 + 2 * 3 + 1
    # without metrics.json the model's widths name the task
    copied = tmp_path / "bare"
    shutil.copytree(memory_demo_models["repeat_copy"], copied)
    (copied / "metrics.json").unlink()
    assert MemoryDemoModel(copied).task == "repeat_copy"


def test_other_folders_go_to_their_own_view_or_are_refused(memory_demo_models, demo_models, tmp_path):
    assert isinstance(load_demo_model(demo_models["attention"]), DemoModel)
    with pytest.raises(ValueError, match="the demo serves attn_seq2seq models .and Neural Turing Machines"):
        DemoModel(memory_demo_models["copy"])
    LSTMBaselineConfig(input_size=9, output_size=8, hidden_size=8).save_pretrained(tmp_path / "baseline")
    with pytest.raises(ValueError, match="'ntm_lstm_baseline' model, which has no memory to show"):
        MemoryDemoModel(tmp_path / "baseline")
    with pytest.raises(DemoInputError):
        MemoryDemoModel(memory_demo_models["copy"]).parse_row("   ")


def test_the_page_builds_with_seq2seq_and_memory_models_side_by_side(memory_demo_models, demo_models):
    pytest.importorskip("gradio")
    from hf_attn_seq2seq.demo import build_app

    models = [load_demo_model(demo_models["attention"]), load_demo_model(memory_demo_models["copy"]),
              load_demo_model(memory_demo_models["repeat_copy"])]
    app = build_app(models)
    identifiers = {block.elem_id for block in app.blocks.values() if getattr(block, "elem_id", None)}
    assert {"source", "memory-run", "memory-view", "memory-model"} <= identifiers
