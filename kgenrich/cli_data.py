"""``kgenrich tasks``, ``labels`` and ``dataset``: what the store holds for the models."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import click

from .cli_util import echo_json, json_option, progress_enabled, task_option


def _task_json(task) -> dict:
    """A task as `kgenrich tasks --json` shows it (paths in SPARQL syntax)."""
    doc = asdict(task)
    for key in ("value_type_path", "broader_path"):
        value = getattr(task, key)
        doc[key] = value.sparql() if value is not None else None
    return doc


def _explain_profile(profile, name: str, as_json: bool) -> None:
    """``tasks --explain profile`` / ``--explain INPUT``: the profile, or one of its inputs."""
    doc = profile.describe()
    if name != "profile":
        found = [i for i in doc["inputs"] if i["name"] == name]
        doc = {"profile": profile.name, "file": profile.source, **found[0]}
    if as_json:
        echo_json(doc)
        return
    if name != "profile":
        click.echo(f"{doc['kind']} input '{doc['name']}' of profile {doc['profile']} ({doc['file']})")
        _echo_input(doc, "  ")
        return
    click.echo(f"profile {doc['name']} <{doc['iri']}> ({doc['file']}): {doc['label']}")
    click.echo(f"  chosen: {doc['reason']}")
    click.echo(f"  artifact classes: {', '.join(doc['artifact_classes'])}")
    click.echo(f"  predictions: confidence {doc['confidence_property']}, model description "
               f"{doc['description_property']}, minted under {doc['mint_namespace']}")
    for inp in doc["inputs"]:
        click.echo(f"  {inp['kind']} input '{inp['name']}'")
        _echo_input(inp, "    ")


def _echo_input(inp: dict, indent: str) -> None:
    if inp.get("node_path"):
        click.echo(f"{indent}node path   {inp['node_path']}")
    if inp.get("node_types"):
        click.echo(f"{indent}node type   {inp['node_type_path']} one of {', '.join(inp['node_types'])}")
    click.echo(f"{indent}value path  {inp['value_path'] or '(the node itself)'}")
    if inp.get("language_path"):
        click.echo(f"{indent}language    {inp['language_path']} (or the literal's language tag)")


@click.command()
@json_option
@click.option("--explain", "explain", metavar="NAME",
              help="Show every property of task NAME and where it came from (file, configuration graph, default); "
                   "'profile' or the name of one of the profile's inputs shows where that input is read.")
@click.option("--no-groups", is_flag=True,
              help="Do not read the store's values (faster): tasks are listed without active/inactive.")
@click.pass_obj
def tasks(app, as_json, explain, no_groups):
    """List the collection profile and its prediction tasks, each active or inactive with the reason."""
    from .labels import inactive_reason
    from .pipeline import load_inputs
    from .tasks import read_definitions

    store = app.open_store(read_only=True)
    if explain:
        definitions = read_definitions(store, app.settings)
        profile = definitions.profile
        assert profile is not None  # read_definitions resolves one (profiles.resolve)
        if explain == "profile" or (explain not in {d.name for d in definitions.definitions}
                                    and explain in {i.name for i in profile.inputs()}):
            _explain_profile(profile, explain, as_json)
            return
        doc = definitions.find(explain).explain()
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
    if no_groups:
        from .tasks import load_definitions

        definitions = load_definitions(store, app.settings)
        found, profile, labels = definitions.tasks, definitions.profile, {}
    else:
        # A listing: a bar only where someone watches (a terminal), never in a log or a pipe.
        inputs = load_inputs(store, app.settings, with_inputs=False,
                             progress=progress_enabled(as_json) and sys.stderr.isatty())
        found, profile, labels = inputs.tasks, inputs.profile, inputs.labels
    assert profile is not None  # the definitions resolve one (profiles.resolve)
    status = {}
    for t in found:
        if t.name in labels:
            why = inactive_reason(labels[t.name])
            tl = labels[t.name]
            status[t.name] = {"active": not why, "inactive_reason": why or None, "groups": len(tl.groups),
                              "labelled": sum(g.support for g in tl.groups)}
    if as_json:
        echo_json({"profile": profile.describe(),
                   "tasks": [_task_json(t) | status.get(t.name, {}) for t in found]})
        return
    click.echo(f"profile {profile.name} ({profile.source}): {profile.reason}")
    kinds: dict[str, list[str]] = {"text": [], "image": [], "feature": []}
    for inp in profile.inputs():
        kinds[inp.kind].append(inp.name)
    click.echo("  inputs: " + "; ".join(f"{k}s: {', '.join(v)}" for k, v in kinds.items() if v)
               + "  (kgenrich tasks --explain profile)")
    for t in found:
        subject = (f"via {'^' if t.subject_inverse else ''}<{t.subject_link}>" if t.subject_link
                   else "on the artifact")
        step = f" / <{t.value_step}>" if t.value_step else ""
        line = (f"{t.name:<12} <{t.property}>{step} {subject}; groups: {t.grouping}"
                f"{' of <' + t.facet + '>' if t.facet else ''}; min support {t.min_support}")
        st = status.get(t.name)
        if st is not None:
            line += (f"; active: {st['groups']} groups, {st['labelled']:,} labelled artifacts" if st["active"]
                     else f"; INACTIVE: {st['inactive_reason']}")
        click.echo(line)


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
    from .dataset_export import summary, write_records
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
