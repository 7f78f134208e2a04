"""An interactive demo of saved models: type a source, read the output, watch the attention (or, for a Neural Turing
Machine, watch its heads move over the memory).

    python -m hf_attn_seq2seq.demo outputs/date-attention/model                  # one model
    python -m hf_attn_seq2seq.demo outputs/compare/seq2seq/model outputs/compare/attention/model   # side by side
    python -m hf_attn_seq2seq.demo someone/attn-seq2seq-date                     # a Hub id

Each argument is a folder written by `training.train` (or any folder or Hub repo of this package's models). The page
has a text box with the model card's showcase inputs as examples, the output, and the attention heatmap (output tokens
down, source tokens across; hover a cell for its weight) for greedy decoding or for the beam that beam search chose,
with GNMT's length normalisation alpha and coverage penalty beta. With two or more models a "Compare" tab runs them
all on the same input. A Neural Turing Machine's folder (`training.train --task copy`, `repeat_copy`, ...) opens in a
"Memory" tab: an example of its task, generated from a seed or typed, the output against the target, and the read and
write weightings over the memory rows at every step, with a step to follow.

The model logic (`DemoModel`, `MemoryDemoModel`, `heatmap_svg`, `memory_svg`) needs only this package; the page
needs Gradio (`pip install "hf_attn_seq2seq[demo]"`). Local folders work offline: the page loads no fonts or scripts
from the network.
"""

import argparse
import html
import itertools
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
    examples = read_metrics(name_or_path).get("examples") or {}
    return [text for text in examples if isinstance(text, str) and text.strip()][:MAX_EXAMPLES]


def read_metrics(name_or_path: str) -> dict:
    """The folder's or Hub repo's `metrics.json`, or {}: a folder without metrics (or an unreachable Hub) still gets
    a working page."""
    folder = Path(name_or_path)
    try:
        if folder.is_dir():
            path = folder / "metrics.json"
        else:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(name_or_path, "metrics.json"))
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except Exception:
        return {}
    return metrics if isinstance(metrics, dict) else {}


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
                             "(and Neural Turing Machines, in the memory view: `load_demo_model` picks).")
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


# -- the memory view: a Neural Turing Machine's inputs, outputs and heads, step by step ---------------------------

MEMORY_SIZE_LIMITS = {  # what the size box sets per task: its name, range (the copy: up to the memory's rows), default
    "copy": ("sequence length", 1, 128, 20),
    "repeat_copy": ("sequence length", 1, 20, 5),
    "associative_recall": ("number of items", 2, 12, 4),
    "ngrams": ("number of bits", 6, 400, 60),
    "priority_sort": ("number of vectors (the model writes back the 16 of highest priority)", 20, 20, 20),
}
MEMORY_ROW_FLOOR = 0.01  # rows no head weights above this at any step are left out of the picture


@dataclass
class MemoryResult:
    """One run of a memory model on one example: every array is `(steps, ...)`; `target` holds NaN where the step is
    not scored (the model reads there)."""

    inputs: list[list[float]]
    outputs: list[list[float]]
    target: list[list[float]]
    read_weights: list[list[float]]
    write_weights: list[list[float]]
    summary: str


def read_task(name_or_path: str, config) -> str:
    """The task a memory model learned: `metrics.json`'s "task", else the one task whose widths match the model's."""
    from hf_attn_seq2seq.data.ntm_tasks import BIT_TASKS

    task = read_metrics(name_or_path).get("task")
    if task in BIT_TASKS:
        return task
    fitting = [name for name, spec in BIT_TASKS.items()
               if (spec.input_size, spec.output_size) == (config.input_size, config.output_size)]
    if len(fitting) != 1:
        raise ValueError(f"{name_or_path}: cannot tell which task its memory model learned ({config.input_size} "
                         f"inputs, {config.output_size} outputs; no metrics.json names it).")
    return fitting[0]


