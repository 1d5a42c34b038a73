"""``kgenrich tasks``, ``labels`` and ``dataset``: what the store holds for the models."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from .cli_util import echo_json, json_option, progress_enabled, task_option


@click.command()
@json_option
@click.option("--explain", "explain", metavar="NAME",
              help="Show every property of task NAME and where it came from (file, configuration graph, default).")
@click.pass_obj
def tasks(app, as_json, explain):
    """List the prediction tasks (from ontology files and the configuration graph)."""
    from .tasks import load_tasks, read_definitions

    if explain:
        doc = read_definitions(app.open_store(read_only=True), app.settings).find(explain).explain()
        if as_json:
            echo_json(doc)
            return
        also = f" (also described as {', '.join(doc['also'])})" if doc["also"] else ""
        click.echo(f"task {doc['task']} {doc['iri']}{also}: {'enabled' if doc['enabled'] else 'DISABLED'}; "
                   f"declared in {', '.join(doc['declared_in']) or 'no file (kge:name match only)'}")
        width = max(len(row["property"]) for row in doc["properties"])
        for row in doc["properties"]:
            over = "".join(f"; overrides {o['value']} from {o['source']}" for o in row["overrides"])
            click.echo(f"  {row['property']:<{width}}  {', '.join(row['values'])}  [{row['source']}{over}]")
        return
    found = load_tasks(app.open_store(read_only=True), app.settings)
    if as_json:
        echo_json({"tasks": [asdict(t) for t in found]})
        return
    for t in found:
        subject = f"via <{t.subject_link}>" if t.subject_link else "on the artifact"
        step = f" / <{t.value_step}>" if t.value_step else ""
        click.echo(f"{t.name:<12} <{t.property}>{step} {subject}; groups: {t.grouping}"
                   f"{' of <' + t.facet + '>' if t.facet else ''}; min support {t.min_support}")


@click.command()
@json_option
@task_option
@click.pass_obj
def labels(app, as_json, task_names):
    """Show each task's label groups, their member concepts and support."""
    from .labels import labels_json
    from .pipeline import load_inputs

    inputs = load_inputs(app.open_store(read_only=True), app.settings, with_inputs=False, task_names=task_names,
                         progress=progress_enabled(as_json))
    doc = labels_json(inputs.labels)
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


@click.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write records to FILE (.jsonl or .parquet).")
@json_option
@click.option("--page-size", type=click.IntRange(1), help="Artifacts per SPARQL page (default from settings: 2000).")
@click.pass_obj
def dataset(app, out, as_json, page_size):
    """Extract one record per artifact (texts, images, groups of every task)."""
    from .dataset import summary, write_records
    from .pipeline import load_inputs

    if page_size:
        app.settings.page_size = page_size
    inputs = load_inputs(app.open_store(read_only=True), app.settings, progress=progress_enabled(as_json))
    doc = summary(inputs.records, inputs.tasks)
    if out is not None:
        doc["written"] = {"path": str(out), "format": write_records(inputs.records, out, inputs.tasks)}
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
