"""The demo's model side: what the page shows for good input, and a message (never a traceback) for bad input."""

import math
import xml.etree.ElementTree as ElementTree

import pytest
import torch

from hf_attn_seq2seq.demo import DemoInputError, DemoModel, heatmap_svg, read_examples, result_views
from hf_attn_seq2seq.models.attn_seq2seq.generation_attn_seq2seq import gnmt_beam_search


SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def attention_model(demo_models) -> DemoModel:
    return DemoModel(demo_models["attention"])


def heatmap_rows(page_html: str) -> list[tuple[str, list[float]]]:
    """(output token, weights) per row of the picture, read back from the cells' tooltips."""
    svg = ElementTree.fromstring(page_html[page_html.index("<svg"): page_html.index("</svg>") + len("</svg>")])
    rows = []
    for group in svg.iter(f"{SVG}g"):
        assert group.get("class") == "heatmap-row"
        weights = [float(rect.find(f"{SVG}title").text.rsplit(": ", 1)[1]) for rect in group.iter(f"{SVG}rect")]
        rows.append((group.get("data-token"), weights))
    return rows


def generated(model: DemoModel, text: str, **settings) -> str:
    encoded = model.tokenizer([text], return_tensors="pt")
    with torch.no_grad():
        ids = model.model.generate(**encoded, do_sample=False, **settings)
    return model.tokenizer.decode(ids[0], skip_special_tokens=True).strip()


@pytest.mark.parametrize("num_beams", [1, 3])
def test_the_page_shows_the_generated_text_and_a_heatmap_row_per_output_token(attention_model, num_beams):
    text = attention_model.examples[0]
    settings = dict(max_new_tokens=attention_model.default_max_new_tokens, num_beams=num_beams)
    if num_beams > 1:
        settings.update(custom_generate=gnmt_beam_search, length_alpha=0.6, coverage_beta=0.2)
    output, message, picture = result_views(attention_model, text, num_beams, 0.6 if num_beams > 1 else 0.0,
                                            0.2 if num_beams > 1 else 0.0)
    assert output == generated(attention_model, text, **settings) and message == ""
    result = attention_model.translate(text, num_beams, 0.6 if num_beams > 1 else 0.0, 0.2 if num_beams > 1 else 0.0)
    rows = heatmap_rows(picture)
    assert [token for token, _ in rows] == result.output_tokens and result.output_tokens[-1] == "</s>"
    for (_, weights), expected in zip(rows, result.attentions):
        assert len(weights) == len(result.source_tokens) == len(attention_model.tokenizer(text)["input_ids"])
        assert math.isclose(sum(weights), 1.0, abs_tol=5e-3)  # each row is a softmax (tooltips round to 3 places)
        assert weights == pytest.approx(expected, abs=6e-4)


def test_beam_search_settings_change_the_search(attention_model):
    text = attention_model.examples[0]
    greedy = attention_model.translate(text)
    beam = attention_model.translate(text, num_beams=4, length_alpha=1.0, coverage_beta=0.5)
    expected = generated(attention_model, text, num_beams=4, custom_generate=gnmt_beam_search, length_alpha=1.0,
                         coverage_beta=0.5, max_new_tokens=attention_model.default_max_new_tokens)
    assert beam.text == expected and len(beam.output_tokens) == len(beam.attentions)
    assert greedy.notes == [] and beam.notes == []
    assert "apply with a beam size above 1" in attention_model.translate(text, 1, 0.6).notes[0]


@pytest.mark.parametrize(("text", "settings", "message"), [
    ("", {}, "The input is empty"),
    ("   \n", {}, "The input is empty"),
    (None, {}, "The input is empty"),
    ("x" * 500, {}, "tokens long; this model reads at most 128"),
    ("abc", {"num_beams": 0}, "beam size must be a whole number from 1 to 10"),
    ("abc", {"num_beams": 2.5}, "beam size must be a whole number"),
    ("abc", {"max_new_tokens": float("nan")}, "max new tokens must be a whole number"),
    ("abc", {"length_alpha": -1.0}, "length normalisation alpha must be a number >= 0"),
    ("abc", {"coverage_beta": float("inf")}, "coverage penalty beta must be a number >= 0"),
])
def test_bad_input_gets_a_message_and_the_next_request_still_works(attention_model, text, settings, message):
    with pytest.raises(DemoInputError, match=message.replace("(", r"\(")):
        attention_model.translate(text, **settings)
    output, shown, picture = result_views(attention_model, text, **settings)
    assert output == "" and picture == "" and shown.startswith("**Cannot generate:**") and message in shown
    text = attention_model.examples[0]
    assert result_views(attention_model, text)[0] == attention_model.translate(text).text != ""