class MemoryDemoModel:
    """A saved Neural Turing Machine and its task: runs one example (generated from a seed, or typed as the task's
    row) and returns what the memory view draws."""

    def __init__(self, name_or_path: str | Path, label: str | None = None):
        from transformers import AutoModel

        from hf_attn_seq2seq.data.ntm_tasks import BIT_TASKS
        from hf_attn_seq2seq.hub import saved_model_type
        from hf_attn_seq2seq.models.ntm.configuration_ntm import NTMConfig

        self.name_or_path = str(name_or_path)
        self.label = label or _default_label(self.name_or_path)
        model_type = saved_model_type(self.name_or_path)
        if model_type != NTMConfig.model_type:
            raise ValueError(f"{self.name_or_path} holds a {model_type!r} model, which has no memory to show; the "
                             "memory view serves Neural Turing Machines ('ntm').")
        self.model = AutoModel.from_pretrained(self.name_or_path).eval()
        self.task = read_task(self.name_or_path, self.model.config)
        self.spec = BIT_TASKS[self.task]
        self.size_name, self.min_size, self.max_size, self.default_size = MEMORY_SIZE_LIMITS[self.task]
        if self.task == "copy":
            self.max_size = min(self.max_size, self.model.config.memory_rows)

    def warm_up(self) -> None:
        self.run(self.example(0, self.default_size))

    def example(self, seed, size) -> dict:
        """A row of the task drawn from `seed`, of `size` (see `MEMORY_SIZE_LIMITS`)."""
        import numpy as np

        from hf_attn_seq2seq.data import ntm_paper_tasks as paper
        from hf_attn_seq2seq.data.ntm_tasks import copy_task_dataset

        seed = _whole_number(seed, "seed", 0, 2**31 - 1)
        size = _whole_number(size, self.size_name, self.min_size, self.max_size)
        rng = np.random.default_rng(seed)
        if self.task == "copy":
            return copy_task_dataset(1, (size, size), seed=seed)[0]
        if self.task == "repeat_copy":
            return paper.repeat_copy_dataset(1, (size, size), paper.REPEAT_COPY_TRAIN_REPEATS, rng=rng)[0]
        if self.task == "associative_recall":
            return paper.associative_recall_dataset(1, (size, size), rng=rng)[0]
        if self.task == "ngrams":
            return paper.ngram_dataset(1, rng=rng, length=size)[0]
        return paper.priority_sort_dataset(1, rng=rng)[0]

    def parse_row(self, text) -> dict:
        """A typed example: the task's row as JSON (`{"sequence": [[0, 1, ...], ...]}` for copy), or for the copy task
        its vectors as strings of bits separated by spaces (`10110010 01100011`)."""
        if not isinstance(text, str) or not text.strip():
            raise DemoInputError("The typed example is empty: type one, or leave it empty and run a generated one.")
        text = text.lstrip(BYTE_ORDER_MARK).strip()
        if self.task == "copy" and not text.startswith(("{", "[")):
            vectors = text.split()
            if not all(set(vector) <= {"0", "1"} for vector in vectors):
                raise DemoInputError("Type the copy task's vectors as bits (0 and 1) separated by spaces, e.g. "
                                     "10110010 01100011, or the row as JSON.")
            return {"sequence": [[int(bit) for bit in vector] for vector in vectors]}
        try:
            row = json.loads(text)
        except json.JSONDecodeError as error:
            raise DemoInputError(f"The typed example is not JSON ({error.msg} at character {error.pos}); type the "
                                 f"{self.task} task's row, e.g. {json.dumps(self.example(0, self.min_size))[:80]}…") \
                from None
        if not isinstance(row, dict):
            raise DemoInputError("The typed example must be a JSON object: the task's row, with its columns.")
        return row

    def run(self, row: dict) -> MemoryResult:
        """The model on one row: inputs, output probabilities, target, both heads' weightings, and the score."""
        import torch

        from hf_attn_seq2seq.data.ntm_paper_tasks import cost_per_sequence
        from hf_attn_seq2seq.models.ntm.modeling_ntm import UNSCORED

        try:
            batch = self.spec.collator()([row])
        except KeyError as error:
            raise DemoInputError(f"The example has no {error} column.") from None
        except ValueError as error:
            raise DemoInputError(str(error).replace("Row 0 of the", "The").replace(" batch", " example")) from None
        if batch["inputs"].shape[-1] != self.model.config.input_size:
            raise DemoInputError(f"The example lays out {batch['inputs'].shape[-1]} input channels a step; this model "
                                 f"reads {self.model.config.input_size} (the {self.task.replace('_', ' ')} task's).")
        steps = batch["inputs"].shape[1]
        if steps > 4 * self.model.config.memory_rows + 8:
            raise DemoInputError(f"The example takes {steps} steps; the memory view shows at most "
                                 f"{4 * self.model.config.memory_rows + 8}. Make it shorter.")
        with torch.no_grad():
            output = self.model(batch["inputs"], output_memory_access=True)
        probabilities = torch.sigmoid(output.logits[0])
        labels = batch["labels"][0]
        scored = labels != UNSCORED
        if self.spec.metric == "cost_per_sequence":
            cost = float(cost_per_sequence(output.logits, batch["labels"])[0])
            summary = f"cost {cost:.2f} bits over {int(scored.sum())} predicted bits"
        else:
            wrong = int(((probabilities > 0.5).float() != labels)[scored].sum())
            summary = f"{wrong} wrong bits of {int(scored.sum())}"
        return MemoryResult(batch["inputs"][0].tolist(), probabilities.tolist(),
                            torch.where(scored, labels, torch.full_like(labels, float("nan"))).tolist(),
                            # the heads of a kind together (a model of several heads shows the sum of theirs)
                            output.read_weights[0].sum(1).tolist(), output.write_weights[0].sum(1).tolist(), summary)


