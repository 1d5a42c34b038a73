"""``kgenrich train`` and ``kgenrich evaluate``: thin commands over training.py / evaluation.py."""

from __future__ import annotations

from pathlib import Path

import click

from .cli_util import (
    EXIT_INTERRUPTED,
    check_task_tables,
    device_option,
    echo_json,
    progress_enabled,
    quiet_option,
    torchrun_aware,
)
from .errors import ModelError


def _inputs(app, progress: bool):
    """Tasks, label groups and records of the store (one pass), refusing an empty collection."""
    from .pipeline import load_inputs

    store = app.open_store(read_only=True)
    check_task_tables(store, app.settings)  # [sync] min_precision / min_confidence per task: known tasks only
    inputs = load_inputs(store, app.settings, progress=progress)
    if not inputs.records:
        raise ModelError("the store holds no artifact of the tasks' classes; load a collection first")
    return inputs


@click.command()
@device_option
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run (same data and settings) from its last checkpoint.")
@click.option("--json", "as_json", is_flag=True, help="Print the model card as JSON.")
@quiet_option
@click.pass_obj
@torchrun_aware
def train(app, device, resume, as_json, quiet):
    """Train the modality models and fusion on the store's labelled artifacts.

    Ctrl-C stops at the next batch and leaves the models directory as it was;
    'kgenrich train --resume' continues from the last checkpoint.  Under
    'torchrun --nproc-per-node N -m kgenrich ... train' the processes train
    data-parallel (rank 0 reads the store and writes the models).
    """
    from .training import train_ensemble

    settings = app.settings
    if device:
        settings.device = device
    progress = progress_enabled(as_json, quiet)
    inputs = _inputs(app, progress)
    try:
        ens = train_ensemble(inputs.records, inputs.labels, settings, Path(settings.models_dir), progress=progress,
                             resume=resume)
    except KeyboardInterrupt:
        click.echo(f"interrupted: {settings.models_dir} is unchanged; 'kgenrich train --resume' continues from "
                   "the last checkpoint", err=True)
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    assert ens is not None, "the command's work runs in the leader (distributed_command)"
    _report_training(ens.card, settings, as_json)


def _report_training(card: dict, settings, as_json: bool) -> None:
    if as_json:
        echo_json(card)
        return
    click.echo(f"trained {', '.join(card['modalities'])} + fusion on {card['training_data']['labelled']} labelled "
               f"of {card['training_data']['artifacts']} artifacts -> {settings.models_dir}")
    for note in card["notes"]:
        click.echo(f"  note: {note}")
    click.echo(f"  out-of-fold macro-F1 ({card['training_data']['folds']}-fold):")
    mods = card["modalities"] + ["fusion"]
    click.echo("  " + f"{'task':<12}" + "".join(f"{m:>10}" for m in mods))
    for task in card["groups"]:
        cells = []
        for m in mods:
            s = card["scores"].get(m, {}).get(task)
            cells.append(f"{s['macro_f1']:>10.3f}" if s else f"{'-':>10}")
        click.echo("  " + f"{task:<12}" + "".join(cells))


@click.command()
@device_option
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON: {\"tasks\": {TASK: {MODALITY: {...}}}}.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Write report.json, report.md and PNG plots to DIR.")
@click.option("--test-graph", "test_graphs", multiple=True,
              help="Evaluate on the artifacts of this museum graph (repeatable), train on the others.")
@click.option("--test-size", type=click.FloatRange(0.01, 0.99), default=0.2, show_default=True,
              help="Share of artifacts held out when no --test-graph is given.")
@click.option("--seed", type=int, help="Seed of the split and the models (default: settings).")
@quiet_option
@click.pass_obj
@torchrun_aware
def evaluate(app, device, as_json, out, test_graphs, test_size, seed, quiet):
    """Train on part of the labelled artifacts and score the rest on hidden values."""
    from .evaluation import evaluate_holdout, evaluate_split, markdown_table, write_report

    settings = app.settings
    if device:
        settings.device = device
    if seed is not None:
        settings.seed = seed
    progress = progress_enabled(as_json, quiet)
    inputs = _inputs(app, progress)
    labels, records = inputs.labels, inputs.records
    if test_graphs:
        wanted = set(test_graphs)
        test = [r for r in records if r.graph in wanted]
        train_ = [r for r in records if r.graph not in wanted]
        if not test:
            known = sorted({r.graph for r in records})
            raise ModelError(f"no artifact in {', '.join(sorted(wanted))} (graphs: {', '.join(known[:10])})")
        report = evaluate_split(train_, test, labels, settings, progress)
        report["split"] = {"method": "test graph(s)", "test_graphs": sorted(wanted)}
    else:
        report = evaluate_holdout(records, labels, settings, test_size=test_size, seed=settings.seed,
                                  progress=progress)
    if out is not None:
        paths = write_report(report, out)
        if not as_json:
            click.echo(f"wrote {len(paths)} files to {out}")
    if as_json:
        echo_json(report)
    else:
        click.echo(markdown_table(report), nl=False)
