"""Scale-out on 127.0.0.1: TF_CONFIG checks, mirrored and two-worker training, a chief and
two workers sharing one search, and a worker killed in the middle of a search.

Every process a test starts has a timeout (SIGKILL on expiry: TensorFlow's collective
runtime may ignore SIGTERM) and listens on 127.0.0.1 only.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from conftest import error_line

from kvt import KvtError
from kvt.cli import main
from kvt.training.distributed import parse_tf_config
from kvt.training.trainer import TrainConfig, train

LOCALHOST = "127.0.0.1"
PROCESS_TIMEOUT = 180  # seconds, per subprocess


def free_ports(n):
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((LOCALHOST, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def kvt(args, env, log_dir, name):
    """Start ``kvt ARGS`` (this interpreter, ``kvt.cli.main``) with ``env`` added, output into log files."""
    out, err = open(log_dir / f"{name}.out", "w"), open(log_dir / f"{name}.err", "w")
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-c", "from kvt.cli import main; main()", *args], env=full_env, stdout=out, stderr=err,
                               stdin=subprocess.DEVNULL)
    process.kvt_logs = (log_dir / f"{name}.out", log_dir / f"{name}.err")
    return process


def finish(processes, deadline):
    """Wait for every process until ``deadline`` (monotonic); kill the rest. Returns their outputs."""
    results = {}
    for name, process in processes.items():
        try:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for name, process in processes.items():
        if process.poll() is None:
            process.kill()
            process.wait()
        out, err = (path.read_text() for path in process.kvt_logs)
        results[name] = (process.returncode, out, err)
    return results


def wait_for(path, text, deadline):
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return True
        time.sleep(0.1)
    return False


# ---------------------------------------------------------------- TF_CONFIG and strategies
GOOD = {"cluster": {"worker": ["127.0.0.1:2001", "127.0.0.1:2002"]}, "task": {"type": "worker", "index": 1}}


def test_tf_config_parsing():
    task = parse_tf_config(json.dumps(GOOD))
    assert (task.task_type, task.task_index, task.num_workers, task.is_chief) == ("worker", 1, 2, False)
    assert parse_tf_config(json.dumps({**GOOD, "task": {"type": "worker", "index": 0}})).is_chief
    with_chief = {"cluster": {"chief": ["h0:1"], "worker": ["h1:1"]}, "task": {"type": "worker", "index": 0}}
    assert not parse_tf_config(json.dumps(with_chief)).is_chief
    assert parse_tf_config(json.dumps({**with_chief, "task": {"type": "chief", "index": 0}})).is_chief


@pytest.mark.parametrize("value, message", [
    (None, "Error: --strategy multi-worker needs the TF_CONFIG environment variable"),
    ("{not json", "Error: TF_CONFIG is not valid JSON (Expecting property name enclosed in double quotes"),
    ("[1, 2]", "Error: TF_CONFIG must be a JSON object with 'cluster' and 'task', got list"),
    (json.dumps({"task": GOOD["task"]}), "Error: TF_CONFIG has no 'cluster' object"),
    (json.dumps({**GOOD, "task": {"type": "worker", "index": 2}}),
     "Error: TF_CONFIG task index 2 is out of range for the 2 'worker' address(es)"),
    (json.dumps({**GOOD, "task": {"type": "ps", "index": 0}}), "Error: TF_CONFIG task type 'ps' is not in the cluster"),
    (json.dumps({"cluster": {"worker": ["127.0.0.1"]}, "task": {"type": "worker", "index": 0}}),
     "Error: TF_CONFIG cluster 'worker' has address '127.0.0.1'; expected host:port"),
    (json.dumps({"cluster": {"worker": ["h:1"], "ps": ["h:2"]}, "task": {"type": "worker", "index": 0}}),
     "Error: TF_CONFIG cluster has task type 'ps'; kvt runs only chief and worker tasks"),
    (json.dumps({"cluster": {"worker": ["h:1", "h:1"]}, "task": {"type": "worker", "index": 0}}),
     "Error: TF_CONFIG cluster lists address h:1 twice"),
    (json.dumps({"cluster": GOOD["cluster"]}), "Error: TF_CONFIG has no 'task' object"),
])
def test_invalid_tf_config_is_one_error_line(runner, tmp_path, value, message):
    out = tmp_path / "run"
    env = {"TF_CONFIG": value}
    result = runner.invoke(main, ["train", "--pair", "O2-Ar", "--strategy", "multi-worker", "--epochs", "1",
                                  "--quiet", "--out", str(out)], env=env)
    assert error_line(result).startswith(message)
    assert not out.exists()


@pytest.mark.parametrize("optimizer, model", [("adahessian", "AdaHessian.train_step"), ("sam", "SAM.train_step"),
                                              ("kfac", "KFAC.train_step")])
def test_custom_train_steps_are_refused_under_a_distributing_strategy(runner, tmp_path, optimizer, model):
    result = runner.invoke(main, ["train", "--pair", "O2-Ar", "--optimizer", optimizer, "--strategy", "mirrored",
                                  "--epochs", "1", "--quiet", "--out", str(tmp_path / "run")])
    assert error_line(result) == (
        f"Error: optimizer '{optimizer}' trains with its own train step ({model}), whose extra passes are not "
        f"synchronised across replicas; use --strategy default, or a gradient-only optimizer with --strategy mirrored")
    with pytest.raises(KvtError, match="its own train step"):
        train(TrainConfig(data="O2-Ar", optimizer=optimizer, strategy="multi-worker", epochs=1))


# Two logical CPU devices must be configured before TensorFlow initialises its devices, so the
# runs go to a fresh interpreter. Full batch (--batch-size 0): no shuffle order, so the only
# difference between the runs is the distribution itself.
TWO_REPLICAS = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from keras.src.backend.tensorflow import trainer as tf_trainer
originals = (tf_trainer.reduce_per_replica, tf_trainer.TensorFlowTrainer._maybe_symbolic_build)
from kvt.cli import main
args = sys.argv[2:]
main([*args, "--strategy", "mirrored", "--out", sys.argv[1] + "/mirrored"], standalone_mode=False)
restored = originals == (tf_trainer.reduce_per_replica, tf_trainer.TensorFlowTrainer._maybe_symbolic_build)
print("keras restored after the fit:", restored)
main([*args, "--out", sys.argv[1] + "/single"], standalone_mode=False)
main([*args, "--epochs", "2", "--out", sys.argv[1] + "/short"], standalone_mode=False)
"""


