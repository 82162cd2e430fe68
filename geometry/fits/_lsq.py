"""A small Levenberg–Marquardt solver and the covariance of its result.

Why our own: the package is numpy-only by design (no scipy), and the geometric circle and sphere fits need
only a few well-conditioned parameters, started from the algebraic answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
ResidualsAndJacobian = Callable[[Array], tuple[Array, Array]]


@dataclass(frozen=True)
class Solution:
    params: Array
    residuals: Array
    jacobian: Array
    iterations: int


def levenberg_marquardt(
    fun: ResidualsAndJacobian, x0: Array, *, max_iterations: int = 200, step_tolerance: float = 1e-15
) -> Solution:
    """Minimise ``‖r(x)‖²`` from ``x0``; ``fun`` returns residuals and their Jacobian."""
    x = np.array(x0, dtype=float)
    r, jac = fun(x)
    cost = float(r @ r)
    damping = 1e-3
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007 - the count is reported
        normal = jac.T @ jac
        gradient = jac.T @ r
        scale = np.diag(normal).copy()
        scale[scale == 0.0] = 1.0
        try:
            step = np.linalg.solve(normal + damping * np.diag(scale), -gradient)
        except np.linalg.LinAlgError:
            break
        candidate = x + step
        r_new, jac_new = fun(candidate)
        cost_new = float(r_new @ r_new)
        if np.isfinite(cost_new) and cost_new <= cost:
            x, r, jac, cost = candidate, r_new, jac_new, cost_new
            damping = max(damping / 10.0, 1e-12)
            if float(np.linalg.norm(step)) <= step_tolerance * (float(np.linalg.norm(x)) + step_tolerance):
                break
        else:
            damping *= 10.0
            if damping > 1e12:
                break
    return Solution(params=x, residuals=r, jacobian=jac, iterations=iterations)


def covariance(jacobian: Array, residuals: Array, dof: int) -> Array | None:
    """``s²·(JᵀJ)⁻¹`` with ``s² = Σr²/dof``: the Type A covariance (k = 1); None without redundancy."""
    if dof <= 0:
        return None
    variance = float(residuals @ residuals) / dof
    try:
        inverse = np.linalg.inv(jacobian.T @ jacobian)
    except np.linalg.LinAlgError:
        return None
    result: Array = np.asarray(variance * inverse, dtype=float)
    return result


def standard_uncertainties(cov: Array | None) -> tuple[float, ...] | None:
    """Square roots of the covariance diagonal, or None."""
    if cov is None:
        return None
    return tuple(float(np.sqrt(max(v, 0.0))) for v in np.diag(cov))
