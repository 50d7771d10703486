"""Every loss term is non-zero on realistic batches and sends gradients to the model."""
import pytest
import torch
import torch.nn.functional as F

from cardrec.training.losses import arcface, cosine_distill, hard_negative_margin, multi_positive_infonce, similarity_matching


@pytest.fixture
def batch():
    torch.manual_seed(0)
    raw = torch.randn(8, 16, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    teacher = F.normalize(torch.randn(8, 16), dim=-1)
    return raw, F.normalize(raw, dim=-1), labels, teacher


@pytest.mark.parametrize("name", ["infonce", "distill", "relational", "margin", "arcface"])
def test_term_nonzero_with_gradient(batch, name):
    raw, emb, labels, teacher = batch
    centres = torch.randn(4, 16, requires_grad=True)
    loss = {"infonce": lambda: multi_positive_infonce(emb, labels, 0.1),
            "distill": lambda: cosine_distill(emb, teacher),
            "relational": lambda: similarity_matching(emb, teacher),
            "margin": lambda: hard_negative_margin(emb, labels, 0.2),
            "arcface": lambda: arcface(emb, centres, labels, 0.2, 30.0)}[name]()
    assert loss.ndim == 0 and loss.item() > 1e-4
    loss.backward()
    assert raw.grad is not None and raw.grad.abs().sum() > 0
    if name == "arcface":
        assert centres.grad.abs().sum() > 0


def test_arcface_margin_penalises_the_true_card():
    emb = F.normalize(torch.tensor([[1.0, 0.1], [0.1, 1.0]]), dim=-1)
    centres = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 1])
    assert arcface(emb, centres, labels, 0.0, 10.0) < arcface(emb, centres, labels, 0.3, 10.0)


def test_infonce_prefers_clustered_views():
    labels = torch.tensor([0, 0, 1, 1])
    good = F.normalize(torch.tensor([[1.0, 0], [1, 0.05], [0, 1], [0.05, 1]]), dim=-1)
    bad = F.normalize(torch.tensor([[1.0, 0], [0, 1], [1, 0.05], [0.05, 1]]), dim=-1)
    assert multi_positive_infonce(good, labels, 0.1) < multi_positive_infonce(bad, labels, 0.1)


def test_distill_zero_only_when_equal():
    t = F.normalize(torch.randn(4, 8), dim=-1)
    assert cosine_distill(t, t).item() < 1e-6 < cosine_distill(-t, t).item()
