"""Plain-numpy versions of the update rules in docs/optimizers.md, written from the
equations (not from kvt's Keras classes) to check those classes step by step.

Each reference is a class with ``step(thetas, grads, **extra)`` that returns the new
values of a list of float64 arrays; the step counter t starts at 1.
"""

from __future__ import annotations

import numpy as np


class _Reference:
    def __init__(self, **hp):
        self.hp = hp
        self.t = 0
        self.state = None

    def step(self, thetas, grads, **extra):
        self.t += 1
        if self.state is None:
            self.state = [self.init_state(th) for th in thetas]
        out = []
        for i, (th, g) in enumerate(zip(thetas, grads)):
            kwargs = {k: v[i] for k, v in extra.items()}
            out.append(self.update(self.state[i], np.array(th, dtype=np.float64),
                                   np.array(g, dtype=np.float64), **kwargs))
        return out


class AdaModRef(_Reference):
    def init_state(self, th):
        return {"m": np.zeros_like(th), "v": np.zeros_like(th), "s": np.zeros_like(th)}

    def update(self, st, th, g):
        lr, b1, b2, b3, eps = (self.hp[k] for k in ("lr", "beta_1", "beta_2", "beta_3", "epsilon"))
        t = self.t
        st["m"] = b1 * st["m"] + (1 - b1) * g
        st["v"] = b2 * st["v"] + (1 - b2) * g * g
        eta = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) / (np.sqrt(st["v"]) + eps)
        st["s"] = b3 * st["s"] + (1 - b3) * eta
        return th - np.minimum(eta, st["s"]) * st["m"]


class RAdamRef(_Reference):
    def init_state(self, th):
        return {"m": np.zeros_like(th), "v": np.zeros_like(th)}

    @staticmethod
    def rho(t, beta_2):
        rho_inf = 2 / (1 - beta_2) - 1
        return rho_inf - 2 * t * beta_2 ** t / (1 - beta_2 ** t), rho_inf

    def update(self, st, th, g):
        lr, b1, b2, eps = (self.hp[k] for k in ("lr", "beta_1", "beta_2", "epsilon"))
        t = self.t
        st["m"] = b1 * st["m"] + (1 - b1) * g
        st["v"] = b2 * st["v"] + (1 - b2) * g * g
        m_hat = st["m"] / (1 - b1 ** t)
        rho_t, rho_inf = self.rho(t, b2)
        if rho_t >= 5:
            r = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            return th - lr * r * m_hat * np.sqrt(1 - b2 ** t) / (np.sqrt(st["v"]) + eps)
        return th - lr * m_hat


class MADGRADRef(_Reference):
    def init_state(self, th):
        return {"s": np.zeros_like(th), "nu": np.zeros_like(th), "theta0": th.copy()}

    def update(self, st, th, g):
        lr, momentum, eps = (self.hp[k] for k in ("lr", "momentum", "epsilon"))
        k = self.t - 1
        lam = (lr + eps) * np.sqrt(k + 1)
        st["s"] = st["s"] + lam * g
        st["nu"] = st["nu"] + lam * g * g
        z = st["theta0"] - st["s"] / (np.cbrt(st["nu"]) + eps)
        c = 1 - momentum
        return (1 - c) * th + c * z


class ApolloRef(_Reference):
    def init_state(self, th):
        return {"m": np.zeros_like(th), "B": np.zeros_like(th), "d": np.zeros_like(th)}

    def update(self, st, th, g):
        lr, beta, eps, wd, warmup, init_lr = (
            self.hp[k] for k in ("lr", "beta", "epsilon", "weight_decay", "warmup", "init_lr"))
        t = self.t
        lr_t = init_lr + (lr - init_lr) * (t - 1) / warmup if t - 1 < warmup else lr
        g = g + wd * th
        a = (1 - beta) / (1 - beta ** t)
        dg = g - st["m"]
        st["m"] = st["m"] + a * dg
        n = np.sum(st["d"] ** 4) ** 0.25 + eps
        u = st["d"] / n
        w = u * u
        delta = -a * np.sum(dg / n * u) - np.sum(st["B"] * w)
        st["B"] = st["B"] + delta * w
        st["d"] = st["m"] / np.maximum(np.abs(st["B"]), 1.0)
        return th - lr_t * st["d"]


