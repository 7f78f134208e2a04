"""The Hub-ready folder is replaced in one step: a kill at any moment leaves the old or the new complete folder."""

import pytest
from conftest import tiny_model

import hf_attn_seq2seq.hub as hub
import hf_attn_seq2seq.saving as saving
from hf_attn_seq2seq.data.tokenization import build_char_tokenizer


@pytest.fixture
def tokenizer():
    return build_char_tokenizer(["abcdefghijklmnopqrs"])


def folder_bytes(folder):
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def test_the_folder_is_swapped_in_one_step_and_old_leftovers_are_removed(tmp_path, tokenizer, monkeypatch):
    folder = tmp_path / "model"
    hub.write_model_folder(folder, tiny_model(seed=1, vocab_size=len(tokenizer)), tokenizer)
    old = folder_bytes(folder)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    # killed before the swap: the old folder stands, complete
    monkeypatch.setattr(saving, "_exchange", killed)
    with pytest.raises(KeyboardInterrupt):
        hub.write_model_folder(folder, tiny_model(seed=2, vocab_size=len(tokenizer)), tokenizer)
    assert folder_bytes(folder) == old
    monkeypatch.undo()

    # killed right after the swap, before the old folder is removed: the new folder stands, complete
    exchange = saving._exchange

    def swapped_then_killed(first, second):
        if not exchange(first, second):
            pytest.skip("this system cannot swap folders in one step")
        raise KeyboardInterrupt

    monkeypatch.setattr(saving, "_exchange", swapped_then_killed)
    with pytest.raises(KeyboardInterrupt):
        hub.write_model_folder(folder, tiny_model(seed=3, vocab_size=len(tokenizer)), tokenizer)
    monkeypatch.undo()
    new = folder_bytes(folder)
    assert new["model.safetensors"] != old["model.safetensors"] and new.keys() == old.keys()
    # what a SIGKILL leaves (no handler runs): staging folders of the export and of the model's own save
    for leftover in (".model.saving-k1l2l3", ".model.old.k1l2l3", "..model.saving-k1l2l3.saving-x9"):
        (tmp_path / leftover).mkdir()
        (tmp_path / leftover / "model.safetensors").write_bytes(b"half")
    (tmp_path / ".model.bak").mkdir()  # the user's own, named like the folder
    hub.write_model_folder(folder, tiny_model(seed=4, vocab_size=len(tokenizer)), tokenizer)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.bak", "model"]


def test_exchange_swaps_two_folders(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "x").write_text("first")
    (second / "x").write_text("second")
    if not saving._exchange(first, second):
        pytest.skip("this system cannot swap folders in one step (the export falls back to two renames)")
    assert (first / "x").read_text() == "second" and (second / "x").read_text() == "first"


def test_a_plain_file_named_like_the_folder_is_refused_not_deleted(tmp_path, tokenizer):
    path = tmp_path / "model"
    path.write_text("my notes")
    with pytest.raises(FileExistsError, match="exists and is not a folder"):
        hub.write_model_folder(path, tiny_model(vocab_size=len(tokenizer)), tokenizer)
    assert path.read_text() == "my notes"


def test_the_folder_and_its_files_get_the_usual_permissions(tmp_path, tokenizer):
    import os
    import stat

    previous = os.umask(0o022)
    try:
        folder = hub.write_model_folder(tmp_path / "model", tiny_model(seed=5, vocab_size=len(tokenizer)), tokenizer)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert {stat.S_IMODE(path.stat().st_mode) for path in folder.iterdir()} == {0o644}
