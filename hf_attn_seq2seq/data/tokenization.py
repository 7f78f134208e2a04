"""Tokenizers built with the `tokenizers` library and returned as transformers fast tokenizers.

Both kinds share the special tokens and ids the model config expects by default: `<pad>`=0, `<s>`=1, `</s>`=2,
`<unk>`=3. Encoding appends `</s>` (to sources and, through `text_target`, to labels); decoding restores the text.
"""

import json
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast


PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL_TOKENS = [PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN]
SUBWORD_ALGORITHMS = ("bpe", "unigram")
# Latin-1 letters are always in the subword alphabet, so accents and umlauts rare in training text still round-trip.
LATIN_ALPHABET = [chr(code) for code in range(0xC0, 0x100) if chr(code).isalpha()]


def _finish(tokenizer: Tokenizer, model_max_length: int) -> PreTrainedTokenizerFast:
    eos_id = tokenizer.token_to_id(EOS_TOKEN)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"$A {EOS_TOKEN}", pair=f"$A {EOS_TOKEN} $B {EOS_TOKEN}", special_tokens=[(EOS_TOKEN, eos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD_TOKEN,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        unk_token=UNK_TOKEN,
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,  # spaces are part of the text (dates, character tasks)
    )


UNICODE_NORMALIZERS = {"NFC": normalizers.NFC, "NFKC": normalizers.NFKC}


def build_char_tokenizer(texts: Iterable[str], model_max_length: int = 128,
                         normalization: str = "NFC") -> PreTrainedTokenizerFast:
    """A character-level tokenizer over the characters of `texts` (for the toy tasks).

    Characters not seen in `texts` encode as `<unk>`. Text is first brought to Unicode `normalization` form: NFC
    (an accent typed as a combining mark is the accented letter) or NFKC (also full-width digits and punctuation,
    as Japanese and Chinese input methods type them, are the ASCII ones).
    """
    if normalization not in UNICODE_NORMALIZERS:
        raise ValueError(f"Unknown normalization {normalization!r}; expected 'NFC' or 'NFKC'.")
    characters = sorted({character for text in texts for character in unicodedata.normalize(normalization, text)})
    if not characters:
        raise ValueError("build_char_tokenizer needs at least one non-empty text to take its characters from.")
    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS + characters)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token=UNK_TOKEN))
    tokenizer.normalizer = UNICODE_NORMALIZERS[normalization]()
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")  # one token per character
    tokenizer.decoder = decoders.Fuse()  # join characters back without separators
    return _finish(tokenizer, model_max_length)


def train_subword_tokenizer(
    texts: Iterable[str], vocab_size: int, algorithm: str = "bpe", model_max_length: int = 256
) -> PreTrainedTokenizerFast:
    """A subword tokenizer (BPE or unigram) trained on `texts`; pass source and target text for a joint vocabulary.

    Words are split at spaces with the SentencePiece marker `▁`, so decoding restores single-spaced text exactly.
    """
    if algorithm not in SUBWORD_ALGORITHMS:
        raise ValueError(f"Unknown algorithm {algorithm!r}; expected one of 'bpe', 'unigram'.")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must be an integer above {len(SPECIAL_TOKENS)}, got {vocab_size!r}.")
    if algorithm == "bpe":
        tokenizer = Tokenizer(models.BPE(unk_token=UNK_TOKEN))
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, initial_alphabet=LATIN_ALPHABET, show_progress=False
        )
    else:
        tokenizer = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(
            vocab_size=vocab_size,
            special_tokens=SPECIAL_TOKENS,
            unk_token=UNK_TOKEN,
            initial_alphabet=LATIN_ALPHABET,
            show_progress=False,
        )
    tokenizer.normalizer = normalizers.NFC()  # decomposed accents (NFD text) read as the composed letters
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return _finish(tokenizer, model_max_length)


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def load_tokenizer(name_or_path: str | Path, **kwargs):
    """`AutoTokenizer.from_pretrained`, with a clear error naming the file when a local folder lacks one of the files
    this package's tokenizers are saved as (transformers would instead try converters for other tokenizer kinds and
    talk about sentencepiece and tiktoken)."""
    from transformers import AutoTokenizer

    folder = Path(name_or_path)
    if folder.is_dir():
        missing = [name for name in TOKENIZER_FILES if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{folder} has no {' and no '.join(missing)}: the tokenizer saved with the model is incomplete. Copy "
                "the file(s) from the folder the model was trained into, or save the tokenizer again "
                "(tokenizer.save_pretrained(folder))."
            )
        for name in TOKENIZER_FILES:
            try:
                json.loads((folder / name).read_text(encoding="utf-8"))
            except (UnicodeDecodeError, ValueError) as error:
                raise ValueError(f"{folder / name} is corrupt: it cannot be read as JSON ({error}). Copy it again "
                                 "from the folder the model was trained into, or save the tokenizer again.") from None
    return AutoTokenizer.from_pretrained(name_or_path, **kwargs)


def check_tokenizer_matches_model(tokenizer, config) -> None:
    """Raise `ValueError` when the tokenizer's vocabulary or special ids do not fit the model config."""
    if len(tokenizer) > config.vocab_size:
        raise ValueError(
            f"The tokenizer has {len(tokenizer)} tokens but the model's vocab_size is {config.vocab_size}: ids above "
            f"{config.vocab_size - 1} have no embedding. Use the tokenizer the model was trained with."
        )
    for name in ("pad_token_id", "eos_token_id"):
        tokenizer_id, model_id = getattr(tokenizer, name), getattr(config, name)
        if tokenizer_id is not None and model_id is not None and tokenizer_id != model_id:
            raise ValueError(f"tokenizer.{name}={tokenizer_id} but config.{name}={model_id}: the tokenizer does not "
                             "match the model.")


__all__ = ["build_char_tokenizer", "check_tokenizer_matches_model", "load_tokenizer", "train_subword_tokenizer"]
