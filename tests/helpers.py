"""Small helpers shared by the tests."""

from __future__ import annotations

from pathlib import Path

from kgenrich import profiles
from kgenrich.config import load_settings
from kgenrich.resources import ONTOLOGY_DIR

DATA = Path(__file__).resolve().parent / "data"
MINI = DATA / "mini.trig"
MINI_TASKS = DATA / "mini-tasks.ttl"
# The shipped SILKNOW profile: where the mini collection's texts and images sit.
SILKNOW_PROFILE = profiles.read_profile(profiles.shipped()["silknow"])


def mini_settings(**overrides):
    """Settings for the mini collection: the kgenrich vocabulary, CRM declarations and tasks with support 1."""
    settings = load_settings(environ={}, cwd=DATA)
    settings.ontology = [str(ONTOLOGY_DIR / "kgenrich.ttl"), str(ONTOLOGY_DIR / "crm-core.ttl"), str(MINI_TASKS)]
    for key, value in overrides.items():
        setattr(settings, key, value)
    return settings