def _grid_svg(css_class: str, title: str, values: list[list[float]], row_labels: list[str], step: int | None,
              colors, tip) -> str:
    """One picture of `values` `(steps, rows)`: a column per step (left to right), a row per channel or memory row;
    `step` (0-based) is outlined. `colors(step, row, value)` fills a cell; `tip(step, row, value)` is its tooltip."""
    cell = 10 if len(values) <= 120 else 6
    left, top = 64, 18
    width = left + cell * len(values) + 4
    height = top + cell * len(row_labels) + 4
    parts = [f'<svg class="{css_class}" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="ui-monospace, monospace" font-size="10" role="img" aria-label="{html.escape(title)}">',
             f'<text x="4" y="12" fill="#374151">{html.escape(title)}</text>']
    for row, label in enumerate(row_labels):
        if len(row_labels) <= 24 or row % 4 == 0:
            parts.append(f'<text x="{left - 4}" y="{top + cell * row + cell - 1}" text-anchor="end" '
                         f'fill="#6b7280">{html.escape(label)}</text>')
    for index, column in enumerate(values):
        parts.append(f'<g class="memory-step" data-step="{index + 1}">')
        for row, value in enumerate(column):
            parts.append(f'<rect x="{left + cell * index}" y="{top + cell * row}" width="{cell}" height="{cell}" '
                         f'fill="{colors(index, row, value)}"><title>{html.escape(tip(index, row, value))}</title>'
                         '</rect>')
        parts.append("</g>")
    if step is not None:
        parts.append(f'<rect class="current-step" x="{left + cell * step}" y="{top}" width="{cell}" '
                     f'height="{cell * len(row_labels)}" fill="none" stroke="#dc2626" stroke-width="1.5"/>')
    parts.append("</svg>")
    return "".join(parts)


def _gray(value: float) -> str:
    level = round(255 * (1 - min(max(value, 0.0), 1.0)))
    return f"rgb({level},{level},{level})"


