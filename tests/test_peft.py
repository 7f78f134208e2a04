"""PEFT adapters on the model, tied and untied: wrap, train, save, reload onto a fresh base, merge, save, reload.

Adaptable with LoRA: the embeddings (`embed_tokens`), the attention's projections (`key_projection` with the
`general` and `additive` scores, `query_projection` and `energy` with `additive`), `output_projection` and `lm_head`.
The LSTM layers are trained whole through `modules_to_save`, one layer per name (`model.decoder.layers.1`).
"""

import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForSeq2SeqLM, DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments

from hf_attn_seq2seq import Seq2SeqGenerationPipeline
from hf_attn_seq2seq.data.tokenization import build_char_tokenizer


peft = pytest.importorskip("peft", reason="PEFT is a test extra: pip install 'hf_attn_seq2seq[test]'")
# PEFT still reads the attribute transformers renamed; the warning is about PEFT's code, not this package's.
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")

PAIRS = [("abc", "cba"), ("hello", "olleh"), ("xyz", "zyx"), ("bead", "daeb")] * 4
SOURCES = ["abc", "hello", "dab"]


def base_folder(tmp_path, tie: bool):
    """A saved base model and its tokenizer, in one folder."""
    tokenizer = build_char_tokenizer([text for pair in PAIRS for text in pair])
    torch.manual_seed(0)
    from hf_attn_seq2seq import AttnSeq2SeqConfig, AttnSeq2SeqForConditionalGeneration

    config = AttnSeq2SeqConfig(vocab_size=len(tokenizer), embedding_size=8, hidden_size=12, attention="general",
                               decoder_layers=2, encoder_layers=2, tie_word_embeddings=tie,
                               pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                               eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.bos_token_id)
    folder = tmp_path / ("tied" if tie else "untied")
    AttnSeq2SeqForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, tokenizer


def train_briefly(model, tokenizer, output_dir):
    rows = Dataset.from_dict({"source": [s for s, _ in PAIRS], "target": [t for _, t in PAIRS]})
    rows = rows.map(lambda row: tokenizer(row["source"], text_target=row["target"]), remove_columns=["source",
                                                                                                   "target"])
    arguments = Seq2SeqTrainingArguments(output_dir=str(output_dir), max_steps=6, per_device_train_batch_size=4,
                                         learning_rate=0.05, report_to=[], save_strategy="no", logging_strategy="no",
                                         use_cpu=True, disable_tqdm=True)
    Seq2SeqTrainer(model=model, args=arguments, train_dataset=rows,
                   data_collator=DataCollatorForSeq2Seq(tokenizer, model=model)).train()
    return model.eval()


def generated_texts(model, tokenizer) -> list[str]:
    batch = tokenizer(SOURCES, return_tensors="pt", padding=True)
    with torch.no_grad():
        ids = model.generate(**batch, num_beams=2, max_new_tokens=8)
    return tokenizer.batch_decode(ids, skip_special_tokens=True)


