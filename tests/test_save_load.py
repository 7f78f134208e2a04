"""save_pretrained / from_pretrained round trips, Auto classes, and Hub code loaded with trust_remote_code."""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import random_batch, tiny_model
from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM

from hf_attn_seq2seq import AttnSeq2SeqForConditionalGeneration, AttnSeq2SeqModel


ROOT = Path(__file__).resolve().parents[1]


OPTIONS = dict(attention="additive", bidirectional=True, bidirectional_merge="concat", encoder_layers=2,
               decoder_layers=2, residual=True, input_feeding=True, attention_layer="bottom", peeky=True)


def test_round_trip_is_exact(tmp_path):
    model = tiny_model(**OPTIONS)
    input_ids, attention_mask = random_batch([6, 4], seed=1)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert not list(tmp_path.glob("*.bin"))
    loaded, info = AttnSeq2SeqForConditionalGeneration.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == set() or info["missing_keys"] == []
    assert not info["unexpected_keys"]
    for (name, expected), (_, actual) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(expected, actual), name
    # Bit-exact outputs need the weights 64-byte aligned, as fresh tensors are: MKL's kernels below AVX2 sum in an
    # order set by alignment (`make test-other-kernels` runs this file on them).
    assert all(parameter.data_ptr() % 64 == 0 for parameter in loaded.parameters())
    with torch.no_grad():
        decoder_ids = input_ids[:, :3]
        expected = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_ids).logits
        actual = loaded(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_ids).logits
    assert torch.equal(expected, actual)
    assert torch.equal(model.generate(input_ids, num_beams=3, max_new_tokens=6),
                       loaded.generate(input_ids, num_beams=3, max_new_tokens=6))


def test_auto_classes_load_the_saved_folder(tmp_path):
    model = tiny_model(**OPTIONS)
    model.save_pretrained(tmp_path)
    assert type(AutoConfig.from_pretrained(tmp_path)).__name__ == "AttnSeq2SeqConfig"
    assert isinstance(AutoModelForSeq2SeqLM.from_pretrained(tmp_path), AttnSeq2SeqForConditionalGeneration)
    assert isinstance(AutoModel.from_pretrained(tmp_path), AttnSeq2SeqModel)


def test_saved_folder_carries_the_hub_code(tmp_path):
    tiny_model().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "attn_seq2seq"
    assert config["auto_map"] == {
        "AutoConfig": "configuration_attn_seq2seq.AttnSeq2SeqConfig",
        "AutoModel": "modeling_attn_seq2seq.AttnSeq2SeqModel",
        "AutoModelForSeq2SeqLM": "modeling_attn_seq2seq.AttnSeq2SeqForConditionalGeneration",
    }
    assert (tmp_path / "modeling_attn_seq2seq.py").exists()
    assert (tmp_path / "configuration_attn_seq2seq.py").exists()
    generation = json.loads((tmp_path / "generation_config.json").read_text())
    assert generation["decoder_start_token_id"] == 1


def test_fresh_process_loads_with_trust_remote_code_without_the_package(tmp_path):
    model = tiny_model(**OPTIONS)
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    input_ids, _ = random_batch([6, 4], seed=2)
    expected = model.generate(input_ids, num_beams=2, max_new_tokens=6)
    torch.save  # noqa: B018 (inputs travel as JSON, never pickled)
    script = textwrap.dedent(
        f"""
        import json, sys
        import torch
        from transformers import AutoModelForSeq2SeqLM
        model = AutoModelForSeq2SeqLM.from_pretrained({str(folder)!r}, trust_remote_code=True)
        assert "hf_attn_seq2seq" not in sys.modules, "the package was imported"
        input_ids = torch.tensor({input_ids.tolist()!r})
        print(json.dumps(model.generate(input_ids, num_beams=2, max_new_tokens=6).tolist()))
        """
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"), PYTHONPATH="")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected.tolist()


@pytest.mark.parametrize("config_file", ["models/attn_seq2seq/configuration_attn_seq2seq.py",
                                         "models/ntm/configuration_ntm.py"])
def test_a_transformers_older_than_the_floor_gets_one_message_naming_the_version(config_file):
    """The Hub folders' config file is the first code transformers runs; on a 4.x release it must say what it needs
    rather than fail on a name that 4.x lacks."""
    floor = re.search(r'"transformers>=([0-9.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    path = ROOT / "hf_attn_seq2seq" / config_file
    script = textwrap.dedent(f"""
        import importlib.util, transformers
        transformers.__version__ = "4.57.6"  # the last 4.x release, still widely installed
        spec = importlib.util.spec_from_file_location("remote_config", {str(path)!r})
        try:
            spec.loader.exec_module(importlib.util.module_from_spec(spec))
        except ImportError as error:
            print(error)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"This model's code needs transformers>={floor}, and this process has transformers 4.57.6. Upgrade it: "
        f"pip install --upgrade 'transformers>={floor}'")
