"""Checkpoint averaging: N copies of one checkpoint average to it exactly; two checkpoints to their mean; an averaged
model saves, loads and runs through the translation pipeline in a fresh process; checkpoints of different models
are refused by name."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import tiny_model
from safetensors.torch import load_file
from transformers import pipeline

from hf_attn_seq2seq.averaging import average_checkpoints, average_into
from hf_attn_seq2seq.data.tokenization import build_char_tokenizer


@pytest.fixture
def tokenizer():
    return build_char_tokenizer(["abcdefghijklmnopqrs"])


def saved(tmp_path, tokenizer, seed: int, **options):
    folder = tmp_path / f"checkpoint-{seed}"
    tiny_model(seed=seed, vocab_size=len(tokenizer), **options).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("options", [dict(attention="general"), dict(attention="dot", tie_word_embeddings=True)],
                         ids=["untied", "tied"])
def test_copies_of_one_checkpoint_average_to_it_exactly(tmp_path, tokenizer, options):
    folder = saved(tmp_path, tokenizer, 1, **options)
    original = load_file(folder / "model.safetensors")
    averaged = average_checkpoints([folder] * 3)
    assert averaged.keys() == original.keys()
    assert all(torch.equal(averaged[name], original[name]) and averaged[name].dtype == original[name].dtype
               for name in original)
    model = average_into(tiny_model(seed=9, vocab_size=len(tokenizer), **options), [folder, folder])
    reference = tiny_model(seed=1, vocab_size=len(tokenizer), **options)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values()))


def test_two_checkpoints_average_to_their_mean(tmp_path, tokenizer):
    first, second = saved(tmp_path, tokenizer, 1), saved(tmp_path, tokenizer, 2)
    a, b = load_file(first / "model.safetensors"), load_file(second / "model.safetensors")
    averaged = average_checkpoints([first, second])
    for name in a:
        assert torch.equal(averaged[name], ((a[name].double() + b[name].double()) / 2).float())
        assert not torch.equal(averaged[name], a[name]) or torch.equal(a[name], b[name])


def test_an_averaged_model_saves_loads_and_translates_in_a_fresh_process(tmp_path, tokenizer):
    checkpoints = [saved(tmp_path, tokenizer, seed, attention="dot", tie_word_embeddings=True) for seed in (1, 2, 3)]
    model = average_into(tiny_model(seed=0, vocab_size=len(tokenizer), attention="dot", tie_word_embeddings=True),
                         checkpoints)
    assert model.lm_head.weight is model.model.decoder.embed_tokens.weight  # still tied, to the averaged embedding
    folder = tmp_path / "averaged"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    sources = ["abc", "srqp", "hello"]
    expected = [r["translation_text"] for r in pipeline("translation", model=str(folder), trust_remote_code=True)(
        sources, max_new_tokens=6)]
    script = textwrap.dedent(f"""
        import json
        from transformers import pipeline
        translator = pipeline("translation", model={str(folder)!r}, trust_remote_code=True)
        print(json.dumps([r["translation_text"] for r in translator({sources!r}, max_new_tokens=6)]))
    """)
    environment = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"), PYTHONPATH="")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment,
                            cwd=tmp_path, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected


def test_checkpoints_of_different_models_and_missing_weights_are_refused(tmp_path, tokenizer):
    general = saved(tmp_path, tokenizer, 1, attention="general")
    dot = saved(tmp_path, tokenizer, 2, attention="dot")
    wider = tmp_path / "wider"
    tiny_model(seed=3, vocab_size=len(tokenizer), attention="general", hidden_size=10).save_pretrained(wider)
    with pytest.raises(ValueError, match="other weights than"):
        average_checkpoints([general, dot])
    with pytest.raises(ValueError, match=r"wider: .* only checkpoints of one model"):
        average_checkpoints([general, wider])
    with pytest.raises(ValueError, match="at least one folder"):
        average_checkpoints([])
    with pytest.raises(FileNotFoundError, match="holds no model.safetensors"):
        average_checkpoints([tmp_path / "nothing"])
    with pytest.raises(ValueError, match="do not fit the model"):
        average_into(tiny_model(seed=0, vocab_size=len(tokenizer), attention="dot"), [general])


TINY_RUN = ["--task", "reverse", "--num-examples", "120", "--set", "hidden_size=16", "--set", "embedding_size=8",
            "--set", "num_train_epochs=3", "--num-heatmaps", "0", "--allow-unconverged"]


def test_the_cli_exports_the_mean_of_the_last_checkpoints(tmp_path):
    from training.train import main as train_main

    output = tmp_path / "run"
    metrics = train_main([*TINY_RUN, "--output-dir", str(output), "--average-checkpoints", "3"])
    checkpoints = sorted((output / "checkpoints").glob("checkpoint-*"), key=lambda path: int(path.name.split("-")[1]))
    assert metrics["averaged_checkpoints"] == [path.name for path in checkpoints] and len(checkpoints) == 3
    exported = load_file(output / "model" / "model.safetensors")
    averaged = average_checkpoints(checkpoints)
    assert exported.keys() == averaged.keys()
    assert all(torch.equal(exported[name], averaged[name]) for name in exported)
    saved = json.loads((output / "model" / "metrics.json").read_text())
    assert saved["averaged_checkpoints"] == metrics["averaged_checkpoints"]


@pytest.mark.parametrize("arguments, message", [
    ([*TINY_RUN, "--average-checkpoints", "0"], "give a number of checkpoints, 1 or more"),
    (["--task", "copy", "--average-checkpoints", "2"], "averaging is for the encoder-decoder tasks"),
])
def test_the_cli_refuses_averaging_it_cannot_do(tmp_path, arguments, message):
    from training.train import main as train_main

    with pytest.raises(SystemExit, match=message):
        train_main([*arguments, "--output-dir", str(tmp_path / "run")])
    assert not (tmp_path / "run" / "checkpoints").exists()
