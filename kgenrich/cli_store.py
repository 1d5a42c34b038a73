"""``kgenrich load`` and ``kgenrich query``: RDF in, SPARQL results out."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import click

from .cli_util import EXIT_INTERRUPTED, echo_json, progress_enabled
from .errors import KgenrichError
from .store.base import FORMATS


class _AfterCommit:
    """Ctrl-C before a load's commit cancels it (nothing stays); from the commit on it is ignored, so that a
    load that is in the store is never reported as interrupted, and a late Ctrl-C (while the store closes)
    never turns into Click's "Aborted!"."""

    def __init__(self):
        self.ignored = 0
        self._previous = None

    def __call__(self) -> None:
        if threading.current_thread() is threading.main_thread() and self._previous is None:
            self._previous = signal.signal(signal.SIGINT, self._ignore)

    def _ignore(self, signum, frame) -> None:
        self.ignored += 1

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def _per_file_report(messages: list[str]) -> str:
    """The failed files of a load, one ``error:`` line each, and the verdict (the handler prints the first
    ``error:``)."""
    verdict = f"nothing was loaded ({len(messages)} files failed the check; a load is all or nothing)"
    return "\nerror: ".join([*messages, verdict])


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--graph", help="Named graph for triples without a graph of their own (Turtle, N-Triples, RDF/XML, "
              "JSON-LD; required for JSON-LD); default: the default graph.")
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), help="Format (default: from each file name).")
@click.option("--json", "as_json", is_flag=True, help="Print what was loaded as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def load(ctx, files, graph, fmt, as_json, quiet):
    """Load RDF files and directories (Turtle, TriG, N-Triples, N-Quads, RDF/XML, JSON-LD; also .gz).

    One run is all or nothing: every file (a directory: every RDF file in it, recursively) is checked before
    anything is written; a file with a syntax error names the file and line and nothing is loaded; a load
    interrupted or killed midway is removed (see README, Guarantees).
    """
    from rdflib import URIRef

    from .graphs import OwnGraphs
    from .sparql import iri_is_valid
    from .store.loading import LoadErrors, LoadOptions

    app = ctx.obj
    if graph is not None and (not iri_is_valid(graph) or ":" not in graph):
        raise KgenrichError(f"--graph: not an absolute IRI: {graph!r}")
    own = OwnGraphs.from_settings(app.settings)
    if graph is not None and own.is_ours(graph):
        raise KgenrichError(f"--graph {graph} is one of kgenrich's own graphs (predictions, provenance, "
                            "configuration, reviews or curated values): load museum data into a graph of its own; "
                            "configuration goes through 'kgenrich config apply'")
    # A remote store stages a file in a graph of kgenrich's own before moving it in whole.
    staging = own.load_staging_prefix
    settings = app.settings
    options = LoadOptions(batch_quads=settings.load_batch_quads, jsonld_contexts=settings.jsonld_contexts,
                          progress=progress_enabled(as_json, quiet))
    after_commit = _AfterCommit()
    ctx.call_on_close(after_commit.restore)
    store = app.open_store()
    try:
        run = store.load_files(list(files), fmt=fmt, graph=URIRef(graph) if graph else None, staging=staging,
                               options=options, on_commit=after_commit)
    except LoadErrors as exc:
        if len(exc.messages) == 1:
            raise
        # One error line per file, all through the command line's one handler, which strips credentials
        # (an endpoint or a JSON-LD context URL may carry them) and sets the exit status.
        raise KgenrichError(_per_file_report(exc.messages)) from None
    except KeyboardInterrupt as exc:
        if getattr(exc, "leftovers", False):
            click.echo("interrupted while removing the part loaded: the store holds part of the load until the next "
                       "command that writes to it removes it", err=True)
        else:
            click.echo("interrupted: nothing was loaded", err=True)
        ctx.exit(EXIT_INTERRUPTED)
    # Loaded: close the store here, while Ctrl-C is ignored, not in Click's teardown.
    app.close()
    if as_json:
        echo_json({"loaded": [{"path": path, "format": form, "statements": n} for path, form, n in run.files],
                   "added": run.added, "statements": run.statements, "skipped": run.skipped, "failed": []})
    elif len(run.files) == 1:
        path, form, n = run.files[0]
        click.echo(f"loaded {run.added} quads from {path} ({form}; {n} statements read)")
    else:
        click.echo(f"loaded {run.added} quads from {len(run.files)} files ({run.statements} statements read"
                   + (f"; {run.skipped} files without an RDF suffix skipped" if run.skipped else "") + ")")


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
