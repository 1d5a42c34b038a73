"""What every command shares: the application context, error handling, common options, JSON output.

Command modules (``cli_*.py``) import this module and never ``cli.py``; ``cli.py``
only assembles the group.  Errors are handled once, in :class:`KgenrichGroup`:
whatever reaches the top -- a user error, a third-party library's exception, a
bug -- becomes one line on stderr starting with ``error:``, with credentials
stripped, and a non-zero exit status.  ``KGENRICH_DEBUG=1`` adds the (redacted)
traceback for bug reports.
"""

from __future__ import annotations

import errno
import functools
import json
import logging
import os
import sys
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from .config import Settings
from .errors import KgenrichError
from .redact import redact

if TYPE_CHECKING:  # the store package is imported when a command opens a store, not before
    from .store import Store

log = logging.getLogger("kgenrich")

EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what `yes | head` leaves, so a pipeline tells it from a failure


@dataclass
class AppContext:
    """What every command gets as ``ctx.obj``: the settings and a lazily opened store."""

    settings: Settings
    _store: Store | None = field(default=None, repr=False)

    def open_store(self, *, read_only: bool = False):
        """The store, opened once.  A command that only reads says ``read_only=True``: it then runs
        beside a writing process, on a read-only directory, and never creates a store by mistake."""
        if self._store is None:
            from .pipeline import store_model_settings, with_model_settings
            from .store import open_store

            self._store = open_store(self.settings, read_only=read_only)
            # A store made for particular models (the demo's) keeps them for every command.
            preset = store_model_settings(self._store)
            if preset:
                with_model_settings(self.settings, preset)
        return self._store

    def close(self):
        if self._store is not None:
            store, self._store = self._store, None
            store.close()


def check_task_tables(store, settings: Settings) -> None:
    """Before a command that reads ``[sync] min_confidence`` / ``min_precision``: a table of them per task
    must name tasks that exist (enabled or not).  The tasks are read only when there is such a table."""
    from .config import PER_TASK_KEYS
    from .config import check_task_tables as check

    if not any(isinstance(settings.section(section).get(key), dict)
               for section, keys in PER_TASK_KEYS.items() for key in keys):
        return
    from .tasks import read_definitions

    check(settings, [d.name for d in read_definitions(store, settings, check=False).definitions])


def secrets_in_play(settings: Settings | None = None) -> list[str]:
    """Secret values that must never be printed: the password from the environment and any
    password written into an endpoint URL (on the command line, in the environment or the settings)."""
    from urllib.parse import urlsplit

    found = [os.environ.get("KGENRICH_PASSWORD", "")]
    urls = list(sys.argv[1:]) + [os.environ.get(var, "") for var in
                                 ("KGENRICH_ENDPOINT", "KGENRICH_UPDATE_ENDPOINT", "KGENRICH_GSP_ENDPOINT")]
    if settings is not None:
        urls += [settings.endpoint or "", settings.update_endpoint or "", settings.gsp_endpoint or ""]
    for url in urls:
        if "@" not in url:
            continue
        try:
            password = urlsplit(url if "//" in url else "//" + url).password
        except ValueError:
            # unparsable: take whatever sits between the first ':' after '//' and the '@'
            info = url.split("//", 1)[-1].split("@", 1)[0]
            password = info.split(":", 1)[1] if ":" in info else None
        if password:
            found.append(password)
    return [s for s in found if s]


def user_message(exc: BaseException, settings: Settings | None = None) -> str:
    """The exception as one redacted line (a multi-line message keeps its first line only
    for third-party errors; kgenrich's own errors may carry a short report below it)."""
    secrets = secrets_in_play(settings)
    if isinstance(exc, KgenrichError):
        return redact(str(exc), secrets)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return redact(f"{type(exc).__name__}: {text}" if text else type(exc).__name__, secrets)


