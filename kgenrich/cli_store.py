"""``kgenrich load`` and ``kgenrich query``: RDF in, SPARQL results out."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from tqdm import tqdm

from .cli_util import echo_json
from .errors import KgenrichError
from .store.base import FORMATS


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--graph", help="Named graph for triple formats (Turtle, N-Triples, RDF/XML); default: the default graph.")
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), help="Format (default: from the file name).")
@click.option("--json", "as_json", is_flag=True, help="Print what was loaded as JSON.")
@click.pass_obj
def load(app, files, graph, fmt, as_json):
    """Load RDF files (Turtle, TriG, N-Triples, N-Quads, RDF/XML; also .gz).

    Each file is loaded all or nothing: a file with a syntax error adds nothing
    and the error names the file and line.
    """
    from rdflib import URIRef

    from .graphs import OwnGraphs
    from .sparql import iri_is_valid

    if graph is not None and (not iri_is_valid(graph) or ":" not in graph):
        raise KgenrichError(f"--graph: not an absolute IRI: {graph!r}")
    # A remote store stages a file in a graph of kgenrich's own before moving it in whole.
    staging = OwnGraphs.from_settings(app.settings).load_staging_prefix
    store = app.open_store()
    reports, failed = [], []
    for path in tqdm(files, desc="loading", unit="file", disable=len(files) < 2 or as_json):
        try:
            report = store.load_file(path, fmt=fmt, graph=URIRef(graph) if graph else None, staging=staging)
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


@click.command()
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.pass_obj
def query(app, query, fmt, as_json):
    """Run a SPARQL query (text, or @file.rq) and print its results as they arrive.

    Only queries run (SELECT, ASK, CONSTRUCT, DESCRIBE): the store is opened
    read-only, so a query runs beside a sync that writes.
    """
    from .querying import query_form, run_query, write_results

    text = query
    if query.startswith("@"):
        path = Path(query[1:])
        if not path.is_file():
            raise KgenrichError(f"query file not found: {path}")
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise KgenrichError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    form = query_form(text)  # before the store is opened: a typo is reported as such, whatever the store
    result = run_query(app.open_store(read_only=True), text, form=form)
    write_results(result, "json" if as_json else fmt, sys.stdout)
