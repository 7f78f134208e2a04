"""The training CLI end to end on tiny models: output files, --resume and --init-from."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, TrainerCallback

import training.train as train_module
from hf_attn_seq2seq.data.ntm_tasks import BIT_TASKS
from hf_attn_seq2seq.data.tasks import load_task
from training.train import main


TINY = ["--set", "hidden_size=32", "--set", "embedding_size=8", "--set", "per_device_train_batch_size=32",
        "--set", "learning_rate=0.01", "--num-heatmaps", "1", "--allow-unconverged"]
EXPECTED_FILES = {
    "model.safetensors", "config.json", "generation_config.json", "configuration_attn_seq2seq.py",
    "modeling_attn_seq2seq.py", "tokenizer.json", "tokenizer_config.json", "metrics.json", "training_log.json",
    "training_curve.png", "attention_0.png", "README.md",
}


def run(tmp_path, name, *extra):
    return main(["--task", "reverse", "--num-examples", "400", "--output-dir", str(tmp_path / name), *TINY, *extra])



def test_cli_trains_and_writes_every_output_file(tmp_path, capsys):
    metrics = run(tmp_path, "run", "--set", "num_train_epochs=2")
    folder = tmp_path / "run" / "model"
    assert EXPECTED_FILES <= {path.name for path in folder.iterdir()}
    assert not [p for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth")]
    saved = json.loads((folder / "metrics.json").read_text())
    assert saved["test_exact_match"] == metrics["test_exact_match"]
    log = json.loads((folder / "training_log.json").read_text())
    losses = [entry["loss"] for entry in log if "loss" in entry]
    assert losses and all(value == value for value in losses)  # logged, finite
    assert [entry["epoch"] for entry in log if "eval_exact_match" in entry] == [1.0, 2.0]
    config = json.loads((folder / "config.json").read_text())
    assert config["auto_map"]["AutoModelForSeq2SeqLM"].endswith("AttnSeq2SeqForConditionalGeneration")
    generation = json.loads((folder / "generation_config.json").read_text())
    assert "max_length" not in generation and generation["max_new_tokens"] > 0
    printed = capsys.readouterr().out
    assert "test (test) exact_match" in printed and "saved" in printed
    assert (folder / "README.md").read_text().startswith("---")


def test_saved_folder_reproduces_the_printed_predictions_in_a_fresh_process(tmp_path, capsys):
    metrics = run(tmp_path, "run", "--set", "num_train_epochs=2")
    printed = capsys.readouterr().out
    for source, prediction in metrics["examples"].items():
        assert f"{source!r:>34} -> {prediction}" in printed
    folder = tmp_path / "run" / "model"
    script = textwrap.dedent(f"""
        import json
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
        import hf_attn_seq2seq  # the installed package: no remote code needed
        model = AutoModelForSeq2SeqLM.from_pretrained({str(folder)!r})
        tokenizer = AutoTokenizer.from_pretrained({str(folder)!r})
        sources = {list(metrics["examples"])!r}
        encoded = tokenizer(sources, return_tensors="pt", padding=True)
        output = model.generate(**encoded)
        print(json.dumps([t.strip() for t in tokenizer.batch_decode(output, skip_special_tokens=True)]))
    """)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == list(metrics["examples"].values())


class StopAfterFirstEpoch(TrainerCallback):
    def on_epoch_end(self, args, state, control, **kwargs):
        control.should_training_stop = True
        control.should_save = True


def test_resume_continues_from_the_last_checkpoint(tmp_path, monkeypatch):
    common = ("--set", "num_train_epochs=3", "--set", "dropout=0.1")
    run(tmp_path, "straight", *common)

    class InterruptedTrainer(train_module.Seq2SeqTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.add_callback(StopAfterFirstEpoch())

    with monkeypatch.context() as patch:
        patch.setattr(train_module, "Seq2SeqTrainer", InterruptedTrainer)
        run(tmp_path, "resumed", *common)
    checkpoints = sorted((tmp_path / "resumed" / "checkpoints").glob("checkpoint-*"))
    assert len(checkpoints) == 1
    run(tmp_path, "resumed", *common, "--resume")
    log = json.loads((tmp_path / "resumed" / "model" / "training_log.json").read_text())
    assert [entry["epoch"] for entry in log if "eval_exact_match" in entry] == [1.0, 2.0, 3.0]
    straight = load_file(tmp_path / "straight" / "model" / "model.safetensors")
    resumed = load_file(tmp_path / "resumed" / "model" / "model.safetensors")
    for name, tensor in straight.items():
        torch.testing.assert_close(resumed[name], tensor, atol=1e-5, rtol=1e-4)


LEARNABLE = ("--num-examples", "2000", "--set", "hidden_size=64")  # partly learned after 4 epochs


@pytest.fixture(scope="module")
def partly_trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("base")
    run(folder, "base", *LEARNABLE, "--set", "num_train_epochs=4")
    return folder / "base" / "model"


def test_init_from_starts_at_the_saved_model_and_improves(tmp_path, partly_trained):
    base = partly_trained
    run(tmp_path, "tuned", *LEARNABLE, "--seed", "5", "--init-from", str(base), "--set", "num_train_epochs=2")
    log = json.loads((tmp_path / "tuned" / "model" / "training_log.json").read_text())
    evaluations = [entry for entry in log if "eval_exact_match" in entry]
    assert evaluations[0]["epoch"] == 0

    # the saved model, scored by hand on the fine-tuning run's validation split
    model = AutoModelForSeq2SeqLM.from_pretrained(base)
    tokenizer = AutoTokenizer.from_pretrained(base)
    validation = load_task("reverse", 2000, seed=5)["validation"]
    encoded = tokenizer(list(validation["source"]), return_tensors="pt", padding=True)
    predictions = tokenizer.batch_decode(model.generate(**encoded), skip_special_tokens=True)
    expected = 100 * sum(p.strip() == t for p, t in zip(predictions, validation["target"])) / len(validation)
    assert 0 < expected < 100
    assert evaluations[0]["eval_exact_match"] == pytest.approx(expected)
    assert evaluations[-1]["eval_exact_match"] > evaluations[0]["eval_exact_match"]
    assert evaluations[-1]["eval_loss"] < evaluations[0]["eval_loss"]


def test_init_from_never_exports_a_model_worse_on_validation_than_it_loaded(tmp_path, partly_trained, capsys):
    # a learning rate that wrecks the model: validation falls, and the loaded model is what the run exports
    metrics = run(tmp_path, "wrecked", *LEARNABLE, "--init-from", str(partly_trained), "--set", "learning_rate=5",
                  "--set", "num_train_epochs=1")
    tuning = metrics["fine_tuning"]
    assert tuning["metric"] == "exact_match" and tuning["kept"] == "start"
    assert tuning["validation_after"] < tuning["validation_before"]
    assert "exported the model --init-from loaded" in capsys.readouterr().out
    exported = load_file(tmp_path / "wrecked" / "model" / "model.safetensors")
    for name, tensor in load_file(partly_trained / "model.safetensors").items():
        assert torch.equal(exported[name], tensor), name
    saved = json.loads((tmp_path / "wrecked" / "model" / "metrics.json").read_text())
    assert saved["fine_tuning"] == tuning


def test_init_from_fine_tunes_at_a_tenth_of_the_presets_learning_rate_unless_told(tmp_path):
    from_scratch = train_module.load_preset("attention")["training"]["learning_rate"]
    for extra, expected in (((), from_scratch * 0.1), (("--set", "learning_rate=0.002"), 0.002)):
        args = train_module.parse_args(["--task", "date", "--output-dir", "x", "--init-from", "y", *extra])
        preset = train_module.apply_overrides(train_module.load_preset("attention"), args.overrides)
        arguments = train_module.training_arguments(args, preset, tmp_path, 1000)
        assert arguments.learning_rate == pytest.approx(expected) and arguments.eval_on_start


def test_each_toy_task_defaults_to_its_own_preset_which_states_its_threshold():
    for task, preset in train_module.TASK_PRESETS.items():
        assert train_module.parse_args(["--task", task, "--output-dir", "x"]).preset == preset
        threshold = train_module.convergence_threshold(task)
        if task == "copy":  # an error count: at most this many wrong bits per sequence
            assert threshold["metric"] == "bit_errors_per_sequence" and 0 < threshold["maximum"] < 1
        elif task in BIT_TASKS:  # the paper's other tasks: an error count or a cost, in the task's own metric
            assert threshold is None or (threshold["metric"] == BIT_TASKS[task].metric and threshold["maximum"] > 0
                                         and threshold["hint"])
        elif task != "translation":
            assert threshold["metric"] == "exact_match" and 90 <= threshold["minimum"] <= 100 and threshold["hint"]
    assert train_module.parse_args(["--task", "addition", "--preset", "peeky", "--output-dir", "x"]).preset == "peeky"
    assert train_module.load_preset("addition")["model"]["reverse_source"] is True


def test_a_run_that_did_not_learn_its_task_says_so_and_exits_non_zero(tmp_path, capsys):
    # one epoch of a tiny model cannot reach the reversal preset's threshold
    def command(name, *extra):
        return ["--task", "reverse", "--num-examples", "200", "--output-dir", str(tmp_path / name), *TINY[:-1],
                "--set", "num_train_epochs=1", *extra]

    with pytest.raises(SystemExit) as stopped:
        main(command("run"))
    assert stopped.value.code == 3
    stderr = capsys.readouterr().err
    assert "did not converge" in stderr and "--allow-unconverged" in stderr
    card = (tmp_path / "run" / "model" / "README.md").read_text()
    assert "**Warning:** This run did not converge" in card and "on validation" in card
    assert "did not converge" in json.loads((tmp_path / "run" / "model" / "metrics.json").read_text())[
        "did_not_converge"]

    metrics = main(command("allowed", "--allow-unconverged"))
    assert "did_not_converge" in metrics
    assert "WARNING" in capsys.readouterr().out


def test_a_run_that_learned_its_task_has_no_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(train_module, "convergence_threshold",
                        lambda task, preset=None: {"metric": "exact_match", "minimum": 0.0, "hint": "nothing",
                                                   "preset": "reverse"})
    metrics = main(["--task", "reverse", "--num-examples", "200", "--output-dir", str(tmp_path / "run"), *TINY[:-1],
                    "--set", "num_train_epochs=1"])
    assert "did_not_converge" not in metrics
    assert "Warning" not in (tmp_path / "run" / "model" / "README.md").read_text()



def test_max_eval_examples_cuts_validation_and_every_test_split_but_not_the_training_split():
    from datasets import Dataset, DatasetDict

    from training.common import limit_examples

    data = DatasetDict({split: Dataset.from_dict({"x": list(range(10))})
                        for split in ("train", "validation", "test", "test_length_30")})
    limit_examples(data, None, 3)
    assert {split: len(rows) for split, rows in data.items()} == {"train": 10, "validation": 3, "test": 3,
                                                                  "test_length_30": 3}
    assert data["test"]["x"] == [0, 1, 2]  # the first examples, as --max-train-examples keeps
    limit_examples(data, 4, None)
    assert {split: len(rows) for split, rows in data.items()} == {"train": 4, "validation": 3, "test": 3,
                                                                  "test_length_30": 3}

@pytest.mark.parametrize(("extra", "message"), [
    (["--set", "per_device_train_batch_size=0"], r"per_device_train_batch_size=0: it must be positive"),
    (["--set", "learning_rate=fast"], r"learning_rate='fast': expected a number"),
    (["--set", "num_train_epochs=three"], r"num_train_epochs='three': expected a number"),
    (["--set", "num_train_epochs=0"], r"num_train_epochs=0: nothing would be trained"),
    (["--set", "num_train_epochs=-2"], r"num_train_epochs=-2: nothing would be trained"),
    (["--set", "max_steps=0"], r"max_steps=0: nothing would be trained"),
    (["--max-train-examples", "0"], r"--max-train-examples 0: nothing would be trained"),
    (["--max-train-examples", "-5"], r"--max-train-examples -5: nothing would be trained"),
    (["--max-eval-examples", "0"], r"--max-eval-examples 0: nothing would be scored"),
    (["--set", "vocab_size=99"], r"--set vocab_size: set by the CLI from the tokenizer"),
    (["--set", "pad_token_id=3"], r"--set pad_token_id: set by the CLI"),
    (["--set", "hidden_size=0"], r"hidden_size must be a positive integer"),
    (["--set", "attention=luong"], r"Unknown attention 'luong'"),
    (["--languages", "de"], r"--languages chooses the date task's languages; --task reverse has none"),
], ids=["batch-0", "lr-text", "epochs-text", "epochs-0", "epochs-negative", "max-steps-0", "examples-0",
        "examples-negative", "eval-examples-0", "vocab-size", "pad-id", "hidden-0", "attention", "languages-not-date"])
def test_bad_settings_are_refused_before_anything_runs(tmp_path, extra, message):
    output_dir = tmp_path / "run"
    with pytest.raises(SystemExit, match=message):
        main(["--task", "reverse", "--num-examples", "50", "--output-dir", str(output_dir), *extra])
    assert not output_dir.exists()  # refused before the folder was made


def test_an_unknown_date_language_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(SystemExit, match=r"--languages: Unknown date language\(s\) \['klingon'\]; expected some"):
        main(["--task", "date", "--languages", "de", "klingon", "--output-dir", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


def write_pairs(path, pairs):
    path.write_text("".join(f"{source}\t{target}\n" for source, target in pairs))


def long_target_corpus(tmp_path, long_source: bool = False):
    import random

    rng = random.Random(0)
    words = ["haus", "baum", "katze", "hund", "auto", "buch"]
    folder = tmp_path / "corpus"
    folder.mkdir()
    for split, size in (("train", 120), ("validation", 20), ("test", 20)):
        pairs = []
        for _ in range(size):
            sentence = " ".join(rng.choice(words) for _ in range(rng.randint(2, 5)))
            pairs.append((sentence, sentence.upper()))
        if split == "train":
            pairs[0] = (pairs[0][0] * (200 if long_source else 1), " ".join(["sehr lang"] * 1000))
        write_pairs(folder / f"{split}.tsv", pairs)
    return folder


def test_one_overlong_target_neither_inflates_the_generation_length_nor_stalls_training(tmp_path):
    corpus = long_target_corpus(tmp_path)
    metrics = main(["--task", "translation", "--dataset", str(corpus), "--source-lang", "de", "--target-lang", "en",
                    "--vocab-size", "200", "--output-dir", str(tmp_path / "run"), *TINY,
                    "--set", "num_train_epochs=1"])
    config = json.loads((tmp_path / "run" / "model" / "generation_config.json").read_text())
    assert config["max_new_tokens"] < 40  # the 1,000-word line (about 2,000 tokens) does not set it
    assert metrics["train_seconds"] < 120


def test_overlong_sources_get_an_error_naming_the_flag(tmp_path):
    corpus = long_target_corpus(tmp_path, long_source=True)
    with pytest.raises(SystemExit, match=r"longest source has \d+ tokens, more than the model accepts "
                                         r"\(max_source_length=512\)\. Pass --max-source-length 512"):
        main(["--task", "translation", "--dataset", str(corpus), "--source-lang", "de", "--target-lang", "en",
              "--vocab-size", "200", "--output-dir", str(tmp_path / "run"), *TINY])


def test_the_time_limit_also_stops_a_text_task_and_scores_the_model_it_stopped_with(tmp_path):
    metrics = run(tmp_path, "limited", "--set", "num_train_epochs=1000", "--max-train-minutes", "0.02")
    log = json.loads((tmp_path / "limited" / "model" / "training_log.json").read_text())
    last_step = max(entry["step"] for entry in log)
    assert 0 < last_step < 1000 * 4  # 400 examples, batches of 32: 10 steps an epoch, far from 1000 epochs
    assert metrics["train_seconds"] < 60
    assert any("eval_exact_match" in entry and entry["step"] == last_step for entry in log)
