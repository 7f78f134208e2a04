"""The translation path of the training CLI end to end, on a few hundred sentence pairs.

Multi30k lines are used when `../shared/data/multi30k` is present, else a generated word-for-word corpus; both run
the same code: subword tokenizer, training, beam-search scoring in both BLEU conventions, the Hub-ready folder.
"""

import gzip
import json
import random
from pathlib import Path

import pytest

from training.train import main


MULTI30K = Path(__file__).resolve().parents[2] / "shared" / "data" / "multi30k"
SPLIT_SIZES = {"train": 300, "val": 30, "test_2016_flickr": 30, "test_2017_mscoco": 20}
TINY = ["--preset", "translation", "--vocab-size", "400", "--set", "hidden_size=32", "--set", "embedding_size=16",
        "--set", "learning_rate=0.01", "--set", "per_device_train_batch_size=50", "--set", "generation_num_beams=2",
        "--num-heatmaps", "1", "--max-target-length", "40"]
WORDS = {"ein": "a", "mann": "man", "hund": "dog", "frau": "woman", "läuft": "runs", "sitzt": "sits",
         "im": "in the", "park": "park", "schnee": "snow", "mit": "with", "einem": "a", "ball": "ball",
         "und": "and", "spielt": "plays"}


def read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return handle.read().splitlines()


def generated_pairs(count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    words = sorted(WORDS)
    pairs = []
    for _ in range(count):
        german = [rng.choice(words) for _ in range(rng.randint(3, 8))]
        pairs.append((" ".join(german).capitalize() + ".", " ".join(WORDS[w] for w in german).capitalize() + "."))
    return pairs


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, list[str]]:
    """A Multi30k-layout folder (`{split}.{lang}.gz`) of a few hundred pairs; returns it and its test references."""
    folder = tmp_path_factory.mktemp("corpus")
    for index, (split, size) in enumerate(SPLIT_SIZES.items()):
        if MULTI30K.is_dir():
            lines = {lang: read_lines(MULTI30K / f"{split}.{lang}.gz")[:size] for lang in ("de", "en")}
        else:
            pairs = generated_pairs(size, seed=index)
            lines = {"de": [de for de, _ in pairs], "en": [en for _, en in pairs]}
        for lang, texts in lines.items():
            with gzip.open(folder / f"{split}.{lang}.gz", "wt", encoding="utf-8") as handle:
                handle.write("\n".join(texts) + "\n")
    return folder


def check_outputs(output_dir: Path, metrics: dict) -> None:
    folder = output_dir / "model"
    expected = {"model.safetensors", "config.json", "tokenizer.json", "generation_config.json", "metrics.json",
                "README.md", "attention_0.png", "training_log.json", "modeling_attn_seq2seq.py"}
    assert expected <= {path.name for path in folder.iterdir()}
    saved = json.loads((folder / "metrics.json").read_text())
    for key in ("test_bleu", "test_chrf", "test_bleu_lowercased_tokenized"):
        assert 0.0 <= saved[key] <= 100.0 and saved[key] == metrics[key]
    assert "tok:13a" in saved["test_bleu_signature"]  # sacreBLEU's standard tokenization of detokenized text
    predictions = (output_dir / "test_2016_flickr.predictions.txt").read_text().splitlines()
    assert len(predictions) == SPLIT_SIZES["test_2016_flickr"] == saved["test_sentences"]
    card = (folder / "README.md").read_text()
    assert "bleu_lowercased_tokenized" in card and "attention_0.png" in card
    assert "GNMT scoring" in card  # the translation preset scores with GNMT's length normalization
    import yaml

    metadata = yaml.safe_load(card.split("---")[1])
    assert metadata["language"] == ["de", "en"] and metadata["datasets"]
    assert metadata["model-index"][0]["results"][0]["dataset"]["split"] == "test_2016_flickr"
    assert json.loads((folder / "config.json").read_text())["model_type"] == "attn_seq2seq"


def test_translation_cli_trains_scores_and_writes_the_folder(corpus, tmp_path):
    output_dir = tmp_path / "de-en"
    metrics = main(["--task", "translation", "--dataset", str(corpus), "--source-lang", "de", "--target-lang", "en",
                    "--test-split", "test_2016_flickr", "--extra-test-splits", "test_2017_mscoco",
                    "--output-dir", str(output_dir), *TINY, "--set", "num_train_epochs=4"])
    check_outputs(output_dir, metrics)
    extra = json.loads((output_dir / "model" / "metrics.json").read_text())["extra_test_splits"]
    assert list(extra) == ["test_2017_mscoco"] and extra == metrics["extra_test_splits"]
    for key in ("bleu", "chrf", "bleu_lowercased_tokenized"):
        assert 0.0 <= extra["test_2017_mscoco"][key] <= 100.0
    assert "tok:13a" in extra["test_2017_mscoco"]["bleu_signature"]
    predictions = (output_dir / "test_2017_mscoco.predictions.txt").read_text().splitlines()
    assert len(predictions) == SPLIT_SIZES["test_2017_mscoco"]
    assert "| test_2017_mscoco |" in (output_dir / "model" / "README.md").read_text()
    losses = [entry["loss"] for entry in json.loads((output_dir / "model" / "training_log.json").read_text())
              if "loss" in entry]
    assert len(losses) >= 4 and losses[-1] < losses[0] - 0.5


