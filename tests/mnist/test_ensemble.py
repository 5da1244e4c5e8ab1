"""The vectorised ensemble: derangement, loss normalisation, and equivalence with separately trained models."""

import math

import pytest
import torch
from torch.nn import functional as F

from sublearn.mnist.config import MnistConfig
from sublearn.mnist.data import load_digits_8x8
from sublearn.mnist.ensemble import EnsembleMLP, classification_loss, derangement, distillation_kl, model_generator
from sublearn.mnist.experiment import run_mnist


@pytest.mark.parametrize("n", [2, 3, 5, 10, 100])
def test_derangement_has_no_fixed_point_and_is_a_permutation(n):
    gen = model_generator(0, 9)
    for _ in range(50):
        perm = derangement(n, gen)
        assert sorted(perm.tolist()) == list(range(n))
        assert all(perm[i] != i for i in range(n))


def test_derangement_is_reproducible_and_varies():
    a = derangement(10, model_generator(7, 9))
    b = derangement(10, model_generator(7, 9))
    assert torch.equal(a, b)
    draws = {tuple(derangement(4, model_generator(s, 9)).tolist()) for s in range(60)}
    assert len(draws) == 9  # all derangements of 4 elements appear (there are 9)


def test_derangement_of_one_is_refused():
    with pytest.raises(ValueError):
        derangement(1, model_generator(0, 9))


def test_kl_is_averaged_per_example_and_summed_over_models():
    gen = torch.Generator().manual_seed(0)
    s = torch.randn(4, 32, 3, generator=gen)
    t = torch.randn(4, 32, 3, generator=gen)
    # Reference: for each model, the mean over examples of KL(softmax(t) || softmax(s)).
    expected = sum(
        F.kl_div(F.log_softmax(s[i], -1), F.log_softmax(t[i], -1), log_target=True, reduction="batchmean")
        for i in range(4)
    )
    assert torch.allclose(distillation_kl(s, t), expected, atol=1e-6)
    # Doubling the batch with copies leaves the loss unchanged (per-example mean, not a sum).
    assert torch.allclose(distillation_kl(s.repeat(1, 2, 1), t.repeat(1, 2, 1)), expected, atol=1e-6)
    # The paper's bug divided by the number of models only: that value is 32x ours here.
    buggy = F.kl_div(F.log_softmax(s, -1), F.softmax(t, -1), reduction="batchmean")
    assert math.isclose(buggy.item() * 4, expected.item() * 32, rel_tol=1e-5)


def test_model_gradient_does_not_depend_on_the_other_models():
    ens = EnsembleMLP.initialise([0, 1, 2], [8, 16, 13])
    x = torch.randn(3, 5, 8, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([[1, 2, 3, 4, 5]] * 3)
    classification_loss(ens(x), y).backward()
    solo = EnsembleMLP.initialise([1], [8, 16, 13])
    classification_loss(solo(x[1:2]), y[1:2]).backward()
    assert torch.allclose(ens.weights[0].grad[1], solo.weights[0].grad[0], atol=1e-6)


def test_initialisation_depends_only_on_the_model_seed():
    a = EnsembleMLP.initialise([5, 6], [8, 4, 3])
    b = EnsembleMLP.initialise([6], [8, 4, 3])
    assert torch.equal(a.weights[0][1], b.weights[0][0])
    assert not torch.equal(a.weights[0][0], a.weights[0][1])


def test_vectorised_ensemble_equals_separately_trained_models():
    data = load_digits_8x8()
    common = dict(dataset="digits", teacher_epochs=1, student_epochs=1, noise_examples=256,
                  arms=["teacher", "student_aux", "student_all"], device="cpu")
    together = run_mnist(MnistConfig(n_models=3, seed=10, **common), data=data)
    for i in range(3):
        alone = run_mnist(MnistConfig(n_models=1, seed=10 + i, **common), data=data)
        for arm in ("teacher", "student_aux", "student_all"):
            for p_all, p_one in zip(together.models[arm].parameters(), alone.models[arm].parameters(), strict=True):
                assert torch.allclose(p_all[i], p_one[0], atol=1e-5), arm
            assert abs(together.accuracies[arm][i] - alone.accuracies[arm][0]) < 1e-6


def test_same_seed_same_result():
    data = load_digits_8x8()
    cfg = MnistConfig(dataset="digits", n_models=3, teacher_epochs=1, student_epochs=1, noise_examples=256,
                      arms=["student_aux", "cross_aux"], device="cpu")
    first, second = run_mnist(cfg, data=data), run_mnist(cfg, data=data)
    assert first.accuracies == second.accuracies
    assert first.cross_permutation == second.cross_permutation


def test_the_fixed_noise_set_repeats_every_epoch_and_fresh_noise_does_not(monkeypatch):
    """The paper fixes one set of noise images per model: every epoch sees the same images (in another order)."""
    import sublearn.mnist.experiment as experiment

    seen = []
    real = experiment.sample_noise

    def recording(gens, batch, dim, kind, device):
        x = real(gens, batch, dim, kind, device)
        seen.append(x.clone())
        return x

    monkeypatch.setattr(experiment, "sample_noise", recording)
    data = load_digits_8x8()
    for noise in ("fixed", "fresh"):
        seen.clear()
        cfg = MnistConfig(dataset="digits", n_models=2, teacher_epochs=1, student_epochs=2, noise=noise,
                          noise_examples=128, batch_size=64, arms=["student_aux"], device="cpu")
        run_mnist(cfg, data=data)
        for model in range(2):  # each model's images, as a set, in the first epoch and the second
            first = {x[model].sum().item() for x in seen[:2]}
            second = {x[model].sum().item() for x in seen[2:]}
            assert (first == second) == (noise == "fixed"), noise
