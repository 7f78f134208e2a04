"""Ensembles of saved models: an ensemble of one model decodes as that model (greedy, beam, GNMT beam); two identical
members decode as one; two different members average their log-probabilities at every step, cached steps equal the
teacher-forced pass; an ensemble saves, loads exactly and translates through the pipeline in a fresh process with
remote code alone; members that cannot share a tokenizer are refused by name."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import random_batch, tiny_model
from torch.nn import functional as F
from transformers import AutoModelForSeq2SeqLM, pipeline

from hf_attn_seq2seq import (
    AttnSeq2SeqEnsembleConfig,
    AttnSeq2SeqEnsembleForConditionalGeneration,
    gnmt_beam_search,
)
from hf_attn_seq2seq.data.tokenization import build_char_tokenizer
from hf_attn_seq2seq.ensembling import build_ensemble, save_ensemble


SEARCHES = {
    "greedy": dict(max_new_tokens=8),
    "beam": dict(max_new_tokens=8, num_beams=4),
    "gnmt": dict(max_new_tokens=8, num_beams=4, custom_generate=gnmt_beam_search, length_alpha=0.6,
                 coverage_beta=0.2),
}
LAYOUTS = {
    "tied-bidirectional": dict(attention="general", tie_word_embeddings=True, bidirectional=True),
    "input-feeding-deep": dict(attention="additive", input_feeding=True, encoder_layers=2, decoder_layers=2,
                               residual=True),
    "gnmt": dict(attention="dot", attention_layer="bottom", encoder_layers=2, decoder_layers=2, bidirectional=True),
}


def ensemble_of(*models):
    return AttnSeq2SeqEnsembleForConditionalGeneration.from_members(list(models))


@pytest.mark.parametrize("search", SEARCHES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_an_ensemble_of_one_model_decodes_as_that_model(layout, search):
    model = tiny_model(seed=3, **LAYOUTS[layout])
    ids, mask = random_batch([5, 3, 7, 4], seed=1)
    expected = model.generate(ids, attention_mask=mask, **SEARCHES[search])
    assert torch.equal(ensemble_of(model).generate(ids, attention_mask=mask, **SEARCHES[search]), expected)


@pytest.mark.parametrize("search", SEARCHES)
def test_an_ensemble_of_two_identical_models_decodes_as_one(search):
    model = tiny_model(seed=4, **LAYOUTS["tied-bidirectional"])
    ids, mask = random_batch([6, 2, 5], seed=2)
    expected = model.generate(ids, attention_mask=mask, **SEARCHES[search])
    assert torch.equal(ensemble_of(model, model).generate(ids, attention_mask=mask, **SEARCHES[search]), expected)


def test_each_step_averages_the_members_log_probabilities_and_caching_equals_a_full_pass():
    members = [tiny_model(seed=5, **LAYOUTS["tied-bidirectional"]), tiny_model(seed=6, **LAYOUTS["gnmt"])]
    ensemble = ensemble_of(*members)
    ids, mask = random_batch([5, 3, 6], seed=3)
    targets = torch.randint(3, 20, (3, 4), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        full = ensemble(input_ids=ids, attention_mask=mask, decoder_input_ids=targets).logits
        expected = torch.stack([F.log_softmax(m(input_ids=ids, attention_mask=mask, decoder_input_ids=targets).logits,
                                              dim=-1) for m in members]).mean(dim=0)
        torch.testing.assert_close(full, expected, rtol=0, atol=1e-6)
        cache = ensemble.new_cache(ids, mask)
        stepped = [ensemble.decode_step(targets[:, t : t + 1], cache).logits for t in range(targets.shape[1])]
    torch.testing.assert_close(torch.stack(stepped, dim=1), full, rtol=0, atol=1e-5)
    assert cache.get_seq_length() == targets.shape[1]
    with torch.no_grad():
        different = ensemble.generate(ids, attention_mask=mask, max_new_tokens=8, num_beams=3)
    assert different.shape[0] == 3  # two different members still decode one sequence per source


def test_padding_changes_no_row_of_an_ensemble():
    ensemble = ensemble_of(tiny_model(seed=7, **LAYOUTS["input-feeding-deep"]), tiny_model(seed=8))
    ids, mask = random_batch([6, 2, 4], seed=5)
    batch = ensemble.generate(ids, attention_mask=mask, max_new_tokens=6, num_beams=3)
    for row, length in enumerate([6, 2, 4]):
        alone = ensemble.generate(ids[row : row + 1, :length], max_new_tokens=6, num_beams=3)
        assert batch[row, : alone.shape[1]].tolist() == alone[0].tolist()


@pytest.fixture
def tokenizer():
    return build_char_tokenizer(["abcdefghijklmnopqrs"])


def saved_member(tmp_path, tokenizer, seed, **options):
    folder = tmp_path / f"member-{seed}"
    tiny_model(seed=seed, vocab_size=len(tokenizer), **options).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_an_ensemble_saves_loads_exactly_and_translates_in_a_fresh_process(tmp_path, tokenizer):
    members = [saved_member(tmp_path, tokenizer, 1, **LAYOUTS["tied-bidirectional"]),
               saved_member(tmp_path, tokenizer, 2, **LAYOUTS["gnmt"])]
    folder = save_ensemble(members, tmp_path / "ensemble")
    ensemble, _ = build_ensemble(members)
    loaded = AutoModelForSeq2SeqLM.from_pretrained(folder)
    assert isinstance(loaded, AttnSeq2SeqEnsembleForConditionalGeneration)
    assert loaded.members[0].lm_head.weight is loaded.members[0].model.decoder.embed_tokens.weight
    assert ensemble.state_dict().keys() == loaded.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(ensemble.state_dict().values(), loaded.state_dict().values()))
    assert json.loads((folder / "metrics.json").read_text())["ensemble_members"] == [str(m) for m in members]
    sources = ["abc", "srqp", "hello"]
    settings = dict(max_new_tokens=6, num_beams=3)
    expected = [r["translation_text"] for r in pipeline("translation", model=str(folder), trust_remote_code=True)(
        sources, **settings)]
    script = textwrap.dedent(f"""
        import json, sys
        sys.modules["hf_attn_seq2seq"] = None  # remote code alone: the package cannot be imported
        from transformers import pipeline
        translator = pipeline("translation", model={str(folder)!r}, trust_remote_code=True)
        print(json.dumps([r["translation_text"] for r in translator({sources!r}, **{settings!r})]))
    """)
    environment = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"), PYTHONPATH="")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment,
                            cwd=tmp_path, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected


def test_members_that_cannot_share_a_tokenizer_are_refused(tmp_path, tokenizer):
    first = saved_member(tmp_path, tokenizer, 1)
    other_folder = tmp_path / "other"
    other_tokenizer = build_char_tokenizer(["abcdefghijklmnopqrt"])
    tiny_model(seed=2, vocab_size=len(other_tokenizer)).save_pretrained(other_folder)
    other_tokenizer.save_pretrained(other_folder)
    with pytest.raises(ValueError, match="other: its tokenizer differs .* vocabulary"):
        build_ensemble([first, other_folder])
    with pytest.raises(ValueError, match="must share vocab_size"):
        AttnSeq2SeqEnsembleConfig(members=[tiny_model(vocab_size=20).config.to_dict(),
                                           tiny_model(vocab_size=21).config.to_dict()])
    with pytest.raises(ValueError, match="Member 1 of the ensemble: dropout"):
        AttnSeq2SeqEnsembleConfig(members=[tiny_model().config.to_dict(), {**tiny_model().config.to_dict(),
                                                                           "dropout": 2.0}])
    with pytest.raises(ValueError, match="at least one member"):
        AttnSeq2SeqEnsembleForConditionalGeneration.from_members([])
    with pytest.raises(ValueError, match="members must be a non-empty list"):
        AttnSeq2SeqEnsembleConfig(members=[])


def test_the_cli_writes_an_ensemble_and_refuses_folders_it_may_not_replace(tmp_path, tokenizer, capsys):
    from training.cli import main

    members = [saved_member(tmp_path, tokenizer, seed) for seed in (1, 2)]
    output = tmp_path / "ensemble"
    assert main(["ensemble", *map(str, members), "--output-dir", str(output)]) == 0
    assert len(AutoModelForSeq2SeqLM.from_pretrained(output).members) == 2
    assert main(["ensemble", str(members[0]), "--output-dir", str(output)]) == 0  # an earlier ensemble is replaced
    assert len(AutoModelForSeq2SeqLM.from_pretrained(output).members) == 1
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "mine.txt").write_text("keep")
    assert main(["ensemble", str(members[0]), "--output-dir", str(notes)]) == 2
    assert "not an earlier ensemble" in capsys.readouterr().err and (notes / "mine.txt").read_text() == "keep"
    assert main(["ensemble", str(members[0]), "--output-dir", str(members[0])]) == 2
    assert "would replace the member folder" in capsys.readouterr().err
    assert (members[0] / "model.safetensors").is_file()
    assert main(["ensemble", str(tmp_path / "missing"), "--output-dir", str(tmp_path / "x")]) == 2
    assert "no such folder" in capsys.readouterr().err
