"""The kgenrich command line: thin click commands that call one stage each."""

from __future__ import annotations

import functools
import json
import sys
from dataclasses import dataclass, field
from typing import Optional

import click

from . import __version__
from .config import Settings, load_settings
from .errors import KgenrichError


@dataclass
class AppContext:
    """What every command gets as ``ctx.obj``."""

    settings: Settings
    _store: object = field(default=None, repr=False)

    def open_store(self):
        if self._store is None:
            from .store import open_store

            self._store = open_store(self.settings)
        return self._store

    def close(self):
        if self._store is not None:
            self._store.close()
            self._store = None


def handle_errors(fn):
    """Turn user-facing errors into one line on stderr and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except KgenrichError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper


def echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@click.group()
@click.version_option(__version__, prog_name="kgenrich")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Settings file (default: ./kgenrich.toml).")
@click.option("--store", type=click.Path(file_okay=False), help="Embedded store directory (default .kgenrich/store).")
@click.option("--endpoint", help="SPARQL 1.1 query endpoint of a remote store.")
@click.option("--update-endpoint", help="SPARQL 1.1 update endpoint (default: the query endpoint).")
@click.option("--gsp-endpoint", help="Graph Store Protocol endpoint for bulk writes.")
@click.option("--models-dir", type=click.Path(file_okay=False), help="Where trained models live (default .kgenrich/models).")
@click.pass_context
@handle_errors
def main(ctx, config_file, store, endpoint, update_endpoint, gsp_endpoint, models_dir):
    """kgenrich: fills the gaps of a cultural-heritage knowledge graph."""
    settings = load_settings(
        config_file,
        flags={
            "store": store,
            "endpoint": endpoint,
            "update_endpoint": update_endpoint,
            "gsp_endpoint": gsp_endpoint,
            "models_dir": models_dir,
        },
    )
    app = AppContext(settings)
    ctx.obj = app
    ctx.call_on_close(app.close)


# --- commands of other modules (each module defines click commands taking AppContext) ---
