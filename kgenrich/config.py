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
    # query_timeout = 600                # seconds an embedded-store query may run (0: no limit)
    # service_endpoints = []             # SERVICE endpoints the embedded store may call (none by default)
    # threads = "auto"                   # CPU threads of torch / LightGBM / BLAS (auto: the free cores)
    models_dir = ".kgenrich/models"
    ontology = ["ontology"]              # files or directories of task definitions / ontology
    predictions_graph = "http://data.silknow.org/predictions"

    [models]                              # passed to the modality models (see README)
    [sync]                                # passed to kgenrich sync
    [review]                              # kgenrich serve: graphs, users file, ...

Every key is declared once, in :data:`TOP_LEVEL` or :data:`SECTIONS`, with its
type: an unknown key or a value of the wrong type is an error that names the
file and suggests the closest known key.  Adding a setting is one line there.

Credentials for remote endpoints come from the environment (``KGENRICH_USER`` /
``KGENRICH_PASSWORD``) or the endpoint URL's user-info, and are never printed.
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .namespaces import DEFAULT_PREDICTIONS_GRAPH

DEFAULT_STORE = ".kgenrich/store"
DEFAULT_MODELS_DIR = ".kgenrich/models"
CONFIG_FILE = "kgenrich.toml"

# Keys that may be set by environment variable, and the variable's name.
ENV_KEYS = {
    "store": "KGENRICH_STORE",
    "endpoint": "KGENRICH_ENDPOINT",
    "update_endpoint": "KGENRICH_UPDATE_ENDPOINT",
    "gsp_endpoint": "KGENRICH_GSP_ENDPOINT",
    "models_dir": "KGENRICH_MODELS_DIR",
    "predictions_graph": "KGENRICH_PREDICTIONS_GRAPH",
    "profile": "KGENRICH_PROFILE",
    "threads": "KGENRICH_THREADS",
}


# ------------------------------------------------------------------ value checks
# Each check takes the value as read (TOML, environment or flag) and returns it
# normalised, or raises ValueError with what was expected.
Check = Callable[[Any], Any]


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("a string")
    return value