def memory_svg(result: MemoryResult, step: int | None = None) -> str:
    """The paper's figure 6 for one example, as four SVG pictures: inputs, outputs against the target (a wrong bit
    red), and the write and read weightings over the memory rows that any head used (darker = more weight)."""
    steps = len(result.inputs)
    used = [row for row in range(len(result.write_weights[0]))
            if max(max(weights[row] for weights in result.write_weights),
                   max(weights[row] for weights in result.read_weights)) > MEMORY_ROW_FLOOR]
    used = list(range(min(used), max(used) + 1)) if used else [0]

    def output_color(index, channel, value):
        target = result.target[index][channel]
        if target != target:  # NaN: not scored
            return "#f3f4f6" if value < 0.5 else "#9ca3af"
        return "#dc2626" if (value > 0.5) != (target > 0.5) else _gray(value)

    def output_tip(index, channel, value):
        target = result.target[index][channel]
        scored = "not scored" if target != target else f"target {int(target)}"
        return f"step {index + 1}, channel {channel + 1}: {value:.3f} ({scored})"

    def weights(name):
        return [[column[row] for row in used] for column in getattr(result, name)]

    def weight_tip(index, row, value):
        return f"step {index + 1}, memory row {used[row]}: {value:.3f}"

    channels = [str(channel + 1) for channel in range(len(result.inputs[0]))]
    outputs = [str(channel + 1) for channel in range(len(result.outputs[0]))]
    rows = [str(row) for row in used]
    pictures = [
        _grid_svg("memory-inputs", "inputs (channel by step)", result.inputs, channels, step,
                  lambda i, r, v: _gray(v), lambda i, r, v: f"step {i + 1}, channel {r + 1}: {v:g}"),
        _grid_svg("memory-outputs", f"outputs against the target ({steps} steps; red: a wrong bit)", result.outputs,
                  outputs, step, output_color, output_tip),
        _grid_svg("memory-writes", f"write weighting over memory rows {used[0]}-{used[-1]}", weights("write_weights"),
                  rows, step, lambda i, r, v: _gray(v), weight_tip),
        _grid_svg("memory-reads", f"read weighting over memory rows {used[0]}-{used[-1]}", weights("read_weights"),
                  rows, step, lambda i, r, v: _gray(v), weight_tip),
    ]
    return "".join(f'<div class="heatmap-scroll" style="overflow-x:auto">{picture}</div>' for picture in pictures)


def describe_step(result: MemoryResult, step: int) -> str:
    """What the heads do at `step` (1-based): the row each weights most, and how much."""
    heads = []
    for name, weights in (("write", result.write_weights[step - 1]), ("read", result.read_weights[step - 1])):
        row = max(range(len(weights)), key=weights.__getitem__)
        heads.append(f"{name} head on memory row {row} ({weights[row]:.2f})")
    return f"Step {step} of {len(result.inputs)}: " + "; ".join(heads) + "."


def memory_views(model: MemoryDemoModel, seed=0, size=None, typed: str = "", step=0) -> tuple[str, str, str]:
    """(summary, step description, pictures HTML) for the page; every failure becomes a message."""
    try:
        row = model.parse_row(typed) if isinstance(typed, str) and typed.strip() else \
            model.example(seed, model.default_size if size is None else size)
        result = model.run(row)
        steps = len(result.inputs)
        step = _whole_number(step, "step", 0, 10**6)
        current = min(step, steps) if step else None
    except DemoInputError as error:
        return f"**Cannot run:** {error}", "", ""
    except Exception as error:  # the server must survive any request
        print(f"demo: {model.label}: {type(error).__name__}: {error}", file=sys.stderr)
        return f"**Run failed:** {type(error).__name__}: {error}", "", ""
    summary = f"{model.label} on the {model.task.replace('_', ' ')} task: {result.summary}."
    described = describe_step(result, current) if current else f"{steps} steps: pick one to follow the heads."
    return summary, described, memory_svg(result, None if current is None else current - 1)


def load_demo_model(name_or_path: str, label: str | None = None):
    """`DemoModel` for a seq2seq folder, `MemoryDemoModel` for a Neural Turing Machine's."""
    from hf_attn_seq2seq.hub import saved_model_type

    return (MemoryDemoModel if saved_model_type(str(name_or_path)) == "ntm" else DemoModel)(name_or_path, label)


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


