"""Bad input gets a clear error naming the problem (the matrix in docs/errors.md); nothing is half-written."""

import json

import pytest
import torch
from conftest import random_batch, tiny_model
from transformers import AutoModelForSeq2SeqLM, MarianConfig, MarianMTModel, pipeline

from hf_attn_seq2seq import AttnSeq2SeqForConditionalGeneration
from hf_attn_seq2seq.data.tokenization import build_char_tokenizer, check_tokenizer_matches_model


@pytest.fixture
def model():
    return tiny_model()


@pytest.mark.parametrize(
    ("make_input", "kwargs", "message"),
    [
        (lambda: torch.zeros((1, 0), dtype=torch.long), {}, r"input_ids is empty \(shape \(1, 0\)\)"),
        (lambda: torch.tensor([[5, 6, 7], [0, 0, 0]]), {}, r"Source row\(s\) \[1\] have no tokens \(all padding\)"),
        (lambda: torch.full((1, 600), 5), {}, r"Source of 600 tokens is longer than max_source_length=512"),
        (lambda: torch.tensor([5, 6, 7]), {}, r"input_ids must have shape \(batch_size, sequence_length\), got"),
        (lambda: torch.tensor([[5, 99]]), {}, r"input_ids holds token id 99, outside the model's vocabulary \[0, 23"),
        (lambda: torch.tensor([[5, 6]]), dict(num_beams=2, num_return_sequences=3),
         r"`num_return_sequences` \(3\) has to be smaller or equal to `num_beams` \(2\)"),
        (lambda: torch.tensor([[5, 6, 7]]), dict(attention_mask=torch.tensor([[1, 1]])),
         r"attention_mask has shape \(1, 2\) but input_ids has \(1, 3\)"),
    ],
    ids=["empty", "all-pad-row", "too-long", "1-d", "out-of-vocab", "returns>beams", "mask-shape"],
)
def test_generate_rejects_bad_input(model, make_input, kwargs, message):
    with pytest.raises(ValueError, match=message):
        model.generate(make_input(), max_new_tokens=3, **kwargs)


def test_forward_rejects_labels_outside_the_vocabulary(model):
    input_ids, mask = random_batch([3])
    with pytest.raises(ValueError, match=r"labels holds token id 40, outside the model's vocabulary"):
        model(input_ids=input_ids, attention_mask=mask, labels=torch.tensor([[5, 40]]))


def test_tokenizer_that_does_not_match_the_model_is_rejected(model, tmp_path):
    tokenizer = build_char_tokenizer(["abcdefghijklmnopqrstuvwxyz0123456789"])
    with pytest.raises(ValueError, match=r"The tokenizer has 40 tokens but the model's vocab_size is 23"):
        check_tokenizer_matches_model(tokenizer, model.config)
    model.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"The tokenizer has 40 tokens but the model's vocab_size is 23"):
        pipeline("seq2seq-generation", model=str(tmp_path), tokenizer=tokenizer)
    small = build_char_tokenizer(["abc"])
    small.add_special_tokens({"pad_token": "<pad2>"})
    with pytest.raises(ValueError, match=r"tokenizer.pad_token_id=7 but config.pad_token_id=0"):
        check_tokenizer_matches_model(small, model.config)


def test_checkpoint_without_weights_is_rejected(model, tmp_path):
    model.save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(OSError, match=r"no file named model.safetensors"):
        AttnSeq2SeqForConditionalGeneration.from_pretrained(tmp_path)


def test_truncated_weights_are_rejected_with_the_file_named(model, tmp_path):
    model.save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"model.safetensors is truncated or corrupt"):
        AttnSeq2SeqForConditionalGeneration.from_pretrained(tmp_path)


def test_config_of_another_model_type_is_rejected(tmp_path):
    marian = MarianConfig(vocab_size=30, d_model=8, encoder_layers=1, decoder_layers=1, encoder_ffn_dim=8,
                          decoder_ffn_dim=8, encoder_attention_heads=2, decoder_attention_heads=2, pad_token_id=0,
                          decoder_start_token_id=0)
    MarianMTModel(marian).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"The config is for model type 'marian', not 'attn_seq2seq'"):
        AttnSeq2SeqForConditionalGeneration.from_pretrained(tmp_path)
    # transformers' own model: 5.25 turns Hub kernels on for it by default, which needs the `kernels` package
    assert type(AutoModelForSeq2SeqLM.from_pretrained(tmp_path, use_kernels=False)).__name__ == "MarianMTModel"


def test_an_interrupted_save_leaves_the_previous_model_intact(tmp_path, monkeypatch):
    first = tiny_model(seed=1)
    first.save_pretrained(tmp_path)
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}

    import transformers.modeling_utils

    original = transformers.modeling_utils.safe_save_file

    def dies_halfway(tensors, filename, *args, **kwargs):
        original(tensors, filename, *args, **kwargs)
        with open(filename, "r+b") as handle:  # the write was cut off
            handle.truncate(64)
        raise KeyboardInterrupt

    monkeypatch.setattr(transformers.modeling_utils, "safe_save_file", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        tiny_model(seed=2).save_pretrained(tmp_path)
    monkeypatch.undo()
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before
    assert not list(tmp_path.parent.glob(f".{tmp_path.name}.saving-*"))
    loaded = AttnSeq2SeqForConditionalGeneration.from_pretrained(tmp_path)
    for name, tensor in first.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_save_replaces_stale_weight_shards(tmp_path):
    (tmp_path / "model-00001-of-00002.safetensors").write_bytes(b"old")
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {}}))
    tiny_model().save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.glob("model*.safetensors*")) == ["model.safetensors"]


def test_no_pickle_or_torch_load_in_the_code():
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1]
    sources = [p for folder in ("hf_attn_seq2seq", "training", "model_cards", "benchmarks")
               for p in (root / folder).rglob("*.py")]
    assert sources
    for path in sources:
        text = path.read_text()
        for forbidden in ("import pickle", "torch.load(", "pickle.load", "weights_only=False"):
            assert forbidden not in text, f"{path} uses {forbidden}"


def test_network_is_disabled_in_tests():
    import socket

    with pytest.raises(RuntimeError, match="tests must not use the network"):
        socket.create_connection(("93.184.216.34", 443), timeout=1)


def test_weights_with_non_finite_values_are_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    tiny_model().save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    weights["lm_head.weight"][0, 0] = float("nan")
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"are corrupt: lm_head.weight holds non-finite values"):
        AttnSeq2SeqForConditionalGeneration.from_pretrained(tmp_path)
