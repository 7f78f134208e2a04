"""ONNX export and ONNX Runtime generation: every option family exported with a dynamic batch size and source length,
and greedy and beam search from the graphs equal to `model.generate`.

Skips where onnx, onnxscript or onnxruntime is missing (`pip install -e ".[onnx]"`; `.ci/run` installs them).
"""

import json
import random
import threading

import numpy as np
import pytest
import torch
from conftest import option_grid, random_batch, tiny_model

from hf_attn_seq2seq.data.tokenization import build_char_tokenizer
from hf_attn_seq2seq.models.attn_seq2seq.generation_attn_seq2seq import gnmt_beam_search


for module in ("onnx", "onnxscript", "onnxruntime"):
    pytest.importorskip(module, reason=f"the onnx extra is not installed ({module}): pip install -e '.[onnx]'")

from hf_attn_seq2seq.onnx.export import DECODER_FILE, ENCODER_FILE, export_onnx  # noqa: E402
from hf_attn_seq2seq.onnx.runtime import OnnxAttnSeq2Seq  # noqa: E402


def grid_sample() -> list[dict]:
    """A fixed, small sample of the option grid that covers every value of every option at least once: each pick is
    the combination with the most values not yet covered (each export takes seconds)."""
    grid = option_grid()
    random.Random(7).shuffle(grid)

    def values(options: dict) -> set:
        return {(name, str(value)) for name, value in options.items()}

    everything = set().union(*map(values, grid))
    chosen, seen = [], set()
    while seen != everything:
        best = max(grid, key=lambda options: len(values(options) - seen))
        chosen.append(best)
        seen |= values(best)
    return chosen


SAMPLE = grid_sample()


def sample_id(options: dict) -> str:
    return "-".join(f"{name}={value}" for name, value in sorted(options.items()) if value not in (False,))


def test_the_sample_covers_every_option_value():
    assert len(SAMPLE) <= 6
    for name in ("attention", "peeky", "input_feeding", "attention_layer", "bidirectional", "bidirectional_merge",
                 "residual", "encoder_layers"):
        covered = {str(options.get(name)) for options in SAMPLE if name in options}
        everything = {str(options.get(name)) for options in option_grid() if name in options}
        assert covered == everything, name


@pytest.mark.parametrize("options", SAMPLE, ids=sample_id)
def test_onnx_generation_equals_pytorch_for_the_option_grid(options, tmp_path):
    model = tiny_model(seed=3, reverse_source=options["attention"] != "dot", **options)
    export_onnx(model, None, tmp_path / "onnx", int8=False)
    runner = OnnxAttnSeq2Seq(tmp_path / "onnx")
    # another batch size and source length than the export traced, with padding
    input_ids, attention_mask = random_batch([9, 2, 6, 4, 1], seed=5)
    beta = 0.0 if options["attention"] == "none" else 0.3
    with torch.no_grad():
        greedy = model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=7)
        beam = model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=7, num_beams=3,
                              custom_generate=gnmt_beam_search, length_alpha=0.6, coverage_beta=beta)
    assert torch.equal(runner.generate(input_ids, attention_mask, max_new_tokens=7), greedy)
    assert torch.equal(runner.generate(input_ids, attention_mask, max_new_tokens=7, num_beams=3, length_alpha=0.6,
                                       coverage_beta=beta), beam)


