"""The ``sublearn`` application: every command group, registered from its module. Importing it loads no torch:
each command imports what it needs when it runs."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from sublearn import __version__
from sublearn.cli import (
    audit,
    defend,
    experiment,
    mnist,
    models,
    numbers,
    reference,
    report,
    rescore,
    scan,
    serve,
    theory,
    verify,
    world,
)
from sublearn.cli._common import SETTINGS, console
from sublearn.util.logs import LEVELS

app = typer.Typer(
    name="sublearn",
    help="Run, reproduce and audit subliminal learning (Cloud, Le et al., arXiv 2507.14805).\n\n"
         "Start with `sublearn demo`: the paper's MNIST auxiliary-logit experiment, in about two minutes on a CPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


#: ``--log-level``'s values.
LogLevel = StrEnum("LogLevel", {level: level for level in LEVELS})


def _version(value: bool) -> None:
    if value:
        console.print(f"sublearn {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an error instead of one line.",
                                        show_default="off")] = False,
    log_level: Annotated[LogLevel, typer.Option(  # type: ignore[valid-type]
        help="Show log lines from this level on stderr. Commands that work on a folder also keep "
             "FOLDER/logs/TIME-COMMAND-PID.log (at least INFO, and a failure's traceback).")
    ] = LogLevel.warning,  # type: ignore[attr-defined]
) -> None:
    """Run, reproduce and audit subliminal learning."""
    from sublearn.util.logs import configure_console

    SETTINGS["debug"] = debug
    SETTINGS["log_level"] = log_level.value
    configure_console(log_level.value)


app.command("demo")(mnist.demo)
app.command("mnist")(mnist.mnist)
app.command("theory")(theory.theory)
app.command("coverage")(theory.coverage)
app.add_typer(audit.group, name="audit")
app.command("family")(audit.family)
app.command("scan")(scan.scan)
app.add_typer(defend.group, name="defend")
app.command("validate")(experiment.validate)
app.command("plan")(experiment.plan)
app.command("run")(experiment.run)
app.add_typer(models.group, name="models")
app.add_typer(world.group, name="world")
app.command("serve")(serve.serve)
app.command("report")(report.report)
app.command("export")(report.export)
app.command("summary-tables")(report.summary_tables)
app.command("times")(report.times)
app.command("reference")(reference.reference)
app.command("rescore")(rescore.rescore)
app.command("rejudge")(rescore.rejudge)
app.command("verify")(verify.verify)
app.add_typer(numbers.group, name="numbers")


def run() -> None:  # pragma: no cover - console-script shim
    """Entry point that keeps ``python -m sublearn`` and the script in step."""
    app(prog_name="sublearn")
