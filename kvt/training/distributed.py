"""Training across devices and machines with ``tf.distribute`` (``kvt train --strategy``).

Three strategies:

``default``
    TensorFlow's default (no-op) strategy: one device, exactly the pipeline of
    ``kvt train`` without the option.
``mirrored``
    ``tf.distribute.MirroredStrategy`` over the local devices (every GPU, else the CPU):
    synchronous data parallelism on one machine.
``multi-worker``
    ``tf.distribute.MultiWorkerMirroredStrategy`` configured by the ``TF_CONFIG``
    environment variable: the same command runs on every machine (each with its own
    ``task``), every step's gradients are all-reduced over the cluster, so every worker
    ends with the same weights. The chief (the ``chief`` task, else worker 0) writes
    the run directory; the other workers write nothing (see ``kvt.cli``).

With more than one replica in sync kvt trains with synchronised batch normalisation
(batch statistics all-reduced, as one device would see the global batch) and one
optimizer step per compiled execution (Keras's multi-step loop cannot hold
cross-replica collectives). Optimizers with their own ``train_step`` (AdaHessian, SAM,
K-FAC) are refused under ``mirrored`` and ``multi-worker``: their extra passes
(Hutchinson vectors, the SAM perturbation, K-FAC factors) are per replica and would
not match the single-device method.

Keras 3 (through at least 3.15) cannot ``fit`` under MultiWorkerMirroredStrategy
(keras-team/keras#20585), nor under MirroredStrategy when a validation batch does not
split evenly over the replicas: its symbolic build and its per-step reduction of the
logs call ``strategy.reduce`` in ways these strategies reject. :func:`fit_scope`
patches those two functions of Keras's TensorFlow trainer for the ``model.fit`` of a
multi-worker or multi-replica run, and only for it (:mod:`kvt.patches.keras_multi_worker`);
the logs are then averaged over the workers with one all-reduce per step.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from typing import Any

from kvt.errors import KvtError, unknown

STRATEGIES = ("default", "mirrored", "multi-worker")
TASK_TYPES = ("chief", "worker")
DOCS = "docs/scaling-out.md"


def check_name(name: str) -> str:
    if name not in STRATEGIES:
        raise unknown("strategy", name, STRATEGIES, "valid strategies")
    return name


@dataclass(frozen=True)
class ClusterTask:
    """This process's place in a ``TF_CONFIG`` cluster."""

    cluster: dict[str, list[str]]
    task_type: str
    task_index: int

    @property
    def num_workers(self) -> int:
        return sum(len(addresses) for addresses in self.cluster.values())

    @property
    def is_chief(self) -> bool:
        """The chief task, or worker 0 of a cluster without one (TensorFlow's rule)."""
        if self.task_type == "chief":
            return True
        return "chief" not in self.cluster and self.task_type == "worker" and self.task_index == 0

    @property
    def label(self) -> str:
        return f"{self.task_type} {self.task_index}"


def _address_ok(address: Any) -> bool:
    if not isinstance(address, str) or address.count(":") < 1:
        return False
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536


