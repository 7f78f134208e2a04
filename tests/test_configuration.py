import pytest
from conftest import tiny_config

from hf_attn_seq2seq import AttnSeq2SeqConfig


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(attention="luong"), "Unknown attention 'luong'; expected one of 'dot', 'general', 'additive', 'none'"),
        (dict(bidirectional_merge="max"), "Unknown bidirectional_merge 'max'; expected one of 'concat', 'sum'"),
        (dict(attention_layer="middle"), "Unknown attention_layer 'middle'; expected one of 'top', 'bottom'"),
        (dict(hidden_size=0), "hidden_size must be a positive integer, got 0"),
        (dict(embedding_size=-3), "embedding_size must be a positive integer, got -3"),
        (dict(vocab_size=2.5), "vocab_size must be a positive integer, got 2.5"),
        (dict(encoder_layers=0), "encoder_layers must be a positive integer, got 0"),
        (dict(decoder_layers=True), "decoder_layers must be a positive integer, got True"),
        (dict(max_source_length=0), "max_source_length must be a positive integer"),
        (dict(dropout=1.0), "dropout must be a number in [0, 1), got 1.0"),
        (dict(dropout=-0.1), "dropout must be a number in [0, 1)"),
        (dict(word_dropout=1.0), "word_dropout must be a number in [0, 1), got 1.0"),
        (dict(word_dropout=True), "word_dropout must be a number in [0, 1), got True"),
        (dict(init_range=0), "init_range must be a positive number"),
        (dict(peeky="yes"), "peeky must be True or False, got 'yes'"),
        (dict(bidirectional=1), "bidirectional must be True or False"),
        (dict(is_encoder_decoder=False), "is_encoder_decoder must be True"),
        (dict(attention="none", input_feeding=True), "input_feeding=True needs attention"),
        (dict(attention="none", attention_layer="bottom"), "attention_layer='bottom' needs attention"),
        (dict(residual=True), "residual=True needs at least 2 layers"),
        (dict(bidirectional=True, hidden_size=7), "hidden_size must be even"),
        (dict(pad_token_id=23), "pad_token_id must be a token id in [0, vocab_size=23)"),
        (dict(eos_token_id=-1), "eos_token_id must be a token id"),
        (dict(decoder_start_token_id=None), "decoder_start_token_id must be set"),
    ],
)
def test_bad_value_or_combination_raises_a_clear_error(overrides, message):
    with pytest.raises(ValueError) as error:
        tiny_config(**overrides)
    assert message in str(error.value)


def test_valid_combinations_are_accepted():
    config = tiny_config(bidirectional=True, bidirectional_merge="sum", hidden_size=7, encoder_layers=2,
                         residual=True, attention="additive", attention_layer="bottom", input_feeding=True)
    assert config.decoder_feature_size == 14


def test_config_round_trips_through_json(tmp_path):
    config = tiny_config(attention="general", peeky=True, dropout=0.25)
    config.save_pretrained(tmp_path)
    loaded = AttnSeq2SeqConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict()


def test_edited_config_file_with_a_bad_value_fails_on_load(tmp_path):
    import json

    tiny_config().save_pretrained(tmp_path)
    path = tmp_path / "config.json"
    values = json.loads(path.read_text())
    values["attention"] = "cosine"
    path.write_text(json.dumps(values))
    with pytest.raises(ValueError, match="Unknown attention 'cosine'"):
        AttnSeq2SeqConfig.from_pretrained(tmp_path)
