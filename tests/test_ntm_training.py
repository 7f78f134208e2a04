"""The copy task through the training CLI: `--task copy --preset ntm|lstm` with Trainer, the exported folder and its
card, the time limit, --resume, and the settings it refuses."""

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
import torch
import yaml
from huggingface_hub.repocard_data import model_index_to_eval_results
from transformers import AutoModel

from hf_attn_seq2seq import LSTMBaselineModel, NTMModel
from hf_attn_seq2seq.data.ntm_tasks import COPY_TEST_LENGTHS, COPY_TEST_ONES_PERCENT
from hf_attn_seq2seq.presets import load_preset
from training.train import main


TINY_NTM = ["--set", "controller_size=16", "--set", "memory_rows=12", "--set", "memory_width=6",
            # compiling the memory step takes longer than these runs train
            "--set", "torch_compile=false"]
TINY_LSTM = ["--set", "hidden_size=16"]
SHORT = ["--num-examples", "400", "--max-eval-examples", "64", "--set", "max_steps=24", "--set", "eval_steps=8",
         "--set", "logging_steps=4", "--allow-unconverged"]
FOLDER_FILES = {"model.safetensors", "config.json", "configuration_ntm.py", "modeling_ntm.py", "metrics.json",
                "training_log.json", "training_curve.png", "README.md"}


def train_copy(tmp_path, preset: str, *extra, name: str | None = None) -> dict:
    tiny = TINY_LSTM if preset == "lstm" else TINY_NTM
    return main(["--task", "copy", "--preset", preset, "--output-dir", str(tmp_path / (name or preset)), *tiny,
                 *SHORT, *extra])


def test_the_ntm_preset_trains_and_writes_a_hub_ready_folder_with_its_memory_picture(tmp_path, capsys):
    metrics = train_copy(tmp_path, "ntm")
    folder = tmp_path / "ntm" / "model"
    assert {path.name for path in folder.iterdir()} == FOLDER_FILES | {"memory_access.png"}
    assert (folder / "memory_access.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert metrics["model_type"] == "ntm" and metrics["train_steps"] == 24
    assert list(metrics["test"]) == ["test"] + [f"test_length_{n}" for n in COPY_TEST_LENGTHS] + [
        f"test_ones_{percent}" for percent in COPY_TEST_ONES_PERCENT]
    for score in metrics["test"].values():
        assert 0 <= score["bit_errors_per_sequence"] and 0 <= score["sequences_copied"] <= 100
    # the longer the sequences, the more bits an untrained model gets wrong
    errors = [metrics["test"][f"test_length_{n}"]["bit_errors_per_sequence"] for n in COPY_TEST_LENGTHS]
    assert errors == sorted(errors) and errors[0] > metrics["test"]["test"]["bit_errors_per_sequence"]
    assert [entry["step"] for entry in metrics["evaluations"]] == [8, 16, 24]
    assert metrics["best_checkpoint_step"] in (8, 16, 24)
    assert json.loads((folder / "metrics.json").read_text())["test"] == metrics["test"]
    card = (folder / "README.md").read_text()
    assert "![memory access](memory_access.png)" in card and "| 80 |" in card and "Warning" in card
    assert "| 1-20, 10% ones |" in card
    metadata = yaml.safe_load(card.split("---")[1])
    _, results = model_index_to_eval_results(metadata["model-index"])
    assert {(r.dataset_split, r.metric_type): r.metric_value for r in results} == {
        (split, name): round(score[name], 4) for split, score in metrics["test"].items() for name in score}
    assert metadata["datasets"] == ["copy"] and "custom_code" in metadata["tags"]
    printed = capsys.readouterr().out
    assert re.search(r"test_length_80:\s+[\d.]+", printed)
    loaded = AutoModel.from_pretrained(folder)
    assert isinstance(loaded, NTMModel) and loaded.config.memory_rows == 12


def test_the_card_names_the_controller_the_model_has(tmp_path):
    train_copy(tmp_path, "ntm-feedforward")
    card = (tmp_path / "ntm-feedforward" / "model" / "README.md").read_text()
    metadata = yaml.safe_load(card.split("---")[1])
    assert "a feedforward controller" in card and "LSTM controller" not in card
    assert "| `controller` | `feedforward` |" in card and "lstm" not in metadata["tags"]
    train_copy(tmp_path, "ntm", "--set", "max_steps=8", "--set", "eval_steps=8")
    card = (tmp_path / "ntm" / "model" / "README.md").read_text()
    assert "an LSTM controller" in card and "lstm" in yaml.safe_load(card.split("---")[1])["tags"]


def test_the_cards_usage_snippet_runs_against_the_folder_in_a_fresh_process(tmp_path):
    train_copy(tmp_path, "lstm")
    folder = tmp_path / "lstm" / "model"
    card = (folder / "README.md").read_text()
    assert "memory_access.png" not in card  # the baseline has no memory to draw
    snippet = re.search(r"```python\n(.*?)```", card, re.DOTALL).group(1)
    snippet = re.sub(r"^model_id = .*$", f"model_id = {str(folder)!r}", snippet, flags=re.MULTILINE)
    script = snippet + textwrap.dedent("""
        import sys
        assert "hf_attn_seq2seq" not in sys.modules, "the package was imported"
        assert type(model).__name__ == "LSTMBaselineModel" and copy.shape == sequence.shape
    """)
    environment = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"), PYTHONPATH="")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment,
                            cwd=tmp_path, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "copied exactly:" in result.stdout


def test_the_time_limit_stops_training_and_evaluates_where_it_stopped(tmp_path):
    metrics = main(["--task", "copy", "--preset", "lstm", "--output-dir", str(tmp_path / "run"), *TINY_LSTM,
                    "--num-examples", "400", "--set", "max_steps=1000000", "--set", "eval_steps=100000",
                    "--max-train-minutes", "0.02", "--allow-unconverged"])
    assert 0 < metrics["train_steps"] < 1000000 and metrics["train_seconds"] < 30
    assert metrics["evaluations"][-1]["step"] == metrics["train_steps"]  # the last stretch was evaluated and kept
    assert metrics["best_checkpoint_step"] == metrics["train_steps"]


def test_resume_continues_the_copy_run_from_its_checkpoint(tmp_path):
    first = train_copy(tmp_path, "lstm", name="run")
    assert first["train_steps"] == 24
    resumed = train_copy(tmp_path, "lstm", "--resume", "--set", "max_steps=40", name="run")
    assert resumed["train_steps"] == 40
    assert [entry["step"] for entry in resumed["evaluations"]] == [32, 40]  # only the steps after the checkpoint


def test_a_run_that_did_not_learn_the_copy_task_exits_non_zero(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--task", "copy", "--preset", "lstm", "--output-dir", str(tmp_path / "run"), *TINY_LSTM,
              *[item for item in SHORT if item != "--allow-unconverged"]])
    assert stopped.value.code == 3
    assert "did not converge" in capsys.readouterr().err
    assert (tmp_path / "run" / "model" / "README.md").exists()  # the folder is still written, with its warning