def _nonempty_string(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a non-empty string")
    return value


def _iri(value: Any) -> str:
    from .sparql import iri_is_valid

    if not isinstance(value, str) or ":" not in value or not iri_is_valid(value):
        raise ValueError("an absolute IRI")
    return value


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    raise ValueError("true or false")


def _integer(low: int | None = None, high: int | None = None) -> Check:
    expected = _range("a whole number", low, high)

    def check(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError(expected)
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise ValueError(expected) from None
        if not isinstance(value, int) or (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(expected)
        return value
    return check


def _number(low: float | None = None, high: float | None = None, open_low: bool = False) -> Check:
    expected = _range("a number", low, high, open_low)

    def check(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError(expected)
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise ValueError(expected) from None
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(expected)
        value = float(value)
        if (low is not None and (value < low or (open_low and value == low))) or (high is not None and value > high):
            raise ValueError(expected)
        return value
    return check


def _range(what: str, low, high, open_low: bool = False) -> str:
    if low is None and high is None:
        return what
    if low is not None and high is not None:
        return f"{what} in {'(' if open_low else '['}{low:g}, {high:g}]"
    if low is not None:
        return f"{what} {'>' if open_low else '>='} {low:g}"
    return f"{what} <= {high:g}"


def _choice(*choices: str) -> Check:
    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise ValueError("one of " + ", ".join(choices))
        return value
    return check


def _device(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("auto, cpu, cuda or cuda:N")
    v = value.strip().lower()
    if v in ("auto", "cpu", "cuda") or (v.startswith("cuda:") and v[5:].isdigit()):
        return v
    raise ValueError("auto, cpu, cuda or cuda:N")


def _list_of(item: Check) -> Check:
    def check(value: Any) -> list:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise ValueError("a list")
        out = []
        for v in value:
            try:
                out.append(item(v))
            except ValueError as exc:
                raise ValueError(f"a list of {exc}") from None
        return out
    return check


def _per_task(item: Check) -> Check:
    """A value for every task, or a table {task = value}."""
    def check(value: Any):
        if isinstance(value, Mapping):
            out = {}
            for task, v in value.items():
                try:
                    out[str(task)] = item(v)
                except ValueError as exc:
                    raise ValueError(f"{exc}, or a table of them per task (task '{task}')") from None
            return out
        try:
            return item(value)
        except ValueError as exc:
            raise ValueError(f"{exc}, or a table of them per task") from None
    return check


def _threads(value: Any):
    from .threads import parse_threads

    return parse_threads(value)


def _table(value: Any) -> dict:
    if not isinstance(value, Mapping):
        raise ValueError("a table")
    return dict(value)


# ------------------------------------------------------------------ the schema
TOP_LEVEL: dict[str, Check] = {
    "store": _nonempty_string,
    "endpoint": _nonempty_string,
    "update_endpoint": _nonempty_string,
    "gsp_endpoint": _nonempty_string,
    "models_dir": _nonempty_string,
    "predictions_graph": _iri,
    "timeout": _number(0, None, open_low=True),
    "retries": _integer(0, 100),
    "batch_triples": _integer(1),
    "batch_bytes": _integer(4096),
    "result_limit": _integer(0),
    "page_size": _integer(1),
    "ontology": _list_of(_nonempty_string),
    "images_root": _nonempty_string,
    "fetch_images": _boolean,
    "seed": _integer(0),
    "device": _device,
    "literal_features": _list_of(_iri),
    "profile": _nonempty_string,
    "service_endpoints": _list_of(_iri),
    "query_timeout": _number(0),
    "threads": _threads,
    "load_batch_quads": _integer(1000),
    "jsonld_contexts": _nonempty_string,
}

# [section] -> key -> check.  A section listed with OPEN_TABLES also accepts sub-tables
# (e.g. [models.image]) whose keys the stage that reads them checks (training.py
# checks a model's table against that model's parameters).
SECTIONS: dict[str, dict[str, Check]] = {
    "models": {
        "modalities": _list_of(_nonempty_string),
        "stacker": _nonempty_string,
        "folds": _integer(2),
        "focal_gamma": _number(0),
        "device": _device,
        "threads": _integer(1),
        "seed": _integer(0),
        "n_jobs": _integer(0),
        "calibration": _choice("auto", "none", "temperature", "bias_temperature", "isotonic"),
        "decision": _choice("auto", "argmax", "macro_f1"),
    },
    "sync": {
        "top_k": _integer(1),
        "min_confidence": _per_task(_number(0, 1)),
        "min_precision": _per_task(_number(0, 1, open_low=True)),
        "retrain_share": _number(0, 1),
        "provenance_graph": _iri,
        "validation_engine": _choice("auto", "shacl", "sparql"),
        "shacl_limit": _integer(0),
        "report_dir": _nonempty_string,
        "chunk_size": _integer(1),
        "atomic_first_write": _boolean,
    },
    "review": {
        "reviews_graph": _iri,
        "curated_graph": _iri,
        "users_file": _nonempty_string,
        "secret_file": _nonempty_string,
        "thumbnail_dir": _nonempty_string,
        "anonymous_read": _boolean,
        "page_size": _integer(1, 500),
        "bulk_limit": _integer(1),
    },
}
OPEN_TABLES = {"models"}


def closest(name: str, known) -> str:
    """' (did you mean X?)' for the closest known name, or ''."""
    match = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


# [section] keys whose value may be a table {task name = value}: the names are checked against the
# tasks once they are known (check_task_tables), as the schema cannot know them
PER_TASK_KEYS = {"sync": ("min_confidence", "min_precision")}


def check_task_tables(settings: Settings, task_names) -> None:
    """Refuse a per-task table that names a task there is none of (``{nosuchtask = 0.5}``)."""
    names = sorted(set(task_names))
    where = settings.config_file or "settings"
    for section, keys in PER_TASK_KEYS.items():
        for key in keys:
            table = settings.section(section).get(key)
            if not isinstance(table, Mapping):
                continue
            for task in table:
                if task not in names:
                    hint = closest(task, names) or f" (the tasks: {', '.join(names)})"
                    raise ConfigError(f"{where}: [{section}] {key} names no task '{task}'{hint}")


def check_value(where: str, key: str, check: Check, value: Any) -> Any:
    try:
        return check(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: '{key}' must be {exc}, not {value!r}") from None


def check_table(where: str, section: str, table: Mapping[str, Any]) -> dict[str, Any]:
    """A section's keys and values checked against SECTIONS."""
    schema = SECTIONS[section]
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key in schema:
            out[key] = check_value(where, f"{section}.{key}", schema[key], value)
        elif section in OPEN_TABLES and isinstance(value, Mapping):
            out[key] = dict(value)
        else:
            raise ConfigError(f"{where}: unknown key '{key}' in [{section}]{closest(key, schema)}")
    return out


@dataclass
class Settings:
    store: str | None = None
    endpoint: str | None = None
    update_endpoint: str | None = None
    gsp_endpoint: str | None = None
    models_dir: str = DEFAULT_MODELS_DIR
    predictions_graph: str = DEFAULT_PREDICTIONS_GRAPH
    timeout: float = 60.0
    retries: int = 4
    batch_triples: int = 5000
    batch_bytes: int = 4_000_000
    result_limit: int = 0
    page_size: int = 2000
    ontology: list[str] = field(default_factory=list)
    images_root: str | None = None
    fetch_images: bool = False
    seed: int = 0
    device: str = "auto"
    literal_features: list[str] = field(default_factory=list)  # artifact properties whose literals feed the tabular model
    profile: str = "auto"  # auto | a shipped profile's name | the path of a profile file (profiles.py)
    service_endpoints: list[str] = field(default_factory=list)  # SERVICE endpoints the embedded store may call
    query_timeout: float = 600.0  # seconds an embedded query may run (0: no limit); store/guard.py
    threads: int | None = None  # CPU threads of the models' libraries; None: the free cores (threads.py)
    load_batch_quads: int = 500_000  # quads per bulk-loader batch of `kgenrich load` (bounds its memory)
    jsonld_contexts: str | None = None  # directory of JSON-LD contexts, laid out host/path as their URLs
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    config_file: str | None = None

    @property
    def is_remote(self) -> bool:
        return bool(self.endpoint)

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.sections.get(name, {}))

    @property
    def credentials(self) -> tuple[str, str] | None:
        user = os.environ.get("KGENRICH_USER")
        if not user:
            return None
        return user, os.environ.get("KGENRICH_PASSWORD", "")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def load_settings(config_file: str | None = None, flags: dict[str, Any] | None = None,
                  environ: dict[str, str] | None = None, cwd: Path | None = None) -> Settings:
    """Merge defaults, the config file, the environment and flags (in rising precedence)."""
    environ = dict(os.environ if environ is None else environ)
    cwd = cwd or Path.cwd()
    flags = {k: v for k, v in (flags or {}).items() if v is not None}

    file_values: dict[str, Any] = {}
    path: Path | None = None
    if config_file:
        path = Path(config_file)
        file_values = _read_toml(path)
    elif (cwd / CONFIG_FILE).is_file():
        path = cwd / CONFIG_FILE
        file_values = _read_toml(path)

    settings = Settings(config_file=str(path) if path else None)
    sections: dict[str, dict[str, Any]] = {}
    for key, value in file_values.items():
        if key in SECTIONS:
            sections[key] = check_table(str(path), key, check_value(str(path), key, _table, value))
        elif key in TOP_LEVEL:
            setattr(settings, key, check_value(str(path), key, TOP_LEVEL[key], value))
        else:
            kind = "section" if isinstance(value, dict) else "key"
            raise ConfigError(f"{path}: unknown {kind} '{key}'{closest(key, [*TOP_LEVEL, *SECTIONS])}")
    settings.sections = sections

    for key, var in ENV_KEYS.items():
        if environ.get(var):
            # An environment store beats a file endpoint and vice versa: the
            # more specific source chooses the kind of store as a whole.
            if key == "store":
                settings.endpoint = settings.update_endpoint = settings.gsp_endpoint = None
            if key == "endpoint":
                settings.store = None
            setattr(settings, key, check_value(f"environment variable {var}", key, TOP_LEVEL[key], environ[var]))

    if "store" in flags and "endpoint" in flags:
        raise ConfigError("give either --store or --endpoint, not both")
    if "store" in flags:
        settings.endpoint = settings.update_endpoint = settings.gsp_endpoint = None
    if "endpoint" in flags:
        settings.store = None
    for key, value in flags.items():
        check = TOP_LEVEL.get(key)
        setattr(settings, key, check_value(f"--{key.replace('_', '-')}", key, check, value) if check else value)

    if settings.store and settings.endpoint:
        raise ConfigError("both an embedded store and an endpoint are configured; set only one")
    if not settings.endpoint and not settings.store:
        settings.store = DEFAULT_STORE
    if (settings.update_endpoint or settings.gsp_endpoint) and not settings.endpoint:
        raise ConfigError("--update-endpoint/--gsp-endpoint need --endpoint")
    return settings
