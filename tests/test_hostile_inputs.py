"""What a determined user tries: another model's weights, bad files beside good ones, over-long and malformed input,
unbounded generation. Each gets a clear error naming the problem, or the right result; nothing is silently wrong."""

import errno
import json
import shutil

import pytest
import torch
from conftest import tiny_model

import hf_attn_seq2seq.models.attn_seq2seq.modeling_attn_seq2seq as modeling
from hf_attn_seq2seq import AttnSeq2SeqForConditionalGeneration, AttnSeq2SeqModel, NTMConfig, NTMModel
from hf_attn_seq2seq.data.tasks import DataFileError, load_translation
from hf_attn_seq2seq.data.tokenization import build_char_tokenizer, load_tokenizer, train_subword_tokenizer
from hf_attn_seq2seq.demo import DemoModel
from hf_attn_seq2seq.hub import saved_model_type
from hf_attn_seq2seq.presets import convergence_threshold
from training.push import main as push_main
from training.train import convergence_note
from training.train import main as train_main


TINY_RUN = ["--task", "reverse", "--num-examples", "120", "--set", "hidden_size=16", "--set", "embedding_size=8",
            "--set", "num_train_epochs=1", "--num-heatmaps", "0", "--allow-unconverged"]


@pytest.fixture
def saved(tmp_path):
    """A tiny attention model with its tokenizer, saved as a folder."""
    tokenizer = build_char_tokenizer(["abcdefghijklmnopqrs"])
    folder = tmp_path / "model"
    tiny_model(seed=1, vocab_size=len(tokenizer), attention="general").save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_ntm() -> NTMModel:
    torch.manual_seed(0)
    return NTMModel(NTMConfig(bits=4, controller_size=8, memory_rows=6, memory_width=5)).eval()


# -- weights that do not fit the config --------------------------------------------------------------------------


def test_another_models_weights_are_an_error_naming_the_tensors(saved, tmp_path):
    ntm_folder = tmp_path / "ntm"
    tiny_ntm().save_pretrained(ntm_folder)
    shutil.copy(ntm_folder / "model.safetensors", saved / "model.safetensors")
    with pytest.raises(ValueError,
                       match=r"do not fit its config.*13 missing \(.*decoder.*11 unexpected \(.*controller"):
        AttnSeq2SeqForConditionalGeneration.from_pretrained(saved)


def test_a_config_edited_to_another_attention_is_an_error(saved):
    config = json.loads((saved / "config.json").read_text())
    config["attention"] = "additive"  # general -> additive: other attention weights
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"attention 'additive'.*(missing|unexpected|another shape) \(.*attention"):
        AttnSeq2SeqForConditionalGeneration.from_pretrained(saved)
    # asked for, the report comes back instead, and the caller decides
    model, report = AttnSeq2SeqForConditionalGeneration.from_pretrained(saved, output_loading_info=True)
    assert report["missing_keys"] or report["unexpected_keys"] or report["mismatched_keys"]


def test_the_bare_model_and_the_head_still_load_each_others_folders(saved, tmp_path):
    bare = AttnSeq2SeqModel.from_pretrained(saved)  # the head's lm_head is left out, by design
    bare.save_pretrained(tmp_path / "bare")
    assert isinstance(bare, AttnSeq2SeqModel)
    assert AttnSeq2SeqForConditionalGeneration.from_pretrained(tmp_path / "bare") is not None


def test_the_package_loaders_refuse_another_model_type(saved, tmp_path, capsys):
    from training.export import main as export_main

    config = json.loads((saved / "config.json").read_text())
    config["model_type"] = "marian"
    (saved / "config.json").write_text(json.dumps(config))
    assert export_main([str(saved), str(tmp_path / "onnx"), "--no-int8"]) == 2
    assert "holds a 'marian' model" in capsys.readouterr().err
    with pytest.raises(ValueError, match="holds a 'marian' model; the demo serves attn_seq2seq"):
        DemoModel(saved)
    # the CLI fine-tunes the Transformer it trains (`--preset transformer`), not a model of any other kind
    config["model_type"] = "bert"
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(SystemExit, match="holds a 'bert' model, which cannot learn the reverse task"):
        train_main([*TINY_RUN, "--output-dir", str(tmp_path / "run"), "--init-from", str(saved)])


# -- folders and paths that are not what they seem ----------------------------------------------------------------


