"""Property tests over arbitrary Unicode: tokenizers and the pipeline never crash, and round-trip where they can."""

import pytest
from conftest import tiny_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transformers import pipeline

from hf_attn_seq2seq.data.tokenization import build_char_tokenizer, train_subword_tokenizer


TRAINING_TEXT = ["Zwei Männer über Größe, ein Café.", "september 27, 1994 -> 1994-09-27", "a+b=42; x_y (z)!"]
ALPHABET = sorted({character for text in TRAINING_TEXT for character in text})
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def char_tokenizer():
    return build_char_tokenizer(TRAINING_TEXT)


@pytest.fixture(scope="module")
def subword_tokenizer():
    return train_subword_tokenizer(TRAINING_TEXT * 5, vocab_size=120)


@PROPERTY_SETTINGS
@given(text=st.text())
def test_char_tokenizer_never_crashes_on_any_unicode(char_tokenizer, text):
    ids = char_tokenizer(text)["input_ids"]
    assert ids[-1] == char_tokenizer.eos_token_id
    assert all(0 <= i < len(char_tokenizer) for i in ids)
    char_tokenizer.decode(ids, skip_special_tokens=True)


@PROPERTY_SETTINGS
@given(text=st.text(alphabet=ALPHABET))
def test_char_tokenizer_round_trips_its_alphabet(char_tokenizer, text):
    assert char_tokenizer.decode(char_tokenizer(text)["input_ids"], skip_special_tokens=True) == text


@PROPERTY_SETTINGS
@given(text=st.text())
def test_subword_tokenizer_never_crashes_on_any_unicode(subword_tokenizer, text):
    ids = subword_tokenizer(text)["input_ids"]
    assert all(0 <= i < len(subword_tokenizer) for i in ids)
    subword_tokenizer.decode(ids, skip_special_tokens=True)


# Single spaces between words: the SentencePiece-style marker restores exactly that spacing.
WORDS = st.text(alphabet=[c for c in ALPHABET if c != " "], min_size=1, max_size=8)


@PROPERTY_SETTINGS
@given(words=st.lists(WORDS, min_size=1, max_size=6))
def test_subword_tokenizer_round_trips_single_spaced_text(subword_tokenizer, words):
    text = " ".join(words)
    assert subword_tokenizer.decode(subword_tokenizer(text)["input_ids"], skip_special_tokens=True) == text


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    tokenizer = build_char_tokenizer(TRAINING_TEXT)
    model = tiny_model(vocab_size=len(tokenizer))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return pipeline("seq2seq-generation", model=str(folder), max_new_tokens=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(min_size=1, max_size=40).filter(str.strip), min_size=1, max_size=4))
def test_pipeline_never_crashes_on_any_unicode(generator, texts):
    results = generator(texts, batch_size=2)
    assert len(results) == len(texts)
    assert all(isinstance(result["generated_text"], str) for result in results)