def test_init_from_continues_a_saved_model_and_refuses_the_other_kind(tmp_path):
    train_copy(tmp_path, "lstm", name="first")
    folder = tmp_path / "first" / "model"
    saved = AutoModel.from_pretrained(folder)
    metrics = train_copy(tmp_path, "lstm", "--init-from", str(folder), name="second")
    assert metrics["parameters"] == sum(p.numel() for p in saved.parameters())
    second = AutoModel.from_pretrained(tmp_path / "second" / "model")
    assert isinstance(second, LSTMBaselineModel)
    assert not torch.equal(second.output_layer.weight, saved.output_layer.weight)  # trained further
    with pytest.raises(SystemExit, match="holds a ntm_lstm_baseline model; --preset ntm trains a ntm model"):
        main(["--task", "copy", "--preset", "ntm", "--output-dir", str(tmp_path / "third"), "--init-from",
              str(folder), *SHORT])


@pytest.mark.parametrize(("extra", "message"), [
    (["--task", "copy", "--preset", "attention"], r"--preset attention builds a attn_seq2seq model, which cannot "
                                                  r"learn the copy task; its presets: lstm, ntm"),
    (["--task", "date", "--preset", "ntm"], r"--preset ntm builds a ntm model, which cannot learn the date task"),
    (["--task", "copy", "--set", "hidden_size=64"], r"--set hidden_size: not a NTMConfig"),
    (["--task", "copy", "--preset", "lstm", "--set", "memory_rows=64"], r"--set memory_rows: not a "
                                                                        r"LSTMBaselineConfig"),
    (["--task", "copy", "--set", "memory_rows=0"], r"memory_rows must be a positive integer"),
    (["--task", "copy", "--set", "controller=gru"], r"Unknown controller 'gru'"),
    (["--task", "copy", "--set", "predict_with_generate=true"], r"--set predict_with_generate: not a "
                                                                r"TrainingArguments field"),
    (["--task", "copy", "--max-train-minutes", "0"], r"--max-train-minutes 0.0: give a number above 0"),
    (["--task", "copy", "--max-train-minutes", "nan"], r"--max-train-minutes nan: give a number above 0"),
    (["--task", "copy", "--num-examples", "0"], r"--num-examples 0: give a number above 0"),
    (["--task", "copy", "--set", "eval_steps=10", "--set", "save_steps=15", "--num-examples", "50"],
     r"saving steps to be a round multiple of the evaluation steps"),
    (["--task", "copy", "--set", "torch_compile_backend=no-such-backend"],
     r"--set torch_compile_backend / torch_compile_mode: Invalid backend: 'no-such-backend'"),
    (["--task", "copy", "--set", "torch_compile_mode=fastest"],
     r"--set torch_compile_backend / torch_compile_mode: Unrecognized mode=fastest"),
], ids=["attention-on-copy", "ntm-on-date", "seq2seq-option", "ntm-option-on-lstm", "rows-0", "controller",
        "generation-option", "minutes-0", "minutes-nan", "examples-0", "save-not-multiple-of-eval", "compile-backend",
        "compile-mode"])