def test_a_folder_that_does_not_exist_is_named_as_such(tmp_path):
    for missing in (str(tmp_path / "missing"), "outputs/no-such-run/model", "./model"):
        with pytest.raises(FileNotFoundError, match="no such folder"):
            saved_model_type(missing)
        with pytest.raises(SystemExit, match="--init-from: .*no such folder"):
            train_main([*TINY_RUN, "--output-dir", str(tmp_path / "run"), "--init-from", missing])
        with pytest.raises(FileNotFoundError, match="no such folder"):
            DemoModel(missing)


def test_init_from_a_memory_model_names_the_model_not_the_tokenizer(tmp_path):
    tiny_ntm().save_pretrained(tmp_path / "ntm")
    with pytest.raises(SystemExit, match="holds a 'ntm' model, which cannot learn the reverse task"):
        train_main([*TINY_RUN, "--output-dir", str(tmp_path / "run"), "--init-from", str(tmp_path / "ntm")])


def test_an_unconverged_run_names_its_own_presets_threshold():
    threshold = convergence_threshold("date", "fast")
    assert threshold["preset"] == "fast"
    note = convergence_note("date", 50.0, threshold)
    assert "'fast' preset" in note and "--preset fast" in note and "attention" not in note
    assert convergence_threshold("date", "peeky")["preset"] == "attention"  # a preset without its own threshold


def test_an_output_dir_that_cannot_be_written_is_refused_clearly(tmp_path, monkeypatch):
    (tmp_path / "taken").write_text("a file of the user's")
    for output in (tmp_path / "taken", tmp_path / "taken" / "run"):
        with pytest.raises(SystemExit, match="--output-dir .*: cannot write there"):
            train_main([*TINY_RUN, "--output-dir", str(output)])
    assert (tmp_path / "taken").read_text() == "a file of the user's"

    def read_only(self, *args, **kwargs):  # what a read-only mount answers (root may write anywhere else)
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr("pathlib.Path.mkdir", read_only)
    with pytest.raises(SystemExit, match=r"--output-dir .*: cannot write there \(Read-only file system\)"):
        train_main([*TINY_RUN, "--output-dir", str(tmp_path / "mounted")])


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_a_corrupt_run_record_is_named_on_resume(tmp_path, content):
    folder = tmp_path / "run"
    train_main([*TINY_RUN, "--output-dir", str(folder)])
    (folder / "run.json").write_text(content)
    weights = (folder / "model" / "model.safetensors").read_bytes()
    with pytest.raises(SystemExit, match=r"run\.json is not a run record this program can read"):
        train_main([*TINY_RUN, "--output-dir", str(folder), "--resume"])
    assert (folder / "model" / "model.safetensors").read_bytes() == weights


