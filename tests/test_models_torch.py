"""The torch base shared by the image and text models."""

import pytest
import torch

from kgenrich.errors import ModelError
from kgenrich.models.image import ImageModel
from kgenrich.models.text import TextModel
from kgenrich.models.torch_base import TorchModel, resolve_device


def test_image_and_text_share_the_torch_defaults_with_their_own_values():
    for model in (ImageModel, TextModel):
        assert issubclass(model, TorchModel) and model.reads_labels is False
        assert set(TorchModel.DEFAULT_PARAMS) <= set(model.DEFAULT_PARAMS)
    # the values each model had before the base existed: changing one changes trained models
    common = {"batch_size": 32, "lr": 1e-3, "focal_gamma": 2.0, "weight_decay": 1e-4, "device": None, "threads": None}
    assert ImageModel.DEFAULT_PARAMS.items() >= {**common, "epochs": 10, "hidden": 0, "dropout": 0.2}.items()
    assert TextModel.DEFAULT_PARAMS.items() >= {**common, "epochs": 5, "hidden": 256, "dropout": 0.1}.items()


def test_device_resolution():
    assert resolve_device(None) == resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("CPU") == "cpu"
    with pytest.raises(ModelError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="no CUDA device"):
            resolve_device("cuda")
    # the model's own parameter wins over the settings' device
    assert ImageModel({"t": ["a", "b"]}, {"device": "cpu"}).device == "cpu"
