"""Click commands of the review page: ``kgenrich serve``, ``kgenrich users add/remove/list`` and
``kgenrich reviews export``."""

from __future__ import annotations

import ipaddress
import socket
import sys

import click

from .cli_util import echo_json
from .errors import KgenrichError


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (loopback only unless told otherwise).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.pass_obj
def serve(app, host: str, port: int):
    """Run the review web page (queue, artifact view, decisions, JSON API) over the store."""
    from .review.users import users_file

    users = users_file(app.settings)
    if not users.users():
        raise KgenrichError(f"no reviewers in {users.path}: add one with `kgenrich users add NAME`")
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise KgenrichError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None

    import uvicorn

    from .review.app import create_app

    store = app.open_store()
    web = create_app(store, app.settings, users)
    # Read the collection once now: an empty store or a broken task definition is an error here,
    # not on the first page someone opens.
    collection = web.state.review.reader.collection()
    if not _is_loopback(host):
        click.echo(f"warning: listening on {host}, beyond this machine, over plain HTTP: passwords and session "
                   "cookies cross the network readable; put a TLS proxy in front (on this machine, sending "
                   "X-Forwarded-Proto: https, so that cookies are marked Secure) before anyone logs in", err=True)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"kgenrich review on http://{shown}:{port}/ over {store.description} "
               f"({len(collection.tasks)} tasks, {len(users.users())} users); Ctrl-C stops", err=True)
    uvicorn.run(web, host=host, port=port, log_level="warning", access_log=False)


@click.group()
def users():
    """Reviewers of the review page (the users file, [review] users_file)."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["reviewer", "admin", "readonly"]), default="reviewer", show_default=True,
              help="reviewer: may decide and change their own decisions; admin: anyone's; readonly: may look.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.option("--force", is_flag=True, help="Replace the password and role of a user that exists already.")
@click.pass_obj
def users_add(app, name: str, role: str, password_stdin: bool, force: bool):
    """Add a reviewer; the password is asked for twice.  An existing name is refused unless --force."""
    from .review.users import check_name, users_file

    check_name(name)
    if not force and users_file(app.settings).get(name) is not None:
        raise KgenrichError(f"user {name} exists already in {users_file(app.settings).path}; nothing was changed "
                            f"(kgenrich users add {name} --force sets a new password and role)")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(f"password for {name}", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise KgenrichError("the password must have at least 8 characters; nothing was changed")
    store = users_file(app.settings)
    new = store.add(name, password, role, replace=force)
    click.echo(f"{'added' if new else 'updated'} {name} ({role}) in {store.path}")


@users.command("remove")
@click.argument("name")
@click.pass_obj
def users_remove(app, name: str):
    """Remove a reviewer (their recorded decisions stay in the graph)."""
    from .review.users import users_file

    store = users_file(app.settings)
    store.remove(name)
    click.echo(f"removed {name} from {store.path}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the users as JSON.")
@click.pass_obj
def users_list(app, as_json: bool):
    """The reviewers and their roles (never their password hashes)."""
    from .review.users import users_file

    store = users_file(app.settings)
    found = [{"name": u.name, "role": u.role} for u in sorted(store.users().values(), key=lambda u: u.name)]
    if as_json:
        echo_json({"users_file": str(store.path), "users": found})
        return
    for u in found:
        click.echo(f"{u['name']}\t{u['role']}")
    if not found:
        click.echo(f"no users in {store.path}", err=True)


@click.group()
def reviews():
    """Curators' decisions (the review graph)."""


@reviews.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonld"]), default="csv", show_default=True,
              help="csv: one row per review, with labels; jsonld: the review graph as JSON-LD.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write to FILE (default: standard output).")
@click.pass_obj
def reviews_export(app, fmt: str, out: str | None):
    """Every review ever recorded (changed and undone ones too, each naming what it revises)."""
    from pathlib import Path

    from .review import export
    from .review.reading import Reader

    store = app.open_store(read_only=True)
    reader = Reader(store, app.settings)
    text = export.to_csv(reader.export_rows()) if fmt == "csv" else export.to_jsonld(store, reader.graphs)
    if out:
        target = Path(out)
        tmp = target.with_name(target.name + ".partial")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=False)