class _OneLineLibraryWarnings:
    """stderr, with the multi-line warnings a library prints there folded into one ``warning:`` line
    (Owlready2's "* Owlready2 * Warning: ignoring cyclic subclass of ..., involving:\n  A\n  B\n")."""

    PREFIX = "* Owlready2 * Warning: "

    def __init__(self, stream):
        self._stream = stream
        self._drop_newline = False

    def write(self, text: str) -> int:
        if self._drop_newline and text == "\n":  # the end print() adds after the folded message
            self._drop_newline = False
            return len(text)
        self._drop_newline = False
        if text.startswith(self.PREFIX):
            self._drop_newline = True
            self._stream.write(f"warning: owlready2: {' '.join(text[len(self.PREFIX):].split())}\n")
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


class KgenrichGroup(click.Group):
    """A click group that turns every exception of every command into one ``error:`` line."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Click's own reports as one line too: a usage error is ``error: ...`` (exit 2), Ctrl-C outside a
        command ``interrupted`` (130), a reader that went away (``| head``) ends quietly (141)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        stderr, sys.stderr = sys.stderr, _OneLineLibraryWarnings(sys.stderr)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Abort:
            click.echo("interrupted", err=True)
            code = EXIT_INTERRUPTED
        except click.ClickException as exc:
            message = " ".join(exc.format_message().split())
            failed_in: click.Context | None = getattr(exc, "ctx", None)  # usage errors carry their command's
            command = failed_in.command_path if failed_in is not None else (prog_name or "kgenrich")
            hint = f" (see '{command} --help')" if isinstance(exc, click.UsageError) else ""
            click.echo(f"error: {redact(message, secrets_in_play())}{hint}", err=True)
            code = exc.exit_code
        except BrokenPipeError:
            _silence_stdout()
            code = EXIT_BROKEN_PIPE
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            _silence_stdout()
            code = EXIT_BROKEN_PIPE
        finally:
            sys.stderr = stderr
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except click.ClickException as exc:
            # usage errors: click prints them; strip credentials from what it will print
            # click declares ``message`` Final; redacting it in place keeps the exception's type and context
            exc.message = redact(exc.message, secrets_in_play(_settings_of(ctx)))  # type: ignore[misc]
            raise
        except KgenrichError as exc:
            click.echo(f"error: {user_message(exc, _settings_of(ctx))}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            # `kgenrich query ... | head`: the reader went away; nothing more to say
            _silence_stdout()
            ctx.exit(EXIT_BROKEN_PIPE)
        except Exception as exc:  # a bug or an unexpected library failure: still one line, never a secret
            settings = _settings_of(ctx)
            if os.environ.get("KGENRICH_DEBUG"):
                click.echo(redact(traceback.format_exc(), secrets_in_play(settings)), err=True)
            click.echo(f"error: unexpected failure: {user_message(exc, settings)} "
                       "(this is a bug in kgenrich; KGENRICH_DEBUG=1 shows the details)", err=True)
            ctx.exit(EXIT_INTERNAL)


def _settings_of(ctx: click.Context) -> Settings | None:
    obj = ctx.find_object(AppContext)
    return obj.settings if obj is not None else None


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


class RedactingFilter(logging.Filter):
    """Strips credentials from every log record kgenrich's loggers emit."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), secrets_in_play())
        record.args = ()
        return True


def echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


# ------------------------------------------------------------------ shared options
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
quiet_option = click.option("--quiet", is_flag=True, help="No progress bars.")
device_option = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]),
                             help="Where torch models run (default: settings, auto = CUDA when present).")
task_option = click.option("--task", "task_names", multiple=True, help="Only this task (repeatable).")


def progress_enabled(as_json: bool = False, quiet: bool = False) -> bool:
    """Progress bars go to stderr, but not when the output is JSON or the user asked for quiet."""
    return not (as_json or quiet)


def torchrun_aware(command):
    """For a command that trains or predicts: under ``torchrun`` rank 0 runs it and the other ranks
    follow its training and prediction (training.distributed_command); otherwise it just runs."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from .training import distributed_command

        with distributed_command() as leader:
            if leader:
                return command(*args, **kwargs)
    return wrapper
