"""`kgenrich demo`: the whole agent on a synthetic collection, on a CPU, in minutes."""

from __future__ import annotations

import click

from .cli_util import echo_json


def _table(evaluation: dict) -> str:
    """Macro-F1 per task and modality, and fusion's lead over the best single modality.

    A modality is scored on the artifacts that have it; the lead compares fusion
    with it on exactly those artifacts (``fusion_same_rows``), so it is like for like.
    """
    from .evaluation import report_modalities

    tasks = evaluation["tasks"]
    modalities = report_modalities(evaluation)  # the trained ones, in the card's order; fusion last
    header = "| task | " + " | ".join(modalities) + " | fusion lead (same rows) |"
    lines = [header, "|---|" + "---:|" * (len(modalities) + 1)]
    for task, per in tasks.items():
        cells = []
        for modality in modalities:
            value = per.get(modality, {}).get("macro_f1")
            cells.append("–" if value is None else f"{value:.3f}")
        leads = [per[m]["fusion_same_rows"]["macro_f1"] - per[m]["macro_f1"]
                 for m in modalities if m != "fusion" and "fusion_same_rows" in per.get(m, {})]
        cells.append(f"{min(leads):+.3f}" if leads else "–")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


@click.command()
@click.option("--size", type=click.IntRange(100, 200_000), default=3000, show_default=True,
              help="Number of artifacts to generate.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed: the same seed gives the same collection.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def demo(ctx, size, seed, as_json):
    """Generate the demo collection into a fresh embedded store and run `sync` on it."""
    from .demo.run import run_demo

    settings = ctx.obj.settings
    echo = (lambda *_: None) if as_json else (lambda msg: click.echo(msg, err=True))
    summary = run_demo(settings, size=size, seed=seed, progress=not as_json, echo=echo)
    if as_json:
        echo_json(summary)
        return
    click.echo(f"\n{summary['artifacts']} artifacts in {summary['museums']} museum graphs, "
               f"{summary['images']} images ({summary['broken_image_refs']} broken references, skipped)")
    click.echo("gaps per task: " + ", ".join(f"{t} {n}" for t, n in summary["gaps"].items()))
    click.echo(f"predictions written: {summary['predictions_written']} into <{settings.predictions_graph}>")
    click.echo(f"\nmacro-F1 per task ({summary['evaluation'].get('method', 'held out')}):\n")
    click.echo(_table(summary["evaluation"]))
    click.echo(f"\nstore: {summary['store']}   models: {summary['models_dir']}   ({summary['seconds']} s)")
    click.echo("next: kgenrich query @queries/examples/... , kgenrich evaluate, kgenrich sync (writes nothing new)")
    click.echo("review the predictions: kgenrich users add NAME, then kgenrich serve (http://127.0.0.1:8000/)")
