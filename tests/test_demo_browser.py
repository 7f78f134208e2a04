"""The demo in a real headless browser (Debian's chromium driven by Selenium): served from tiny trained models, typed
into, clicked, and read back: the output, the heatmap's rows, and the messages for bad input.

`.ci/run` installs chromium, chromedriver, Gradio and Selenium; without them this module skips and says which is
missing.
"""

import pytest

from benchmarks.browser import DemoPage, DemoServer, missing_reason


reason = missing_reason()
pytestmark = pytest.mark.skipif(reason is not None, reason=f"browser test: {reason}")


@pytest.fixture(scope="module")
def served(demo_models):
    from hf_attn_seq2seq.demo import DemoModel

    labels = list(demo_models)
    local = {label: DemoModel(folder, label) for label, folder in demo_models.items()}
    with DemoServer(list(demo_models.values()), labels) as server:
        yield server, local


def test_the_page_answers_shows_the_heatmap_and_messages_for_bad_input(served, capsys):
    server, local = served
    model = local["attention"]
    first, second = model.examples[:2]
    with DemoPage(server.url) as page:
        output, message, rows, seconds = page.generate(first)
        expected = model.translate(first)
        assert output == expected.text != "" and message == ""
        assert rows == len(expected.output_tokens) > 0

        output, message, rows, _ = page.generate("")
        assert output == "" and rows == 0 and "The input is empty" in message

        over_limit = "ab" * model.max_source_tokens
        output, message, rows, _ = page.generate(over_limit)
        assert output == "" and rows == 0
        assert f"tokens long; this model reads at most {model.max_source_tokens}" in message
        assert "Traceback" not in page.driver.page_source

        # the server lives on and answers the next request
        output, message, rows, _ = page.generate(second)
        assert output == model.translate(second).text and message == ""
        assert rows == len(model.translate(second).output_tokens)

        page.set_number("num-beams", 3)
        output, message, rows, _ = page.generate(first)
        beam = model.translate(first, num_beams=3)
        assert output == beam.text and rows == len(beam.output_tokens)
    assert server.alive()
    with capsys.disabled():
        print(f"\n[demo] first response in the browser: {seconds * 1000:.0f} ms after the click (tiny model)")


def test_the_compare_tab_runs_every_model_on_the_same_input(served):
    server, local = served
    text = local["attention"].examples[0]
    with DemoPage(server.url) as page:
        (attention_output, attention_message, attention_rows), (plain_output, plain_message, plain_rows) = \
            page.compare(text, count=2)
    expected = local["attention"].translate(text)
    assert attention_output == expected.text and attention_rows == len(expected.output_tokens)
    assert attention_message == ""
    assert plain_output == local["seq2seq"].translate(text).text and plain_rows == 0
    assert "no attention" in plain_message


def test_the_memory_view_runs_each_neural_turing_machine_it_serves_in_the_browser(memory_demo_models):
    """One server for a copy and a repeat-copy model: each picked in the model list, run on a generated example and
    on typed input, against the same views drawn here."""
    from hf_attn_seq2seq.demo import MemoryDemoModel, memory_views

    tasks = ["copy", "repeat_copy"]
    with DemoServer([memory_demo_models[task] for task in tasks], tasks) as server, DemoPage(server.url) as page:
        for task in tasks:
            local = MemoryDemoModel(memory_demo_models[task], task)
            summary, described, drawn = page.run_memory(seed=4, size=3, step=2, typed="", model=task)
            expected_summary, expected_step, _ = memory_views(local, seed=4, size=3, step=2)
            steps = len(local.run(local.example(4, 3)).inputs)
            assert summary == expected_summary.replace("**", "") and described == expected_step, task
            assert drawn == {"inputs": steps, "outputs": steps, "writes": steps, "reads": steps}, task
            assert len(page.find_all("#memory-view svg rect.current-step")) == 4

            summary, described, drawn = page.run_memory(typed="{\"sequence\": [[0, 1]]}")
            assert summary.startswith("Cannot run:") and drawn["reads"] == 0 and described == ""
            assert "Traceback" not in page.driver.page_source

            if task == "copy":  # a typed sequence of vectors, run after the refused one: the server lives on
                summary, _, drawn = page.run_memory(typed="10110010 01100011")
                assert summary == memory_views(local, typed="10110010 01100011")[0].replace("**", "")
                assert drawn["reads"] == 5