def parse_tf_config(text: str | None) -> ClusterTask:
    """Validate a ``TF_CONFIG`` value; every problem is one ``KvtError`` line.

    TensorFlow reads the same variable itself (``TFConfigClusterResolver``, which
    ``MultiWorkerMirroredStrategy`` uses), but accepts malformed values and fails later,
    often while waiting for peers, with long runtime errors: kvt checks it first.
    """
    where = "TF_CONFIG"
    if text is None or not text.strip():
        raise KvtError(f"--strategy multi-worker needs the TF_CONFIG environment variable "
                       f"(a JSON cluster and task; see {DOCS})")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KvtError(f"{where} is not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(config, dict):
        raise KvtError(f"{where} must be a JSON object with 'cluster' and 'task', got {type(config).__name__}")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise KvtError(f"{where} has no 'cluster' object (e.g. {{\"worker\": [\"host1:12345\", \"host2:12345\"]}})")
    unknown = [key for key in cluster if key not in TASK_TYPES]
    if unknown:
        raise KvtError(f"{where} cluster has task type '{unknown[0]}'; kvt runs only "
                       f"{' and '.join(TASK_TYPES)} tasks (no parameter servers or evaluators)")
    if not cluster.get("worker") and not cluster.get("chief"):
        raise KvtError(f"{where} cluster lists no workers")
    seen: set[str] = set()
    for kind, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses:
            raise KvtError(f"{where} cluster '{kind}' must be a non-empty list of host:port addresses")
        for address in addresses:
            if not _address_ok(address):
                raise KvtError(f"{where} cluster '{kind}' has address {address!r}; expected host:port")
            if address in seen:
                raise KvtError(f"{where} cluster lists address {address} twice")
            seen.add(address)
    if len(cluster.get("chief", [])) > 1:
        raise KvtError(f"{where} cluster has {len(cluster['chief'])} chiefs; at most one is allowed")
    if not isinstance(task, dict):
        raise KvtError(f"{where} has no 'task' object (e.g. {{\"type\": \"worker\", \"index\": 0}})")
    kind, index = task.get("type"), task.get("index")
    if kind not in cluster:
        listed = ", ".join(cluster)
        raise KvtError(f"{where} task type {kind!r} is not in the cluster ({listed})")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise KvtError(f"{where} task index {index!r} is out of range for the {len(cluster[kind])} "
                       f"'{kind}' address(es)")
    return ClusterTask(cluster={k: list(v) for k, v in cluster.items()}, task_type=kind, task_index=index)


def cluster_task(strategy: str) -> ClusterTask | None:
    """This process's cluster task under ``strategy`` (None unless multi-worker)."""
    if check_name(strategy) != "multi-worker":
        return None
    return parse_tf_config(os.environ.get("TF_CONFIG"))


def is_chief(strategy: str) -> bool:
    """Whether this process writes the results: always, except non-chief multi-worker tasks."""
    task = cluster_task(strategy)
    return task is None or task.is_chief


def check_optimizer(strategy: str, optimizer: str) -> None:
    """Refuse optimizers with their own train step under a distributing strategy."""
    if check_name(strategy) == "default":
        return
    from kvt import optimizers

    entry = optimizers.entry(optimizer)
    if entry.train_step is not None:
        raise KvtError(f"optimizer '{entry.name}' trains with its own train step ({entry.train_step}), "
                       f"whose extra passes are not synchronised across replicas; use --strategy default, "
                       f"or a gradient-only optimizer with --strategy {strategy}")


_STRATEGIES: dict[str, Any] = {}


def get_strategy(name: str):
    """The ``tf.distribute`` strategy ``name`` (one per process, created on first use)."""
    check_name(name)
    if name in _STRATEGIES:
        return _STRATEGIES[name]
    import tensorflow as tf

    from kvt.patches import keras_multi_worker

    if name == "default":
        strategy = tf.distribute.get_strategy()
    elif name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
    else:
        cluster_task(name)  # validates TF_CONFIG first: TensorFlow's own errors are long
        keras_multi_worker.check()  # the fit will need the patch: refuse an unsupported Keras now
        if any(isinstance(s, tf.distribute.MultiWorkerMirroredStrategy) for s in _STRATEGIES.values()):
            raise KvtError("a multi-worker strategy already exists in this process")
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING)
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
        except (RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
            raise KvtError(f"cannot start the multi-worker strategy: {first[:300]} "
                           f"(it must be created before TensorFlow runs anything in the process)") from None
    if replicas(strategy) > 1:
        keras_multi_worker.check()
    _STRATEGIES[name] = strategy
    return strategy


def replicas(strategy) -> int:
    return int(strategy.num_replicas_in_sync)


def synchronize_batch_norm(model, enabled: bool) -> None:
    """Switch the model's BatchNormalization layers to cross-replica batch statistics."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = bool(enabled)


def weights_digest(model) -> str:
    """SHA-256 of every weight's bytes, in order: the same on every worker of a synchronous run."""
    import hashlib

    digest = hashlib.sha256()
    for variable in model.weights:
        digest.update(variable.numpy().tobytes())
    return digest.hexdigest()


def fit_scope(strategy):
    """The context of ``model.fit`` under ``strategy``: Keras patched for the fit when it has
    several replicas in sync or is multi-worker (:mod:`kvt.patches.keras_multi_worker`), else nothing."""
    if strategy is None:
        return contextlib.nullcontext()
    import tensorflow as tf

    if replicas(strategy) > 1 or isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        from kvt.patches.keras_multi_worker import patched_fit

        return patched_fit()
    return contextlib.nullcontext()


@dataclass
class Distribution:
    """Everything a training run does differently under a ``tf.distribute`` strategy, in one piece.

    :func:`kvt.training.trainer.train` builds one (:meth:`create`) and hands it to the steps
    that need it: the model is built in :meth:`scope` and prepared by :meth:`prepare_model`,
    the data are sharded by :meth:`distribute_data`, ``model.fit`` runs in :meth:`fit_scope`,
    and :meth:`finish` turns the network back into an ordinary one and says what was
    distributed. The default (``strategy`` None) changes nothing.
    """

    name: str = "default"
    strategy: Any = None  # None: TensorFlow's default strategy

    @classmethod
    def create(cls, name: str, optimizer: str) -> "Distribution":
        """The distribution ``--strategy name`` gives a run with ``optimizer`` (refused if it cannot be)."""
        check_name(name)
        check_optimizer(name, optimizer)
        # A multi-worker strategy must exist before TensorFlow runs anything else.
        return cls(name, get_strategy(name) if name != "default" else None)

    @property
    def replicas(self) -> int:
        return 1 if self.strategy is None else replicas(self.strategy)

    @property
    def steps_in_sync(self) -> bool:
        """True with several replicas in sync: one optimizer step per compiled execution."""
        return self.replicas > 1

    def scope(self):
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def prepare_model(self, model) -> None:
        """Batch normalisation over the global batch when several replicas train in sync."""
        if self.steps_in_sync:
            synchronize_batch_norm(model, True)

    def distribute_data(self, train_data, val_data):
        """The fit's datasets, each worker keeping its share of every global batch under multi-worker."""
        if self.strategy is None or self.name != "multi-worker":
            return train_data, val_data
        import tensorflow as tf

        # Every worker builds the same seeded pipeline and keeps its share of each global batch.
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return train_data.with_options(options), (val_data.with_options(options) if val_data is not None else None)

    def fit_scope(self):
        return fit_scope(self.strategy)

    def finish(self, model) -> dict[str, Any] | None:
        """After the fit: an ordinary network again, and the record of the distribution (None by default)."""
        if self.strategy is None:
            return None
        synchronize_batch_norm(model, False)  # the saved network is an ordinary one
        task = cluster_task(self.name)
        return {"strategy": self.name, "replicas": self.replicas, "workers": task.num_workers if task else 1,
                "task": task.label if task else None, "weights_sha256": weights_digest(model)}
