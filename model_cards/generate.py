"""Fill the model card template with `huggingface_hub.ModelCard` / `ModelCardData`."""

import re
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData


TEMPLATE_PATH = Path(__file__).with_name("template.md")


USAGE_MODEL_ID_LINE = re.compile(r"^model_id = .*$", re.MULTILINE)


def with_model_id(card_text: str, model_id: str) -> str:
    """The card with its usage snippet loading `model_id` (what `training.push --repo-id` uploads)."""
    if not USAGE_MODEL_ID_LINE.search(card_text):
        raise ValueError("The model card has no usage snippet (a `model_id = ...` line) to point at the repo.")
    return USAGE_MODEL_ID_LINE.sub(f"model_id = {model_id!r}", card_text, count=1)


def usage_snippet(model_id: str, example: str) -> str:
    """Python that loads the model by `model_id`, generates for `example` and runs the translation pipeline."""
    return "\n".join(
        [
            "from transformers import AutoModelForSeq2SeqLM, AutoTokenizer, pipeline",
            "",
            f"model_id = {model_id!r}",
            "tokenizer = AutoTokenizer.from_pretrained(model_id, trust_remote_code=True)",
            "model = AutoModelForSeq2SeqLM.from_pretrained(model_id, trust_remote_code=True)",
            f"inputs = tokenizer([{example!r}], return_tensors=\"pt\")",
            "output_ids = model.generate(**inputs)",
            "print(tokenizer.batch_decode(output_ids, skip_special_tokens=True))",
            "",
            "# transformers 5 has no built-in translation pipeline; the model brings its own",
            "translator = pipeline(\"translation\", model=model_id, trust_remote_code=True)",
            f"print(translator({example!r}, num_beams=3))",
        ]
    )


def render_model_card(
    *,
    model_name: str,
    task_description: str,
    config,
    metrics: dict[str, float],
    command: str,
    example: str,
    model_id: str = ".",
    dataset_name: str | None = None,
    dataset_type: str | None = None,
    dataset_split: str | None = None,
    languages: list[str] | None = None,
    pipeline_tag: str = "translation",
    heatmap_file: str | None = None,
    training_details: str = "",
    results_notes: str = "",
    warning: str = "",
    license: str = "apache-2.0",
) -> ModelCard:
    """A card whose metadata carries the dataset, languages and a `model-index` with the measured `metrics` (name ->
    value) on `dataset_split`; `warning` (e.g. a run that did not converge) heads the results."""
    eval_results = [
        EvalResult(
            task_type=pipeline_tag,
            dataset_type=dataset_type or dataset_name or "generated",
            dataset_name=dataset_name or task_description,
            metric_type=name,
            metric_name=name,
            metric_value=round(float(value), 4),
            dataset_split=dataset_split,
        )
        for name, value in metrics.items()
    ]
    card_data = ModelCardData(
        license=license,
        library_name="transformers",
        pipeline_tag=pipeline_tag,
        language=languages,
        datasets=[dataset_name] if dataset_name else None,
        metrics=sorted({name.split("_")[0] if name.startswith("bleu") else name for name in metrics}) or None,
        tags=["seq2seq", "lstm", "attention", "custom_code"],
        model_name=model_name,
        eval_results=eval_results or None,
    )
    options = ["attention", "embedding_size", "hidden_size", "encoder_layers", "decoder_layers", "bidirectional",
               "bidirectional_merge", "peeky", "input_feeding", "residual", "attention_layer", "dropout"]
    rows = [f"| `{option}` | `{getattr(config, option)}` |" for option in options]
    architecture = "| option | value |\n|---|---|\n" + "\n".join(rows)
    results_table = "| metric | value |\n|---|---|\n" + "\n".join(f"| {k} | {v:.2f} |" for k, v in metrics.items())
    if results_notes:
        results_table += "\n\n" + results_notes
    if warning:
        results_table = f"> **Warning:** {warning}\n\n" + results_table
    heatmap_section = ""
    if heatmap_file:
        heatmap_section = (f"## Attention\n\nWhich source token each output token attended to:\n\n"
                           f"![attention heatmap]({heatmap_file})")
    return ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE_PATH),
        model_name=model_name,
        task_description=task_description,
        architecture=architecture,
        results_table=results_table,
        usage_code=usage_snippet(model_id, example),
        heatmap_section=heatmap_section,
        command=command,
        training_details=training_details,
    )
