"""The shared Poisson fitting: estimable columns, a Newton fit on sparse designs and cluster-robust
covariance, on one BLAS thread. Numbers in, numbers out: no frames, no verdicts, no Streamlit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import linalg, sparse
from statsmodels.genmod.families import Poisson
from statsmodels.genmod.generalized_linear_model import GLM
from threadpoolctl import threadpool_limits

GLM_TOL = 1e-12  # tight, so a direct statsmodels fit of the same model agrees to 1e-9


def one_thread():
    """Run dense linear algebra on one BLAS thread: on a busy server, BLAS threads spinning against each
    other make the event study's least squares many times slower, and one thread is as fast as several
    when the machine is idle."""
    return threadpool_limits(limits=1, user_api="blas")


@dataclass(frozen=True)
class PoissonFit:
    """A Poisson GLM's coefficients and their (cluster-robust) covariance. A coefficient of a column that
    the earlier columns already span is not estimable: it is NaN (``aliased``), as R's ``glm`` reports NA,
    and so are its row and column of ``cov``."""

    params: np.ndarray
    cov: np.ndarray

    @property
    def bse(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))

    @property
    def aliased(self) -> np.ndarray:
        return np.isnan(self.params)


def _poisson_deviance(y: np.ndarray, mu: np.ndarray) -> float:
    ratio = np.where(y > 0, y / mu, 1.0)
    return float(2 * np.sum(y * np.log(ratio) - (y - mu)))


ALIAS_TOL = 1e-10  # squared share of a scaled column left outside the span of the columns before it


def estimable_columns(x) -> np.ndarray:
    """Which columns of ``x`` to keep (bool mask): each column, in order, unless the columns kept before it
    already span it (its squared residual, as a share of its own squared length, is at most ALIAS_TOL), or
    it is all zeros.

    The same rule as R's pivoting QR in ``lm`` and ``glm``: a duplicated treatment column, a constant
    beside a full set of dummies, or a treatment indicator that the fixed effects reproduce loses the later
    column, never an earlier one. Exact collinearity leaves residuals of order 1e-16, far below the
    tolerance on any BLAS, so the choice does not depend on the machine's rounding the way an inverse or a
    pseudo-inverse of a singular Hessian does.
    """
    xs = sparse.csr_matrix(x, dtype=float)
    gram = (xs.T @ xs).toarray()
    norms = np.sqrt(np.diag(gram))
    keep = np.zeros(len(norms), dtype=bool)
    scaled = gram / np.outer(np.where(norms > 0, norms, 1.0), np.where(norms > 0, norms, 1.0))
    chol = np.zeros((0, 0))  # Cholesky factor of the scaled Gram matrix of the kept columns
    kept: list[int] = []
    for j in np.flatnonzero(norms > 0):
        below = linalg.solve_triangular(chol, scaled[kept, j], lower=True) if kept else np.zeros(0)
        rest = scaled[j, j] - float(below @ below)
        if rest <= ALIAS_TOL:
            continue
        grown = np.zeros((len(kept) + 1, len(kept) + 1))
        grown[:-1, :-1], grown[-1, :-1], grown[-1, -1] = chol, below, math.sqrt(rest)
        chol = grown
        kept.append(int(j))
        keep[j] = True
    return keep


def _newton_poisson(y: np.ndarray, x: sparse.csr_matrix, tol: float, maxiter: int):
    """The Poisson maximum likelihood (log link) by Newton's method on a sparse full-rank design, from
    statsmodels' starting values (mu = (y + mean y) / 2) and with its stopping rule (deviance change <= tol,
    or within rounding of a deviance this size). None when the fit does not converge."""
    mu = (y + y.mean()) / 2
    eta = np.log(mu)
    dev_old = _poisson_deviance(y, mu)
    xt = x.T.tocsr()
    for _ in range(maxiter):
        xtw = xt.multiply(mu[None, :]).tocsr()
        h = (xtw @ x).toarray()
        try:
            beta = linalg.solve(h, xtw @ (eta + (y - mu) / mu), assume_a="pos")
        except (linalg.LinAlgError, ValueError):
            return None
        eta = x @ beta
        mu = np.exp(eta)
        dev = _poisson_deviance(y, mu)
        if not np.isfinite(dev):
            return None
        if abs(dev - dev_old) <= max(tol, 1e-13 * dev):
            return beta, mu
        dev_old = dev
    return None


def poisson_mle(y: np.ndarray, x: sparse.csr_matrix, tol: float, maxiter: int):
    """(beta, mu) of a full-rank Poisson GLM: the sparse Newton fit, or statsmodels' IRLS where Newton
    does not converge (a fit drifting towards an area with no incidents, say). None if neither does."""
    found = _newton_poisson(y, x, tol, maxiter)
    if found is not None:
        return found
    res = GLM(y, x.toarray(), family=Poisson()).fit(tol=tol, maxiter=maxiter)
    beta = np.asarray(res.params)
    mu = np.asarray(res.fittedvalues)
    return (beta, mu) if np.all(np.isfinite(beta)) and np.all(np.isfinite(mu)) else None


def poisson_cluster_fit(y: np.ndarray, x, groups: np.ndarray, tol: float = GLM_TOL, maxiter: int = 200) -> PoissonFit:
    """Poisson GLM of ``y`` on ``x`` (dense or sparse; the fixed-effect dummies make it mostly zeros) with
    errors clustered by ``groups``: the same numbers as statsmodels' ``GLM(y, x, Poisson()).fit(
    cov_type="cluster", cov_kwds={"groups": groups})`` (CRV1: inverse Hessian x sum of per-cluster score
    outer products x inverse Hessian, times G/(G-1) x (N-1)/(N-K)), which tests check to 1e-9.

    statsmodels solves a dense least squares problem by SVD on every iteration, whatever the number of
    incidents. The Newton steps here form X'WX from the sparse design (a few non-zeros a row) and solve a
    system as small as the number of columns. A rank-deficient design is fitted on its estimable columns (``estimable_columns``); the
    others come back NaN, so no step inverts a singular matrix. All NaN when the fit does not converge.
    """
    y = np.asarray(y, dtype=float)
    xs = sparse.csr_matrix(x, dtype=float)
    n, k = xs.shape
    params, cov = np.full(k, np.nan), np.full((k, k), np.nan)
    with one_thread():
        keep = estimable_columns(xs)
        xk = xs[:, keep]
        m = int(keep.sum())
        found = poisson_mle(y, xk, tol, maxiter) if 0 < m < n else None
        if found is None:
            return PoissonFit(params, cov)
        beta, mu = found
        hinv = np.linalg.inv((xk.T.multiply(mu[None, :]).tocsr() @ xk).toarray())
        _, cluster = np.unique(np.asarray(groups), return_inverse=True)
        g = int(cluster.max()) + 1
        sums = (sparse.csr_matrix((y - mu, (cluster, np.arange(n))), shape=(g, n)) @ xk).toarray()
        scale = g / (g - 1.0) * ((n - 1.0) / (n - m)) if g > 1 else np.nan
        params[keep] = beta
        cov[np.ix_(keep, keep)] = hinv @ (sums.T @ sums) @ hinv.T * scale
    return PoissonFit(params, cov)
