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

from hf_attn_seq2seq.beam_search import gnmt_beam_search


for module in ("onnx", "onnxscript", "onnxruntime"):
    pytest.importorskip(module, reason=f"the onnx extra is not installed ({module}): pip install -e '.[onnx]'")

from hf_attn_seq2seq.export import DECODER_FILE, ENCODER_FILE, export_onnx  # noqa: E402
from hf_attn_seq2seq.onnx_runtime import OnnxAttnSeq2Seq  # noqa: E402


def grid_sample() -> list[dict]:
    """A fixed sample of the option grid that covers every value of every option at least once."""
    grid = option_grid()
    random.Random(7).shuffle(grid)
    chosen, seen = [], set()
    for options in grid:
        values = {(name, str(value)) for name, value in options.items()}
        if values - seen:
            chosen.append(options)
            seen |= values
    return chosen


SAMPLE = grid_sample()


def sample_id(options: dict) -> str:
    return "-".join(f"{name}={value}" for name, value in sorted(options.items()) if value not in (False,))


def test_the_sample_covers_every_option_value():
    assert len(SAMPLE) <= 10
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
    from hf_attn_seq2seq.tokenization import load_tokenizer
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
    folder = export_onnx(tiny_model(seed=8), None, tmp_path / "onnx", int8=False)
    (folder / "stale.onnx").write_bytes(b"old")
    export_onnx(tiny_model(seed=9, attention="dot"), None, folder, int8=False)
    assert not (folder / "stale.onnx").exists() and (folder / ENCODER_FILE).is_file()


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
