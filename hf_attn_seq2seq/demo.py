"""An interactive demo of saved models: type a source, read the output, watch the attention.

    python -m hf_attn_seq2seq.demo outputs/date-attention/model                  # one model
    python -m hf_attn_seq2seq.demo outputs/compare/seq2seq/model outputs/compare/attention/model   # side by side
    python -m hf_attn_seq2seq.demo someone/attn-seq2seq-date                     # a Hub id

Each argument is a folder written by `training.train` (or any folder or Hub repo of this package's models). The page
has a text box with the model card's showcase inputs as examples, the output, and the attention heatmap (output tokens
down, source tokens across; hover a cell for its weight) for greedy decoding or for the beam that beam search chose,
with GNMT's length normalisation alpha and coverage penalty beta. With two or more models a "Compare" tab runs them
all on the same input.

The model logic (`DemoModel`, `heatmap_svg`) needs only this package; the page needs Gradio
(`pip install "hf_attn_seq2seq[demo]"`). Local folders work offline: the page loads no fonts or scripts from the
network.
"""

import argparse
import html
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hf_attn_seq2seq.models.attn_seq2seq.generation_attn_seq2seq import gnmt_beam_search
from hf_attn_seq2seq.models.attn_seq2seq.pipeline_attn_seq2seq import check_text
from hf_attn_seq2seq.visualization import token_label


MAX_BEAMS = 10
BYTE_ORDER_MARK = "\ufeff"
MAX_EXAMPLES = 12
# Gradio's default theme fetches its fonts from Google; these are on every machine, so a local folder needs no network.
SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "sans-serif"]
MONOSPACE_FONTS = ["ui-monospace", "Consolas", "monospace"]


class DemoInputError(ValueError):
    """Input the demo refuses, with the message the page shows."""


@dataclass
class DemoResult:
    """What one request gives: the output text, the tokens and weights of the heatmap (None for a model without
    attention), and notes for the reader (unknown characters, settings that had no effect)."""

    text: str
    source_tokens: list[str]
    output_tokens: list[str]
    attentions: list[list[float]] | None
    notes: list[str] = field(default_factory=list)


def read_examples(name_or_path: str) -> list[str]:
    """The showcase inputs `training.train` predicted for the model card (`metrics.json`'s "examples"), or []."""
    folder = Path(name_or_path)
    try:
        if folder.is_dir():
            path = folder / "metrics.json"
        else:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(name_or_path, "metrics.json"))
        examples = json.loads(path.read_text(encoding="utf-8")).get("examples") or {}
    except Exception:  # a folder without metrics (or an unreachable Hub) still gets a working page, without examples
        return []
    return [text for text in examples if isinstance(text, str) and text.strip()][:MAX_EXAMPLES]


