"""Settings: command-line flag > environment variable > kgenrich.toml > default.

kgenrich.toml (in the working directory, or the file given by ``--config``)::

    store = ".kgenrich/store"            # embedded store directory
    # endpoint = "http://127.0.0.1:7878/query"
    # update_endpoint = "http://127.0.0.1:7878/update"
    # gsp_endpoint = "http://127.0.0.1:7878/store"
    # timeout = 60                       # seconds per HTTP request
    # retries = 4                        # attempts on 5xx / connection errors
    # batch_triples = 5000               # triples per INSERT DATA on remote stores
    # literal_features = ["http://erlangen-crm.org/current/P43_has_dimension"]  # tabular features
    # result_limit = 0                   # a server's row cap; a result of exactly this many rows is an error
    models_dir = ".kgenrich/models"
    ontology = ["ontology"]              # files or directories of task definitions / ontology
    predictions_graph = "http://data.silknow.org/predictions"

    [models]                              # passed to the modality models (see README)
    [sync]                                # passed to kgenrich sync

Credentials for remote endpoints come only from the environment
(``KGENRICH_USER`` / ``KGENRICH_PASSWORD``) and are never printed.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .errors import ConfigError

DEFAULT_STORE = ".kgenrich/store"
DEFAULT_MODELS_DIR = ".kgenrich/models"
DEFAULT_PREDICTIONS_GRAPH = "http://data.silknow.org/predictions"

# Keys that may be set by environment variable, and the variable's name.
ENV_KEYS = {
    "store": "KGENRICH_STORE",
    "endpoint": "KGENRICH_ENDPOINT",
    "update_endpoint": "KGENRICH_UPDATE_ENDPOINT",
    "gsp_endpoint": "KGENRICH_GSP_ENDPOINT",
    "models_dir": "KGENRICH_MODELS_DIR",
    "predictions_graph": "KGENRICH_PREDICTIONS_GRAPH",
}
TOP_LEVEL_KEYS = set(ENV_KEYS) | {
    "timeout",
    "retries",
    "batch_triples",
    "result_limit",
    "page_size",
    "ontology",
    "images_root",
    "fetch_images",
    "seed",
    "device",
    "literal_features",
}
SECTIONS = {"models", "sync", "demo", "evaluate", "tasks"}


@dataclass
class Settings:
    store: Optional[str] = None
    endpoint: Optional[str] = None
    update_endpoint: Optional[str] = None
    gsp_endpoint: Optional[str] = None
    models_dir: str = DEFAULT_MODELS_DIR
    predictions_graph: str = DEFAULT_PREDICTIONS_GRAPH
    timeout: float = 60.0
    retries: int = 4
    batch_triples: int = 5000
    result_limit: int = 0
    page_size: int = 2000
    ontology: list[str] = field(default_factory=list)
    images_root: Optional[str] = None
    fetch_images: bool = False
    seed: int = 0
    device: str = "auto"
    literal_features: list[str] = field(default_factory=list)  # artifact properties whose literals feed the tabular model
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    config_file: Optional[str] = None

    @property
    def is_remote(self) -> bool:
        return bool(self.endpoint)

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.sections.get(name, {}))

    @property
    def credentials(self) -> Optional[tuple[str, str]]:
        user = os.environ.get("KGENRICH_USER")
        if not user:
            return None
        return user, os.environ.get("KGENRICH_PASSWORD", "")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def load_settings(config_file: Optional[str] = None, flags: Optional[dict[str, Any]] = None,
                  environ: Optional[dict[str, str]] = None, cwd: Optional[Path] = None) -> Settings:
    """Merge defaults, the config file, the environment and flags (in rising precedence)."""
    environ = dict(os.environ if environ is None else environ)
    cwd = cwd or Path.cwd()
    flags = {k: v for k, v in (flags or {}).items() if v is not None}

    file_values: dict[str, Any] = {}
    path: Optional[Path] = None
    if config_file:
        path = Path(config_file)
        file_values = _read_toml(path)
    elif (cwd / "kgenrich.toml").is_file():
        path = cwd / "kgenrich.toml"
        file_values = _read_toml(path)

    settings = Settings(config_file=str(path) if path else None)
    sections: dict[str, dict[str, Any]] = {}
    for key, value in file_values.items():
        if isinstance(value, dict):
            if key not in SECTIONS:
                raise ConfigError(f"{path}: unknown section [{key}] (known: {', '.join(sorted(SECTIONS))})")
            sections[key] = value
        elif key in TOP_LEVEL_KEYS:
            setattr(settings, key, value)
        else:
            raise ConfigError(f"{path}: unknown key '{key}'")
    settings.sections = sections

    for key, var in ENV_KEYS.items():
        if environ.get(var):
            # An environment store beats a file endpoint and vice versa: the
            # more specific source chooses the kind of store as a whole.
            if key == "store":
                settings.endpoint = settings.update_endpoint = settings.gsp_endpoint = None
            if key == "endpoint":
                settings.store = None
            setattr(settings, key, environ[var])

    if "store" in flags and "endpoint" in flags:
        raise ConfigError("give either --store or --endpoint, not both")
    if "store" in flags:
        settings.endpoint = settings.update_endpoint = settings.gsp_endpoint = None
    if "endpoint" in flags:
        settings.store = None
    for key, value in flags.items():
        setattr(settings, key, value)

    if settings.store and settings.endpoint:
        raise ConfigError("both an embedded store and an endpoint are configured; set only one")
    if not settings.endpoint and not settings.store:
        settings.store = DEFAULT_STORE
    if (settings.update_endpoint or settings.gsp_endpoint) and not settings.endpoint:
        raise ConfigError("--update-endpoint/--gsp-endpoint need --endpoint")
    if isinstance(settings.ontology, str):
        settings.ontology = [settings.ontology]
    if isinstance(settings.literal_features, str):
        settings.literal_features = [settings.literal_features]
    from .sparql import iri_is_valid

    bad = [p for p in settings.literal_features if not isinstance(p, str) or not iri_is_valid(p) or ":" not in p]
    if bad:
        raise ConfigError(f"literal_features must be property IRIs; not: {', '.join(map(repr, bad))}")
    for name in ("timeout",):
        settings.timeout = float(settings.timeout)
    for name in ("retries", "batch_triples", "result_limit", "page_size", "seed"):
        try:
            setattr(settings, name, int(getattr(settings, name)))
        except (TypeError, ValueError):
            raise ConfigError(f"setting '{name}' must be a whole number") from None
    return settings
