import string

import pytest
from transformers import AutoTokenizer, DataCollatorForSeq2Seq

from hf_attn_seq2seq.data.tasks import load_task
from hf_attn_seq2seq.data.tokenization import build_char_tokenizer, train_subword_tokenizer


SENTENCES = [
    "Ein Mann mit einem orangefarbenen Hut, der etwas anstarrt.",
    "Zwei Männer stehen über einer Brücke und schauen auf die Straße.",
    "Une femme âgée boit un café près de la fenêtre.",
    "A naïve façade: Größe, Übung, Ärger, Öl, señor, crème brûlée.",
]


@pytest.mark.parametrize("task", ["date", "addition", "reverse"])
def test_char_tokenizer_round_trips_every_task_alphabet(task):
    data = load_task(task, 500, seed=0)
    texts = list(data["train"]["source"]) + list(data["train"]["target"])
    tokenizer = build_char_tokenizer(texts)
    alphabet = {character for text in texts for character in text}
    every_text = [text for split in data.values() for text in list(split["source"]) + list(split["target"])]
    checked = [text for text in every_text if set(text) <= alphabet]
    assert len(checked) > 900
    for text in checked:
        assert tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) == text
    encoded = tokenizer(texts[0])["input_ids"]
    assert len(encoded) == len(texts[0]) + 1 and encoded[-1] == tokenizer.eos_token_id


def test_char_tokenizer_maps_unknown_characters_to_unk():
    tokenizer = build_char_tokenizer(["abc"])
    ids = tokenizer("aZ€b")["input_ids"]
    assert ids == [tokenizer.convert_tokens_to_ids("a"), tokenizer.unk_token_id, tokenizer.unk_token_id,
                   tokenizer.convert_tokens_to_ids("b"), tokenizer.eos_token_id]


def test_nfkc_char_tokenizer_reads_full_width_digits_as_ascii_and_keeps_the_rest(tmp_path):
    tokenizer = build_char_tokenizer(["2021年3月3日（水）", "Größe"], normalization="NFKC")
    assert "（" not in tokenizer.get_vocab() and "(" in tokenizer.get_vocab()
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    for candidate in (tokenizer, reloaded):
        assert candidate("２０２１年３月３日（水）")["input_ids"] == candidate("2021年3月3日(水)")["input_ids"]
        assert candidate.unk_token_id not in candidate("Größe")["input_ids"]
    nfc = build_char_tokenizer(["（"])  # keeps the full-width parenthesis apart
    assert nfc("(")["input_ids"][0] == nfc.unk_token_id
    with pytest.raises(ValueError, match="Unknown normalization 'NFD'; expected 'NFC' or 'NFKC'"):
        build_char_tokenizer(["abc"], normalization="NFD")


def test_special_token_ids_match_the_model_defaults():
    tokenizer = build_char_tokenizer(string.ascii_letters)
    assert (tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (
        0, 1, 2, 3)


@pytest.mark.parametrize("algorithm", ["bpe", "unigram"])
def test_subword_tokenizer_round_trips_accents_and_umlauts(algorithm):
    tokenizer = train_subword_tokenizer(SENTENCES * 20, vocab_size=300, algorithm=algorithm)
    assert len(tokenizer) <= 300
    for sentence in SENTENCES + ["Größere Übel, ähnliche Öfen", "àéîõü ÀÉÎÕÜ ß"]:
        assert tokenizer.decode(tokenizer(sentence)["input_ids"], skip_special_tokens=True) == sentence


def test_subword_tokenizer_never_crashes_on_unknown_characters():
    tokenizer = train_subword_tokenizer(SENTENCES, vocab_size=200)
    ids = tokenizer("日本 🚀 Mann")["input_ids"]
    assert tokenizer.unk_token_id in ids and ids[-1] == tokenizer.eos_token_id


@pytest.mark.parametrize("kind", ["char", "subword"])
def test_tokenizers_survive_save_and_auto_tokenizer(tmp_path, kind):
    if kind == "char":
        tokenizer = build_char_tokenizer(SENTENCES)
    else:
        tokenizer = train_subword_tokenizer(SENTENCES * 10, vocab_size=250)
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded.model_max_length == tokenizer.model_max_length
    assert loaded.get_vocab() == tokenizer.get_vocab()
    for sentence in SENTENCES:
        assert loaded(sentence)["input_ids"] == tokenizer(sentence)["input_ids"]
        assert loaded.decode(loaded(sentence)["input_ids"], skip_special_tokens=True) == sentence


def test_text_target_works_with_the_seq2seq_collator():
    tokenizer = build_char_tokenizer(["september 27, 1994", "1994-09-27"])
    features = [tokenizer(s, text_target=t) for s, t in [("september 27, 1994", "1994-09-27"), ("9/27/94", "1994")]]
    batch = DataCollatorForSeq2Seq(tokenizer, padding=True)(features)
    assert batch["input_ids"].shape == (2, 19) and batch["labels"].shape == (2, 11)
    assert batch["labels"][1, -1] == -100 and batch["input_ids"][1, -1] == tokenizer.pad_token_id
    assert tokenizer.decode(batch["labels"][0], skip_special_tokens=True) == "1994-09-27"


def test_bad_tokenizer_arguments_are_rejected():
    with pytest.raises(ValueError, match="Unknown algorithm 'wordpiece'"):
        train_subword_tokenizer(SENTENCES, 100, algorithm="wordpiece")
    with pytest.raises(ValueError, match="vocab_size must be an integer above 4"):
        train_subword_tokenizer(SENTENCES, 3)
    with pytest.raises(ValueError, match="at least one non-empty text"):
        build_char_tokenizer([""])


@pytest.mark.parametrize("missing", ["tokenizer.json", "tokenizer_config.json"])
def test_a_folder_missing_a_tokenizer_file_gets_an_error_naming_it(tmp_path, missing):
    from hf_attn_seq2seq.data.tokenization import load_tokenizer

    build_char_tokenizer(["abc"]).save_pretrained(tmp_path)
    assert load_tokenizer(tmp_path).convert_tokens_to_ids("b") == build_char_tokenizer(["abc"]).convert_tokens_to_ids(
        "b")
    (tmp_path / missing).unlink()
    with pytest.raises(FileNotFoundError, match=rf"has no {missing}: the tokenizer saved with the model is "):
        load_tokenizer(tmp_path)
