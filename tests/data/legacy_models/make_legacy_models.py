"""Wrote these tiny model.keras files (and expected.json) with the code at commit 817a1b4, the last one
with HessianSequential, SAMSequential and KFACSequential:

    git worktree add --detach ../base 817a1b4 && cd ../base
    PYTHONPATH=. python <this file> <folder>

Kept for provenance; it does not run against the current code (the classes are gone)."""
import json, sys
from pathlib import Path
import keras, numpy as np, tensorflow as tf
import kvt.optimizers as opts
from kvt.network.model import build_model
from kvt.training.trainer import compile_model

out = Path(sys.argv[1])
rng = np.random.default_rng(0)
x = rng.random((32, 2), dtype="float32"); y = rng.random((32, 1), dtype="float32")
probe = np.linspace(-1.0, 1.0, 10, dtype="float32").reshape(5, 2)
expected = {"inputs": probe.tolist()}
for name in ("adahessian", "sam", "kfac"):
    entry = opts.entry(name)
    keras.utils.set_random_seed(3)
    model = build_model(units=4, model_class=entry.model_class())
    compile_model(model, opts.get(name), steps_per_execution=1)
    model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(8), epochs=1, verbose=0, shuffle=False)
    cls = type(model).__name__
    model.save(out / f"{cls}.keras")
    expected[cls] = {"optimizer": name, "predictions": model.predict(probe, verbose=0).astype("float64").ravel().tolist(),
                     "iterations": int(model.optimizer.iterations.numpy())}
(out / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
