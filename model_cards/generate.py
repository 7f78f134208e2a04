"""Fill the model card template with `huggingface_hub.ModelCard` / `ModelCardData`."""

import re
from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData


TEMPLATE_PATH = Path(__file__).with_name("template.md")
MEMORY_TEMPLATE_PATH = Path(__file__).with_name("memory_template.md")


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


# the encoder-decoders the training CLI builds: the package's own, and transformers' Marian for comparison
SEQ2SEQ_MODEL_DESCRIPTIONS = {
    "attn_seq2seq": 'An LSTM encoder-decoder with attention ("seq2seq with attention", package `hf_attn_seq2seq`)',
    "marian": "A Transformer encoder-decoder (transformers' `MarianMTModel`, the comparison model of package "
              "`hf_attn_seq2seq`)",
}
SEQ2SEQ_MODEL_OPTIONS = {
    "attn_seq2seq": ["attention", "embedding_size", "hidden_size", "encoder_layers", "decoder_layers", "bidirectional",
                     "bidirectional_merge", "peeky", "input_feeding", "residual", "attention_layer", "dropout"],
    "marian": ["d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads", "encoder_ffn_dim",
               "dropout", "attention_dropout", "scale_embedding", "share_encoder_decoder_embeddings"],
}
SEQ2SEQ_MODEL_TAGS = {"attn_seq2seq": ["seq2seq", "lstm", "attention", "custom_code"],
                      "marian": ["seq2seq", "transformer", "marian", "custom_code"]}


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
        tags=SEQ2SEQ_MODEL_TAGS.get(config.model_type, SEQ2SEQ_MODEL_TAGS["attn_seq2seq"]),
        model_name=model_name,
        eval_results=eval_results or None,
    )
    options = SEQ2SEQ_MODEL_OPTIONS.get(config.model_type, SEQ2SEQ_MODEL_OPTIONS["attn_seq2seq"])
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
        model_description=SEQ2SEQ_MODEL_DESCRIPTIONS.get(config.model_type,
                                                         SEQ2SEQ_MODEL_DESCRIPTIONS["attn_seq2seq"]),
        task_description=task_description,
        architecture=architecture,
        results_table=results_table,
        usage_code=usage_snippet(model_id, example),
        heatmap_section=heatmap_section,
        command=command,
        training_details=training_details,
    )


MEMORY_MODEL_DESCRIPTIONS = {
    "ntm": "A Neural Turing Machine (Graves, Wayne and Danihelka, 2014): {controller} that reads and writes an "
           "external memory through attention over its rows",
    "ntm_lstm_baseline": "The LSTM baseline of the Neural Turing Machine paper: a recurrent network with no external "
                         "memory",
}
NTM_CONTROLLER_WORDS = {"lstm": "an LSTM controller", "feedforward": "a feedforward controller"}
MEMORY_MODEL_OPTIONS = {
    "ntm": ["controller", "controller_size", "memory_rows", "memory_width", "read_heads", "write_heads", "shift_range",
            "memory_init"],
    "ntm_lstm_baseline": ["hidden_size", "num_layers"],
}


def copy_usage_snippet(model_id: str) -> str:
    """Python that loads the model by `model_id` and has it copy a random sequence of 8-bit vectors."""
    return "\n".join(
        [
            "import torch",
            "from transformers import AutoModel",
            "",
            f"model_id = {model_id!r}",
            "model = AutoModel.from_pretrained(model_id, trust_remote_code=True)",
            "sequence = torch.randint(0, 2, (1, 10, 8)).float()  # 10 random 8-bit vectors",
            "inputs = torch.zeros(1, 21, 9)  # the sequence, the delimiter (channel 8), then 10 blank steps",
            "inputs[:, :10, :8], inputs[:, 10, 8] = sequence, 1.0",
            "with torch.no_grad():",
            "    copy = (model(inputs).logits[:, 11:] > 0).float()  # one logit per bit",
            "print(\"copied exactly:\", torch.equal(copy, sequence))",
        ]
    )


def bit_task_usage_snippet(model_id: str, task: str, input_size: int) -> str:
    """Python that loads a model of a task other than copy and runs it on a laid-out example of the task."""
    return "\n".join(
        [
            "import torch",
            "from transformers import AutoModel",
            "from hf_attn_seq2seq.data.ntm_tasks import BIT_TASKS  # the task's data and input layout",
            "",
            f"model_id = {model_id!r}",
            "model = AutoModel.from_pretrained(model_id, trust_remote_code=True)",
            f"task = BIT_TASKS[{task!r}]",
            "batch = task.collator()(list(task.load(num_examples=1)[\"test\"].select(range(4))))",
            f"with torch.no_grad():  # inputs: (batch, steps, {input_size}); one logit per output channel and step",
            "    logits = model(batch[\"inputs\"]).logits",
            "scored = batch[\"labels\"] != -100",
            "print(\"answered exactly:\", ((logits > 0).float() == batch[\"labels\"])[scored].all().item())",
        ]
    )


