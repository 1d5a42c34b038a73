"""``kgenrich config show|apply|reset``: the store's configuration graph, managed by kgenrich."""

from __future__ import annotations

from pathlib import Path

import click

from .cli_util import echo_json, json_option

agent_option = click.option("--agent", help="Who makes the change, recorded with PROV (default: the environment "
                                            "variable KGENRICH_AGENT, else the operating system's user).")
dry_run_option = click.option("--dry-run", is_flag=True, help="Check and show the effect on tasks and label groups; "
                                                              "write nothing.")


@click.group()
def config():
    """Show, replace or empty the configuration graph (task definitions and overrides kept in the store)."""


@config.command()
@click.pass_obj
def show(app):
    """Print the configuration graph as Turtle."""
    from .config_graph import show as show_graph

    click.echo(show_graph(app.open_store(read_only=True)), nl=False)


@config.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@dry_run_option
@agent_option
@json_option
@click.pass_obj
def apply(app, file: Path, dry_run: bool, agent, as_json: bool):
    """Replace the configuration graph with FILE (Turtle, N-Triples, RDF/XML), after checking it.

    Prints the change: triples added and removed, task properties changed, label
    groups gained and lost with their supports.  Nothing is written when the new
    task definitions do not check, or with --dry-run.
    """
    from .config_graph import apply as apply_graph
    from .config_graph import read_file

    store = app.open_store(read_only=dry_run)  # a dry run only reads: it runs beside a writing sync
    change = apply_graph(store, app.settings, read_file(file), source=str(file), agent=agent,
                         dry_run=dry_run, progress=not as_json)
    _print(change, as_json)


@config.command()
@dry_run_option
@agent_option
@json_option
@click.pass_obj
def reset(app, dry_run: bool, agent, as_json: bool):
    """Empty the configuration graph: the tasks of the ontology files apply again."""
    from .config_graph import reset as reset_graph

    change = reset_graph(app.open_store(read_only=dry_run), app.settings, agent=agent, dry_run=dry_run,
                         progress=not as_json)
    _print(change, as_json)


def _print(change, as_json: bool) -> None:
    if as_json:
        echo_json(change.to_dict())
    else:
        for line in change.summary_lines():
            click.echo(line)
