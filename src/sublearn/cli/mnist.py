"""``sublearn mnist`` and ``sublearn demo``: the auxiliary-logit experiment."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sublearn.cli._common import AsJson, Quiet, console, print_json, run_logged, user_errors, writable_folder
from sublearn.mnist.config import ALL_ARMS, DEFAULT_ARMS, PAPER_FIGURE_COMMAND, MnistConfig
from sublearn.util.errors import ConfigError

DEMO_INTRO = (
    "You are looking at the paper's cleanest case of subliminal learning: a student network that only ever sees "
    "random noise, and only imitates its teacher's 3 extra 'auxiliary' outputs that were never trained on "
    "anything, still learns to classify MNIST digits. It works only when the student starts from the teacher's "
    "own initial weights (student_aux); the same training from another model's initialisation (cross_aux) "
    "stays at chance, about 10%."
)
#: The MNIST demo's run folder (the LLM demo writes to runs/NAME, from its spec).
DEMO_OUT = Path("runs/demo-mnist")


class Dataset(StrEnum):
    """Digit datasets."""

    mnist = "mnist"
    digits = "digits"


class Optimizer(StrEnum):
    """Optimisers."""

    adam = "adam"
    adamw = "adamw"
    sgd = "sgd"


class Noise(StrEnum):
    """Whether students see one fixed set of noise images every epoch, or new ones."""

    fixed = "fixed"
    fresh = "fresh"


class NoiseDistribution(StrEnum):
    """Student input distributions."""

    uniform = "uniform"
    gaussian = "gaussian"


def parse_arms(text: str) -> list[str]:
    """``all``, or a comma-separated list of arm names."""
    if text.strip() == "all":
        return list(ALL_ARMS)
    arms = [a.strip() for a in text.split(",") if a.strip()]
    bad = [a for a in arms if a not in ALL_ARMS]
    if bad or not arms:
        raise ConfigError(f"--arms: unknown arm {', '.join(bad) or '(none)'}; choose from {', '.join(ALL_ARMS)} "
                          "or 'all'")
    return arms


@user_errors
@run_logged("out", "mnist")
def mnist(
    n_models: Annotated[int, typer.Option("--n-models", "-n", help="Models N trained together as one "
                                          "vectorised ensemble (the paper's figure: 100).")] = 10,
    m_aux: Annotated[int, typer.Option("--m", help="Auxiliary logits m appended to the 10 class logits.")
                     ] = 3,
    teacher_epochs: Annotated[int, typer.Option(help="Teacher epochs on the 10 class logits.")] = 5,
    student_epochs: Annotated[int, typer.Option(help="Student epochs of distillation on noise.")] = 5,
    lr: Annotated[float | None, typer.Option(help="Learning rate, teacher and students.",
                                             show_default="3e-4 for mnist, 1e-3 for digits")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch", help="Examples per model per step.",
                                                   show_default="1024 for mnist, 64 for digits")] = None,
    weight_decay: Annotated[float, typer.Option(help="Weight decay (L2 for adam/sgd, decoupled for "
                                                "adamw).")] = 0.0,
    optimizer: Annotated[Optimizer, typer.Option(help="Optimiser for teacher and students.")] = Optimizer.adam,
    noise: Annotated[Noise, typer.Option(help="fixed: one set of noise images per model, the same every epoch (the "
                                         "paper); fresh: new images at every step.")] = Noise.fixed,
    noise_dist: Annotated[NoiseDistribution, typer.Option(help="Student inputs: uniform in [-1, 1] (the paper) or "
                                                          "N(0, 1).")] = NoiseDistribution.uniform,
    noise_examples: Annotated[int | None, typer.Option(help="Noise images per student epoch.",
                                                       show_default="the size of the train set")] = None,
    student_init_noise: Annotated[float, typer.Option(help="Std of Gaussian noise added to every "
                                                      "student's initial weights.")] = 0.0,
    arms: Annotated[str, typer.Option(help="Comma-separated arms, or 'all': " + ", ".join(ALL_ARMS))
                    ] = ",".join(DEFAULT_ARMS),
    dataset: Annotated[Dataset, typer.Option(help="mnist (real, 60k/10k, vendored) or digits (sklearn 8x8, "
                                             "fast).")] = Dataset.mnist,
    data_dir: Annotated[Path | None, typer.Option(help="Folder with the four MNIST *-ubyte.gz files.",
                                                  show_default="the copy inside the package")] = None,
    seed: Annotated[int, typer.Option(help="Model i uses seed + i. Same seed, same result.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:K.")] = "auto",
    out: Annotated[Path, typer.Option("--out", help="Output folder for results.json and accuracy.png.")
                   ] = Path("runs/mnist"),
    save_models: Annotated[bool, typer.Option("--save-models", show_default="off",
                                              help="Also save the reference and teacher weights as OUT/models.pt "
                                              "(for `sublearn audit mnist`).")] = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """The MNIST auxiliary-logit experiment (paper §6.2): students distilled on noise from m auxiliary logits.

    Teachers learn the digits on their 10 class logits; students copy only the teachers' m extra logits on
    random noise. Accuracy per arm is reported with its 95% CI over the N models, plus a paired test of
    student_aux against cross_aux. Writes OUT/results.json and OUT/accuracy.png.
    """
    from sublearn.mnist.runner import print_report, run_and_save
    from sublearn.util.progress import rich_progress

    cfg = MnistConfig(
        dataset=dataset.value, data_dir=data_dir, n_models=n_models, m_aux=m_aux,
        teacher_epochs=teacher_epochs, student_epochs=student_epochs, lr=lr, batch_size=batch_size,
        weight_decay=weight_decay, optimizer=optimizer.value, noise=noise.value,
        noise_distribution=noise_dist.value, noise_examples=noise_examples,
        student_init_noise=student_init_noise, arms=parse_arms(arms), seed=seed, device=device,
    )
    writable_folder(out)
    with rich_progress(console, enabled=not (quiet or as_json)) as progress:
        doc = run_and_save(cfg, out, progress, keep_models=save_models)
    if as_json:
        print_json(doc)
        return
    print_report(doc, out, console)
    if cfg.n_models < 100 or len(cfg.arms) < len(ALL_ARMS):
        console.print(f"The paper's full figure (N = 100, all arms): [bold]{PAPER_FIGURE_COMMAND}[/bold]")


@user_errors
@run_logged("out", "demo")
def demo(
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = DEMO_OUT,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """The embedded default: the MNIST auxiliary-logit experiment, N = 10, in about two minutes on a CPU."""
    from sublearn.mnist.runner import print_report, run_and_save
    from sublearn.util.progress import rich_progress

    writable_folder(out)
    if not as_json:
        console.print(DEMO_INTRO, soft_wrap=False)
        console.print()
    with rich_progress(console, enabled=not (quiet or as_json)) as progress:
        doc = run_and_save(MnistConfig(), out, progress)
    if as_json:
        print_json(doc)
        return
    print_report(doc, out, console)
    console.print(f"The paper's full figure (N = 100, all arms): [bold]{PAPER_FIGURE_COMMAND}[/bold]")
    console.print("More settings: [bold]sublearn mnist --help[/bold]")