def test_the_step_graph_gives_pytorchs_logits_state_and_weights_and_left_padding_works(tmp_path):
    model = tiny_model(seed=4, attention="additive", bidirectional=True, encoder_layers=2, decoder_layers=2,
                       residual=True, peeky=True, input_feeding=True)
    export_onnx(model, None, tmp_path / "onnx", int8=False)
    runner = OnnxAttnSeq2Seq(tmp_path / "onnx")
    input_ids, attention_mask = random_batch([3, 8, 5], seed=6)
    left_ids = torch.zeros_like(input_ids)
    left_mask = torch.zeros_like(attention_mask)
    for row, length in enumerate(attention_mask.sum(1).tolist()):  # the same rows, padded on the left
        left_ids[row, -length:] = input_ids[row, :length]
        left_mask[row, -length:] = 1
    decoder_ids, _ = random_batch([4, 4, 4], seed=7)
    with torch.no_grad():
        expected = model(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_ids,
                         output_attentions=True)
    for ids, mask in ((input_ids, attention_mask), (left_ids, left_mask)):
        state = runner.encode(ids.numpy(), mask.numpy())
        for position in range(decoder_ids.shape[1]):
            logits, weights = runner.step(decoder_ids[:, position : position + 1].numpy(), state)
            np.testing.assert_allclose(logits, expected.logits[:, position].numpy(), atol=2e-5, rtol=0)
            reference = expected.cross_attentions[0][:, 0, position].numpy()
            if ids is left_ids:  # the weights sit at the tokens' own (shifted) positions
                reference = np.stack([np.roll(row, ids.shape[1] - int(m.sum())) for row, m in zip(reference, mask)])
            np.testing.assert_allclose(weights, reference, atol=2e-6, rtol=0)


def test_int8_graphs_quantize_the_lstms_and_stay_close(tmp_path):
    import onnx

    model = tiny_model(seed=5, attention="general", hidden_size=32, embedding_size=16)
    folder = export_onnx(model, None, tmp_path / "onnx", int8=True)
    for name in (ENCODER_FILE, DECODER_FILE):
        operators = {node.op_type for node in onnx.load(folder / name.replace(".onnx", "_int8.onnx")).graph.node}
        assert "DynamicQuantizeLSTM" in operators and "LSTM" not in operators, name
    input_ids, attention_mask = random_batch([6, 3], seed=8)
    fp32, int8 = OnnxAttnSeq2Seq(folder), OnnxAttnSeq2Seq(folder, precision="int8")
    tokens = np.full((2, 1), 1, dtype=np.int64)
    exact, _ = fp32.step(tokens, fp32.encode(input_ids.numpy(), attention_mask.numpy()))
    approximate, _ = int8.step(tokens, int8.encode(input_ids.numpy(), attention_mask.numpy()))
    assert np.abs(approximate - exact).max() < 0.05 * np.abs(exact).max()
    assert not np.array_equal(approximate, exact)  # it did run other arithmetic


def test_the_folder_loads_alone_and_the_runner_answers_like_the_pipeline(demo_models, tmp_path):
    from transformers import AutoModelForSeq2SeqLM, pipeline

    from hf_attn_seq2seq import TASK_NAME
    from hf_attn_seq2seq.data.tokenization import load_tokenizer
    from training.export import main as export_main

    folder = demo_models["attention"]
    assert export_main([folder, str(tmp_path / "onnx"), "--no-int8"]) == 0  # checks the showcase inputs itself
    exported = json.loads((tmp_path / "onnx" / "onnx_export.json").read_text())
    assert exported["int8"] is False and "source_mask" in exported["decoder_step"]["inputs"]
    runner = OnnxAttnSeq2Seq.from_pretrained(tmp_path / "onnx")
    texts = json.loads(open(f"{folder}/metrics.json").read())["examples"]
    generator = pipeline(TASK_NAME, model=AutoModelForSeq2SeqLM.from_pretrained(folder),
                         tokenizer=load_tokenizer(folder))
    expected = [{"translation_text": record["generated_text"]} for record in generator(list(texts), num_beams=1)]
    assert runner(list(texts)) == expected
    assert runner(list(texts)[0]) == expected[0] and runner([]) == []
    with pytest.raises(ValueError, match="Input 1 is empty"):
        runner(["abc", "  "])
    with pytest.raises(TypeError, match="Input 0 is int"):
        runner([3])