def test_settings_that_do_not_fit_the_copy_task_are_refused(tmp_path, extra, message):
    with pytest.raises(SystemExit, match=message):
        main(["--output-dir", str(tmp_path / "run"), *extra])
    assert not (tmp_path / "run" / "model").exists()


def test_the_push_sends_a_copy_model_folder_but_no_demo_space_for_it(tmp_path, capsys):
    from training.push import main as push_main

    train_copy(tmp_path, "ntm")
    folder = tmp_path / "ntm" / "model"
    assert push_main([str(folder), "--repo-id", "someone/ntm-copy", "--dry-run"]) == 0
    listed = capsys.readouterr().out
    for name in FOLDER_FILES | {"memory_access.png"}:
        assert name in listed
    assert "(usage snippet loads someone/ntm-copy)" in listed
    # the demo's memory view serves the NTM in a Space; its LSTM baseline has no memory to show
    assert push_main([str(folder), "--repo-id", "someone/ntm-copy", "--space", "--dry-run"]) == 0
    assert "app.py" in capsys.readouterr().out
    train_copy(tmp_path, "lstm")
    assert push_main([str(tmp_path / "lstm" / "model"), "--repo-id", "someone/lstm-copy", "--space", "--dry-run"]) == 2
    assert "the demo serves attn_seq2seq and ntm models, and" in capsys.readouterr().err


def test_the_demo_names_a_copy_model_it_does_not_serve(tmp_path):
    from hf_attn_seq2seq.demo import DemoModel

    train_copy(tmp_path, "lstm")
    with pytest.raises(ValueError, match="holds a 'ntm_lstm_baseline' model; the demo serves attn_seq2seq models"):
        DemoModel(tmp_path / "lstm" / "model")


def test_the_kept_checkpoint_has_the_fewest_errors_and_among_equals_the_lowest_loss():
    from transformers import EvalPrediction

    from training.train_ntm import METRIC, SELECTION, bit_error_metrics, selection_metric

    labels = torch.tensor([[[1.0, 0.0], [-100, -100]], [[0.0, 1.0], [1.0, 1.0]]])  # 2 sequences, 3 scored vectors

    def score(logits):
        metrics = bit_error_metrics(EvalPrediction(predictions=logits.numpy(), label_ids=labels.numpy()))
        return metrics[METRIC], metrics[SELECTION]

    signs = labels.clamp(min=0) * 2 - 1  # +1 where the bit is 1, -1 where it is 0 (and at the unscored steps)
    confident, hesitant = score(signs * 9.0), score(signs * 0.05)  # both right on every bit
    one_wrong = signs * 9.0
    one_wrong[1, 1, 0] = -9.0  # one bit of the second sequence wrong, every other bit certain
    wrong = score(one_wrong)
    assert confident[0] == hesitant[0] == 0.0 and wrong[0] == 0.5
    assert confident[1] < hesitant[1] < wrong[1]  # equal errors: the lower loss wins; fewer errors always win
    assert hesitant[1] - hesitant[0] < 0.5 / 2  # the tie-break stays below half of one error's share
    assert selection_metric("copy") == SELECTION and selection_metric("ngrams") == "cost_per_sequence"