def test_mirrored_strategy_on_two_replicas_trains_the_single_device_weights(tmp_path):
    """MirroredStrategy over two CPU devices: each replica takes half of the global batch, the
    gradients are summed over the replicas and batch normalisation sees the global batch, so
    the weights are those of one device trained on the whole batch (to float32 round-off)."""
    args = ["train", "--pair", "O2-Ar", "--optimizer", "sgd", "--batch-size", "0", "--epochs", "20",
            "--units", "8", "--quiet"]
    done = subprocess.run([sys.executable, "-c", TWO_REPLICAS, str(tmp_path), *args], capture_output=True,
                          text=True, timeout=PROCESS_TIMEOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "keras restored after the fit: True" in done.stdout
    assert "weights sha256 (the same on every worker)" in done.stdout
    meta = json.loads((tmp_path / "mirrored" / "metadata.json").read_text())
    assert meta["options"]["strategy"] == "mirrored"
    assert meta["metrics"]["distribution"]["strategy"] == "mirrored"
    assert meta["metrics"]["distribution"]["replicas"] == 2
    single = json.loads((tmp_path / "single" / "metadata.json").read_text())
    assert single["options"]["strategy"] == "default" and "distribution" not in single["metrics"]
    two = json.loads((tmp_path / "mirrored" / "weights.json").read_text())["layers"]
    one = json.loads((tmp_path / "single" / "weights.json").read_text())["layers"]
    assert len(two) == len(one) == 3
    for layer_two, layer_one in zip(two, one):
        for key in ("weights", "bias"):
            np.testing.assert_allclose(layer_two[key], layer_one[key], rtol=0, atol=2e-5)
    history_two = pd.read_csv(tmp_path / "mirrored" / "history.csv")
    history_one = pd.read_csv(tmp_path / "single" / "history.csv")
    np.testing.assert_allclose(history_two["loss"], history_one["loss"], rtol=1e-5)
    # The tolerance is far below what the training moves: 2 steps instead of 20 end elsewhere.
    short = json.loads((tmp_path / "short" / "weights.json").read_text())["layers"]
    moved = max(np.abs(np.subtract(a["weights"], b["weights"])).max() for a, b in zip(one, short))
    assert moved > 100 * 2e-5


# ---------------------------------------------------------------- two training workers
def test_two_workers_train_to_identical_weights(tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"{LOCALHOST}:{port}" for port in ports]}
    out = tmp_path / "run"
    args = ["train", "--pair", "O2-Ar", "--optimizer", "adam", "--epochs", "4", "--units", "8",
            "--strategy", "multi-worker", "--quiet", "--out", str(out)]
    deadline = time.monotonic() + PROCESS_TIMEOUT
    processes = {f"worker{i}": kvt(args, {"TF_CONFIG": json.dumps({"cluster": cluster,
                                                                    "task": {"type": "worker", "index": i}})},
                                   tmp_path, f"worker{i}") for i in range(2)}
    results = finish(processes, deadline)
    for name, (code, stdout, stderr) in results.items():
        assert code == 0, f"{name} exited {code}\n{stdout}\n{stderr[-3000:]}"
    digests = [re.search(r"weights sha256 \(the same on every worker\)\s+([0-9a-f]{64})", results[n][1]).group(1)
               for n in ("worker0", "worker1")]
    assert digests[0] == digests[1]
    assert f"run: {out}" in results["worker0"][1]  # the chief (worker 0) writes the run directory
    assert "worker 1: trained with 2 workers; the chief writes the run directory" in results["worker1"][1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "worker0.err", "worker0.out", "worker1.err",
                                                          "worker1.out"]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["metrics"]["distribution"] == {"strategy": "multi-worker", "replicas": 2, "workers": 2,
                                               "task": "worker 0", "weights_sha256": digests[0]}
    history = pd.read_csv(out / "history.csv")
    assert len(history) == 4 and history["loss"].iloc[-1] < history["loss"].iloc[0]


