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

Every key is declared once, as a field of :class:`Settings` or of a section's
frozen dataclass (:class:`ModelsSettings`, :class:`SyncSettings`,
:class:`ReviewSettings`), with its type, default and check: an unknown key or a
value of the wrong type is an error that names the file and suggests the closest
known key.  Adding a setting is one field there; stages read the typed section
they need (``settings.sync.chunk_size``), never a default of their own.

Credentials for remote endpoints come from the environment (``KGENRICH_USER`` /
``KGENRICH_PASSWORD``) or the endpoint URL's user-info, and are never printed.
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
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
# Every setting is one field below: its name, its type, its default and, in the field's
# metadata, the check that reads it from TOML, the environment or a flag.  The tables
# TOP_LEVEL and SECTIONS (what ``load_settings`` accepts) are derived from these classes.


def setting(default: Any, check: Check) -> Any:
    """A settings field: its default and its check (``field(default=..., metadata=...)``)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"check": check})
    return field(default=default, metadata={"check": check})


# Stage defaults the sections name (kept here so that a default is written once)
DEFAULT_CHUNK_SIZE = 2000  # artifacts per sync chunk: predictions, triples and validation of one chunk at a time
DEFAULT_SHACL_LIMIT = 1_000  # pySHACL costs ~5 ms per statement, the SPARQL rules ~0.1 ms (bench_writeback)
DEFAULT_USERS_FILE = ".kgenrich/users.json"
DEFAULT_SECRET_FILE = ".kgenrich/review-secret"
DEFAULT_THUMBNAIL_DIR = ".kgenrich/thumbnails"
DEFAULT_REVIEW_PAGE_SIZE = 50
DEFAULT_BULK_LIMIT = 2000
# The calibrators a [models] calibration may name (calibration.py implements each; "auto" picks by
# out-of-fold log-loss) and the decision rules (argmax, or per-class offsets tuned for macro-F1).
CALIBRATION_METHODS = ("none", "temperature", "bias_temperature", "isotonic")
DECISION_RULES = ("argmax", "macro_f1")


@dataclass(frozen=True)
class ModelsSettings:
    """[models]: the modalities, the stacker, cross-fitting, and what every model inherits.

    Per-model tables (``[models.image]``) are in ``tables``; each model checks its own keys and fills
    its defaults (``Model.DEFAULT_PARAMS``).  A key inherited by the models is None when unset."""
    # words: a bag-of-words view of the same texts (models/words.py); fast, and strong on the short,
    # formulaic texts of museum records
    modalities: list[str] = setting(["image", "text", "words", "tabular"], _list_of(_nonempty_string))
    stacker: str = setting("fusion", _nonempty_string)
    folds: int = setting(3, _integer(2))
    focal_gamma: float = setting(2.0, _number(0))
    device: str | None = setting(None, _device)
    threads: int | None = setting(None, _integer(1))
    seed: int | None = setting(None, _integer(0))
    n_jobs: int | None = setting(None, _integer(0))
    calibration: str = setting("auto", _choice("auto", *CALIBRATION_METHODS))
    decision: str = setting("auto", _choice("auto", *DECISION_RULES))
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class SyncSettings:
    """[sync]: what is written, how it is checked, how the run is cut."""
    top_k: int = setting(1, _integer(1))
    # A confidence floor for every task, or {task: floor}
    min_confidence: float | dict[str, float] = setting(0.0, _per_task(_number(0, 1)))
    # A precision target for every task, or {task: target} (the threshold comes from the models' curves)
    min_precision: float | dict[str, float] | None = setting(None, _per_task(_number(0, 1, open_low=True)))
    # the share of changed artifacts above which a sync retrains instead of predicting the changed ones
    retrain_share: float = setting(0.1, _number(0, 1))
    provenance_graph: str | None = setting(None, _iri)  # None: <predictions graph>/provenance
    validation_engine: str = setting("auto", _choice("auto", "shacl", "sparql"))
    shacl_limit: int = setting(DEFAULT_SHACL_LIMIT, _integer(0))
    report_dir: str | None = setting(None, _nonempty_string)  # None: reports/ beside the models directory
    chunk_size: int = setting(DEFAULT_CHUNK_SIZE, _integer(1))
    atomic_first_write: bool = setting(False, _boolean)


@dataclass(frozen=True)
class ReviewSettings:
    """[review]: kgenrich serve and the review graphs."""
    reviews_graph: str | None = setting(None, _iri)  # None: <predictions graph>/reviews
    curated_graph: str | None = setting(None, _iri)  # None: <predictions graph>/curated
    users_file: str = setting(DEFAULT_USERS_FILE, _nonempty_string)
    secret_file: str = setting(DEFAULT_SECRET_FILE, _nonempty_string)
    thumbnail_dir: str = setting(DEFAULT_THUMBNAIL_DIR, _nonempty_string)
    anonymous_read: bool = setting(False, _boolean)
    page_size: int = setting(DEFAULT_REVIEW_PAGE_SIZE, _integer(1, 500))
    bulk_limit: int = setting(DEFAULT_BULK_LIMIT, _integer(1))


SECTION_CLASSES: dict[str, type] = {"models": ModelsSettings, "sync": SyncSettings, "review": ReviewSettings}
# A section listed here also accepts sub-tables (e.g. [models.image]) whose keys the stage that reads
# them checks (a model checks its table against its parameters).
OPEN_TABLES = {"models"}


def _checks(cls: type) -> dict[str, Check]:
    return {f.name: f.metadata["check"] for f in fields(cls) if "check" in f.metadata}


SECTIONS: dict[str, dict[str, Check]] = {name: _checks(cls) for name, cls in SECTION_CLASSES.items()}


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


def section_settings(name: str, table: Mapping[str, Any]):
    """The frozen dataclass of section ``name`` from its (checked) table; unset keys take their defaults."""
    cls = SECTION_CLASSES[name]
    known = {f.name for f in fields(cls)}
    values = {k: v for k, v in table.items() if k in known and k != "tables"}
    if name in OPEN_TABLES:
        values["tables"] = {k: dict(v) for k, v in table.items() if k not in known and isinstance(v, Mapping)}
    return cls(**values)


@dataclass
class Settings:
    # which registered store (entry point group kgenrich.stores) serves: auto is the remote store when an
    # endpoint is set, else the embedded one; store/__init__.py checks the name against the registry
    store_kind: str = setting("auto", _nonempty_string)
    store: str | None = setting(None, _nonempty_string)
    endpoint: str | None = setting(None, _nonempty_string)
    update_endpoint: str | None = setting(None, _nonempty_string)
    gsp_endpoint: str | None = setting(None, _nonempty_string)
    models_dir: str = setting(DEFAULT_MODELS_DIR, _nonempty_string)
    predictions_graph: str = setting(DEFAULT_PREDICTIONS_GRAPH, _iri)
    timeout: float = setting(60.0, _number(0, None, open_low=True))  # seconds per HTTP request
    retries: int = setting(4, _integer(0, 100))  # attempts on 5xx / connection errors
    batch_triples: int = setting(5000, _integer(1))  # triples per INSERT DATA on remote stores
    batch_bytes: int = setting(4_000_000, _integer(4096))
    result_limit: int = setting(0, _integer(0))  # a server's row cap; a result of exactly this many rows is an error
    page_size: int = setting(2000, _integer(1))
    ontology: list[str] = setting([], _list_of(_nonempty_string))
    images_root: str | None = setting(None, _nonempty_string)
    fetch_images: bool = setting(False, _boolean)
    seed: int = setting(0, _integer(0))
    device: str = setting("auto", _device)
    # artifact properties whose literals feed the tabular model
    literal_features: list[str] = setting([], _list_of(_iri))
    profile: str = setting("auto", _nonempty_string)  # auto | a shipped profile's name | a profile file (profiles.py)
    service_endpoints: list[str] = setting([], _list_of(_iri))  # SERVICE endpoints the embedded store may call
    query_timeout: float = setting(600.0, _number(0))  # seconds an embedded query may run (0: no limit); store/guard.py
    threads: int | None = setting(None, _threads)  # CPU threads of the models' libraries; None: the free cores
    load_batch_quads: int = setting(500_000, _integer(1000))  # quads per bulk-loader batch of `kgenrich load`
    jsonld_contexts: str | None = setting(None, _nonempty_string)  # JSON-LD contexts, laid out host/path as URLs
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    config_file: str | None = None

    @property
    def is_remote(self) -> bool:
        return bool(self.endpoint)

    def section(self, name: str) -> dict[str, Any]:
        """A section's table as read (checked, without defaults); the typed view is ``models``/``sync``/``review``."""
        return dict(self.sections.get(name, {}))

    @property
    def models(self) -> ModelsSettings:
        return section_settings("models", self.sections.get("models", {}))

    @property
    def sync(self) -> SyncSettings:
        return section_settings("sync", self.sections.get("sync", {}))

    @property
    def review(self) -> ReviewSettings:
        return section_settings("review", self.sections.get("review", {}))

    @property
    def credentials(self) -> tuple[str, str] | None:
        user = os.environ.get("KGENRICH_USER")
        if not user:
            return None
        return user, os.environ.get("KGENRICH_PASSWORD", "")


TOP_LEVEL: dict[str, Check] = _checks(Settings)


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
