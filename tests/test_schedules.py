import math

import numpy as np
import pytest

from kvt import KvtError
from kvt.training.config import TrainConfig, learning_rate_schedule
from kvt.training.trainer import train


def cosine(j, J, lr, min_lr):
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * j / J))


@pytest.mark.parametrize("lr, min_lr", [(1e-2, 0.0), (0.1, 1e-3)])
def test_cosine_schedule_matches_the_formula(lr, min_lr):
    J = 1000
    schedule = learning_rate_schedule("cosine", lr, min_lr, J)
    for j, expected in ((0, lr), (J // 2, (lr + min_lr) / 2), (J, min_lr), (250, cosine(250, J, lr, min_lr))):
        assert float(schedule(j)) == pytest.approx(expected, rel=1e-6, abs=1e-10)
    assert float(schedule(2 * J)) == pytest.approx(min_lr, rel=1e-6, abs=1e-10)  # stays at the floor


def test_constant_schedule_is_the_plain_rate():
    assert learning_rate_schedule("constant", 0.01, 0.0, 100) == 0.01


def test_schedule_errors():
    with pytest.raises(KvtError, match="unknown schedule 'step'; valid schedules: constant, cosine"):
        TrainConfig(schedule="step").resolved()
    with pytest.raises(KvtError, match="--min-lr must be a number >= 0"):
        TrainConfig(min_lr=-1).resolved()
    with pytest.raises(KvtError, match="--min-lr 0.5 is above the learning rate 0.001"):
        learning_rate_schedule("cosine", 1e-3, 0.5, 10)


def test_cosine_training_ends_at_min_lr_and_is_recorded():
    result = train(TrainConfig(data="O2-Ar", optimizer="adam", epochs=6, patience=100, units=8,
                               schedule="cosine", min_lr=1e-5))
    optimizer = result.model.optimizer
    assert float(optimizer.learning_rate) == pytest.approx(1e-5, rel=1e-5)
    assert result.config.schedule == "cosine" and np.isfinite(result.metrics["val_mse_scaled"])