def _memory_results_table(task: str, scores: dict[str, dict[str, float]]) -> str:
    if task == "ngrams":
        return "| test split | cost per sequence (bits) | Bayesian optimum |\n|---|---|---|\n" + "\n".join(
            f"| {split} | {score['cost_per_sequence']:.2f} | {score['optimal_cost_per_sequence']:.2f} |"
            for split, score in scores.items())
    if task == "copy":
        def label(split: str) -> str:
            if split.startswith("test_ones_"):
                return f"1-20, {split.rpartition('_')[2]}% ones"
            return "1-20" if split == "test" else split.rpartition("_")[2]
        header = "| test lengths | bit errors per sequence | sequences copied |"
    else:
        def label(split: str) -> str:
            return split
        header = "| test split | bit errors per sequence | sequences answered exactly |"
    return header + "\n|---|---|---|\n" + "\n".join(
        f"| {label(split)} | {score['bit_errors_per_sequence']:.2f} | {score['sequences_copied']:.1f}% |"
        for split, score in scores.items())


MEMORY_RESULTS_INTROS = {
    "copy": "Bit errors per sequence (8 bits per vector; lower is better) and the share of sequences copied without "
            "an error. Training saw lengths 1-20 only, each sequence with 10-90% of its bits on; the longer test "
            "splits (half the bits on) measure whether what the model learned generalises in length, the splits at "
            "a fixed share of ones whether it copies any content.",
    "repeat_copy": "Bit errors per sequence over the copies and the end marker (lower is better), and the share of "
                   "sequences answered without an error. Training saw 1-10 vectors copied 1-10 times; "
                   "`test_repeats_20` asks for 11-20 copies and `test_length_20` copies 11-20 vectors.",
    "associative_recall": "Bit errors per answer (one item, 18 bits; lower is better), and the share answered "
                          "without an error. Training saw lists of 2-6 items; `test_items_12` has 7-12.",
    "ngrams": "The cost of predicting each next bit, in bits per sequence of 200 (lower is better), beside the "
              "Bayesian optimum's on the same sequences (it counts what followed each context so far; the paper's "
              "yardstick).",
    "priority_sort": "Bit errors per sequence over the 16 vectors written back (lower is better), and the share "
                     "sorted without an error.",
}
MEMORY_PICTURE_NOTES = {
    "copy": "One test sequence of 20 vectors: inputs and outputs above, the write and read weightings over the memory "
            "rows below, step by step. The write head stores the vectors row after row; after the delimiter the read "
            "head visits the same rows in the same order.",
}


def render_memory_model_card(
    *,
    model_name: str,
    model_type: str,
    task_description: str,
    config,
    scores: dict[str, dict[str, float]],
    command: str,
    task: str = "copy",
    model_id: str = ".",
    memory_picture: str | None = None,
    training_details: str = "",
    warning: str = "",
    license: str = "apache-2.0",
) -> ModelCard:
    """The card of a model of a bit-vector task (`ntm` or `ntm_lstm_baseline`): `scores` maps each test split to its
    scores (`bit_errors_per_sequence` and `sequences_copied`; for N-grams `cost_per_sequence` and
    `optimal_cost_per_sequence`); `memory_picture` names the memory-access figure."""
    names = sorted({name for score in scores.values() for name in score})
    controller = getattr(config, "controller", None)  # the NTM's; the baseline is an LSTM itself
    uses_lstm = model_type == "ntm_lstm_baseline" or controller == "lstm"
    eval_results = [
        EvalResult(task_type=task, dataset_type="generated", dataset_name=f"{task} task", metric_type=name,
                   metric_name=name, metric_value=round(float(score[name]), 4), dataset_split=split)
        for split, score in scores.items() for name in names if name in score
    ]
    card_data = ModelCardData(
        license=license,
        library_name="transformers",
        datasets=[task],  # the task's name, as the text tasks' cards use theirs
        metrics=names,
        tags=["neural-turing-machine", "memory-augmented", *(["lstm"] if uses_lstm else []), "algorithmic-tasks",
              "custom_code"],
        model_name=model_name,
        eval_results=eval_results or None,
    )
    rows = [f"| `{option}` | `{getattr(config, option)}` |" for option in MEMORY_MODEL_OPTIONS[model_type]]
    architecture = "| option | value |\n|---|---|\n" + "\n".join(rows)
    results_table = _memory_results_table(task, scores)
    if warning:
        results_table = f"> **Warning:** {warning}\n\n" + results_table
    memory_section = ""
    if memory_picture:
        notes = MEMORY_PICTURE_NOTES.get(task, "One test example: inputs and outputs above, the write and read "
                                               "weightings over the memory rows below, step by step.")
        memory_section = f"## Memory access\n\n{notes}\n\n![memory access]({memory_picture})"
    usage = copy_usage_snippet(model_id) if task == "copy" else bit_task_usage_snippet(model_id, task,
                                                                                      config.input_size)
    return ModelCard.from_template(
        card_data,
        template_path=str(MEMORY_TEMPLATE_PATH),
        model_name=model_name,
        model_description=MEMORY_MODEL_DESCRIPTIONS[model_type].format(
            controller=NTM_CONTROLLER_WORDS.get(controller, "")),
        task_description=task_description,
        architecture=architecture,
        results_table=results_table,
        usage_code=usage,
        usage_note="" if task == "copy" else " (the package lays out the task's examples)",
        results_intro=MEMORY_RESULTS_INTROS[task],
        memory_section=memory_section,
        command=command,
        training_details=training_details,
    )
