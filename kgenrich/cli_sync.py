"""Click commands of the write-back: ``kgenrich sync`` and ``kgenrich validate``."""

from __future__ import annotations

from pathlib import Path

import click
from rdflib import URIRef

from .cli_util import check_task_tables, echo_json, progress_enabled, torchrun_aware
from .errors import KgenrichError, ValidationFailed

# `validate` found no prediction statement to validate: distinct from 0 (conforms) and 3 (violations).
EXIT_NOTHING_VALIDATED = 4


@click.command()
@click.option("--retrain", is_flag=True, help="Train the models again even if they are up to date.")
@click.option("--dry-run", is_flag=True,
              help="Predict and validate, write nothing (models that need training are trained in a temporary "
                   "directory and discarded; no store, model or report file is changed).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.pass_obj
@torchrun_aware
def sync(app, retrain: bool, dry_run: bool, as_json: bool, quiet: bool):
    """Predict every gap and write the predictions graph (incremental, validated, atomic)."""
    from .sync import run_sync

    # A dry run writes nothing: it reads beside a running writer like any other reading command.
    store = app.open_store(read_only=dry_run)
    check_task_tables(store, app.settings)
    report = run_sync(store, app.settings, retrain=retrain, progress=progress_enabled(as_json, quiet), dry_run=dry_run)
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(report.summary())
        if report.validation_report:
            click.echo(f"validation report: {report.validation_report}")


@click.command()
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--graph", "graph_iri", help="Validate this named graph of the store (default: the predictions graph).")
@click.option("--engine", type=click.Choice(["auto", "shacl", "sparql"]), default="auto", show_default=True,
              help="pySHACL, the equivalent SPARQL checks, or pySHACL for small graphs.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), help="Also save the report (JSON) here.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def validate(app, file: str | None, graph_iri: str | None, engine: str, report_path: str | None,
             as_json: bool):
    """Check a prediction graph (of the store, or a FILE) against shapes/predictions.ttl.

    Task classes and group concepts, and the classes of the statement subjects,
    are read from the store.  Exit status 3 when the graph does not conform; 4
    (with a warning) when it holds no prediction statement at all (an empty or
    absent graph, a museum graph, a file without predictions): nothing was
    validated, which is not the same as "conforms".
    """
    from . import validation
    from .pipeline import load_inputs
    from .sparql import iri_is_valid
    from .store.base import read_triples

    if file and graph_iri:
        raise KgenrichError("give either a FILE or --graph, not both")
    if graph_iri is not None and (not iri_is_valid(graph_iri) or ":" not in graph_iri):
        raise KgenrichError(f"--graph: not an absolute IRI: {graph_iri!r}")
    if file:
        triples = read_triples(Path(file))  # parsed before the store is opened: errors name file and line
        what = str(file)
    store = app.open_store(read_only=True)
    if not file:
        graph = URIRef(graph_iri or app.settings.predictions_graph)
        triples = list(store.graph_triples(graph))
        what = f"graph <{graph}>"
    inputs = load_inputs(store, app.settings, with_inputs=False, progress=False)
    from .predictions import WriteVocabulary

    report = validation.validate_in_store(store, triples, inputs.tasks, inputs.labels, engine=engine,
                                          vocabulary=WriteVocabulary.of(inputs.profile))
    warning = None
    if report.statements == 0:
        held = (f"{len(triples)} triples, none of them an rdf:Statement" if triples
                else "no triples" if file else "empty or absent")
        warning = f"{what} holds no prediction statement ({held}); nothing was validated"
    if report_path:
        report.save(Path(report_path))
    if as_json:
        echo_json(report.to_dict() | ({"warning": warning} if warning else {}))
    else:
        click.echo(report.text())
    if not report.conforms:
        raise ValidationFailed(f"{len(report.violations)} violation(s)")
    if warning:
        click.echo(f"warning: {warning}", err=True)
        raise click.exceptions.Exit(EXIT_NOTHING_VALIDATED)
