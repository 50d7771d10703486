"""Fitting the runtime's orientation gate (cardrec.deploy.orientation); the workflow run checks the shipped one."""
import numpy as np

from cardrec.deploy.orientation import both_ways, decided, fit_logistic


def test_the_regression_separates_what_is_separable_and_is_deterministic():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 16)).astype(np.float32)
    y = (x[:, 3] - 0.5 * x[:, 7] > 0.2).astype(np.float32)
    w, b = fit_logistic(x, y, 1e-4)
    assert (((x @ w + b) > 0) == (y > 0.5)).mean() > 0.97
    w2, b2 = fit_logistic(x, y, 1e-4)
    assert np.array_equal(w, w2) and b == b2
    heavy, _ = fit_logistic(x, y, 10.0)  # the penalty shrinks the weights
    assert np.abs(heavy).sum() < 0.1 * np.abs(w).sum()


def test_views_are_embedded_both_ways_and_decisions_counted():
    lb = np.arange(2 * 4 * 3 * 3, dtype=np.uint8).reshape(2, 4, 3, 3)
    x, y = both_ways(lambda a: a.reshape(len(a), -1).astype(np.float32), lb)
    assert x.shape == (4, 36) and y.tolist() == [0, 0, 1, 1]
    assert np.array_equal(x[2], lb[0, ::-1, ::-1].reshape(-1))  # turned by 180°: rows and columns reversed
    p = np.array([0.95, 0.05, 0.5, 0.97])
    assert decided(p, np.array([True, True, False, False]), 0.9) == {"crops": 4, "decided": 0.75, "wrong": 2}
