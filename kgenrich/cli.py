"""The kgenrich command line: thin click commands that call one stage each."""

from __future__ import annotations

import functools
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import click
from tqdm import tqdm

from . import __version__
from .config import Settings, load_settings
from .errors import KgenrichError
from .store.base import FORMATS


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



def _open(ctx) -> "Store":
    return ctx.obj.open_store()


def _exclude_graphs(settings: Settings) -> list[str]:
    """kgenrich's own graphs, never read as museum data."""
    from .tasks import CONFIG_GRAPH

    return [settings.predictions_graph, str(CONFIG_GRAPH)]


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--graph", help="Named graph for triple formats (Turtle, N-Triples, RDF/XML); default: the default graph.")
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), help="Format (default: from the file name).")
@click.option("--json", "as_json", is_flag=True, help="Print what was loaded as JSON.")
@click.pass_context
@handle_errors
def load(ctx, files, graph, fmt, as_json):
    """Load RDF files (Turtle, TriG, N-Triples, N-Quads, RDF/XML; also .gz).

    Each file is loaded all or nothing: a file with a syntax error adds nothing
    and the error names the file and line.
    """
    from rdflib import URIRef

    from .sparql import iri_is_valid

    if graph is not None and not iri_is_valid(graph):
        raise KgenrichError(f"--graph: not a valid IRI: {graph!r}")
    store = _open(ctx)
    reports = []
    failed = []
    for path in tqdm(files, desc="loading", unit="file", disable=len(files) < 2 or as_json):
        try:
            report = store.load_file(path, fmt=fmt, graph=URIRef(graph) if graph else None)
        except KgenrichError as exc:
            failed.append(str(exc))
            click.echo(f"error: {exc}", err=True)
            continue
        reports.append(report)
        if not as_json:
            click.echo(f"loaded {report.quads} quads from {report.path} ({report.format})")
    if as_json:
        echo_json({"loaded": [r.__dict__ for r in reports], "failed": failed})
    if failed:
        sys.exit(2)


@main.command()
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.pass_context
@handle_errors
def query(ctx, query, fmt, as_json):
    """Run a SPARQL query (text, or @file.rq) and print its results."""
    from .querying import format_results, run_query

    text = query
    if query.startswith("@"):
        path = Path(query[1:])
        if not path.is_file():
            raise KgenrichError(f"query file not found: {path}")
        text = path.read_text(encoding="utf-8")
    result = run_query(_open(ctx), text)
    click.echo(format_results(result, "json" if as_json else fmt), nl=False)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the tasks as JSON.")
@click.pass_context
@handle_errors
def tasks(ctx, as_json):
    """List the prediction tasks (from ontology files and the configuration graph)."""
    from dataclasses import asdict

    from .tasks import load_tasks

    found = load_tasks(_open(ctx), ctx.obj.settings)
    if as_json:
        echo_json({"tasks": [asdict(t) for t in found]})
        return
    for t in found:
        subject = f"via <{t.subject_link}>" if t.subject_link else "on the artifact"
        step = f" / <{t.value_step}>" if t.value_step else ""
        click.echo(f"{t.name:<12} <{t.property}>{step} {subject}; groups: {t.grouping}"
                   f"{' of <' + t.facet + '>' if t.facet else ''}; min support {t.min_support}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the label groups as JSON.")
@click.option("--task", "only", multiple=True, help="Only these tasks (repeatable).")
@click.pass_context
@handle_errors
def labels(ctx, as_json, only):
    """Show each task's label groups, their member concepts and support."""
    from .labels import label_groups, labels_json
    from .tasks import load_tasks

    settings = ctx.obj.settings
    store = _open(ctx)
    found = _select_tasks(load_tasks(store, settings), only)
    result = label_groups(store, found, page_size=settings.page_size, exclude_graphs=_exclude_graphs(settings),
                          progress=not as_json)
    doc = labels_json(result)
    if as_json:
        echo_json(doc)
        return
    for t in doc["tasks"]:
        click.echo(f"{t['task']} (<{t['property']}>): {t['labelled']} labelled artifacts, "
                   f"{len(t['groups'])} groups, {t['unmapped']} unmapped")
        for g in t["groups"]:
            click.echo(f"  {g['id']:<20} {g['support']:>7}  {g['label']}  ({len(g['members'])} concepts)")
        for g in t["dropped"]:
            click.echo(f"  {g['id']:<20} {g['support']:>7}  {g['label']}  (dropped: below min support {t['min_support']})")


def _select_tasks(found, only):
    if not only:
        return found
    names = {t.name for t in found}
    unknown = [n for n in only if n not in names]
    if unknown:
        raise KgenrichError(f"unknown task(s): {', '.join(unknown)} (known: {', '.join(sorted(names))})")
    return [t for t in found if t.name in only]


@main.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write records to FILE (.jsonl or .parquet).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--page-size", type=click.IntRange(1), help="Artifacts per SPARQL page (default from settings: 2000).")
@click.pass_context
@handle_errors
def dataset(ctx, out, as_json, page_size):
    """Extract one record per artifact (texts, images, groups of every task)."""
    from .dataset import extract, summary, write_records
    from .tasks import load_tasks

    settings = ctx.obj.settings
    store = _open(ctx)
    found = load_tasks(store, settings)
    records = extract(store, found, page_size=page_size or settings.page_size,
                      exclude_graphs=_exclude_graphs(settings), progress=not as_json,
                      literal_properties=settings.literal_features)
    doc = summary(records, found)
    if out is not None:
        doc["written"] = {"path": str(out), "format": write_records(records, out, found)}
    if as_json:
        echo_json(doc)
        return
    click.echo(f"{doc['artifacts']} artifacts in {len(doc['graphs'])} graphs; "
               f"{doc['with_text']} with text ({', '.join(f'{k}: {v}' for k, v in doc['text_languages'].items()) or 'none'}), "
               f"{doc['with_image']} with images")
    for name, counts in doc["tasks"].items():
        click.echo(f"  {name:<12} labelled {counts['labelled']:>7}  asserted {counts['asserted']:>7}  gaps {counts['gaps']:>7}")
    if out is not None:
        click.echo(f"wrote {out}")


# --- commands of other modules (each module defines click commands taking AppContext) ---
from .cli_demo import demo  # noqa: E402
from .cli_models import evaluate, train  # noqa: E402
from .cli_sync import sync, validate  # noqa: E402

for _command in (demo, train, evaluate, sync, validate):
    main.add_command(_command)
