"""The ``sublearn`` command line. Each command is a thin wrapper over the library."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from sublearn import __version__
from sublearn.errors import SublearnError

app = typer.Typer(
    name="sublearn",
    help="Run, reproduce and audit subliminal learning (Cloud, Le et al., arXiv 2507.14805).\n\n"
         "Start with `sublearn demo`: the paper's MNIST auxiliary-logit experiment, in about two minutes on a CPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def format_validation_error(exc: ValidationError) -> str:
    """One line naming every bad field: ``field.path: message; ...``."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def user_errors(func: F) -> F:
    """Turn user-facing errors into one red line on stderr and exit status 2, without a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SublearnError as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        except ValidationError as exc:
            err_console.print(f"[red]error:[/red] {format_validation_error(exc)}", highlight=False,
                              soft_wrap=True)
        raise typer.Exit(code=2)

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        console.print(f"sublearn {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                               help="Print the version and exit.")] = False) -> None:
    """Run, reproduce and audit subliminal learning."""


def _register_commands() -> None:
    from sublearn.commands import audit as audit_cmd
    from sublearn.commands import experiment as experiment_cmd
    from sublearn.commands import mnist as mnist_cmd
    from sublearn.commands import models as models_cmd
    from sublearn.commands import numbers as numbers_cmd
    from sublearn.commands import report as report_cmd
    from sublearn.commands import serve as serve_cmd
    from sublearn.commands import theory as theory_cmd

    mnist_cmd.register(app)
    numbers_cmd.register(app)
    theory_cmd.register(app)
    audit_cmd.register(app)
    experiment_cmd.register(app)
    models_cmd.register(app)
    serve_cmd.register(app)
    report_cmd.register(app)


_register_commands()


def run() -> None:  # pragma: no cover - console-script shim
    """Entry point that keeps ``python -m sublearn`` and the script in step."""
    app(prog_name="sublearn")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
