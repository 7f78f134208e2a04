"""AttnSeq2Seq model configuration."""

import transformers
from packaging.version import Version


# The oldest transformers this code runs on (pyproject.toml's floor). Checked before importing names that older
# releases lack, so that a process with transformers 4.x gets this message rather than an ImportError from inside.
TRANSFORMERS_FLOOR = "5.5.0"
if Version(transformers.__version__) < Version(TRANSFORMERS_FLOOR):
    raise ImportError(
        f"This model's code needs transformers>={TRANSFORMERS_FLOOR}, and this process has transformers "
        f"{transformers.__version__}. Upgrade it: pip install --upgrade 'transformers>={TRANSFORMERS_FLOOR}'"
    )

from transformers import PreTrainedConfig  # noqa: E402 (after the version check)


ATTENTION_TYPES = ("dot", "general", "additive", "none")
BIDIRECTIONAL_MERGES = ("concat", "sum", "mean")
ATTENTION_LAYERS = ("top", "bottom")
# Every saved model exposes its pipeline as "translation" (removed from transformers 5) through remote code; the
# pipeline file travels with the model code.
CUSTOM_PIPELINES = {
    "translation": {
        "impl": "pipeline_attn_seq2seq.Seq2SeqGenerationPipeline",
        "pt": ["AutoModelForSeq2SeqLM"],
        "type": "text",
    }
}


def _choice(name: str, value, valid: tuple[str, ...]) -> None:
    if value not in valid:
        expected = ", ".join(repr(v) for v in valid)
        raise ValueError(f"Unknown {name} {value!r}; expected one of {expected}.")


def _positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def _flag(name: str, value) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}.")