def build_app(models: list):
    """The Gradio page: for seq2seq models (`DemoModel`) a "Generate" tab for one model at a time and, with two or
    more, a "Compare" tab; for Neural Turing Machines (`MemoryDemoModel`) a "Memory" tab."""
    import gradio as gr

    if not models:
        raise ValueError("The demo needs at least one model.")
    labels = [model.label for model in models]
    if len(set(labels)) != len(models):
        raise ValueError(f"Two models have the same label: {labels}; give distinct ones.")
    memory_models = [model for model in models if isinstance(model, MemoryDemoModel)]
    models = [model for model in models if not isinstance(model, MemoryDemoModel)]
    with gr.Blocks(title="hf_attn_seq2seq demo", analytics_enabled=False) as app:
        if models:
            _seq2seq_tabs(gr, models)
        if memory_models:
            _memory_tab(gr, memory_models, alone=not models)
    return app


def _seq2seq_tabs(gr, models: list[DemoModel]) -> None:  # long: Gradio's blocks are the page's layout
    """The "Generate" tab for one model at a time and, with two or more models, a "Compare" tab."""
    by_label = {model.label: model for model in models}
    examples = list(dict.fromkeys(text for model in models for text in model.examples))[:MAX_EXAMPLES]
    first = models[0]
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


def _memory_tab(gr, models: list[MemoryDemoModel], alone: bool) -> None:
    """The "Memory" tab: a Neural Turing Machine on a generated or typed example, its output against the target and
    its heads' weightings over the memory rows, with a step to follow."""
    by_label = {model.label: model for model in models}
    first = models[0]
    if alone:
        gr.Markdown("# Neural Turing Machine: " + ", ".join(f"`{model.label}`" for model in models))
    with gr.Tab("Memory"):
        gr.Markdown("Run the model on an example of its task. The pictures show, step by step (left to right), the "
                    "inputs, the outputs against the target (a wrong bit red, unscored steps grey), and where the "
                    "write and read heads point in the memory (darker = more weight). Pick a step to follow it.")
        model_choice = gr.Dropdown(list(by_label), value=first.label, label="model", visible=len(models) > 1,
                                   elem_id="memory-model")
        with gr.Row():
            seed = gr.Number(value=0, precision=0, label="seed of the generated example", elem_id="memory-seed")
            size = gr.Number(value=first.default_size, precision=0,
                             label=f"{first.size_name} ({first.min_size}-{first.max_size})", elem_id="memory-size")
            step = gr.Number(value=0, precision=0, label="step to follow (0: none)", elem_id="memory-step")
        typed = gr.Textbox(label="or type an example (the task's row as JSON; for copy, vectors of bits)", lines=2,
                           elem_id="memory-typed")
        button = gr.Button("Run", variant="primary", elem_id="memory-run")
        summary = gr.Markdown(elem_id="memory-summary")
        described = gr.Markdown(elem_id="memory-step-text")
        pictures = gr.HTML(elem_id="memory-view")

        runs = itertools.count(1)

        def run(label, seed_value, size_value, typed_text, step_value):
            summary_text, step_text, drawn = memory_views(by_label[label], seed_value, size_value, typed_text,
                                                          step_value)
            # the browser may draw the pictures after the text: the run number tells a reader which run they show
            return summary_text, step_text, f'<div class="memory-pictures" data-run="{next(runs)}">{drawn}</div>'

        def pick(label):
            model = by_label[label]
            return gr.update(value=model.default_size, label=f"{model.size_name} ({model.min_size}-{model.max_size})")

        model_choice.change(pick, inputs=[model_choice], outputs=[size])
        button.click(run, inputs=[model_choice, seed, size, typed, step], outputs=[summary, described, pictures])


def launch(models: list[str], labels: list[str] | None = None, host: str | None = None, port: int | None = None,
           **launch_kwargs):
    """Load `models` (folders or Hub ids) and serve the page; blocks until stopped unless
    `prevent_thread_lock=True` is passed."""
    import gradio as gr

    labels = labels or [None] * len(models)
    if len(labels) != len(models):
        raise ValueError(f"{len(labels)} labels for {len(models)} models; give one label per model.")
    loaded = [load_demo_model(name, label) for name, label in zip(models, labels)]
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
