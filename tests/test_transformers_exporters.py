"""transformers' own exporter (`transformers.exporters`, 5.24 and later): the model decomposes into its prefill and
decode steps, each exports through torch.export and ONNX, and a greedy loop over the exported steps writes what
`generate` writes."""

import copy

import pytest
import torch
from conftest import random_batch, tiny_model


exporters = pytest.importorskip("transformers.exporters", reason="transformers.exporters is new in transformers 5.24")
# the exporters say they are experimental, and warn of the torch version they were validated with
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning", "ignore::DeprecationWarning")

LAYOUTS = {
    "luong-general": dict(attention="general"),
    "gnmt-feeding-bi": dict(attention="additive", attention_layer="bottom", input_feeding=True, bidirectional=True,
                            encoder_layers=2, decoder_layers=2),
}


def export_config(backend: str):
    if backend == "onnx":
        pytest.importorskip("onnxscript", reason="the ONNX exporter needs the onnx extra")
        pytest.importorskip("onnxruntime", reason="the ONNX exporter needs the onnx extra")
        return exporters.OnnxConfig()
    return exporters.DynamoConfig()


def greedy_with_exported_steps(exported, model, input_ids, attention_mask, max_new_tokens: int) -> torch.Tensor:
    """The encoder runs in PyTorch (transformers' decomposition starts at the decoder); every decoder step runs the
    exported programs: `prefill` for the first token, `decode` for the others."""
    with torch.no_grad():
        encoder_outputs = model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask)
    tokens = torch.full((input_ids.shape[0], 1), model.config.decoder_start_token_id)
    output = exported.runners["prefill"](attention_mask=attention_mask, decoder_input_ids=tokens,
                                         encoder_outputs=copy.deepcopy(encoder_outputs), is_first_iteration=True)
    for _ in range(max_new_tokens):
        tokens = torch.cat([tokens, output.logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        output = exported.runners["decode"](attention_mask=attention_mask, decoder_input_ids=tokens[:, -1:],
                                            encoder_outputs=copy.deepcopy(encoder_outputs),
                                            past_key_values=output.cache)
    return tokens


@pytest.mark.parametrize("backend", ["dynamo", "onnx"])
@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_transformers_exporter_decomposes_exports_and_generates_what_generate_does(backend, layout):
    config = export_config(backend)
    model = tiny_model(**layout)
    input_ids, attention_mask = random_batch([6, 3, 5], seed=4)
    exported = exporters.AutoHfExporter.from_config(config).export_for_generation(
        model, {"input_ids": input_ids, "attention_mask": attention_mask}, config)
    assert set(exported.runners) == {"prefill", "decode"}  # the text encoder is not taken for an image encoder
    expected = model.generate(input_ids, attention_mask=attention_mask, max_new_tokens=6, min_new_tokens=6,
                              do_sample=False, num_beams=1)
    assert torch.equal(greedy_with_exported_steps(exported, model, input_ids, attention_mask, 6), expected)


def test_get_encoder_answers_transformers_modality_lookup_as_transformers_does():
    model = tiny_model()
    assert model.get_encoder() is model.model.encoder and model.model.get_encoder() is model.model.encoder
    for modality in ("image", "audio"):
        assert model.get_encoder(modality=modality) is model  # "no such encoder", in transformers' convention
    with pytest.raises(ValueError, match="modality"):
        model.get_encoder(modality="smell")