# ---------------------------------------------------------------- distributed search
def tuner_env(tuner_id, port):
    return {"KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": LOCALHOST, "KERASTUNER_ORACLE_PORT": str(port)}


def test_chief_and_two_workers_share_one_search(tmp_path):
    (port,) = free_ports(1)
    out = tmp_path / "search"
    args = ["tune", "--pair", "O2-Ar", "--optimizer", "adam,sgd", "--max-trials", "6", "--epochs", "8",
            "--units", "8", "--out", str(out)]
    deadline = time.monotonic() + PROCESS_TIMEOUT
    processes = {name: kvt(args, tuner_env(name, port), tmp_path, name) for name in ("worker0", "worker1")}
    processes["chief"] = kvt(args, tuner_env("chief", port), tmp_path, "chief")  # workers wait for it
    results = finish(processes, deadline)
    for name, (code, stdout, stderr) in results.items():
        assert code == 0, f"{name} exited {code}\n{stdout}\n{stderr[-3000:]}"
    trials = pd.read_csv(out / "trials.csv", dtype={"trial": str})
    assert len(trials) == 6 and trials["trial"].is_unique
    assert set(trials["status"]) == {"COMPLETED"} and (trials["attempts"] == 1).all()
    ran = {name: int(re.search(r"ran (\d+) trial", results[name][1]).group(1)) for name in ("worker0", "worker1")}
    assert sum(ran.values()) == 6 and min(ran.values()) >= 1, ran
    assert trials["workers"].value_counts().to_dict() == {k: v for k, v in ran.items()}
    assert "search: " in results["chief"][1] and (out / "best_run" / "metadata.json").is_file()
    assert not list((out / "search").glob("**/*.tmp"))


def test_a_worker_killed_mid_search_does_not_corrupt_the_results(tmp_path):
    (port,) = free_ports(1)
    out = tmp_path / "search"
    args = ["tune", "--pair", "O2-Ar", "--optimizer", "adam", "--max-trials", "4", "--epochs", "40",
            "--units", "8", "--worker-timeout", "3", "--out", str(out)]
    deadline = time.monotonic() + PROCESS_TIMEOUT
    chief = kvt(args, tuner_env("chief", port), tmp_path, "chief")
    doomed = kvt(args, tuner_env("worker1", port), tmp_path, "worker1")
    try:
        assert wait_for(tmp_path / "worker1.err", "started", deadline), "worker1 never started a trial"
        survivor = kvt(args, tuner_env("worker0", port), tmp_path, "worker0")
        time.sleep(0.5)
        doomed.kill()  # SIGKILL in the middle of its trial: no goodbye to the chief
        doomed.wait()
    except BaseException:
        for process in (chief, doomed):
            process.kill()
        raise
    results = finish({"chief": chief, "worker0": survivor}, deadline)
    for name, (code, stdout, stderr) in results.items():
        assert code == 0, f"{name} exited {code}\n{stdout}\n{stderr[-3000:]}"
    lost = re.search(r"worker1: trial (\S+) started", (tmp_path / "worker1.err").read_text()).group(1)
    assert f"trial {lost} stopped in" in results["chief"][2]
    assert "worker worker1 stopped responding for 3 s; it will run again" in results["chief"][2]
    trials = pd.read_csv(out / "trials.csv", dtype={"trial": str})
    assert len(trials) == 4 and trials["trial"].is_unique
    assert set(trials["status"]) == {"COMPLETED"}
    row = trials.set_index("trial").loc[lost]
    assert (row["workers"], row["attempts"]) == ("worker1 worker0", 2)
    oracle = json.loads((out / "search" / "oracle.json").read_text())
    assert oracle["ongoing_trials"] == {} and sorted(oracle["end_order"]) == sorted(trials["trial"])
    for trial_id in trials["trial"]:
        saved = json.loads((out / "search" / f"trial_{trial_id}" / "trial.json").read_text())
        assert saved["status"] == "COMPLETED"


def test_a_chief_does_not_take_a_worker_folder_made_after_its_check_for_an_earlier_search(tmp_path, monkeypatch):
    """The race of a worker creating --out between the chief's check and its first write."""
    from kvt.tuning.config import PROJECT
    from kvt.tuning.output import _prepare_out

    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    out = tmp_path / "search"
    folder = _prepare_out(out, {"settings": {}}, resume=False, force=False, role="chief")
    (out / PROJECT).mkdir(parents=True, exist_ok=True)  # a worker starts now
    (out / PROJECT / "worker1.json").write_text("{}")
    with folder as work:
        assert work == out