def test_a_full_disk_names_the_problem_and_keeps_the_old_files(saved, monkeypatch):
    old = (saved / "model.safetensors").read_bytes()
    real_save = modeling.PreTrainedModel.save_pretrained

    def disk_full(self, directory, *args, **kwargs):
        real_save(self, directory, *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(modeling.PreTrainedModel, "save_pretrained", disk_full)
    with pytest.raises(OSError, match="No space left on the device to save .*nothing there was replaced"):
        tiny_model(seed=5, vocab_size=23, attention="general").save_pretrained(saved)
    assert (saved / "model.safetensors").read_bytes() == old


def test_corrupt_tokenizer_and_generation_config_files_are_named(saved):
    (saved / "generation_config.json").write_text(json.dumps({"max_new_tokens": "ten", "decoder_start_token_id": 1}))
    with pytest.raises(ValueError, match=r"generation_config\.json holds a setting generate cannot use "
                                         r"\(max_new_tokens='ten'"):
        AttnSeq2SeqForConditionalGeneration.from_pretrained(saved)
    (saved / "tokenizer.json").write_text('{"version": "1.0", "trunc')
    with pytest.raises(ValueError, match=r"tokenizer\.json is corrupt: it cannot be read as JSON"):
        load_tokenizer(saved)


def test_a_symlink_loop_in_a_pushed_folder_is_refused(saved, tmp_path, capsys):
    (saved / "a.png").symlink_to(saved / "b.png")
    (saved / "b.png").symlink_to(saved / "a.png")
    assert push_main([str(saved), "--repo-id", "someone/model", "--dry-run"]) == 2
    assert "is a symlink that leads nowhere" in capsys.readouterr().err


# -- malformed input --------------------------------------------------------------------------------------------


def test_float_token_ids_are_an_error_not_a_cast():
    model = tiny_model()
    with pytest.raises(TypeError, match="input_ids must hold integer token ids"):
        model.generate(torch.tensor([[5.0, 6.0]]), max_new_tokens=3)
    with pytest.raises(TypeError, match="input_ids must hold integer token ids"):
        model(input_ids=torch.tensor([[5.0, 6.0]]), decoder_input_ids=torch.tensor([[1]]))


@pytest.mark.parametrize("dtype", [torch.int64, torch.float64])
def test_memory_models_refuse_inputs_of_another_dtype(dtype):
    model = tiny_ntm()
    with pytest.raises(TypeError, match="inputs must be a torch.float32 tensor"):
        model(torch.zeros(1, 3, model.config.input_size, dtype=dtype))


def test_memory_models_refuse_nan_inputs_and_labels():
    model = tiny_ntm()
    inputs = torch.zeros(1, 3, model.config.input_size)
    labels = torch.full((1, 3, model.config.output_size), -100.0)
    with pytest.raises(ValueError, match="inputs hold NaN"):
        model(inputs.clone().fill_(float("nan")), labels)
    labels[0, 2, 0] = float("nan")
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        model(inputs, labels)
    labels[0, 2, 0] = 1.0
    assert torch.isfinite(model(inputs, labels).loss)


def test_a_repeated_key_in_a_jsonl_line_is_an_error(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"de": "Hallo", "en": "Hello"}\n{"de": "Ja", "en": "Yes", "en": "No"}\n', encoding="utf-8")
    with pytest.raises(DataFileError, match="line 2: the key 'en' appears twice"):
        load_translation(str(path), "de", "en")


def test_decomposed_accents_read_as_the_composed_letters():
    import unicodedata

    texts = ["Café über Straße", "Ein Mädchen läuft"] * 40
    for tokenizer in (train_subword_tokenizer(texts, vocab_size=60), build_char_tokenizer(texts)):
        decomposed = unicodedata.normalize("NFD", "Café über Mädchen")
        assert decomposed != "Café über Mädchen"
        ids = tokenizer(decomposed)["input_ids"]
        assert tokenizer.unk_token_id not in ids
        assert ids == tokenizer("Café über Mädchen")["input_ids"]


# -- generation length -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [dict(max_new_tokens=10**7, num_beams=3), dict(max_new_tokens=10**7),
                                      dict(max_length=10**7), dict(max_new_tokens=10**7, do_sample=True)])
def test_generation_beyond_the_ceiling_is_refused_before_any_work(settings):
    model = tiny_model()
    with pytest.raises(ValueError, match="max_generation_tokens=1024"):
        model.generate(torch.tensor([[5, 6]]), **settings)


def test_the_ceiling_comes_from_the_config_and_yields_when_asked():
    model = tiny_model(max_generation_tokens=4)
    with pytest.raises(ValueError, match="max_new_tokens=5 would let generate produce more than this model's "
                                         "max_generation_tokens=4"):
        model.generate(torch.tensor([[5, 6]]), max_new_tokens=5)
    model.generation_config.max_new_tokens = 6
    with pytest.raises(ValueError, match="max_generation_tokens=4"):
        model.generate(torch.tensor([[5, 6]]))
    model.generation_config.eos_token_id = None  # never ends: exactly the budget asked for
    output = model.generate(torch.tensor([[5, 6]]), max_new_tokens=6, allow_long_generation=True)
    assert output.shape == (1, 7)
    with pytest.raises(ValueError, match="max_generation_tokens must be a positive integer"):
        tiny_model(max_generation_tokens=0)


def test_a_lone_surrogate_is_named_by_the_pipeline_and_the_demo(saved):
    from transformers import pipeline

    from hf_attn_seq2seq import TASK_NAME
    from hf_attn_seq2seq.demo import DemoInputError

    with pytest.raises(ValueError, match=r"Input 0 is not valid Unicode text: character 2 is a lone surrogate"):
        pipeline(TASK_NAME, model=str(saved))("ab\ud800c")
    with pytest.raises(DemoInputError, match="The input is not valid Unicode text"):
        DemoModel(saved).translate("ab\ud800c")
