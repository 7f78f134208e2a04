"""Attention heatmaps and training curves (matplotlib)."""

from pathlib import Path

import torch

from hf_attn_seq2seq.models.attn_seq2seq.pipeline_attn_seq2seq import sequence_attentions


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    return plt


# Fonts with Hangul, kana and CJK glyphs that matplotlib falls back to when one is installed (e.g. Debian's
# fonts-noto-cjk); without one, those characters of a date's heatmap labels are drawn as boxes.
CJK_FONT_NAMES = ("Noto Sans CJK JP", "Noto Sans CJK KR", "Noto Sans CJK SC", "Noto Sans KR", "Noto Sans JP",
                  "Noto Sans SC", "Source Han Sans", "WenQuanYi Zen Hei", "Droid Sans Fallback", "NanumGothic")


def label_fonts() -> list[str]:
    """matplotlib's default font first, then the installed fonts with CJK glyphs (a fallback list)."""
    from matplotlib import font_manager, rcParams

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return [rcParams["font.sans-serif"][0], *(name for name in CJK_FONT_NAMES if name in installed)]


def attention_weights(model, tokenizer, source: str, max_new_tokens: int = 64, num_beams: int = 1):
    """Generate for `source` and return (source tokens, output tokens, weights `output_len x source_len`)."""
    encoded = tokenizer(source, return_tensors="pt")
    encoded = {k: v.to(model.device) for k, v in encoded.items() if k in ("input_ids", "attention_mask")}
    model.eval()
    with torch.no_grad():
        out = model.generate(**encoded, max_new_tokens=max_new_tokens, num_beams=num_beams,
                             return_dict_in_generate=True, output_attentions=True)
    weights = sequence_attentions(out)[0]  # steps x src_len
    sequence = out.sequences[0, 1:]  # without the decoder start token
    if tokenizer.eos_token_id in sequence.tolist():
        end = sequence.tolist().index(tokenizer.eos_token_id) + 1
        sequence, weights = sequence[:end], weights[:end]
    source_tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0].tolist())
    output_tokens = tokenizer.convert_ids_to_tokens(sequence.tolist())
    return source_tokens, output_tokens, weights.float().cpu()


def plot_attention(model, tokenizer, source: str, path: str | Path, max_new_tokens: int = 64, num_beams: int = 1):
    """Write a heatmap of the attention weights: source tokens across, generated tokens down.

    Returns `(source_tokens, output_tokens, weights)` so callers can check what the picture shows.
    """
    source_tokens, output_tokens, weights = attention_weights(model, tokenizer, source, max_new_tokens, num_beams)
    plt = _pyplot()
    width = max(4.0, 0.32 * len(source_tokens) + 1.5)
    height = max(3.0, 0.32 * len(output_tokens) + 1.2)
    figure, axis = plt.subplots(figsize=(width, height))
    axis.imshow(weights.numpy(), cmap="gray", vmin=0.0, vmax=1.0, aspect="auto")
    fonts = label_fonts()
    axis.set_xticks(range(len(source_tokens)), [token_label(t) for t in source_tokens], rotation=90, fontfamily=fonts)
    axis.set_yticks(range(len(output_tokens)), [token_label(t) for t in output_tokens], fontfamily=fonts)
    axis.set_xlabel("source")
    axis.set_ylabel("output")
    axis.set_title(source, fontsize=9, fontfamily=fonts)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return source_tokens, output_tokens, weights


def plot_memory_access(model, example, path: str | Path) -> dict:
    """The Neural Turing Machine paper's figure 6 for one example: the inputs, the outputs, and the write and read
    weightings over the memory rows at every step (the heads of a kind summed). `example` is a copy-task sequence
    (`length x bits` of 0/1) or a batch of one row from a task's collator (`{"inputs": (1, steps, input_size), ...}`).
    Returns the tensors drawn (`inputs`, `outputs`, `write_weights`, `read_weights`, each `(steps, ...)`)."""
    from hf_attn_seq2seq.data.ntm_tasks import CopyTaskCollator

    batch = example if isinstance(example, dict) else CopyTaskCollator()([{"sequence": example}])
    model.eval()
    with torch.no_grad():
        output = model(batch["inputs"], output_memory_access=True)
    # the heads of a kind drawn together: each weighting sums to 1, so with several heads a row's shade adds theirs
    drawn = {"inputs": batch["inputs"][0], "outputs": torch.sigmoid(output.logits[0]),
             "write_weights": output.write_weights[0].sum(1), "read_weights": output.read_weights[0].sum(1)}
    plt = _pyplot()
    figure, axes = plt.subplots(2, 2, figsize=(10, 6), sharex=True)
    titles = {"inputs": "inputs", "outputs": "outputs", "write_weights": "write weightings",
              "read_weights": "read weightings"}
    for axis, (name, values) in zip(axes.T.flatten(), drawn.items()):
        axis.imshow(values.T.float().numpy(), cmap="gray", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
        axis.set_title(titles[name], fontsize=10)
        axis.set_ylabel("memory row" if name.endswith("weights") else "channel")
    for axis in axes[1]:
        axis.set_xlabel("step")
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return drawn


def token_label(token: str) -> str:
    """A token as a picture shows it: a space as ␣, the SentencePiece word marker ▁ as _."""
    return "␣" if token == " " else token.replace("▁", "_")


def plot_training_curve(log_history: list[dict], path: str | Path, metric: str = "eval_exact_match",
                        x_axis: str = "epoch") -> None:
    """Training loss per step and the evaluation metric per `x_axis` ("epoch" or "step"), from
    `Trainer.state.log_history`."""
    plt = _pyplot()
    losses = [(entry["step"], entry["loss"]) for entry in log_history if "loss" in entry]
    scores = [(entry[x_axis], entry[metric]) for entry in log_history if metric in entry]
    figure, (loss_axis, score_axis) = plt.subplots(1, 2, figsize=(10, 3.5))
    if losses:
        loss_axis.plot(*zip(*losses))
    loss_axis.set_xlabel("step")
    loss_axis.set_ylabel("training loss")
    loss_axis.set_yscale("log")
    if scores:
        score_axis.plot(*zip(*scores), marker="o")
    score_axis.set_xlabel(x_axis)
    score_axis.set_ylabel(metric.removeprefix("eval_"))
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


__all__ = ["attention_weights", "plot_attention", "plot_memory_access", "plot_training_curve", "token_label"]
