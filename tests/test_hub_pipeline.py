"""The exported folder on the Hub path: remote code, pipelines, model card, dry run and push errors."""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results
from packaging.requirements import Requirement
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, pipeline

from hf_attn_seq2seq import TASK_NAME
from hf_attn_seq2seq.demo import read_examples
from hf_attn_seq2seq.hub import upload_listing
from training.push import main as push_main
from training.train import main as train_main


SOURCES = ["abc123", "hello", "zz9"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    output = tmp_path_factory.mktemp("run")
    train_main(["--task", "reverse", "--num-examples", "400", "--output-dir", str(output), "--set", "hidden_size=32",
                "--set", "embedding_size=8", "--set", "num_train_epochs=1", "--num-heatmaps", "1",
                "--hub-model-id", "someone/attn-seq2seq-reverse", "--allow-unconverged"])
    return output / "model"


def fresh_process(script: str, tmp_path, **env) -> subprocess.CompletedProcess:
    environment = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"), PYTHONPATH="", **env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          env=environment, cwd=tmp_path, timeout=300, stdin=subprocess.DEVNULL)


def test_folder_declares_the_translation_pipeline(exported):
    config = json.loads((exported / "config.json").read_text())
    assert config["custom_pipelines"]["translation"]["impl"] == "pipeline_attn_seq2seq.Seq2SeqGenerationPipeline"
    assert (exported / "pipeline_attn_seq2seq.py").exists()


def test_fresh_process_without_the_package_loads_model_tokenizer_and_translation_pipeline(exported, tmp_path):
    script = f"""
        import json, sys
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, pipeline
        folder = {str(exported)!r}
        model = AutoModelForSeq2SeqLM.from_pretrained(folder, trust_remote_code=True)
        # AutoTokenizer reads config.json, whose auto_map asks for trust_remote_code like the model does
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
        translator = pipeline("translation", model=folder, trust_remote_code=True)
        assert "hf_attn_seq2seq" not in sys.modules, "the package was imported"
        sources = {SOURCES!r}
        direct = []
        for source in sources:
            ids = model.generate(**tokenizer(source, return_tensors="pt"), num_beams=2)
            direct.append(tokenizer.decode(ids[0], skip_special_tokens=True).strip())
        piped = [r["translation_text"] for r in translator(sources, num_beams=2)]
        print(json.dumps({{"direct": direct, "piped": piped, "type": type(translator).__name__}}))
    """
    result = fresh_process(script, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Do you wish to run the custom code" not in result.stdout
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["type"] == "Seq2SeqGenerationPipeline"
    assert outcome["piped"] == outcome["direct"]


def test_installed_package_task_needs_no_remote_code(exported):
    generator = pipeline(TASK_NAME, model=str(exported))
    model = AutoModelForSeq2SeqLM.from_pretrained(exported)
    tokenizer = AutoTokenizer.from_pretrained(exported)
    for source in SOURCES:
        expected = tokenizer.decode(model.generate(**tokenizer(source, return_tensors="pt"))[0],
                                    skip_special_tokens=True).strip()
        assert generator(source) == [{"generated_text": expected}]
    assert generator(SOURCES[:2]) == [generator(SOURCES[0])[0], generator(SOURCES[1])[0]]


def test_pipeline_batches_lists_and_returns_several_sequences(exported):
    generator = pipeline(TASK_NAME, model=str(exported))
    one_by_one = [generator(source, num_beams=3, num_return_sequences=2) for source in SOURCES]
    batched = generator(SOURCES, batch_size=2, num_beams=3, num_return_sequences=2)
    assert batched == one_by_one
    assert all(len(result) == 2 for result in batched)


@pytest.mark.parametrize("num_beams", [1, 3])
def test_pipeline_returns_attention_weights_with_tokens(exported, num_beams):
    generator = pipeline(TASK_NAME, model=str(exported))
    [result] = generator("hello", return_attentions=True, num_beams=num_beams)
    assert result["source_tokens"] == ["h", "e", "l", "l", "o", "</s>"]
    assert len(result["attentions"]) == len(result["output_tokens"])
    for row in result["attentions"]:
        assert len(row) == len(result["source_tokens"])
        assert sum(row) == pytest.approx(1.0, abs=1e-5)
    batched = generator(["hello", "ab"], return_attentions=True, num_beams=num_beams, batch_size=2)
    torch.testing.assert_close(torch.tensor(batched[0]["attentions"]), torch.tensor(result["attentions"]))
    assert len(batched[1]["source_tokens"]) == 3


def test_pipeline_rejects_non_strings_and_empty_text(exported):
    generator = pipeline(TASK_NAME, model=str(exported))
    with pytest.raises(TypeError, match="takes a string or a list of strings; the input is int"):
        generator(42)
    with pytest.raises(TypeError, match="item 1 of the input list is NoneType"):
        generator(["ok", None])
    with pytest.raises(ValueError, match="Input 0 is empty"):
        generator("   ")


def test_model_card_parses_validates_and_its_snippet_runs(exported, tmp_path):
    card = ModelCard.load(exported / "README.md")
    data = card.data.to_dict()
    assert data["library_name"] == "transformers" and data["pipeline_tag"] == "translation"
    assert data["license"] == "apache-2.0"
    metadata = yaml.safe_load(card.content.split("---")[1])
    model_name, results = model_index_to_eval_results(metadata["model-index"])
    metrics = json.loads((exported / "metrics.json").read_text())
    assert [(r.metric_type, r.metric_value) for r in results] == [
        ("exact_match", round(metrics["test_exact_match"], 4))]
    assert "![attention heatmap](attention_0.png)" in card.text

    snippet = re.search(r"```python\n(.*?)```", card.text, re.DOTALL).group(1)
    assert "trust_remote_code=True" in snippet and "pipeline(" in snippet and ".generate(" in snippet
    runnable = snippet.replace("'someone/attn-seq2seq-reverse'", repr(str(exported)))
    assert runnable != snippet
    result = fresh_process(runnable, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "translation_text" in result.stdout


def test_dry_run_lists_exactly_the_model_files(exported, capsys):
    assert push_main([str(exported), "--repo-id", "someone/model", "--dry-run"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    listed = [line.split()[1] for line in printed if not line.strip().startswith("not sent")][:-1]
    assert any("README.md  (usage snippet loads someone/model)" in line for line in printed)
    assert listed == [name for name, _ in upload_listing(exported)[0]]
    assert sorted(listed) == sorted(p.name for p in exported.iterdir())  # an exported folder is all model files
    assert printed[-1].endswith("(dry run)")


def test_push_without_token_fails_before_anything_is_sent(exported, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_home"))
    before = {path: path.stat().st_mtime_ns for path in exported.iterdir()}

    def no_network(*args, **kwargs):
        raise AssertionError("the network was used")

    monkeypatch.setattr("huggingface_hub.HfApi.create_repo", no_network)
    monkeypatch.setattr("huggingface_hub.HfApi.upload_folder", no_network)
    assert push_main([str(exported), "--repo-id", "someone/model"]) == 2
    assert "No Hugging Face token" in capsys.readouterr().err
    assert {path: path.stat().st_mtime_ns for path in exported.iterdir()} == before


def test_reversed_source_travels_with_the_model_to_a_fresh_process(tmp_path):
    output = tmp_path / "run"
    train_main(["--task", "reverse", "--num-examples", "300", "--output-dir", str(output), "--set", "hidden_size=32",
                "--set", "embedding_size=8", "--set", "num_train_epochs=1", "--set", "reverse_source=true",
                "--num-heatmaps", "1", "--allow-unconverged"])
    folder = output / "model"
    assert json.loads((folder / "config.json").read_text())["reverse_source"] is True
    model = AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    sources = ["abc123", "hello", "zz9", "attention"]
    encoded = tokenizer(sources, return_tensors="pt", padding=True)
    expected = [text.strip() for text in tokenizer.batch_decode(model.generate(**encoded, max_new_tokens=14),
                                                                skip_special_tokens=True)]
    # the same weights reading in order compute another function: the saved flag is what makes the outputs equal
    labels = tokenizer(text_target=sources, return_tensors="pt", padding=True)["input_ids"]
    with torch.no_grad():
        reversed_logits = model(**encoded, labels=labels).logits
        model.config.reverse_source = False
        reading_logits = model(**encoded, labels=labels).logits
    assert not torch.allclose(reversed_logits, reading_logits, atol=1e-3)
    script = f"""
        import json, sys
        from transformers import pipeline
        translator = pipeline("translation", model={str(folder)!r}, trust_remote_code=True)
        assert "hf_attn_seq2seq" not in sys.modules
        print(json.dumps([r["translation_text"] for r in translator({sources!r}, max_new_tokens=14)]))
    """
    result = fresh_process(script, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected


def test_a_resaved_remote_code_model_keeps_its_translation_pipeline(exported, tmp_path):
    resaved = tmp_path / "resaved"
    script = f"""
        import json, sys
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, pipeline
        model = AutoModelForSeq2SeqLM.from_pretrained({str(exported)!r}, trust_remote_code=True)
        tokenizer = AutoTokenizer.from_pretrained({str(exported)!r}, trust_remote_code=True)
        model.save_pretrained({str(resaved)!r})
        tokenizer.save_pretrained({str(resaved)!r})
        translator = pipeline("translation", model={str(resaved)!r}, trust_remote_code=True)
        assert "hf_attn_seq2seq" not in sys.modules
        print(json.dumps([r["translation_text"] for r in translator({SOURCES!r})]))
    """
    result = fresh_process(script, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (resaved / "pipeline_attn_seq2seq.py").read_text() == (exported / "pipeline_attn_seq2seq.py").read_text()
    expected = [r["generated_text"] for r in pipeline(TASK_NAME, model=str(exported))(SOURCES)]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected


def test_the_package_model_saved_anywhere_brings_the_pipeline_file(exported, tmp_path):
    AutoModelForSeq2SeqLM.from_pretrained(exported).save_pretrained(tmp_path / "copy")
    assert (tmp_path / "copy" / "pipeline_attn_seq2seq.py").is_file()


def test_pipeline_takes_strings_lists_generators_and_dataset_columns(exported):
    from datasets import Dataset
    from transformers.pipelines.pt_utils import KeyDataset

    generator = pipeline(TASK_NAME, model=str(exported))
    expected = [generator(source)[0] for source in SOURCES]
    assert generator([]) == []
    assert generator(SOURCES, batch_size=2) == expected
    streamed = generator((source for source in SOURCES), batch_size=2)
    assert [result[0] for result in streamed] == expected
    dataset = Dataset.from_dict({"text": SOURCES})
    from_dataset = list(generator(KeyDataset(dataset, "text"), batch_size=2))
    assert [result[0] for result in from_dataset] == expected


def test_pipeline_from_a_model_object_with_the_package_imported(exported):
    model = AutoModelForSeq2SeqLM.from_pretrained(exported)
    tokenizer = AutoTokenizer.from_pretrained(exported)
    by_folder = pipeline(TASK_NAME, model=str(exported))(SOURCES)
    assert pipeline(TASK_NAME, model=model, tokenizer=tokenizer)(SOURCES) == by_folder
    # every config declares the translation pipeline, which saved folders load with trust_remote_code
    assert model.config.custom_pipelines["translation"]["impl"] == "pipeline_attn_seq2seq.Seq2SeqGenerationPipeline"


def test_streamed_bad_items_get_the_clear_errors(exported):
    generator = pipeline(TASK_NAME, model=str(exported))
    with pytest.raises(ValueError, match="is empty"):
        list(generator(text for text in ["ok", "  "]))
    with pytest.raises(TypeError, match="takes a string or a list of strings; an input is int"):
        list(generator(text for text in ["ok", 7]))


def intercepted_push(monkeypatch):
    """Run pushes against a stand-in Hub; returns what each commit sent (path in repo -> bytes)."""
    sent = {}
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    monkeypatch.setattr("huggingface_hub.HfApi.create_repo", lambda self, repo_id, **kwargs: None)

    def create_commit(self, repo_id, operations, commit_message, **kwargs):
        for operation in operations:
            source = operation.path_or_fileobj
            sent[operation.path_in_repo] = source if isinstance(source, bytes) else open(source, "rb").read()
        return "https://hub.example/commit/1"

    monkeypatch.setattr("huggingface_hub.HfApi.create_commit", create_commit)
    return sent


def test_push_sends_the_folder_in_one_commit_with_the_snippet_naming_the_repo(exported, monkeypatch):
    card_before = (exported / "README.md").read_text()
    sent = intercepted_push(monkeypatch)
    assert push_main([str(exported), "--repo-id", "someone/pushed-model"]) == 0
    assert sorted(sent) == sorted(name for name, _ in upload_listing(exported)[0])
    card = sent["README.md"].decode()
    assert "model_id = 'someone/pushed-model'" in card and "model_id = 'someone/attn-seq2seq-reverse'" not in card
    assert (exported / "README.md").read_text() == card_before  # the user's folder is left alone
    assert sent["model.safetensors"] == (exported / "model.safetensors").read_bytes()


def test_push_sends_model_files_only_and_the_dry_run_says_so(exported, tmp_path, monkeypatch, capsys):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(exported, folder)
    (folder / ".env").write_text("HF_TOKEN=hf_secret")
    (folder / ".netrc").write_text("machine huggingface.co password secret")
    (folder / "notes.txt").write_text("private")
    (folder / "checkpoints" / "checkpoint-10").mkdir(parents=True)
    (folder / "checkpoints" / "checkpoint-10" / "training_args.bin").write_bytes(b"pickled")
    (folder / "checkpoints" / "checkpoint-10" / "optimizer.pt").write_bytes(b"state")
    assert push_main([str(folder), "--repo-id", "someone/model", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    dry_listed = sorted(line.split()[1] for line in printed.splitlines()
                        if not line.strip().startswith("not sent") and "total," not in line)
    for secret in (".env", ".netrc", "notes.txt", "checkpoints/checkpoint-10/training_args.bin"):
        assert f"not sent  {secret} (" in printed
    sent = intercepted_push(monkeypatch)
    assert push_main([str(folder), "--repo-id", "someone/model"]) == 0
    assert sorted(sent) == dry_listed == sorted(p.name for p in exported.iterdir())
    assert not any(b"secret" in content or content == b"pickled" for content in sent.values())


def test_push_refuses_a_symlink_out_of_the_folder(exported, tmp_path, monkeypatch, capsys):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(exported, folder)
    outside = tmp_path / "id_rsa"
    outside.write_text("private key")
    (folder / "extra.png").symlink_to(outside)
    sent = intercepted_push(monkeypatch)
    for extra in (["--dry-run"], []):
        assert push_main([str(folder), "--repo-id", "someone/model", *extra]) == 2
        assert "extra.png is a symlink to" in capsys.readouterr().err
    assert sent == {}


@pytest.mark.parametrize("repo_id", ["../../etc", "a/b/c", "/absolute", "someone/bad name"])
def test_push_refuses_a_bad_repo_id(exported, repo_id, monkeypatch, capsys):
    sent = intercepted_push(monkeypatch)
    assert push_main([str(exported), "--repo-id", repo_id, "--dry-run"]) == 2
    assert "is not a Hub repo id" in capsys.readouterr().err
    assert push_main([str(exported), "--repo-id", repo_id]) == 2
    assert sent == {}


def test_push_without_network_says_so(exported, monkeypatch, capsys):
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")

    class ConnectError(Exception):  # the shape of httpx's (and httpx2's) error
        pass

    class TransportError(ConnectError):
        pass

    def unreachable(self, repo_id, **kwargs):
        raise TransportError("[Errno -2] Name or service not known")

    monkeypatch.setattr("huggingface_hub.HfApi.create_repo", unreachable)
    assert push_main([str(exported), "--repo-id", "someone/model"]) == 2
    error = capsys.readouterr().err
    assert "Cannot reach the Hugging Face Hub to push someone/model" in error and "Traceback" not in error


def test_card_metadata_names_dataset_language_and_evaluation_split(exported):
    metadata = yaml.safe_load((exported / "README.md").read_text().split("---")[1])
    assert metadata["datasets"] == ["reverse"]
    results = metadata["model-index"][0]["results"][0]
    assert results["dataset"]["split"] == "test" and results["dataset"]["type"] == "generated"


def test_push_refuses_a_card_without_a_usage_snippet(exported, tmp_path, capsys):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(exported, folder)
    card = folder / "README.md"
    card.write_text("\n".join(line for line in card.read_text().splitlines() if not line.startswith("model_id =")))
    assert push_main([str(folder), "--repo-id", "someone/model", "--dry-run"]) == 2
    assert "no usage snippet" in capsys.readouterr().err


def recorded_commits(monkeypatch) -> tuple[list[dict], list[dict]]:
    """A stand-in Hub that records every repo creation and every commit (repo, type, files)."""
    repos, commits = [], []
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    monkeypatch.setattr("huggingface_hub.HfApi.create_repo",
                        lambda self, repo_id, **kwargs: repos.append(dict(repo_id=repo_id, **kwargs)))

    def create_commit(self, repo_id, operations, commit_message, repo_type=None, **kwargs):
        files = {operation.path_in_repo: operation.path_or_fileobj if isinstance(operation.path_or_fileobj, bytes)
                 else open(operation.path_or_fileobj, "rb").read() for operation in operations}
        commits.append(dict(repo_id=repo_id, repo_type=repo_type or "model", files=files))
        return f"https://hub.example/{repo_id}/commit/1"

    monkeypatch.setattr("huggingface_hub.HfApi.create_commit", create_commit)
    return repos, commits


def test_push_with_space_sends_the_model_then_a_gradio_space_that_serves_it(exported, monkeypatch, capsys, tmp_path):
    from hf_attn_seq2seq import __version__

    repos, commits = recorded_commits(monkeypatch)
    assert push_main([str(exported), "--repo-id", "someone/model", "--space"]) == 0
    assert [(c["repo_id"], c["repo_type"]) for c in commits] == [("someone/model", "model"),
                                                                ("someone/model-demo", "space")]
    assert repos[1]["repo_type"] == "space" and repos[1]["space_sdk"] == "gradio"
    space = commits[1]["files"]
    assert {"README.md", "app.py", "requirements.txt", "hf_attn_seq2seq/demo.py"} <= set(space)
    assert all(name in ("README.md", "app.py", "requirements.txt") or name.startswith("hf_attn_seq2seq/")
               for name in space)
    requirements = [Requirement(line) for line in space["requirements.txt"].decode().splitlines()]
    names = {requirement.name.lower() for requirement in requirements}
    # the package itself is carried (no index serves it); what it needs is installed from the index
    assert {"torch", "transformers", "gradio"} <= names and "hf_attn_seq2seq" not in names
    space_folder = tmp_path / "space"
    for name, content in space.items():
        (space_folder / name).parent.mkdir(parents=True, exist_ok=True)
        (space_folder / name).write_bytes(content)
    carried = subprocess.run([sys.executable, "-c", "import hf_attn_seq2seq.demo as demo; print(demo.__file__)"],
                             cwd=space_folder, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(carried).resolve().is_relative_to(space_folder.resolve())
    assert f"{__version__}" in (space_folder / "hf_attn_seq2seq" / "__init__.py").read_text()
    metadata = yaml.safe_load(space["README.md"].decode().split("---")[1])
    assert metadata["sdk"] == "gradio" and metadata["app_file"] == "app.py" and metadata["models"] == ["someone/model"]
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", str(metadata["sdk_version"]))

    launched = []
    monkeypatch.setattr("hf_attn_seq2seq.demo.main", lambda argv: launched.append(argv))
    exec(compile(space["app.py"], "app.py", "exec"), {"__name__": "__main__"})
    assert launched == [["someone/model"]]  # the app serves the pushed model
    assert "uploaded the demo Space someone/model-demo" in capsys.readouterr().out


def test_space_dry_run_lists_the_space_files_and_sends_nothing(exported, monkeypatch, capsys):
    repos, commits = recorded_commits(monkeypatch)
    requirement = "hf_attn_seq2seq[demo] @ git+https://example.org/pkg"
    assert push_main([str(exported), "--repo-id", "someone/model", "--space", "--space-id", "someone/try-it",
                      "--package-requirement", requirement, "--dry-run"]) == 0
    printed = capsys.readouterr().out
    for name in ("app.py", "requirements.txt", "README.md"):
        assert f"{name}  (Space someone/try-it)" in printed
    assert "3 files -> Space someone/try-it (dry run)" in printed
    assert repos == [] and commits == []


@pytest.mark.parametrize("argv, message", [
    (["--space", "--space-id", "bad name"], "is not a Hub repo id"),
    (["--space", "--package-requirement", "a\nb"], "must be one requirement line"),
])
def test_space_options_are_checked_before_anything_is_sent(exported, monkeypatch, capsys, argv, message):
    repos, commits = recorded_commits(monkeypatch)
    assert push_main([str(exported), "--repo-id", "someone/model", *argv]) == 2
    assert message in capsys.readouterr().err and repos == [] and commits == []


def test_space_options_need_space(exported, capsys):
    with pytest.raises(SystemExit):
        push_main([str(exported), "--repo-id", "someone/model", "--space-id", "someone/x"])
    assert "need --space" in capsys.readouterr().err


def test_a_date_model_of_two_languages_reads_both_in_a_fresh_process(tmp_path):
    """Trained on German and Korean dates (`--languages de ko`): the card, the showcase and the tokenizer are theirs,
    and a fresh process without the package translates both through the pipeline as the trained model does."""
    output = tmp_path / "run"
    train_main(["--task", "date", "--languages", "de", "ko", "--num-examples", "600", "--output-dir", str(output),
                "--set", "hidden_size=32", "--set", "embedding_size=8", "--set", "num_train_epochs=1",
                "--num-heatmaps", "0", "--allow-unconverged"])
    folder = output / "model"
    metadata = yaml.safe_load((folder / "README.md").read_text().split("---")[1])
    assert metadata["language"] == ["de", "ko"]
    showcase = list(json.loads((folder / "metrics.json").read_text())["examples"])
    assert showcase == ["2021년 3월 3일", "Mittwoch, 3. März 2021", "4.7.1776", "19800304"]  # the training languages'
    assert read_examples(str(folder)) == showcase  # the demo's examples, in the showcase's order
    sources = ["Mittwoch, 3. März 2021", "2021년 3월 3일 수요일", "17.06.1953", "hello, world"]  # and not a date
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer.unk_token_id not in tokenizer(sources)["input_ids"][0] + tokenizer(sources)["input_ids"][1]
    assert tokenizer("２０２１년 ３월 ３일")["input_ids"] == tokenizer("2021년 3월 3일")["input_ids"]  # full width
    model = AutoModelForSeq2SeqLM.from_pretrained(folder)
    in_process = [tokenizer.decode(model.generate(**tokenizer(s, return_tensors="pt"))[0], skip_special_tokens=True)
                  for s in sources]
    script = f"""
        import json, sys
        from transformers import pipeline
        translator = pipeline("translation", model={str(folder)!r}, trust_remote_code=True)
        assert "hf_attn_seq2seq" not in sys.modules, "the package was imported"
        print(json.dumps([r["translation_text"] for r in translator({sources!r})], ensure_ascii=False))
    """
    result = fresh_process(script, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [text.strip() for text in in_process]
    assert all(isinstance(text, str) for text in in_process)