def test_characters_the_tokenizer_does_not_know_are_named(attention_model):
    result = attention_model.translate("ab€c€")
    assert result.notes == ["The tokenizer does not know '€': the model reads it as <unk>, so the output may be wrong "
                            "there."]
    assert result.source_tokens.count("<unk>") == 2
    output, message, _ = result_views(attention_model, "ab€c€")
    assert output == result.text and "does not know '€'" in message


def test_a_failure_inside_generation_becomes_a_message(attention_model, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(attention_model, "generator", broken)
    assert result_views(attention_model, "abc") == ("", "**Generation failed:** RuntimeError: out of memory", "")
    assert "RuntimeError: out of memory" in capsys.readouterr().err


def test_a_model_without_attention_answers_without_a_heatmap(demo_models):
    model = DemoModel(demo_models["seq2seq"])
    assert not model.has_attention
    output, message, picture = result_views(model, "abc")
    assert output == generated(model, "abc", max_new_tokens=model.default_max_new_tokens)
    assert picture == "" and "no attention" in message


def test_the_heatmap_escapes_tokens_and_labels_the_axes():
    picture = heatmap_svg(["<", "&", '"', " "], ["a<b", "</s>"], [[0.1, 0.2, 0.3, 0.4], [1.0, 0.0, 0.0, 0.0]])
    svg = ElementTree.fromstring(picture)  # well-formed despite the markup characters in the tokens
    assert [text.text for text in svg.iter(f"{SVG}text") if text.get("class") == "source-token"] == ["<", "&", '"',
                                                                                                    "␣"]
    assert [group.get("data-token") for group in svg.iter(f"{SVG}g")] == ["a<b", "</s>"]
    fills = [rect.get("fill") for rect in svg.iter(f"{SVG}rect")]
    assert fills[4] == "rgb(8,48,107)" and fills[5] == "rgb(255,255,255)"  # weight 1 darkest, 0 white


def test_examples_come_from_the_model_card_predictions(demo_models, tmp_path):
    import json

    folder = demo_models["attention"]
    metrics = json.loads(open(f"{folder}/metrics.json").read())
    assert read_examples(folder) == list(metrics["examples"]) and len(metrics["examples"]) >= 3
    assert read_examples(str(tmp_path)) == []  # a folder without metrics.json: a page without examples
    (tmp_path / "metrics.json").write_text("{not json")
    assert read_examples(str(tmp_path)) == []


def test_the_page_builds_with_a_compare_tab_for_several_models(demo_models):
    gradio = pytest.importorskip("gradio", reason="the page needs the demo extra: pip install -e '.[demo]'")
    from hf_attn_seq2seq.demo import build_app

    models = [DemoModel(folder, label) for label, folder in demo_models.items()]
    single = build_app(models[:1]).config
    double = build_app(models).config
    tabs = lambda config: [c["props"].get("label") for c in config["components"] if c["type"] == "tabitem"]  # noqa: E731
    assert tabs(single) == ["Generate"] and tabs(double) == ["Generate", "Compare"]
    assert isinstance(build_app(models), gradio.Blocks)
    with pytest.raises(ValueError, match="same label"):
        build_app([models[0], models[0]])


def test_the_command_line_names_a_folder_it_cannot_load(tmp_path, capsys):
    pytest.importorskip("gradio", reason="the page needs the demo extra: pip install -e '.[demo]'")
    from hf_attn_seq2seq.demo import main

    assert main([str(tmp_path / "no-such-model")]) == 2
    assert "no-such-model" in capsys.readouterr().err


def test_a_byte_order_mark_pasted_with_the_text_is_dropped(attention_model):
    text = attention_model.examples[0]
    marked = attention_model.translate("\ufeff" + text)
    assert marked.notes == [] and marked.text == attention_model.translate(text).text
    assert marked.source_tokens == attention_model.translate(text).source_tokens
    with pytest.raises(DemoInputError, match="The input is empty"):
        attention_model.translate("\ufeff")
