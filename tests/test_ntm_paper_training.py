"""The NTM paper's other tasks through the library and the training CLI: a tiny NTM learns a tiny instance of each in
seconds; `--task <task>` with the task's NTM preset or `--preset lstm` trains, scores every test split with the task's
metric and writes a folder (with the memory picture for the NTM) that loads with remote code alone in a fresh
process."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from transformers import AutoModel

from hf_attn_seq2seq import NTMConfig, NTMModel
from hf_attn_seq2seq.data.ntm_paper_tasks import (
    PAPER_TASKS,
    AssociativeRecallCollator,
    NGramCollator,
    PrioritySortCollator,
    RepeatCopyCollator,
    associative_recall_dataset,
    cost_per_sequence,
    ngram_dataset,
    priority_sort_dataset,
    repeat_copy_dataset,
)
from hf_attn_seq2seq.demo import MemoryDemoModel
from hf_attn_seq2seq.models.ntm.modeling_ntm import bit_errors_per_sequence
from hf_attn_seq2seq.presets import TASK_PRESETS, load_preset
from training.train import main


# tiny instances: short sequences, few repeats, two items, three vectors to sort, 40-bit N-gram sequences
TINY_INSTANCES = {
    "repeat_copy": (lambda n, rng: repeat_copy_dataset(n, (1, 2), (1, 2), rng), RepeatCopyCollator()),
    "associative_recall": (lambda n, rng: associative_recall_dataset(n, (2, 2), rng), AssociativeRecallCollator()),
    "priority_sort": (lambda n, rng: priority_sort_dataset(n, rng, num_inputs=3), PrioritySortCollator(num_outputs=2)),
    "ngrams": (lambda n, rng: ngram_dataset(n, rng, length=40), NGramCollator()),
}


def score(model, batch, task: str) -> float:
    model.eval()
    with torch.no_grad():
        logits = model(batch["inputs"]).logits
    measure = cost_per_sequence if task == "ngrams" else bit_errors_per_sequence
    return float(measure(logits, batch["labels"]).mean())


@pytest.mark.parametrize("task", sorted(TINY_INSTANCES))
def test_a_tiny_ntm_learns_a_tiny_instance_of_each_task(task):
    make, collate = TINY_INSTANCES[task]
    # an NTM step walks the sequence one time step at a time: the N-grams' long sequences take fewer, larger batches
    steps, batch_size = (100, 64) if task == "ngrams" else (400, 16)
    rows = list(make(steps * batch_size if task != "ngrams" else 200, np.random.default_rng(0)))
    held_out = collate(list(make(128, np.random.default_rng(9))))
    torch.manual_seed(0)
    model = NTMModel(NTMConfig(input_size=collate.input_size, output_size=collate.output_size, controller_size=32,
                               memory_rows=16, memory_width=8))
    untrained = score(model, held_out, task)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(steps):
        batch = collate([rows[(step * batch_size + i) % len(rows)] for i in range(batch_size)])
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
    trained = score(model, held_out, task)
    if task == "ngrams":  # 35 predicted bits: a coin costs 35; the model learns the sequences' own statistics
        assert trained < min(untrained, 35.0) - 1.5, (untrained, trained)
    else:
        assert trained < 0.6 * untrained, (untrained, trained)


TINY_NTM = ["--set", "controller_size=16", "--set", "memory_rows=32", "--set", "memory_width=6",
            # compiling the memory step takes longer than these runs train
            "--set", "torch_compile=false"]
SHORT = ["--num-examples", "64", "--max-eval-examples", "32", "--set", "max_steps=8", "--set", "eval_steps=4",
         "--set", "logging_steps=4", "--allow-unconverged"]


@pytest.mark.parametrize("task", sorted(PAPER_TASKS))
def test_the_cli_trains_each_task_and_its_folder_loads_with_remote_code_alone(task, tmp_path, capsys):
    spec = PAPER_TASKS[task]
    # the task's own NTM preset; the N-grams' 200 steps are slow for the NTM in a test
    preset = "lstm" if task == "ngrams" else TASK_PRESETS[task]
    tiny = ["--set", "hidden_size=16"] if preset == "lstm" else TINY_NTM
    metrics = main(["--task", task, "--preset", preset, "--output-dir", str(tmp_path / "run"), *tiny, *SHORT])
    folder = tmp_path / "run" / "model"
    expected_splits = [split for split in spec.load(num_examples=1) if split.startswith("test")]
    assert list(metrics["test"]) == expected_splits
    if task == "ngrams":
        assert all(score["optimal_cost_per_sequence"] < score["cost_per_sequence"]
                   for score in metrics["test"].values())
        assert "validation_cost_per_sequence" in metrics and "Bayesian optimum" in (folder / "README.md").read_text()
    else:
        assert all(0 <= score["sequences_copied"] <= 100 for score in metrics["test"].values())
        assert "validation_bit_errors_per_sequence" in metrics
    assert (folder / "memory_access.png").is_file() == (preset != "lstm")
    config = json.loads((folder / "config.json").read_text())
    assert config["input_size"] == spec.input_size
    if preset != "lstm":
        for kind in ("read_heads", "write_heads"):
            assert config[kind] == load_preset(preset)["model"].get(kind, 1)
        # the demo's memory view draws the heads of a kind together: each step's weights sum to their number
        demo = MemoryDemoModel(folder)
        shown = demo.run(demo.example(0, demo.default_size))
        np.testing.assert_allclose(np.sum(shown.read_weights, axis=-1), config["read_heads"], rtol=1e-5)
        np.testing.assert_allclose(np.sum(shown.write_weights, axis=-1), config["write_heads"], rtol=1e-5)
    printed = capsys.readouterr().out
    assert f"{preset} on {task}:" in printed

    batch = spec.collator()(list(spec.load(num_examples=1)["test"].select(range(3))))
    save_file({"inputs": batch["inputs"]}, tmp_path / "inputs.safetensors")
    expected = AutoModel.from_pretrained(folder)(batch["inputs"]).logits
    script = textwrap.dedent(f"""
        import sys
        sys.modules["hf_attn_seq2seq"] = None  # remote code alone
        import torch
        from safetensors.torch import load_file, save_file
        from transformers import AutoModel
        model = AutoModel.from_pretrained({str(folder)!r}, trust_remote_code=True)
        with torch.no_grad():
            logits = model(load_file({str(tmp_path / "inputs.safetensors")!r})["inputs"]).logits
        save_file({{"logits": logits.contiguous()}}, {str(tmp_path / "logits.safetensors")!r})
    """)
    environment = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"), PYTHONPATH="")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment,
                            cwd=tmp_path, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    from safetensors.torch import load_file

    torch.testing.assert_close(load_file(tmp_path / "logits.safetensors")["logits"], expected.detach(), rtol=0,
                               atol=1e-6)


def test_a_folder_of_another_task_is_refused_for_fine_tuning(tmp_path):
    main(["--task", "associative_recall", "--preset", "ntm", "--output-dir", str(tmp_path / "recall"), *TINY_NTM,
          *SHORT])
    with pytest.raises(SystemExit, match="reads 8 and writes 6 channels; the repeat_copy task has 10 and 9"):
        main(["--task", "repeat_copy", "--preset", "ntm", "--init-from", str(tmp_path / "recall" / "model"),
              "--output-dir", str(tmp_path / "again"), *SHORT])
    with pytest.raises(SystemExit, match="--set input_size: set by the CLI from the repeat_copy task's layout"):
        main(["--task", "repeat_copy", "--preset", "ntm", "--set", "input_size=3", "--output-dir",
              str(tmp_path / "sized"), *SHORT])