class DemoModel:
    """A saved model with its tokenizer and translation pipeline, answering one demo request at a time or many at
    once (generation changes no shared state, so the web server's threads may call `translate` together)."""

    def __init__(self, name_or_path: str | Path, label: str | None = None):
        from transformers import AutoModelForSeq2SeqLM, pipeline

        from hf_attn_seq2seq.data.tokenization import load_tokenizer
        from hf_attn_seq2seq.hub import saved_model_type
        from hf_attn_seq2seq.models.attn_seq2seq.configuration_attn_seq2seq import AttnSeq2SeqConfig
        from hf_attn_seq2seq.models.attn_seq2seq.pipeline_attn_seq2seq import TASK_NAME, source_length_limit

        self.name_or_path = str(name_or_path)
        self.label = label or _default_label(self.name_or_path)
        model_type = saved_model_type(self.name_or_path)
        if model_type != AttnSeq2SeqConfig.model_type:
            raise ValueError(f"{self.name_or_path} holds a {model_type!r} model; the demo serves attn_seq2seq models "
                             "(a copy-task model's memory picture is memory_access.png in its folder).")
        self.tokenizer = load_tokenizer(self.name_or_path)
        self.model = AutoModelForSeq2SeqLM.from_pretrained(self.name_or_path).eval()
        self.generator = pipeline(TASK_NAME, model=self.model, tokenizer=self.tokenizer)
        config = self.model.config
        self.has_attention = getattr(config, "attention", "none") != "none"
        self.max_source_tokens = source_length_limit(self.tokenizer, config)
        settings = self.model.generation_config
        self.default_max_new_tokens = settings.max_new_tokens or 64
        self.default_num_beams = max(1, min(settings.num_beams or 1, MAX_BEAMS))
        self.examples = read_examples(self.name_or_path)

    def warm_up(self) -> None:
        """One generation before the first visitor: torch's lazy set-up (kernels, thread pool) then costs them
        nothing."""
        self.translate(self.examples[0] if self.examples else "a")

    def check_source(self, text) -> list[str]:
        """Raise `DemoInputError` for input the model cannot take; return notes on what it reads as unknown."""
        if not isinstance(text, str) or not text.strip():
            raise DemoInputError("The input is empty: type some text to generate from.")
        try:
            check_text(text, 0)
        except ValueError as error:
            raise DemoInputError(str(error).replace("Input 0", "The input")) from None
        encoded = self.tokenizer(text, return_offsets_mapping=True, verbose=False)  # the length is checked here
        length = len(encoded["input_ids"])
        if length > self.max_source_tokens:
            raise DemoInputError(f"The input is {length} tokens long; this model reads at most "
                                 f"{self.max_source_tokens}. Shorten it.")
        unknown_id = self.tokenizer.unk_token_id
        unknown = []
        for token_id, (start, end) in zip(encoded["input_ids"], encoded["offset_mapping"]):
            piece = text[start:end].strip()
            if token_id == unknown_id and piece and piece not in unknown:
                unknown.append(piece)
        if not unknown:
            return []
        listed = ", ".join(repr(piece) for piece in unknown)
        return [f"The tokenizer does not know {listed}: the model reads {'it' if len(unknown) == 1 else 'them'} as "
                f"{self.tokenizer.unk_token}, so the output may be wrong there."]

    def translate(self, text: str, num_beams: int = 1, length_alpha: float = 0.0, coverage_beta: float = 0.0,
                  max_new_tokens: int | None = None) -> DemoResult:
        """Generate for `text`: greedy with `num_beams=1`, else GNMT-scored beam search (`gnmt_beam_search`)."""
        if isinstance(text, str):
            text = text.lstrip(BYTE_ORDER_MARK)  # invisible, and pasted along from files saved with one
        notes = self.check_source(text)
        num_beams = _whole_number(num_beams, "beam size", 1, MAX_BEAMS)
        max_new_tokens = _whole_number(max_new_tokens or self.default_max_new_tokens, "max new tokens", 1,
                                       getattr(self.model.config, "max_generation_tokens", 1024))
        for name, value in (("length normalisation alpha", length_alpha), ("coverage penalty beta", coverage_beta)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise DemoInputError(f"The {name} must be a number >= 0, got {value!r}.")
        settings = dict(max_new_tokens=max_new_tokens, num_beams=num_beams, do_sample=False)
        if num_beams > 1:
            settings.update(custom_generate=gnmt_beam_search, length_alpha=float(length_alpha),
                            coverage_beta=float(coverage_beta))
        elif length_alpha or coverage_beta:
            notes.append("Length normalisation and coverage penalty score beams: they apply with a beam size above 1.")
        record = self.generator(text, return_attentions=self.has_attention, **settings)[0]
        output = record.get("translation_text", record.get("generated_text", ""))
        if not self.has_attention:
            notes.append("This model has no attention (attention='none'), so there is no heatmap.")
            return DemoResult(output, [], [], None, notes)
        return DemoResult(output, record["source_tokens"], record["output_tokens"], record["attentions"], notes)


def _default_label(name_or_path: str) -> str:
    """A folder `outputs/date-attention/model` is called `date-attention`; a Hub id keeps its name."""
    path = Path(name_or_path)
    if path.is_dir():
        path = path.resolve()
        return path.parent.name if path.name == "model" and path.parent.name else path.name
    return name_or_path


def _whole_number(value, name: str, low: int, high: int) -> int:
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not number or value != int(value) or not low <= value <= high:
        raise DemoInputError(f"The {name} must be a whole number from {low} to {high}, got {value!r}.")
    return int(value)


def _weight_color(weight: float) -> str:
    """White (0) to dark blue (1)."""
    weight = min(max(weight, 0.0), 1.0)
    red, green, blue = (round(255 + (end - 255) * weight) for end in (8, 48, 107))
    return f"rgb({red},{green},{blue})"


def heatmap_svg(source_tokens: list[str], output_tokens: list[str], attentions: list[list[float]]) -> str:
    """The attention weights as an SVG picture: one row per output token (top to bottom), one column per source token
    (left to right), darker = more weight. Each cell's tooltip names its two tokens and the weight; each row is a
    `<g class="heatmap-row">`."""
    cell = 22 if len(source_tokens) <= 40 else 14
    char_width = 7.5
    # room for the longest labels, and for the axis captions in the top-left corner
    left = max(72, 12 + char_width * max((len(token_label(t)) for t in output_tokens), default=1))
    top = max(40, 12 + char_width * max((len(token_label(t)) for t in source_tokens), default=1))
    width = left + cell * len(source_tokens) + 4
    height = top + cell * len(output_tokens) + 4
    parts = [f'<svg class="attention-heatmap" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
             f'height="{height:.0f}" font-family="ui-monospace, monospace" font-size="12" role="img" '
             f'aria-label="attention weights: {len(output_tokens)} output tokens by {len(source_tokens)} source '
             'tokens">',
             f'<text class="axis-caption" x="4" y="{top - 22:.1f}" fill="#6b7280">source →</text>',
             f'<text class="axis-caption" x="4" y="{top - 8:.1f}" fill="#6b7280">output ↓</text>']
    for column, token in enumerate(source_tokens):
        x = left + cell * column + cell / 2 + 4
        parts.append(f'<text class="source-token" x="{x:.1f}" y="{top - 6:.1f}" transform="rotate(-90 {x:.1f} '
                     f'{top - 6:.1f})">{html.escape(token_label(token))}</text>')
    for row, (token, weights) in enumerate(zip(output_tokens, attentions)):
        y = top + cell * row
        label = html.escape(token_label(token))
        parts.append(f'<g class="heatmap-row" data-token="{html.escape(token, quote=True)}">')
        parts.append(f'<text class="output-token" x="{left - 6:.1f}" y="{y + cell * 0.7:.1f}" '
                     f'text-anchor="end">{label}</text>')
        for column, (source, weight) in enumerate(zip(source_tokens, weights)):
            tip = html.escape(f"{token_label(token)} <- {token_label(source)}: {weight:.3f}")
            parts.append(f'<rect x="{left + cell * column:.1f}" y="{y:.1f}" width="{cell}" height="{cell}" '
                         f'fill="{_weight_color(weight)}" stroke="#e5e7eb" stroke-width="0.5">'
                         f'<title>{tip}</title></rect>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def result_views(model: DemoModel, text: str, num_beams=1, length_alpha=0.0, coverage_beta=0.0,
                 max_new_tokens=None) -> tuple[str, str, str]:
    """(output text, message, heatmap HTML) for the page. Every failure becomes a message: the page never shows a
    traceback, and the server goes on to the next request."""
    try:
        result = model.translate(text, num_beams, length_alpha, coverage_beta, max_new_tokens)
    except DemoInputError as error:
        return "", f"**Cannot generate:** {error}", ""
    except Exception as error:  # the server must survive any request; the reader gets the reason in one line
        print(f"demo: {model.label}: {type(error).__name__}: {error}", file=sys.stderr)
        return "", f"**Generation failed:** {type(error).__name__}: {error}", ""
    message = "\n\n".join(f"Note: {note}" for note in result.notes)
    if result.attentions is None:
        return result.text, message, ""
    picture = heatmap_svg(result.source_tokens, result.output_tokens, result.attentions)
    return result.text, message, f'<div class="heatmap-scroll" style="overflow-x:auto">{picture}</div>'


def build_app(models: list[DemoModel]):  # long: Gradio's blocks are the page's layout, read top to bottom
    """The Gradio page: a "Generate" tab for one model at a time and, with two or more models, a "Compare" tab."""
    import gradio as gr

    if not models:
        raise ValueError("The demo needs at least one model.")
    by_label = {model.label: model for model in models}
    if len(by_label) != len(models):
        raise ValueError(f"Two models have the same label: {[model.label for model in models]}; give distinct ones.")
    examples = list(dict.fromkeys(text for model in models for text in model.examples))[:MAX_EXAMPLES]
    first = models[0]

    with gr.Blocks(title="hf_attn_seq2seq demo", analytics_enabled=False) as app:
        names = ", ".join(f"`{model.label}`" for model in models)
        gr.Markdown(f"# Seq2seq with attention: {names}\nType a source and generate. The heatmap shows, for each "
                    "output token (down), how much attention it paid to each source token (across): white is 0, "
                    "dark blue 1; hover a cell for the weight.")
        with gr.Tab("Generate"):
            model_choice = gr.Dropdown(list(by_label), value=first.label, label="model", visible=len(models) > 1)
            source = gr.Textbox(label="source", lines=2, elem_id="source",
                                placeholder=examples[0] if examples else None)
            with gr.Row():
                num_beams = gr.Slider(1, MAX_BEAMS, value=first.default_num_beams, step=1,
                                      label="beam size (1 = greedy)", elem_id="num-beams")
                max_new_tokens = gr.Slider(1, 512, value=min(first.default_max_new_tokens, 512), step=1,
                                           label="max new tokens", elem_id="max-new-tokens")
            with gr.Row():
                length_alpha = gr.Slider(0.0, 2.0, value=0.0, step=0.1,
                                         label="GNMT length normalisation α (beam search)", elem_id="length-alpha")
                coverage_beta = gr.Slider(0.0, 1.0, value=0.0, step=0.05,
                                          label="GNMT coverage penalty β (beam search)", elem_id="coverage-beta")
            button = gr.Button("Generate", variant="primary", elem_id="generate")
            output = gr.Textbox(label="output", elem_id="output", interactive=False)
            message = gr.Markdown(elem_id="message")
            heatmap = gr.HTML(elem_id="heatmap")
            if examples:
                gr.Examples(examples=[[text] for text in examples], inputs=[source], label="examples")

            def generate(label, text, beams, alpha, beta, length):
                return result_views(by_label[label], text, beams, alpha, beta, length)

            inputs = [model_choice, source, num_beams, length_alpha, coverage_beta, max_new_tokens]
            for trigger in (button.click, source.submit):
                trigger(generate, inputs=inputs, outputs=[output, message, heatmap])

        if len(models) > 1:
            with gr.Tab("Compare"):
                compare_source = gr.Textbox(label="source", lines=2, elem_id="compare-source")
                compare_beams = gr.Slider(1, MAX_BEAMS, value=1, step=1, label="beam size (1 = greedy)",
                                          elem_id="compare-beams")
                compare_button = gr.Button("Generate with every model", variant="primary", elem_id="compare")
                views = []
                with gr.Row():
                    for index, model in enumerate(models):
                        with gr.Column():
                            gr.Markdown(f"### {model.label}")
                            views += [gr.Textbox(label="output", interactive=False, elem_id=f"compare-output-{index}"),
                                      gr.Markdown(elem_id=f"compare-message-{index}"),
                                      gr.HTML(elem_id=f"compare-heatmap-{index}")]
                if examples:
                    gr.Examples(examples=[[text] for text in examples], inputs=[compare_source], label="examples")

                def compare(text, beams):
                    return [view for model in models for view in result_views(model, text, beams)]

                for trigger in (compare_button.click, compare_source.submit):
                    trigger(compare, inputs=[compare_source, compare_beams], outputs=views)
    return app


def launch(models: list[str], labels: list[str] | None = None, host: str | None = None, port: int | None = None,
           **launch_kwargs):
    """Load `models` (folders or Hub ids) and serve the page; blocks until stopped unless
    `prevent_thread_lock=True` is passed."""
    import gradio as gr

    labels = labels or [None] * len(models)
    if len(labels) != len(models):
        raise ValueError(f"{len(labels)} labels for {len(models)} models; give one label per model.")
    loaded = [DemoModel(name, label) for name, label in zip(models, labels)]
    for model in loaded:
        model.warm_up()
    app = build_app(loaded)
    theme = gr.themes.Default(font=SYSTEM_FONTS, font_mono=MONOSPACE_FONTS)
    app.launch(server_name=host, server_port=port, theme=theme, footer_links=[], **launch_kwargs)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="model folders or Hub ids; two or more add the Compare tab")
    parser.add_argument("--label", action="append", default=None, help="a name per model (default: folder name)")
    parser.add_argument("--host", default=None, help="address to serve on (default 127.0.0.1, or GRADIO_SERVER_NAME)")
    parser.add_argument("--port", type=int, default=None, help="port (default 7860, or GRADIO_SERVER_PORT)")
    args = parser.parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # this program's own process: no usage reports
    try:
        import gradio  # noqa: F401
    except ImportError:
        print('error: the demo needs Gradio: pip install "hf_attn_seq2seq[demo]"', file=sys.stderr)
        return 2
    try:
        launch(args.models, args.label, args.host, args.port)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
