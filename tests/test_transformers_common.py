"""transformers' own common model tests (`ModelTesterMixin`, from the transformers source distribution), wired to the
model as an in-tree model test is.

The source distribution is not a dependency: `make test-transformers-common` downloads the one of the installed
transformers release into `.transformers-tests/` and runs this file; elsewhere it skips. That distribution ships
`tests/test_modeling_common.py` but not the generation and exporter test modules it imports
(`GenerationTesterMixin`, `ExportTesterMixin`): those are replaced by empty mixins here, and what they cover is
tested by this package's own tests (generation in `test_modeling.py`, `test_beam_search.py`,
`test_transformers_api.py`; exporters in `test_transformers_exporters.py` and `test_export.py`).

Each test the mixin has that does not apply is skipped below with its reason.
"""

import importlib.util
import os
import sys
import types
import unittest
from pathlib import Path
from unittest import mock

import pytest
import transformers
from transformers.models.auto import modeling_auto


TESTS_DIR = Path(os.environ.get("TRANSFORMERS_TESTS_DIR")
                 or Path(__file__).resolve().parents[1] / ".transformers-tests" / transformers.__version__ / "tests")
if not (TESTS_DIR / "test_modeling_common.py").is_file():
    if os.environ.get("TRANSFORMERS_TESTS_DIR"):  # asked for by name (`make test-transformers-common`): no skip
        raise FileNotFoundError(f"TRANSFORMERS_TESTS_DIR={TESTS_DIR} holds no test_modeling_common.py")
    pytest.skip(f"transformers' common tests are not at {TESTS_DIR}: `make test-transformers-common` downloads them",
                allow_module_level=True)
pytest.importorskip("parameterized", reason="transformers' common tests need parameterized")

PACKAGE = "transformers_common_tests"


def _load_common_tests() -> types.ModuleType:
    """transformers' tests folder as a package of its own name (this project's tests folder is `tests` too), with
    empty stand-ins for the modules the source distribution leaves out."""
    package = types.ModuleType(PACKAGE)
    package.__path__ = [str(TESTS_DIR)]
    sys.modules[PACKAGE] = package
    stand_ins = {
        "generation.test_utils": {"GenerationTesterMixin": type("GenerationTesterMixin", (), {})},
        "exporters.test_export": {"ExportTesterMixin": type("ExportTesterMixin", (), {})},
    }
    for name, members in stand_ins.items():
        if (TESTS_DIR / (name.replace(".", "/") + ".py")).is_file():
            continue
        parent = f"{PACKAGE}.{name.split('.')[0]}"
        sys.modules.setdefault(parent, types.ModuleType(parent)).__path__ = []
        module = types.ModuleType(f"{PACKAGE}.{name}")
        module.__dict__.update(members)
        sys.modules[module.__name__] = module
    spec = importlib.util.spec_from_file_location(f"{PACKAGE}.test_modeling_common",
                                                  TESTS_DIR / "test_modeling_common.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


common = _load_common_tests()

import torch  # noqa: E402

from hf_attn_seq2seq import (  # noqa: E402
    AttnSeq2SeqConfig,
    AttnSeq2SeqForConditionalGeneration,
    AttnSeq2SeqModel,
)


class AttnSeq2SeqModelTester:
    def __init__(self, parent, batch_size=3, seq_length=7, decoder_seq_length=7, vocab_size=29, hidden_size=16,
                 num_hidden_layers=2, is_training=True):
        self.parent = parent
        self.batch_size = batch_size
        self.seq_length = self.encoder_seq_length = seq_length
        self.decoder_seq_length = decoder_seq_length  # the mixin's labels have the source's length
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = 1
        self.is_training = is_training

    def get_config(self) -> AttnSeq2SeqConfig:
        # embeddings as wide as the LSTMs: the mixin reads every hidden state as (batch, length, hidden_size)
        size = self.hidden_size
        return AttnSeq2SeqConfig(vocab_size=self.vocab_size, embedding_size=size, hidden_size=size,
                                 encoder_layers=self.num_hidden_layers, decoder_layers=self.num_hidden_layers,
                                 attention="general", input_feeding=True, bidirectional=True, residual=True)

    def prepare_config_and_inputs_for_common(self):
        config = self.get_config()
        generator = torch.Generator().manual_seed(0)
        input_ids = torch.randint(3, self.vocab_size, (self.batch_size, self.seq_length), generator=generator)
        decoder_input_ids = torch.randint(3, self.vocab_size, (self.batch_size, self.decoder_seq_length),
                                          generator=generator)
        attention_mask = torch.ones_like(input_ids)
        attention_mask[0, -2:] = 0  # one padded row
        input_ids[0, -2:] = config.pad_token_id
        return config, {"input_ids": input_ids, "attention_mask": attention_mask,
                        "decoder_input_ids": decoder_input_ids}


class AttnSeq2SeqModelTest(common.ModelTesterMixin, unittest.TestCase):
    all_model_classes = (AttnSeq2SeqModel, AttnSeq2SeqForConditionalGeneration)
    is_encoder_decoder = True
    # The mixin's attention tests read per-layer multi-head self-attention maps, (batch, heads, query, key) for every
    # layer; this model has one attention, the decoder's over the source, returned as `cross_attentions` and tested
    # in test_attention_alignment.py and test_transformers_api.py.
    has_attentions = False

    def setUp(self):
        self.model_tester = AttnSeq2SeqModelTester(self)
        # As an in-tree model is: the bare model among transformers' base models (which the mixin does not train on
        # a loss), the head among its sequence-to-sequence models. Only for the test, and undone after it.
        names = [(modeling_auto.MODEL_MAPPING_NAMES, "AttnSeq2SeqModel"),
                 (modeling_auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES, "AttnSeq2SeqForConditionalGeneration")]
        for mapping, name in names:
            patcher = mock.patch.dict(mapping, {"attn_seq2seq": name})
            patcher.start()
            self.addCleanup(patcher.stop)

    @unittest.skip("transformers' source distribution does not ship GenerationTesterMixin (tests/generation); "
                   "generation is tested by this package's own tests")
    def test_generation_tester_mixin_inheritance(self):
        pass

    def test_inputs_embeds_matches_input_ids(self):
        """The mixin embeds the decoder inputs with `get_input_embeddings()`; this model has a table per side (as
        FSMT), so each side's ids are embedded with its own table."""
        config, inputs = self.model_tester.prepare_config_and_inputs_for_common()
        for model_class in self.all_model_classes:
            model = model_class(config).eval()
            encoder_table, decoder_table = model.get_encoder().embed_tokens, model.get_decoder().embed_tokens
            with torch.no_grad():
                from_ids = model(**inputs)[0]
                from_embeddings = model(inputs_embeds=encoder_table(inputs["input_ids"]),
                                        decoder_inputs_embeds=decoder_table(inputs["decoder_input_ids"]),
                                        attention_mask=inputs["attention_mask"])[0]
            torch.testing.assert_close(from_embeddings, from_ids)