def test_threads_share_one_runner(tmp_path):
    model = tiny_model(seed=6)
    runner = OnnxAttnSeq2Seq(export_onnx(model, None, tmp_path / "onnx", int8=False))
    batches = [random_batch([5, 3], seed=seed) for seed in range(4)]
    alone = [runner.generate(ids, mask, max_new_tokens=6) for ids, mask in batches]
    together = [None] * 4

    def work(index):
        together[index] = runner.generate(*batches[index], max_new_tokens=6)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(torch.equal(a, b) for a, b in zip(alone, together))


def test_bad_input_and_folders_get_clear_errors(tmp_path):
    model = tiny_model(seed=7)
    with pytest.raises(FileNotFoundError, match="not a folder written by export_onnx"):
        OnnxAttnSeq2Seq(tmp_path)
    folder = export_onnx(model, None, tmp_path / "onnx", int8=False)
    with pytest.raises(FileNotFoundError, match="without the int8 graphs"):
        OnnxAttnSeq2Seq(folder, precision="int8")
    with pytest.raises(ValueError, match="precision must be one of"):
        OnnxAttnSeq2Seq(folder, precision="fp16")
    runner = OnnxAttnSeq2Seq(folder)
    with pytest.raises(ValueError, match="shape \\(batch_size, sequence_length\\)"):
        runner.generate(np.array([5, 6, 7]))
    with pytest.raises(ValueError, match="outside the model's vocabulary"):
        runner.generate(np.array([[5, 99]]))
    with pytest.raises(ValueError, match="a row of the attention mask is all zeros"):
        runner.generate(np.array([[5, 6]]), np.array([[0, 0]]))
    with pytest.raises(ValueError, match="num_beams must be a whole number"):
        runner.generate(np.array([[5, 6]]), num_beams=0)
    with pytest.raises(ValueError, match="length_alpha and coverage_beta must be finite"):
        runner.generate(np.array([[5, 6]]), num_beams=2, length_alpha=float("nan"))
    from training.export import main as export_main

    assert export_main([str(tmp_path / "missing"), str(tmp_path / "out")]) == 2


def test_a_second_export_replaces_the_folder_whole(tmp_path):
    folder = export_onnx(tiny_model(seed=8), None, tmp_path / "onnx", int8=True)
    assert (folder / "encoder_int8.onnx").is_file()
    export_onnx(tiny_model(seed=9, attention="dot"), None, folder, int8=False)
    assert not (folder / "encoder_int8.onnx").exists() and (folder / ENCODER_FILE).is_file()
    assert json.loads((folder / "onnx_export.json").read_text())["files"] == sorted(p.name for p in folder.iterdir())


def test_the_export_never_deletes_what_it_did_not_write(tmp_path, capsys):
    """An unrelated folder, a training run's folder, or an export the user added a file to: refused, every file
    kept; with --overwrite the export's files are written among them and nothing else changes."""
    from training.export import main as export_main

    model_folder = tmp_path / "model"
    model = tiny_model(seed=10)
    model.save_pretrained(model_folder)
    build_char_tokenizer(["abcdefghijklmnopqrs"]).save_pretrained(model_folder)
    thesis = tmp_path / "thesis"
    (thesis / "chapters").mkdir(parents=True)
    (thesis / "chapters" / "ch1.tex").write_text("\\chapter{One}")
    (thesis / "notes.txt").write_text("notes")
    run = tmp_path / "run"
    for name in ("checkpoints", "model", "tokenizer"):
        (run / name).mkdir(parents=True)
    (run / "run.json").write_text("{}")
    (run / "model" / "config.json").write_text("{}")
    earlier = export_onnx(tiny_model(seed=11), None, tmp_path / "earlier", int8=False)
    (earlier / "my-notes.md").write_text("mine")

    def snapshot(folder):
        return {str(path.relative_to(folder)): path.read_bytes() if path.is_file() else None
                for path in sorted(folder.rglob("*"))}

    for folder in (thesis, run, earlier):
        before = snapshot(folder)
        with pytest.raises(FileExistsError, match="holds files that no ONNX export wrote"):
            export_onnx(model, None, folder, int8=False)
        assert export_main([str(model_folder), str(folder), "--no-int8"]) == 2
        assert "refusing to replace it" in capsys.readouterr().err
        assert snapshot(folder) == before
    before = snapshot(thesis)
    assert export_main([str(model_folder), str(thesis), "--no-int8", "--overwrite"]) == 0
    after = snapshot(thesis)
    assert {name: after[name] for name in before} == before  # every file of the user's, untouched
    assert OnnxAttnSeq2Seq(thesis).tokenizer is not None and (thesis / ENCODER_FILE).is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export_main([str(model_folder), str(empty), "--no-int8"]) == 0


