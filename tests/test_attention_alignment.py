"""On a trained date model, the attention picture is the seed's: output digits attend to the matching input."""

import pytest
from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

from hf_attn_seq2seq.visualization import plot_attention
from training.train import main


pytestmark = pytest.mark.slow  # trains the main job's model on the full date data (about 2 minutes on 2 cores)


@pytest.fixture(scope="module")
def date_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("date")
    main(["--task", "date", "--preset", "attention", "--output-dir", str(folder), "--set", "num_train_epochs=3",
          "--num-heatmaps", "0", "--allow-unconverged"])
    return AutoModelForSeq2SeqLM.from_pretrained(folder / "model"), AutoTokenizer.from_pretrained(folder / "model")


@pytest.mark.parametrize("source", ["September 27, 1994", "TUESDAY, SEPTEMBER 25, 1984", "4.7.1776"])
def test_year_digits_attend_to_the_input_year(date_model, tmp_path, source):
    model, tokenizer = date_model
    source_tokens, output_tokens, weights = plot_attention(model, tokenizer, source, tmp_path / "map.png")
    assert (tmp_path / "map.png").stat().st_size > 0
    year = source[-4:]
    assert "".join(output_tokens[:4]) == year
    year_positions = set(range(len(source) - 4, len(source)))  # one token per character, then </s>
    for step in range(4):
        attended = int(weights[step].argmax())
        assert attended in year_positions, (source, step, source_tokens[attended])
