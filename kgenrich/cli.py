"""The kgenrich command line: the group, its global store options, and the commands.

Commands live in ``cli_*.py`` modules (one per part of the flow), each a thin
click command that parses, calls one stage and prints; shared pieces are in
``cli_util.py``.  This module only assembles them.
"""

from __future__ import annotations

import logging

import click

from . import __version__, threads
from .cli_config import config
from .cli_data import dataset, labels, tasks
from .cli_demo import demo
from .cli_models import evaluate, train
from .cli_review import reviews, serve, users
from .cli_store import load, query
from .cli_sync import sync, validate
from .cli_util import AppContext, KgenrichGroup, RedactingFilter
from .config import load_settings


class _OneLine(logging.Formatter):
    """A warning of kgenrich's as the command line shows it: ``warning: ...`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {' '.join(record.getMessage().split())}"


def _one_line_warnings() -> None:
    logger = logging.getLogger("kgenrich")
    if not any(isinstance(h.formatter, _OneLine) for h in logger.handlers):
        handler = logging.StreamHandler()  # stderr
        handler.setLevel(logging.WARNING)
        handler.setFormatter(_OneLine())
        logger.addHandler(handler)
        logger.propagate = False


@click.group(cls=KgenrichGroup)
@click.version_option(__version__, prog_name="kgenrich")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Settings file (default: ./kgenrich.toml).")
@click.option("--store", help="Embedded store directory (default .kgenrich/store).")
@click.option("--endpoint", help="SPARQL 1.1 query endpoint of a remote store.")
@click.option("--update-endpoint", help="SPARQL 1.1 update endpoint (default: the query endpoint).")
@click.option("--gsp-endpoint", help="Graph Store Protocol endpoint for bulk writes.")
@click.option("--models-dir", help="Where trained models live (default .kgenrich/models).")
@click.pass_context
def main(ctx, config_file, store, endpoint, update_endpoint, gsp_endpoint, models_dir):
    """kgenrich: fills the gaps of a cultural-heritage knowledge graph."""
    _one_line_warnings()
    for handler in logging.getLogger().handlers + logging.getLogger("kgenrich").handlers:
        handler.addFilter(RedactingFilter())
    settings = load_settings(config_file, flags={"store": store, "endpoint": endpoint,
                                                 "update_endpoint": update_endpoint, "gsp_endpoint": gsp_endpoint,
                                                 "models_dir": models_dir})
    # before any command loads torch, LightGBM or numpy's BLAS: how many threads, and that they sleep
    # when they wait (fair beside other work; threads.py)
    threads.configure(settings.threads)
    app = AppContext(settings)
    ctx.obj = app
    ctx.call_on_close(app.close)


for _command in (load, query, tasks, labels, dataset, train, evaluate, sync, validate, demo, config, serve,
                 users, reviews):
    main.add_command(_command)
