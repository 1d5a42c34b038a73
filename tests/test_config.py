"""The settings schema: typos and wrong types are errors that say what was meant."""

from __future__ import annotations

import pytest

from kgenrich.config import load_settings
from kgenrich.errors import ConfigError


@pytest.mark.parametrize("toml, message", [
    ('timeout = "soon"\n', "'timeout' must be a number > 0, not 'soon'"),
    ("timeout = 0\n", "'timeout' must be a number > 0"),
    ("store = 5\n", "'store' must be a non-empty string, not 5"),
    ("retries = 2.5\n", "'retries' must be a whole number"),
    ("page_size = 0\n", "'page_size' must be a whole number >= 1"),
    ('device = "gpu"\n', "'device' must be auto, cpu, cuda or cuda:N"),
    ('fetch_images = "maybe"\n', "'fetch_images' must be true or false"),
    ('literal_features = ["not an iri"]\n', "'literal_features' must be a list of an absolute IRI"),
    ('predictions_graph = "relative/graph"\n', "'predictions_graph' must be an absolute IRI"),
    ("[sync]\nmin_confidance = 0.99\n", "unknown key 'min_confidance' in [sync] (did you mean 'min_confidence'?)"),
    ("[sync]\nmin_confidence = 2\n", "'sync.min_confidence' must be a number in [0, 1]"),
    ("[sync]\nmin_confidence = {material = -1}\n", "task 'material'"),
    ('[sync]\nvalidation_engine = "fast"\n', "one of auto, shacl, sparql"),
    ("[models]\nfold = 3\n", "unknown key 'fold' in [models] (did you mean 'folds'?)"),
    ("[modles]\nfolds = 3\n", "unknown section 'modles' (did you mean 'models'?)"),
    ("page_sise = 10\n", "unknown key 'page_sise' (did you mean 'page_size'?)"),
    ("sync = 3\n", "'sync' must be a table"),
])
def test_bad_settings_are_refused_with_the_key_named(tmp_path, toml, message):
    (tmp_path / "kgenrich.toml").write_text(toml)
    with pytest.raises(ConfigError) as info:
        load_settings(environ={}, cwd=tmp_path)
    assert message in str(info.value)
    assert str(tmp_path / "kgenrich.toml") in str(info.value)


def test_good_settings_are_normalised(tmp_path):
    (tmp_path / "kgenrich.toml").write_text(
        'timeout = 5\nontology = "onto"\nliteral_features = "http://example.org/p"\ndevice = "CUDA:1"\n'
        "[sync]\nmin_confidence = {material = 0.5}\ntop_k = 2\n[models.image]\nsize = 96\n")
    settings = load_settings(environ={}, cwd=tmp_path)
    assert settings.timeout == 5.0 and isinstance(settings.timeout, float)
    assert settings.ontology == ["onto"] and settings.literal_features == ["http://example.org/p"]
    assert settings.device == "cuda:1"
    assert settings.section("sync") == {"min_confidence": {"material": 0.5}, "top_k": 2}
    assert settings.section("models") == {"image": {"size": 96}}


def test_environment_and_flags_are_checked_too(tmp_path):
    with pytest.raises(ConfigError, match="KGENRICH_PREDICTIONS_GRAPH"):
        load_settings(environ={"KGENRICH_PREDICTIONS_GRAPH": "not an iri"}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="--store"):
        load_settings(flags={"store": ""}, environ={}, cwd=tmp_path)


def test_a_config_file_that_is_not_utf8_is_one_clear_error(tmp_path):
    (tmp_path / "kgenrich.toml").write_bytes(b'store = "\xff\xfe"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(environ={}, cwd=tmp_path)


def test_a_model_table_with_a_typo_is_refused_by_the_model(tmp_path):
    from kgenrich.training import model_config

    (tmp_path / "kgenrich.toml").write_text("[models.image]\nepoch = 3\n")
    with pytest.raises(Exception, match=r"\[models.image\]: unknown parameter 'epoch' for the image model \(did you mean 'epochs'\?\)"):
        model_config(load_settings(environ={}, cwd=tmp_path))
    (tmp_path / "kgenrich.toml").write_text("[models.imgae]\nepochs = 3\n")
    with pytest.raises(Exception, match="unknown model 'imgae'"):
        model_config(load_settings(environ={}, cwd=tmp_path))
    (tmp_path / "kgenrich.toml").write_text("[models.tabular]\nnum_leaves = 7\nn_jobs = 1\n[models.image]\ncache_dir = 'x'\n")
    assert model_config(load_settings(environ={}, cwd=tmp_path))["tabular"]["num_leaves"] == 7