class AttnSeq2SeqConfig(PreTrainedConfig):
    r"""
    Configuration of an LSTM encoder-decoder with attention ("seq2seq with attention").

    One config covers the whole family: plain seq2seq (`attention="none"`), peeky seq2seq (`peeky=True`), Luong
    attention (`"dot"`, `"general"`), Bahdanau attention (`"additive"`), input feeding, a bidirectional encoder, deep
    residual stacks and the GNMT layout (`attention_layer="bottom"`).

    Args:
        vocab_size (`int`): size of the joint source/target vocabulary.
        embedding_size (`int`): width of the token embeddings (encoder and decoder each have their own table).
        hidden_size (`int`): width of every LSTM state and of the encoder states `hs` the decoder attends to.
        encoder_layers, decoder_layers (`int`): depth of the LSTM stacks. When the counts are equal, decoder layer
            `i` starts from encoder layer `i`'s final state; otherwise every decoder layer starts from the top one.
        attention (`str`): how the decoder scores `hs` against its state `h`: `"dot"` (`hs · h`), `"general"`
            (`hs · W h`), `"additive"` (`v · tanh(W1 hs + W2 h)`) or `"none"` (no attention).
        peeky (`bool`): concatenate the encoder's final top-layer state to every decoder input and to the output
            layer's input.
        input_feeding (`bool`): feed step t's attentional vector `[c; h]` into the bottom decoder LSTM at step t+1.
            This makes training step through time, so it is off in the fast default layout.
        bidirectional (`bool`): the bottom encoder layer reads the source both ways (as in GNMT); upper layers are
            unidirectional. With `bidirectional_merge="concat"` each direction has `hidden_size // 2` units so the
            merged state keeps `hidden_size` (as OpenNMT's brnn); `"sum"` and `"mean"` use full-size directions.
        residual (`bool`): add each LSTM layer's input to its output from the second layer up (needs 2+ layers).
        attention_layer (`str`): `"top"` scores with the top decoder layer (Luong); `"bottom"` scores with the
            bottom layer and feeds the context to every upper layer and to the output (GNMT).
        dropout (`float`): dropout on embeddings, between LSTM layers and before the output layer.
        word_dropout (`float`): while training, the probability that a whole source or target token's embedding is
            zeroed (Gal and Ghahramani, 2016), so that no single word is relied on; 0 turns it off.
        tie_word_embeddings (`bool`): share the decoder embedding with the output layer.
        output_projection (`bool`, *optional*): project the output features to `embedding_size` (no bias) before the
            output layer, which then has the shape of the decoder embedding. Defaults to `tie_word_embeddings`, which
            needs it unless the features are `embedding_size` wide. Kept apart from the tying, so that untying (as
            PEFT does after merging an adapter into a tied output layer) leaves the architecture as it was.
        init_range (`float`): embeddings and linear weights start uniform in `±init_range`.
        max_source_length (`int`): longest source, in tokens, that the model accepts.
        max_generation_tokens (`int`): the most tokens one `generate` call may produce per sequence; a larger
            `max_new_tokens` (or `max_length`) is refused unless the call passes `allow_long_generation=True`, so that
            a model that never ends cannot fill the memory.
        reverse_source (`bool`): the encoder reads each source from its last token to its first (Sutskever et al.
            2014), so the first source tokens are the last it reads before the decoder starts. Inputs stay in reading
            order everywhere outside the encoder's LSTMs: tokenizer, `generate`, pipeline, and the encoder states and
            attention weights, which are indexed by source position.
    """

    model_type = "attn_seq2seq"
    keys_to_ignore_at_inference = ["past_key_values"]
    attribute_map = {"num_hidden_layers": "encoder_layers"}

    vocab_size: int = 64
    embedding_size: int = 64
    hidden_size: int = 256
    encoder_layers: int = 1
    decoder_layers: int = 1
    attention: str = "dot"
    peeky: bool = False
    input_feeding: bool = False
    bidirectional: bool = False
    bidirectional_merge: str = "concat"
    residual: bool = False
    attention_layer: str = "top"
    dropout: float = 0.0
    word_dropout: float = 0.0
    init_range: float = 0.1
    max_source_length: int = 512
    max_generation_tokens: int = 1024
    reverse_source: bool = False
    use_cache: bool = True
    tie_word_embeddings: bool = False
    output_projection: bool | None = None
    is_encoder_decoder: bool = True
    pad_token_id: int | None = 0
    bos_token_id: int | None = 1
    eos_token_id: int | None = 2
    decoder_start_token_id: int | None = 1

    @classmethod
    def get_config_dict(cls, *args, **kwargs):
        config_dict, kwargs = super().get_config_dict(*args, **kwargs)
        model_type = config_dict.get("model_type")
        if model_type is not None and model_type != cls.model_type:
            # transformers only warns here and would build a random model from defaults
            raise ValueError(
                f"The config is for model type {model_type!r}, not {cls.model_type!r}: this folder holds another "
                "model. Load it with its own class (AutoModelForSeq2SeqLM picks it)."
            )
        return config_dict, kwargs

    def __post_init__(self, **kwargs):
        if self.output_projection is None:  # folders saved before the option existed: the tied layout had it
            self.output_projection = self.tie_word_embeddings
        self.validate_options()
        super().__post_init__(**kwargs)
        if not getattr(self, "custom_pipelines", None):
            self.custom_pipelines = CUSTOM_PIPELINES

    def validate_options(self) -> None:  # long: one check per option, in the order the options are documented
        """Raise `ValueError` naming the option for every bad value or impossible combination."""
        for name in ("vocab_size", "embedding_size", "hidden_size", "encoder_layers", "decoder_layers",
                     "max_source_length", "max_generation_tokens"):
            _positive_int(name, getattr(self, name))
        for name in ("peeky", "input_feeding", "bidirectional", "residual", "tie_word_embeddings", "output_projection",
                     "use_cache", "is_encoder_decoder", "reverse_source"):
            _flag(name, getattr(self, name))
        _choice("attention", self.attention, ATTENTION_TYPES)
        _choice("bidirectional_merge", self.bidirectional_merge, BIDIRECTIONAL_MERGES)
        _choice("attention_layer", self.attention_layer, ATTENTION_LAYERS)
        for name in ("dropout", "word_dropout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(f"{name} must be a number in [0, 1), got {value!r}.")
        if isinstance(self.init_range, bool) or not isinstance(self.init_range, (int, float)) or self.init_range <= 0:
            raise ValueError(f"init_range must be a positive number, got {self.init_range!r}.")
        features, embedding = self.decoder_feature_size, self.embedding_size
        if self.tie_word_embeddings and not self.output_projection and features != embedding:
            raise ValueError(
                "tie_word_embeddings=True with output_projection=False needs output features as wide as the "
                f"embedding ({features} != embedding_size={embedding}); set output_projection=True."
            )
        if not self.is_encoder_decoder:
            raise ValueError("is_encoder_decoder must be True: AttnSeq2Seq is an encoder-decoder.")
        if self.attention == "none" and self.input_feeding:
            raise ValueError(
                "input_feeding=True needs attention; with attention='none' there is no attentional vector to feed. "
                "Choose attention from 'dot', 'general', 'additive' or set input_feeding=False."
            )
        if self.attention == "none" and self.attention_layer != "top":
            raise ValueError(
                f"attention_layer={self.attention_layer!r} needs attention; with attention='none' only "
                "attention_layer='top' is valid."
            )
        if self.residual and max(self.encoder_layers, self.decoder_layers) < 2:
            raise ValueError(
                "residual=True needs at least 2 layers in encoder_layers or decoder_layers; "
                f"got encoder_layers={self.encoder_layers}, decoder_layers={self.decoder_layers}."
            )
        if self.bidirectional and self.bidirectional_merge == "concat" and self.hidden_size % 2:
            raise ValueError(
                "bidirectional_merge='concat' splits hidden_size between the two directions, so hidden_size must be "
                f"even; got hidden_size={self.hidden_size}."
            )
        special = {
            "pad_token_id": self.pad_token_id,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
            "decoder_start_token_id": self.decoder_start_token_id,
        }
        for name, value in special.items():
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < self.vocab_size:
                raise ValueError(f"{name} must be a token id in [0, vocab_size={self.vocab_size}), got {value!r}.")
        if self.decoder_start_token_id is None:
            raise ValueError("decoder_start_token_id must be set: generation starts every target with it.")

    @property
    def decoder_feature_size(self) -> int:
        """Width of the features `[c; h]` (plus the peeky state) that reach the output layer."""
        size = self.hidden_size
        if self.attention != "none":
            size += self.hidden_size
        if self.peeky:
            size += self.hidden_size
        return size


# what a member's saved config holds that is about its folder, not its architecture
_FOLDER_KEYS = ("auto_map", "architectures", "custom_pipelines", "transformers_version", "_name_or_path")
# settings every member of an ensemble must share: the tokenizer's ids and how generation starts and ends
_SHARED_MEMBER_SETTINGS = ("vocab_size", "pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id")


class AttnSeq2SeqEnsembleConfig(PreTrainedConfig):
    r"""
    Configuration of an ensemble of AttnSeq2Seq models that decode together (log-probabilities averaged per step).

    Args:
        members (`list[dict]`): each member's `AttnSeq2SeqConfig` as a dict. The members must agree on
            `vocab_size` and the special token ids (they share one tokenizer); the ensemble takes those settings, and
            the smallest `max_source_length` and `max_generation_tokens` of its members.
    """

    model_type = "attn_seq2seq_ensemble"
    keys_to_ignore_at_inference = ["past_key_values"]

    members: list | None = None
    vocab_size: int = 64
    max_source_length: int = 512
    max_generation_tokens: int = 1024
    use_cache: bool = True
    tie_word_embeddings: bool = False
    is_encoder_decoder: bool = True
    pad_token_id: int | None = 0
    bos_token_id: int | None = 1
    eos_token_id: int | None = 2
    decoder_start_token_id: int | None = 1

    def __post_init__(self, **kwargs):
        if self.members is None:  # the defaults alone, as transformers builds them to compare settings against
            super().__post_init__(**kwargs)
            return
        if not isinstance(self.members, list) or not self.members or \
                not all(isinstance(member, dict) for member in self.members):
            raise ValueError("members must be a non-empty list of member configs (dicts); got "
                             f"{self.members!r:.80}.")
        self.members = [{key: value for key, value in member.items() if key not in _FOLDER_KEYS}
                        for member in self.members]
        configs = self.member_configs()
        for name in _SHARED_MEMBER_SETTINGS:
            values = [getattr(config, name) for config in configs]
            if any(value != values[0] for value in values):
                raise ValueError(f"The members of an ensemble must share {name} (they share one tokenizer); got "
                                 f"{values}.")
            setattr(self, name, values[0])
        self.max_source_length = min(config.max_source_length for config in configs)
        self.max_generation_tokens = min(config.max_generation_tokens for config in configs)
        self.tie_word_embeddings = False  # each member ties its own layers
        self.is_encoder_decoder = True
        super().__post_init__(**kwargs)
        if not getattr(self, "custom_pipelines", None):
            self.custom_pipelines = CUSTOM_PIPELINES

    def member_configs(self) -> list[AttnSeq2SeqConfig]:
        """The members' configs, each checked as `AttnSeq2SeqConfig` checks its options."""
        if not self.members:
            raise ValueError("This ensemble config lists no members; build one with members=[config dicts].")
        configs = []
        for index, member in enumerate(self.members):
            try:
                configs.append(AttnSeq2SeqConfig.from_dict(member))
            except (TypeError, ValueError) as error:
                raise ValueError(f"Member {index} of the ensemble: {error}") from None
        return configs


__all__ = ["AttnSeq2SeqConfig", "AttnSeq2SeqEnsembleConfig"]