@pytest.mark.parametrize("tie", [True, False], ids=["tied", "untied"])
def test_a_lora_adapter_trains_saves_reloads_merges_and_matches_after_merge_save_and_reload(tmp_path, tie):
    folder, tokenizer = base_folder(tmp_path, tie)
    # A tied output layer is adapted on an untied copy (PEFT's advice): the merge then changes the output layer
    # only, as the adapter did, not the decoder embedding it shared.
    untied = dict(tie_word_embeddings=False)
    lora = peft.LoraConfig(r=4, target_modules=["lm_head", "key_projection", "embed_tokens"],
                           modules_to_save=["model.decoder.layers.1"])
    adapted = peft.get_peft_model(AutoModelForSeq2SeqLM.from_pretrained(folder, **untied), lora)
    train_briefly(adapted, tokenizer, tmp_path / "trainer")
    batch = tokenizer(SOURCES, return_tensors="pt", padding=True)
    decoder_input_ids = torch.tensor([[tokenizer.bos_token_id, 5, 6, 7]] * len(SOURCES))
    with torch.no_grad():
        adapter_logits = adapted(**batch, decoder_input_ids=decoder_input_ids).logits
    adapter_texts = generated_texts(adapted, tokenizer)
    adapted.save_pretrained(tmp_path / "adapter")

    reloaded = peft.PeftModel.from_pretrained(AutoModelForSeq2SeqLM.from_pretrained(folder, **untied),
                                              tmp_path / "adapter").eval()
    with torch.no_grad():
        assert torch.equal(reloaded(**batch, decoder_input_ids=decoder_input_ids).logits, adapter_logits)
    merged = reloaded.merge_and_unload()
    merged.save_pretrained(tmp_path / "merged")
    tokenizer.save_pretrained(tmp_path / "merged")

    final, report = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "merged", output_loading_info=True)
    assert not any(report[key] for key in ("missing_keys", "unexpected_keys", "mismatched_keys")), report
    with torch.no_grad():
        torch.testing.assert_close(final.eval()(**batch, decoder_input_ids=decoder_input_ids).logits,
                                   adapter_logits, rtol=1e-5, atol=1e-5)
    translator = Seq2SeqGenerationPipeline(model=final, tokenizer=tokenizer, task="translation")
    piped = [row["translation_text"] for row in translator(SOURCES, num_beams=2, max_new_tokens=8)]
    assert piped == adapter_texts


def test_a_tied_output_layer_merged_without_untying_saves_and_reloads_as_it_computes(tmp_path):
    """PEFT warns that a merge into a tied layer also changes the table it shares, and marks the config untied; the
    saved folder then holds both tensors and reloads as the merged model computes (never a random layer)."""
    folder, tokenizer = base_folder(tmp_path, tie=True)
    adapted = peft.get_peft_model(AutoModelForSeq2SeqLM.from_pretrained(folder),
                                  peft.LoraConfig(r=2, target_modules=["lm_head"], init_lora_weights=False))
    merged = adapted.merge_and_unload().eval()
    batch = tokenizer(SOURCES, return_tensors="pt", padding=True)
    decoder_input_ids = torch.tensor([[tokenizer.bos_token_id, 5, 6]] * len(SOURCES))
    with torch.no_grad():
        expected = merged(**batch, decoder_input_ids=decoder_input_ids).logits
    merged.save_pretrained(tmp_path / "merged")
    reloaded, report = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "merged", output_loading_info=True)
    assert not any(report[key] for key in ("missing_keys", "unexpected_keys", "mismatched_keys")), report
    with torch.no_grad():
        assert torch.equal(reloaded.eval()(**batch, decoder_input_ids=decoder_input_ids).logits, expected)


def test_a_tied_folder_loaded_untied_computes_what_it_saved_with_two_tensors(tmp_path):
    folder, tokenizer = base_folder(tmp_path, tie=True)
    tied = AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
    untied, report = AutoModelForSeq2SeqLM.from_pretrained(folder, tie_word_embeddings=False,
                                                           output_loading_info=True)
    assert not report["missing_keys"]
    assert tied.lm_head.weight is tied.model.decoder.embed_tokens.weight
    assert untied.lm_head.weight is not untied.model.decoder.embed_tokens.weight
    batch = tokenizer(SOURCES, return_tensors="pt", padding=True)
    assert torch.equal(tied.generate(**batch, max_new_tokens=6), untied.eval().generate(**batch, max_new_tokens=6))


def test_untying_keeps_the_architecture_and_old_tied_folders_keep_their_projection(tmp_path):
    folder, _ = base_folder(tmp_path, tie=True)
    config = (folder / "config.json").read_text()
    assert '"output_projection": true' in config
    # A folder saved before `output_projection` existed: its tied layout had the projection.
    (folder / "config.json").write_text(config.replace('"output_projection": true,', ""))
    old = AutoModelForSeq2SeqLM.from_pretrained(folder)
    assert old.config.output_projection and old.output_projection is not None
    with pytest.raises(ValueError, match=r"1 unexpected \(output_projection.weight\)"):
        AutoModelForSeq2SeqLM.from_pretrained(folder, output_projection=False)
    with pytest.raises(ValueError, match="output_projection=False needs output features as wide as the embedding"):
        type(old.config)(**{**old.config.to_dict(), "output_projection": False})
