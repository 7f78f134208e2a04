"""Folders saved by an earlier release (tests/fixtures/saved_folders, written by tests/fixtures/make_saved_folders.py)
load in this one, through the package and through their own remote code in a fresh process, and compute what they
computed when saved.

Generated ids must be identical. Logits are compared within 1e-6: the fixture was recorded on one x86 CPU, and MKL
picks other kernels (another summation order) on others. The smallest gap between a greedy step's best and second-best
logits is recorded beside them and is far larger, so no greedy choice can flip.
"""

import inspect
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import tiny_model
from transformers import AutoModelForSeq2SeqLM

import hf_attn_seq2seq  # noqa: F401  (the package's own classes, not the folder's code)


FIXTURES = Path(__file__).with_name("fixtures") / "saved_folders"
LAYOUTS = ("luong", "gnmt")
LOGITS_TOLERANCE = 1e-6


def outputs(model, expected: dict) -> dict:
    input_ids = torch.tensor(expected["input_ids"])
    attention_mask = (input_ids != model.config.pad_token_id).long()
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=attention_mask,
                       labels=torch.tensor(expected["labels"])).logits
        greedy = model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=expected["max_new_tokens"])
        beam = model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=expected["max_new_tokens"],
                              num_beams=3)
    return {"logits": logits.tolist(), "greedy": greedy.tolist(), "beam_3": beam.tolist()}


def assert_same(got: dict, expected: dict) -> None:
    assert expected["smallest_greedy_gap"] > 10 * LOGITS_TOLERANCE
    torch.testing.assert_close(torch.tensor(got["logits"]), torch.tensor(expected["logits"]), rtol=0,
                               atol=LOGITS_TOLERANCE)
    assert got["greedy"] == expected["greedy"]
    assert got["beam_3"] == expected["beam_3"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_folder_saved_earlier_loads_through_the_package_and_computes_the_same(layout):
    folder = FIXTURES / layout
    expected = json.loads((folder / "expected.json").read_text())
    model = AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
    assert type(model).__module__.startswith("hf_attn_seq2seq.")
    assert_same(outputs(model, expected), expected)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_folder_saved_earlier_loads_through_its_own_code_in_a_fresh_process(layout, tmp_path):
    folder = tmp_path / layout
    shutil.copytree(FIXTURES / layout, folder)
    script = f"""
        import json, sys
        import torch
        from transformers import AutoModelForSeq2SeqLM
        folder = {str(folder)!r}
        model = AutoModelForSeq2SeqLM.from_pretrained(folder, trust_remote_code=True).eval()
        assert "hf_attn_seq2seq" not in sys.modules, "the package was imported"
        print(json.dumps(outputs(model, json.loads(open(folder + "/expected.json").read()))))
    """
    environment = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"), PYTHONPATH="")
    script = inspect.getsource(outputs) + textwrap.dedent(script)  # the same measurement, without the package
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=environment, cwd=tmp_path, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = json.loads((folder / "expected.json").read_text())
    assert_same(json.loads(result.stdout.strip().splitlines()[-1]), expected)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_folder_saved_now_loads_and_saves_again_where_only_torch_and_transformers_are(layout, tmp_path):
    """This release's folder, with its code files, in a process where the package cannot be imported at all: it loads,
    computes what the package's model computes, and saves again (the plain transformers way) into a folder that
    loads too."""
    options = dict(luong=dict(attention="general"),
                   gnmt=dict(attention="additive", attention_layer="bottom", input_feeding=True, bidirectional=True,
                             residual=True, encoder_layers=2, decoder_layers=2, peeky=True))[layout]
    model = tiny_model(seed=3, **options).eval()
    folder = tmp_path / "saved"
    model.save_pretrained(folder)
    expected = json.loads((FIXTURES / layout / "expected.json").read_text())
    expected = {**expected, **outputs(model, expected)}
    (folder / "expected.json").write_text(json.dumps(expected))
    script = f"""
        import json, sys
        sys.modules["hf_attn_seq2seq"] = None  # any import of the package now fails
        import torch
        from transformers import AutoModelForSeq2SeqLM
        folder = {str(folder)!r}
        model = AutoModelForSeq2SeqLM.from_pretrained(folder, trust_remote_code=True).eval()
        model.save_pretrained(folder + "-again")
        again = AutoModelForSeq2SeqLM.from_pretrained(folder + "-again", trust_remote_code=True).eval()
        expected = json.loads(open(folder + "/expected.json").read())
        print(json.dumps([outputs(model, expected), outputs(again, expected)]))
    """
    environment = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"), PYTHONPATH="")
    script = inspect.getsource(outputs) + textwrap.dedent(script)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=environment, cwd=tmp_path, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    for got in json.loads(result.stdout.strip().splitlines()[-1]):
        assert got["greedy"] == expected["greedy"] and got["beam_3"] == expected["beam_3"]
        assert torch.equal(torch.tensor(got["logits"]), torch.tensor(expected["logits"]))