def test_exported_folders_get_the_usual_permissions(tmp_path):
    import os
    import stat

    previous = os.umask(0o022)
    try:
        folder = export_onnx(tiny_model(seed=12), None, tmp_path / "onnx", int8=False)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert {stat.S_IMODE(path.stat().st_mode) for path in folder.iterdir()} == {0o644}


def test_the_command_line_never_writes_over_the_model_folder(demo_models, tmp_path, capsys):
    import shutil

    from training.export import main as export_main

    folder = tmp_path / "model"
    shutil.copytree(demo_models["attention"], folder)
    before = sorted(path.name for path in folder.iterdir())
    for target in (folder, folder.parent):
        assert export_main([str(folder), str(target), "--no-int8"]) == 2
        assert "would replace the model folder" in capsys.readouterr().err
    assert sorted(path.name for path in folder.iterdir()) == before


def test_the_export_check_compares_beam_search_like_with_like(demo_models, tmp_path, capsys):
    """A model whose generation config asks for beams (as the translation preset's does) is checked with GNMT's beam
    search on both sides, and the export succeeds."""
    import shutil

    from transformers import GenerationConfig

    from training.export import main as export_main

    folder = tmp_path / "model"
    shutil.copytree(demo_models["attention"], folder)
    settings = GenerationConfig.from_pretrained(folder)
    settings.num_beams = 4
    settings.save_pretrained(folder)
    assert export_main([str(folder), str(tmp_path / "onnx"), "--no-int8"]) == 0
    assert "differ" not in capsys.readouterr().err


@pytest.fixture
def four_paths(tmp_path):
    """One saved model reached four ways: `generate`, the pipeline, the ONNX runner and the demo. The tokenizer's
    limit equals the model's max_source_length, so the text paths and `generate` share one limit."""
    from transformers import AutoModelForSeq2SeqLM, pipeline

    from hf_attn_seq2seq import TASK_NAME
    from hf_attn_seq2seq.demo import DemoModel

    tokenizer = build_char_tokenizer(["abcdefghijklmnopqrs"], model_max_length=12)
    folder = tmp_path / "model"
    tiny_model(seed=13, vocab_size=len(tokenizer), max_source_length=12).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    model = AutoModelForSeq2SeqLM.from_pretrained(folder)
    onnx_folder = export_onnx(model, tokenizer, tmp_path / "onnx", int8=False)
    return dict(tokenizer=tokenizer, model=model, generator=pipeline(TASK_NAME, model=str(folder)),
                runner=OnnxAttnSeq2Seq(onnx_folder), demo=DemoModel(folder), folder=folder)