def test_a_datasets_builder_name_takes_the_same_path(corpus, tmp_path):
    # a name that is not a local path goes to `datasets.load_dataset`, as a Hub dataset would; here the `json`
    # builder reads local files in the Hub's translation layout, so nothing touches the network
    files = {}
    for split, name in (("train", "train"), ("validation", "val"), ("test_2016_flickr", "test_2016_flickr")):
        sources, targets = read_lines(corpus / f"{name}.de.gz"), read_lines(corpus / f"{name}.en.gz")
        path = tmp_path / f"{split}.jsonl"
        path.write_text("".join(json.dumps({"translation": {"de": de, "en": en}}) + "\n"
                                for de, en in zip(sources, targets)))
        files[split] = path
    output_dir = tmp_path / "hub-layout"
    metrics = main(["--task", "translation", "--dataset", "json", "--data-files",
                    *[f"{split}={path}" for split, path in files.items()], "--source-lang", "de",
                    "--target-lang", "en", "--test-split", "test_2016_flickr", "--output-dir", str(output_dir), *TINY,
                    "--set", "num_train_epochs=1"])
    check_outputs(output_dir, metrics)


@pytest.mark.parametrize("split", ["validation", "test_2016_flickr", "test_2099"])
def test_extra_test_splits_must_be_other_test_splits(corpus, tmp_path, split):
    with pytest.raises(SystemExit, match=f"--extra-test-splits: '{split}' is not a split to test on"):
        main(["--task", "translation", "--dataset", str(corpus), "--source-lang", "de", "--target-lang", "en",
              "--test-split", "test_2016_flickr", "--extra-test-splits", split, "--output-dir", str(tmp_path / "x"),
              *TINY])


def test_the_transformer_preset_trains_marian_on_the_same_path(corpus, tmp_path):
    """`--preset transformer`: transformers' Marian on the same data, tokenizer and scoring; its folder brings the
    package's pipeline, which runs with transformers alone in a fresh process."""
    import os
    import subprocess
    import sys
    import textwrap

    output_dir = tmp_path / "de-en-transformer"
    tiny = ["--preset", "transformer", "--vocab-size", "400", "--set", "d_model=32", "--set", "encoder_layers=1",
            "--set", "decoder_layers=1", "--set", "encoder_ffn_dim=64", "--set", "decoder_ffn_dim=64",
            "--set", "per_device_train_batch_size=50", "--set", "generation_num_beams=2",
            "--set", "num_train_epochs=2", "--num-heatmaps", "1", "--max-target-length", "40"]
    metrics = main(["--task", "translation", "--dataset", str(corpus), "--source-lang", "de", "--target-lang", "en",
                    "--test-split", "test_2016_flickr", "--output-dir", str(output_dir), *tiny])
    folder = output_dir / "model"
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "marian" and config["d_model"] == 32
    assert config["custom_pipelines"]["translation"]["impl"] == "pipeline_attn_seq2seq.Seq2SeqGenerationPipeline"
    assert (folder / "pipeline_attn_seq2seq.py").is_file()
    assert 0.0 <= metrics["test_bleu_lowercased_tokenized"] <= 100.0 and "tok:13a" in metrics["test_bleu_signature"]
    card = (folder / "README.md").read_text()
    assert "MarianMTModel" in card and "| `d_model` | `32` |" in card
    sources = ["Ein Mann läuft.", "Eine Frau sitzt im Park."]
    from transformers import pipeline

    expected = [r["translation_text"] for r in pipeline("translation", model=str(folder), trust_remote_code=True)(
        sources, num_beams=2)]
    script = textwrap.dedent(f"""
        import json, sys
        sys.modules["hf_attn_seq2seq"] = None  # transformers alone
        from transformers import pipeline
        translator = pipeline("translation", model={str(folder)!r}, trust_remote_code=True)
        print(json.dumps([r["translation_text"] for r in translator({sources!r}, num_beams=2)]))
    """)
    environment = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"), PYTHONPATH="")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment,
                            cwd=tmp_path, timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected
