"""The command line: parse options, call the library, render. No schedule logic lives here.

Heavy libraries (numpy for tables, matplotlib/plotly for image and HTML plots, torch for the few
paths that need it) are imported inside the commands that use them, never at start-up.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from .version import __version__
from .errors import ExitCode, LrplanError

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


def build_app(modules=COMMAND_MODULES) -> typer.Typer:
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
    return application


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
    args = sys.argv[1:] if argv is None else argv
    common.INVOCATION[:] = args
    name = _invoked(args)
    command = typer.main.get_command(build_app([COMMANDS[name]] if name in COMMANDS else COMMAND_MODULES))
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
        code = 130
    except LrplanError as e:
        if _state["traceback"]:
            raise
        print(e.render(), file=sys.stderr)
        code = e.exit_code
    except BrokenPipeError:  # e.g. `lrplan table ... | head`: stop quietly, like other Unix tools
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    except KeyboardInterrupt:
        code = 130
    except Exception as e:  # a bug: short message unless asked for the traceback
        if _state["traceback"]:
            raise
        print(f"error: internal error ({type(e).__name__}: {e})", file=sys.stderr)
        print("hint: this is a bug in lrplan; rerun with --traceback and report it", file=sys.stderr)
        code = ExitCode.INTERNAL
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(int(code))


if __name__ == "__main__":
    main()