def test_the_four_paths_agree_on_over_long_input(four_paths):
    from hf_attn_seq2seq.demo import DemoInputError

    longest = "abcdefghijk"  # 11 characters and the end token: exactly the limit
    too_long = longest + "a"
    tokenizer, model = four_paths["tokenizer"], four_paths["model"]
    encoded = tokenizer(longest, return_tensors="pt")
    expected = tokenizer.decode(model.generate(**encoded, max_new_tokens=5)[0], skip_special_tokens=True)
    assert four_paths["generator"](longest, max_new_tokens=5)[0]["generated_text"] == expected.strip()
    assert four_paths["runner"](longest, max_new_tokens=5)["translation_text"] == expected.strip()
    assert four_paths["demo"].translate(longest, max_new_tokens=5).text == expected.strip()
    with pytest.raises(ValueError, match="longer than max_source_length=12"):
        model.generate(**tokenizer(too_long, return_tensors="pt", verbose=False), max_new_tokens=5)
    with pytest.raises(ValueError, match="is 13 tokens long; this model reads at most 12"):
        four_paths["generator"](too_long)
    with pytest.raises(ValueError, match="Input 1 is 13 tokens long; this model reads at most 12"):
        four_paths["runner"]([longest, too_long])
    with pytest.raises(DemoInputError, match="13 tokens long; this model reads at most 12"):
        four_paths["demo"].translate(too_long)
    # asked for, the pipeline cuts instead (as transformers' pipelines do with truncation=True)
    assert four_paths["generator"](too_long, truncation=True, max_new_tokens=5)


def test_the_four_paths_agree_on_settings_given_at_construction_or_per_call(four_paths):
    from transformers import pipeline

    from hf_attn_seq2seq import TASK_NAME

    text = "abcdefg"
    tokenizer, model = four_paths["tokenizer"], four_paths["model"]
    model.generation_config.eos_token_id = None  # the random model would end early: every token is budget
    ids = model.generate(**tokenizer(text, return_tensors="pt"), max_new_tokens=3)
    assert ids.shape[1] == 4
    expected = tokenizer.decode(ids[0], skip_special_tokens=True).strip()
    built_with = pipeline(TASK_NAME, model=model, tokenizer=tokenizer, max_new_tokens=3)
    assert built_with(text)[0]["generated_text"] == expected
    assert four_paths["generator"].__class__(model=model, tokenizer=tokenizer)(text, max_new_tokens=3)[0][
        "generated_text"] == expected
    assert built_with(text, max_new_tokens=5)[0]["generated_text"] != expected  # the call's settings win
    translation = pipeline("translation", model=str(four_paths["folder"]), trust_remote_code=True, max_new_tokens=2)
    assert len(tokenizer(translation(text)[0]["translation_text"], add_special_tokens=False)["input_ids"]) <= 2
    runner = four_paths["runner"]
    runner.generation_config.eos_token_id = None
    assert runner(text, max_new_tokens=3)["translation_text"] == expected
    demo = four_paths["demo"]
    demo.model.generation_config.eos_token_id = None
    assert demo.translate(text, max_new_tokens=3).text == expected
    with pytest.raises(ValueError, match="max_generation_tokens=1024"):
        built_with(text, max_new_tokens=2000)
    with pytest.raises(ValueError, match="max_generation_tokens=1024"):
        runner(text, max_new_tokens=2000)


def test_the_runner_refuses_what_it_used_to_cast_or_cut(four_paths, tmp_path):
    runner = four_paths["runner"]
    with pytest.raises(TypeError, match="integer token ids"):
        runner.generate(np.array([[5.7, 6.2]]))
    with pytest.raises(ValueError, match="longer than max_source_length=12"):
        runner.generate(np.full((1, 600), 5))
    with pytest.raises(TypeError, match="takes a string or a list of strings; the input is NoneType"):
        runner(None)
    with pytest.raises(ValueError, match="lone surrogate"):
        runner("ab\ud800c")


def test_broken_or_mismatched_graphs_are_named(four_paths, tmp_path):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(four_paths["runner"].folder, folder)
    data = (folder / DECODER_FILE).read_bytes()
    (folder / DECODER_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"decoder_step\.onnx cannot be read as an ONNX graph: it is truncated"):
        OnnxAttnSeq2Seq(folder)
    other = export_onnx(tiny_model(seed=14, attention="general"), None, tmp_path / "other", int8=False)
    shutil.copy(other / DECODER_FILE, folder / DECODER_FILE)  # dot attention's folder, general attention's step
    with pytest.raises(ValueError, match=r"decoder_step\.onnx does not belong with the rest"):
        OnnxAttnSeq2Seq(folder)
