"""The demo in a real browser: response times and the screenshots in docs/ (RESULTS.md section 8).

    python -m benchmarks.demo --model date=outputs/date-attention/model \\
        --model multi30k=outputs/mt-en-de/model --input multi30k="A man in a blue shirt is standing on a ladder."

For each model the demo is served (`python -m hf_attn_seq2seq.demo FOLDER`) and opened in headless chromium: the
first request after the page loads is timed from the click to the answer on the page, then `--requests` more
(greedy, then beam 5), each with a different answer from the one before. The page after the first input is saved as
`docs/demo_<name>.png`. The first request runs with the page's defaults (the model's generation config: greedy for
the date model, beam 5 for the translation preset). Needs chromium, chromedriver, Gradio and Selenium (see
benchmarks/browser.py).
"""

import argparse
import json
import statistics
from pathlib import Path

from benchmarks.browser import DemoPage, DemoServer, missing_reason


DEMO_PATH = Path(__file__).with_name("DEMO.json")
DOCS = Path(__file__).resolve().parent.parent / "docs"


def distinct_in_turn(model, inputs: list[str], num_beams: int) -> list[str]:
    """The inputs whose answers differ from one another, so that each request visibly changes the page."""
    seen, chosen = set(), []
    for text in inputs:
        answer = model.translate(text, num_beams=num_beams).text
        if answer not in seen:
            seen.add(answer)
            chosen.append(text)
    if len(chosen) < 2:
        raise ValueError("Need at least two inputs with different answers to time one request after another.")
    return chosen


def bench_model(name: str, folder: str, first_input: str | None, requests: int) -> dict:
    from hf_attn_seq2seq.demo import DemoModel

    model = DemoModel(folder)
    inputs = ([first_input] if first_input else []) + [text for text in model.examples if text != first_input]
    first_input = inputs[0]
    record = {"folder": folder, "first_input": first_input, "max_source_tokens": model.max_source_tokens}
    with DemoServer([folder]) as server, DemoPage(server.url) as page:
        output, message, rows, seconds = page.generate(first_input)  # with the page's defaults
        expected = model.translate(first_input, num_beams=model.default_num_beams)
        if output != expected.text or rows != len(expected.output_tokens):
            raise AssertionError(f"{name}: the page shows {output!r} with {rows} rows; the model gives "
                                 f"{expected.text!r} with {len(expected.output_tokens)} tokens")
        record.update(first_output=output, first_response_seconds=round(seconds, 3), heatmap_rows=rows)
        page.screenshot(DOCS / f"demo_{name}.png")
        previous = output
        for num_beams in (1, 5):
            page.set_number("num-beams", num_beams)
            cycle = distinct_in_turn(model, inputs, num_beams)
            times = []
            for index in range(requests):
                text = cycle[index % len(cycle)]
                if model.translate(text, num_beams=num_beams).text == previous:
                    text = cycle[(index + 1) % len(cycle)]
                previous, _, _, seconds = page.generate(text)
                times.append(seconds)
            record[f"beam_{num_beams}"] = {"requests": requests, "median_seconds": round(statistics.median(times), 3),
                                           "max_seconds": round(max(times), 3)}
        record["server_alive"] = server.alive()
    return record


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, metavar="NAME=FOLDER")
    parser.add_argument("--input", action="append", default=[], metavar="NAME=TEXT",
                        help="the first input for a model (default: its first showcase input)")
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args(argv)
    reason = missing_reason()
    if reason:
        raise SystemExit(f"cannot run the demo benchmark: {reason}")
    first_inputs = dict(item.split("=", 1) for item in args.input)
    data = json.loads(DEMO_PATH.read_text()) if DEMO_PATH.exists() else {}
    for item in args.model:
        name, folder = item.split("=", 1)
        data.setdefault("models", {})[name] = bench_model(name, folder, first_inputs.get(name), args.requests)
        print(name, json.dumps(data["models"][name], indent=1, ensure_ascii=False), flush=True)
    DEMO_PATH.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")

    from benchmarks.report import rewrite_results

    rewrite_results()
    return data


if __name__ == "__main__":
    main()