class AdaHessianRef(_Reference):
    """``step(thetas, grads, hessian=D)`` with D = |z ⊙ (H z)| per variable."""

    def init_state(self, th):
        return {"m": np.zeros_like(th), "v": np.zeros_like(th)}

    def update(self, st, th, g, hessian):
        lr, b1, b2, eps, wd, k = (self.hp[key] for key in (
            "lr", "beta_1", "beta_2", "epsilon", "weight_decay", "hessian_power"))
        t = self.t
        st["m"] = b1 * st["m"] + (1 - b1) * g
        st["v"] = b2 * st["v"] + (1 - b2) * np.abs(hessian) ** 2
        m_hat = st["m"] / (1 - b1 ** t)
        return th - lr * (m_hat / (np.sqrt(st["v"] / (1 - b2 ** t)) ** k + eps) + wd * th)


class LARSRef(_Reference):
    """``adapt`` (list of bools, one per variable): False gives ratio 1."""

    def init_state(self, th):
        return {"v": np.zeros_like(th)}

    def update(self, st, th, g, adapt):
        lr, momentum, eta, wd = (self.hp[k] for k in ("lr", "momentum", "trust_coefficient",
                                                      "weight_decay"))
        w_norm, g_norm = np.linalg.norm(th), np.linalg.norm(g)
        ratio = eta * w_norm / (g_norm + wd * w_norm) if adapt and w_norm > 0 and g_norm > 0 else 1.0
        st["v"] = momentum * st["v"] + lr * ratio * (g + wd * th)
        return th - st["v"]


class MomentumRef(_Reference):
    """Heavy-ball momentum after Keras's decoupled decay (K-FAC on variables of no Dense layer)."""

    def init_state(self, th):
        return {"v": np.zeros_like(th)}

    def update(self, st, th, g):
        lr, momentum, wd = (self.hp[k] for k in ("lr", "momentum", "weight_decay"))
        th = th - lr * (wd or 0.0) * th
        st["v"] = momentum * st["v"] + g
        return th - lr * st["v"]


class SAMSGDRef:
    """SAM around plain SGD: ``step(thetas, grad_fn)`` with ``grad_fn(thetas) -> grads``."""

    def __init__(self, lr, rho):
        self.lr, self.rho = lr, rho

    def step(self, thetas, grad_fn):
        grads = grad_fn(thetas)
        norm = np.sqrt(sum(np.sum(g * g) for g in grads))
        perturbed = [th + self.rho * g / max(norm, 1e-12) for th, g in zip(thetas, grads)]
        return [th - self.lr * g for th, g in zip(thetas, grad_fn(perturbed))]


class ShampooRef(_Reference):
    """Shampoo on matrix variables with roots refreshed every step and no momentum: L, R start
    at eps*I; P = L^(-1/4) G R^(-1/4), eigenvalues floored at eps; Keras's decoupled decay first."""

    @staticmethod
    def inverse_fourth_root(m, floor):
        values, vectors = np.linalg.eigh(0.5 * (m + m.T))
        return (vectors * np.maximum(values, floor) ** -0.25) @ vectors.T

    def init_state(self, th):
        eps = self.hp["epsilon"]
        return {"L": eps * np.eye(th.shape[0]), "R": eps * np.eye(th.shape[1])}

    def update(self, st, th, g):
        lr, eps, wd = (self.hp[k] for k in ("lr", "epsilon", "weight_decay"))
        if th.ndim != 2 or self.hp["update_every"] != 1 or self.hp["momentum"] != 0:
            raise ValueError("ShampooRef covers matrices, update_every 1 and momentum 0 only")
        th = th - lr * (wd or 0.0) * th
        st["L"] = st["L"] + g @ g.T
        st["R"] = st["R"] + g.T @ g
        return th - lr * self.inverse_fourth_root(st["L"], eps) @ g @ self.inverse_fourth_root(st["R"], eps)
