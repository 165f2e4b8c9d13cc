"""The command line: parse options, call the library, render. No schedule logic lives here.

Heavy libraries (numpy for tables, matplotlib/plotly for image and HTML plots, torch for the few
paths that need it) are imported inside the commands that use them, never at start-up.
"""

from __future__ import annotations

import importlib
import os
import re
import sys

import typer

from .errors import ExitCode, LrplanError
from .version import __version__

# Each command and the module whose register(app) defines it. Adding a command: its module and a
# line here. main() builds only the invoked command's module: typer turns every registered command
# into a click command before running one, and that would cost every invocation a few tens of ms.
COMMANDS = {
    "plot": "lrplan.commands.core",
    "table": "lrplan.commands.core",
    "at-step": "lrplan.commands.core",
    "convert": "lrplan.commands.core",
    "diff": "lrplan.commands.diff",
    "explain": "lrplan.commands.understand",
    "lint": "lrplan.commands.understand",
    "presets": "lrplan.commands.understand",
    "inspect": "lrplan.commands.checkpoints",
    "resume": "lrplan.commands.checkpoints",
    "check": "lrplan.commands.logs",
    "fit": "lrplan.commands.logs",
    "branch": "lrplan.commands.branch",
}
COMMAND_MODULES = tuple(dict.fromkeys(COMMANDS.values()))

_state = {"traceback": bool(os.environ.get("LRPLAN_TRACEBACK"))}


def _version(value: bool) -> None:
    if value:
        print(f"lrplan {__version__}")
        raise typer.Exit(0)


def _root(
    traceback: bool = typer.Option(False, "--traceback", help="Show Python tracebacks (for bug reports)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    if traceback:
        _state["traceback"] = True


def build_app(modules=COMMAND_MODULES, only: str | None = None) -> typer.Typer:
    """The typer app with the commands of ``modules`` (``only``: just that command of theirs)."""
    application = typer.Typer(
        name="lrplan",
        help="Plan, convert and check learning-rate schedules across training stacks.\n\n"
        'Example: lrplan plot "warmup=2000,cosine,min=0.1" --steps 100k',
        no_args_is_help=True,
        add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    application.callback()(_root)
    for name in modules:
        importlib.import_module(name).register(application)
    if only is not None:  # typer makes a click command of every registered one before running one
        application.registered_commands = [c for c in application.registered_commands if _name(c) == only]
    return application


def _name(info) -> str:
    return info.name or info.callback.__name__.replace("_", "-")


def __getattr__(name: str):
    """``lrplan.cli.app``: every command (for --help, the docs generator, tests), built on first use."""
    if name == "app":
        globals()["app"] = full = build_app()
        return full
    raise AttributeError(name)


def _invoked(argv: list[str]) -> str | None:
    for arg in argv:
        if not arg.startswith("-"):
            return arg
    return None


def _click_exception():
    try:  # typer >= 0.2x vendors click as typer._click; older typer uses click itself
        from typer._click.exceptions import ClickException
    except ImportError:  # pragma: no cover - depends on the installed typer
        from click.exceptions import ClickException
    return ClickException


def main(argv: list[str] | None = None) -> None:
    from .commands import common

    click_exception = _click_exception()
    if sys.stdout is None:  # started with stdout closed (`>&-`): writing to it is an error, not a crash
        sys.stdout = _ClosedStdout()
    args = _flag_strings_as_sources(sys.argv[1:] if argv is None else argv)
    common.INVOCATION[:] = args
    name = _invoked(args)
    app = build_app([COMMANDS[name]], only=name) if name in COMMANDS else build_app()
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=args, prog_name="lrplan", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
    except typer.Exit as e:
        code = e.exit_code
    except click_exception as e:
        e.show()
        code = e.exit_code if e.exit_code not in (None, 1) else ExitCode.USAGE
    except typer.Abort:
        print("aborted", file=sys.stderr)
        code = ExitCode.INTERRUPTED
    except LrplanError as e:
        if _state["traceback"]:
            raise
        print(e.render(), file=sys.stderr)
        code = e.exit_code
    except BrokenPipeError:  # e.g. `lrplan table ... | head`: stop quietly, like other Unix tools
        _silence_stdout()
        code = CLOSED_PIPE
    except SystemExit:  # click turns EPIPE into exit(1), which would read as DIFFERENT for `diff`
        if type(sys.stdout).__name__ != "PacifyFlushWrapper":
            raise
        _silence_stdout()
        code = CLOSED_PIPE
    except _StdoutIsClosed:
        print("error: cannot write the output: standard output is closed", file=sys.stderr)
        print("hint: redirect it (> file, or > /dev/null) or write a file with -o", file=sys.stderr)
        code = ExitCode.OUTPUT
    except KeyboardInterrupt:
        code = ExitCode.INTERRUPTED
    except Exception as e:  # a bug: short message unless asked for the traceback
        if _state["traceback"]:
            raise
        print(f"error: internal error ({type(e).__name__}: {e})", file=sys.stderr)
        print("hint: this is a bug in lrplan; rerun with --traceback and report it", file=sys.stderr)
        code = ExitCode.INTERNAL
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        code = CLOSED_PIPE
    except _StdoutIsClosed:
        pass
    sys.exit(int(code))


_FLAG_STRING = re.compile(r"-{1,2}[A-Za-z][\w.-]*(?:=\S*)?\s+\S")


def _flag_strings_as_sources(args: list[str]) -> list[str]:
    """A quoted flag block (``"--lr=3e-4 --train-iters 1000"``) is one SOURCE, not lrplan's own ``--lr``:
    click would take any argument that starts with '-' as an option, so such an argument gets a leading
    space (every reader ignores it)."""
    out = []
    for i, a in enumerate(args):
        if a == "--":
            return out + args[i:]
        prev = args[i - 1] if i else ""
        takes_value = prev.startswith("-") and "=" not in prev and not _FLAG_STRING.match(prev)
        if _FLAG_STRING.match(a) and not (takes_value and prev in _VALUE_OPTIONS):
            a = " " + a
        out.append(a)
    return out


# options whose value may itself be a flag block (``--config "--lr 3e-4 ..."``): left as their value
_VALUE_OPTIONS = ("--config", "--plan", "--set")


CLOSED_PIPE = ExitCode.CLOSED_PIPE  # what a tool killed by SIGPIPE reports (`yes | head`); never 1 (`diff`)


def _silence_stdout() -> None:
    """After a closed pipe: point fd 1 at /dev/null so Python's exit-time flush stays quiet."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


class _StdoutIsClosed(Exception):
    pass


class _ClosedStdout:
    """Stands in for a closed standard output: any write ends the command with exit 73."""

    encoding = "utf-8"
    errors = "strict"

    def write(self, text: str) -> int:
        if text:
            raise _StdoutIsClosed()
        return 0

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise _StdoutIsClosed()


if __name__ == "__main__":
    main()