def always_restart_once(task, preset, preset_name):
    """A restart rule every tiny run trips: any score is above -1 at the first evaluation."""
    return {"step": 8, "above": -1.0, "max_restarts": 1}


def test_an_attempt_still_far_from_the_task_starts_again_from_a_fresh_initialisation(tmp_path, monkeypatch):
    from transformers import set_seed

    import training.train_ntm as train_ntm

    monkeypatch.setattr(train_ntm, "restart_rule", always_restart_once)
    built = []
    original = train_ntm.build_model

    def recording_build_model(args, preset):
        model = original(args, preset)
        built.append((args, preset, {name: tensor.clone() for name, tensor in model.state_dict().items()}))
        return model

    monkeypatch.setattr(train_ntm, "build_model", recording_build_model)
    metrics = train_copy(tmp_path, "ntm", name="run")
    # the second attempt starts from the weights its own seed gives, not from the first attempt's
    assert len(built) == 2
    args, preset, second = built[1]
    set_seed(train_ntm.attempt_seed(args.seed, 1))
    for name, tensor in original(args, preset).state_dict().items():
        assert torch.equal(tensor, second[name]), name
    assert not all(torch.equal(tensor, second[name]) for name, tensor in built[0][2].items())
    assert metrics["attempts"] == 2 and metrics["attempt_seeds"] == [0, train_ntm.ATTEMPT_SEED_STRIDE]
    # the first attempt stopped at the check (step 8); the second trained its full 24 steps; steps count from the start
    assert metrics["train_steps"] == 8 + 24
    assert [(entry["attempt"], entry["step"]) for entry in metrics["evaluations"]] == [(0, 8), (1, 16), (1, 24),
                                                                                      (1, 32)]
    seconds = [entry["seconds"] for entry in metrics["evaluations"]]
    assert seconds == sorted(seconds)  # the time budget is the run's, not each attempt's
    # the kept model is the attempt with the fewest validation errors, whichever attempt that is
    assert metrics["validation_bit_errors_per_sequence"] == min(entry["eval_bit_errors_per_sequence"]
                                                                for entry in metrics["evaluations"])
    checkpoints = tmp_path / "run" / "checkpoints"
    assert json.loads((checkpoints / train_ntm.ATTEMPT_FILE).read_text()) == {"attempt": 1}
    assert sorted(path.name for path in checkpoints.glob("checkpoint-*")) == ["checkpoint-16", "checkpoint-24"]
    card = (tmp_path / "run" / "model" / "README.md").read_text()
    assert f"of attempt {metrics['kept_attempt']} of 2" in card
    log = json.loads((tmp_path / "run" / "model" / "training_log.json").read_text())
    assert {entry["attempt"] for entry in log} == {0, 1} and max(entry["step"] for entry in log) == 32

    # --resume goes on with the attempt the checkpoints belong to, and does not restart it again
    resumed = train_copy(tmp_path, "ntm", "--resume", "--set", "max_steps=40", name="run")
    assert resumed["attempts"] == 2 and [entry["step"] for entry in resumed["evaluations"]] == [32, 40]


def test_a_run_that_learns_in_time_is_not_restarted(tmp_path, monkeypatch):
    import training.train_ntm as train_ntm

    monkeypatch.setattr(train_ntm, "restart_rule", lambda task, preset, name: {"step": 8, "above": 1e9,
                                                                                "max_restarts": 1})
    metrics = train_copy(tmp_path, "ntm", name="run")
    assert "attempts" not in metrics and metrics["train_steps"] == 24


@pytest.mark.parametrize("rule", [{"step": 2500, "above": 1.0}, {"step": -1, "above": 1.0, "max_restarts": 1},
                                  {"step": 2500, "above": "high", "max_restarts": 1}, [2500, 1.0, 1]])
def test_a_malformed_restart_rule_is_refused_by_name(rule):
    from training.train_ntm import restart_rule

    with pytest.raises(SystemExit, match=r"preset 'mine': convergence.copy.restart must be"):
        restart_rule("copy", {"convergence": {"copy": {"restart": rule}}}, "mine")


