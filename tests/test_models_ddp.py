"""DDP inside the torch models: two gloo processes fine-tune the image and the text model together.

After a data-parallel fit every rank must hold the same weights (DDP averages the gradients, so
the ranks can only differ if a parameter missed the reduction), and a prediction sharded over
the ranks must give every rank all the rows -- the same as one process predicting alone.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from servers import free_port

pytestmark = pytest.mark.slow
TESTS = str(Path(__file__).resolve().parent)


def worker(rank: int, world: int, port: int, out: str, images: str) -> None:
    sys.path.insert(0, TESTS)
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    from test_models_data import groups_of, make_labels, make_records

    from kgenrich.models import distributed
    from kgenrich.models.image import ImageModel
    from kgenrich.models.text import TextModel

    distributed.setup()
    groups = groups_of(make_labels())
    records = make_records(40, seed=0, image_dir=Path(images))
    models = {
        "image": ImageModel(groups, {"backbone": "resnet18", "weights": "none", "size": 32, "epochs": 2,
                                     "batch_size": 8, "device": "cpu", "num_workers": 0}),
        "text": TextModel(groups, {"model": "xlmr", "model_id": None, "epochs": 2, "batch_size": 8, "max_length": 24, "vocab_size": 120,
                                   "xlmr_layers": 1, "xlmr_hidden": 16, "xlmr_heads": 2, "hidden": 0,
                                   "device": "cpu"}),
    }
    result = {}
    with distributed.collective():
        for name, model in models.items():
            model.fit(records)
            result[name] = {"weights": {k: v.detach().clone() for k, v in model.net.state_dict().items()},
                            "sharded": model.predict(records)}
    # the same trained model predicted by this process alone
    for name, model in models.items():
        result[name]["alone"] = model.predict(records)
    with open(f"{out}/rank{rank}.pkl", "wb") as fh:
        pickle.dump(result, fh)
    distributed.teardown()


def test_two_processes_train_one_model_and_share_predictions(tmp_path):
    (tmp_path / "img").mkdir()
    sys.path.insert(0, TESTS)
    from test_models_data import make_records

    make_records(40, seed=0, image_dir=tmp_path / "img")  # the photographs, once, before the workers read them
    torch.multiprocessing.spawn(worker, args=(2, free_port(), str(tmp_path), str(tmp_path / "img")), nprocs=2,
                                join=True)
    ranks = [pickle.loads((tmp_path / f"rank{r}.pkl").read_bytes()) for r in range(2)]
    for name in ("image", "text"):
        a, b = ranks[0][name], ranks[1][name]
        assert a["weights"].keys() == b["weights"].keys()
        for key in a["weights"]:
            if a["weights"][key].is_floating_point() and "running_" not in key:
                assert torch.allclose(a["weights"][key], b["weights"][key], atol=1e-6), (name, key)
        for task in a["sharded"]:
            assert a["sharded"][task].shape == (40, len(a["sharded"][task][0]))
            assert np.allclose(a["sharded"][task], b["sharded"][task], atol=1e-6, equal_nan=True), (name, task)
            assert np.allclose(a["sharded"][task], a["alone"][task], atol=1e-5, equal_nan=True), (name, task)