def test_the_copy_preset_restarts_at_most_once_and_only_on_the_copy_task():
    from training.train_ntm import restart_rule

    preset = load_preset("ntm-feedforward")
    rule = restart_rule("copy", preset, "ntm-feedforward")
    assert rule["step"] % preset["training"]["eval_steps"] == 0  # checked at an evaluation
    assert rule["max_restarts"] == 1 and restart_rule("repeat_copy", preset, "ntm-feedforward") is None


@pytest.mark.parametrize("scores, restarts", [((5.0, 3.0, 2.0), True), ((5.0, 0.05, 1.4), False),
                                              ((5.0, 3.0, 0.9), False)])
def test_the_restart_reads_the_best_validation_score_up_to_its_step(scores, restarts):
    from transformers import TrainerControl, TrainerState

    from training.train_ntm import RestartIfUnlearned

    callback, state, control = RestartIfUnlearned(step=1500, above=1.0, metric="m"), TrainerState(), TrainerControl()
    for step, score in zip((500, 1000, 1500), scores):
        state.global_step = step
        callback.on_evaluate(None, state, control, metrics={"eval_m": score})
        assert callback.triggered is (restarts and step == 1500)  # never before the step
    assert control.should_training_stop is restarts
    state.global_step = 2000  # checked once: later evaluations change nothing
    callback.on_evaluate(None, state, TrainerControl(), metrics={"eval_m": 9.0})
    assert callback.triggered is restarts


@pytest.mark.parametrize("compiler_found", [True, False], ids=["with-a-compiler", "without-one"])
def test_torch_compile_compiles_the_ntm_memory_step_and_not_the_whole_forward(tmp_path, monkeypatch, caplog,
                                                                              compiler_found):
    import training.train_ntm as train_ntm

    calls, compile_flags = [], []
    # recorded, not run: the compiled step itself is checked in tests/test_ntm.py
    def record_compile(model, **options):
        calls.append(options)
        model.compiled_memory_step = NTMModel.memory_step

    monkeypatch.setattr(NTMModel, "compile_memory_step", record_compile)
    built = []
    original_build = train_ntm.build_model
    monkeypatch.setattr(train_ntm, "build_model", lambda *args: built.append(original_build(*args)) or built[-1])

    class RecordingTrainer(train_ntm.Trainer):
        def __init__(self, *args, **kwargs):
            compile_flags.append(kwargs["args"].torch_compile)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(train_ntm, "Trainer", RecordingTrainer)
    if not compiler_found:
        monkeypatch.delenv("CXX", raising=False)
        monkeypatch.setattr(train_ntm.shutil, "which", lambda name: None)
    with caplog.at_level("WARNING", logger="training.train_ntm"):
        train_copy(tmp_path, "ntm", "--set", "torch_compile_mode=max-autotune-no-cudagraphs", "--set", "max_steps=8",
                   "--set", "eval_steps=8")
    # a mode turns compilation on, as in TrainingArguments; Trainer itself compiles nothing
    assert calls == [{"backend": "inductor", "mode": "max-autotune-no-cudagraphs"}]
    # without a compiler the step is left as it is
    assert (built[0].compiled_memory_step is not None) is compiler_found
    assert compile_flags and not any(compile_flags)
    assert ("no C++ compiler" in caplog.text) is not compiler_found
    assert (tmp_path / "ntm" / "model" / "model.safetensors").is_file()
    # the paper tasks' preset compiles its step; the copy task's, measured as it is, does not
    assert train_ntm.step_compile_options(load_preset("ntm")) == {"backend": "inductor"}
    assert train_ntm.step_compile_options(load_preset("ntm-feedforward")) is None


def test_a_step_that_torch_cannot_compile_trains_uncompiled_with_a_warning(tmp_path, monkeypatch, caplog):
    def failing_step(model, *args):
        raise RuntimeError("backend='inductor' raised:\nCppCompileError: C++ compile error")

    def compile_that_fails(model, **options):
        model.compiled_memory_step = failing_step

    monkeypatch.setattr(NTMModel, "compile_memory_step", compile_that_fails)
    with caplog.at_level("WARNING", logger="training.train_ntm"):
        metrics = train_copy(tmp_path, "ntm", "--set", "torch_compile=true", "--set", "max_steps=8",
                             "--set", "eval_steps=8")
    assert "could not build the NTM's memory step on this machine (backend='inductor' raised:)" in caplog.text
    assert metrics["train_steps"] == 8
