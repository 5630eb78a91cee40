"""TF-free inference: evaluate a trained network from its weights file with numpy.

A weights file (``weights.json`` in every run directory; ``kvt export --format
weights``) holds everything needed to turn (level, T) into k_VT in m^3/s: the
feature transform, the dense layers with batch normalisation folded in, and the
target transform, and (``molecule``) the molecule and its level range. The schema
(version 2; version-1 documents are still read) is documented in
``docs/weights-format.md``; this module is its reference implementation and imports
neither TensorFlow nor scikit-learn, so ``kvt predict`` starts in a fraction of a second.
The features themselves are computed by :mod:`kvt.network.features`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from kvt.errors import KvtError
from kvt.physics import species
from kvt.network.features import FEATURE_SETS, INPUTS, PARAMETER_KEYS, raw_features  # noqa: F401  (public API)

FORMAT = "kvt-weights"
SCHEMA_VERSION = 2
#: The schema of a network of an exchange process (VV, VV'): two level inputs and a ``process`` entry.
EXCHANGE_SCHEMA_VERSION = 3
#: Feature kinds each readable schema version may use (version 1: before the fho kind; 3: the exchange kinds).
FEATURE_KINDS_BY_VERSION = {1: ("level_T", "log_space"), 2: ("level_T", "log_space", "fho"),
                            3: ("levels_T", "exchange")}
ACTIVATIONS = ("linear", "sigmoid")
TARGET_KINDS = ("minmax_1e18", "log_space")
PREDICT_CHUNK = 1 << 16  # points per numpy evaluation step of Network.predict_k


def _sigmoid_inplace(z):
    """1 / (1 + e^-z), computed as (1 + tanh(z/2)) / 2: stable for any z, no overflow."""
    z *= 0.5
    np.tanh(z, out=z)
    z += 1.0
    z *= 0.5
    return z


def merge_linear_layers(layers):
    """Fold each linear layer into the layer after it: (x W1 + b1) W2 + b2 = x (W1 W2) + (b1 W2 + b2).

    Exact up to rounding; it removes the study network's 64 x 64 product, since its
    first Dense layer is linear and feeds the sigmoid layer directly.
    """
    merged = []
    for weights, bias, activation in layers:
        if merged and merged[-1][2] == "linear":
            prev_w, prev_b, _ = merged.pop()
            weights, bias = prev_w @ weights, prev_b @ weights + bias
        merged.append((weights, bias, activation))
    return merged


class Network:
    """A validated weights file, evaluated with numpy (float64)."""

    def __init__(self, spec: dict, source: str = "weights"):
        self.source = source
        self.spec = validate(spec, source)
        features, target = self.spec["features"], self.spec["target"]
        self.feature_kind = features["kind"]
        self.feature_scale = np.asarray(features["scale"], dtype=float)
        self.feature_shift = np.asarray(features["shift"], dtype=float)
        self.network_inputs = [int(i) for i in features["network_inputs"]]
        self.feature_parameters = {key: features[key] for key in PARAMETER_KEYS[self.feature_kind]}
        self.layers = merge_linear_layers(
            [(np.asarray(layer["weights"], dtype=float), np.asarray(layer["bias"], dtype=float),
              layer["activation"]) for layer in self.spec["layers"]])
        self.target = target
        #: The raw inputs: (level, T_K) for VT, (level_a, level_b, T_K) for an exchange process.
        self.inputs = INPUTS[self.feature_kind]
        self.level_ranges = {name: tuple(self.spec["valid_range"][name]) for name in self.inputs[:-1]}
        self.level_range = self.level_ranges[self.inputs[0]]
        self.temperature_range = tuple(self.spec["valid_range"]["T_K"])
        self.process = document_process(self.spec)
        self.molecule = document_molecule(self.spec) if self.process is None else self.process.molecule

    def check_levels(self, level) -> None:
        """Refuse levels outside the network's molecule's (O2 1..35, N2 1..46, NO 1..38), when it is known.

        The trained range is the caller's to enforce (it may allow extrapolation); a level the
        molecule does not have has no rate at all, so nothing allows it.
        """
        if self.process is not None:
            self.process.check_levels(*np.asarray(level, dtype=float).T)
            return
        if self.molecule is None:
            return
        level = np.asarray(level, dtype=float)
        bad = ~((level >= 1) & (level <= self.molecule.max_level))
        if np.any(bad):
            m = self.molecule
            raise KvtError(f"level {level[bad].flat[0]:g} is out of range of {self.source} (a network of {m.name}); "
                           f"{m.name} levels are 1..{m.max_level}")

    @classmethod
    def load(cls, path: str | Path) -> "Network":
        path = Path(path)
        if not path.is_file():
            raise KvtError(f"weights file {path} does not exist")
        try:
            spec = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise KvtError(f"weights file {path} is not valid JSON ({exc.__class__.__name__})") from None
        return cls(spec, source=f"weights file {path}")

    def scaled_features(self, level, T) -> np.ndarray:
        """``level``: 1-D for VT, (n, 2) columns (level_a, level_b) for an exchange network."""
        return raw_features(self.feature_kind, level, T, self.feature_parameters) * self.feature_scale \
            + self.feature_shift

    def output(self, x) -> np.ndarray:
        """Network output (the scaled target) for scaled features ``x``, shape (n,)."""
        h = np.asarray(x, dtype=float)
        for weights, bias, activation in self.layers:
            h = h @ weights
            h += bias
            if activation == "sigmoid":
                _sigmoid_inplace(h)
        return h[:, 0]

    def predict_k(self, *inputs, chunk: int = PREDICT_CHUNK) -> np.ndarray:
        """k in m^3/s at ``inputs`` (the network's ``inputs``, broadcast to 1-D arrays): VT (level, T), k(level ->
        level-1); an exchange network (level_a, level_b, T), k(A(level_a) + B(level_b) -> A(level_a - 1) +
        B(level_b + 1)).

        Evaluated ``chunk`` points at a time, so the memory beyond the inputs and the
        returned array does not grow with the number of points.
        """
        if len(inputs) != len(self.inputs):
            raise KvtError(f"{self.source} takes {len(self.inputs)} inputs ({', '.join(self.inputs)}), "
                           f"got {len(inputs)}")
        *levels, T = np.broadcast_arrays(*(np.asarray(v).ravel() for v in inputs))
        level = levels[0] if len(levels) == 1 else np.column_stack(levels)
        self.check_levels(level)
        out = np.empty(T.shape[0], dtype=float)
        for start in range(0, len(out), chunk):
            part = slice(start, start + chunk)
            out[part] = self._predict_chunk(level[part].astype(float), T[part].astype(float))
        return out

    def _predict_chunk(self, level, T) -> np.ndarray:
        x = self.scaled_features(level, T)
        y = self.output(x[:, self.network_inputs])
        t = self.target
        if t["kind"] == "minmax_1e18":
            return (y - t["shift"]) / t["scale"] / t["factor"]
        ln_k = y * t["std"] + t["mean"] + x @ np.asarray(t["baseline_coef"], dtype=float) + t["baseline_intercept"]
        return np.exp(ln_k)


def molecule_record(source) -> dict | None:
    """The weights document's ``molecule`` entry of a process or pair (or a pair's name, any of the 18; None when
    unknown)."""
    if source is None:
        return None
    m = source.molecule if hasattr(source, "molecule") else species.pair(source).molecule
    return {"name": m.name, "levels": [1, m.max_level]}


def document_process(spec: dict):
    """The exchange process (:class:`kvt.physics.process.ExchangeProcess`) of a validated schema-3 document, else
    None (a VT network names its molecule instead)."""
    entry = spec.get("process")
    if not isinstance(entry, dict):
        return None
    from kvt.physics.process import resolve

    return resolve(entry["pair"], entry["kind"])


def process_record(process) -> dict:
    """The weights document's ``process`` entry of an exchange process."""
    return {"kind": process.kind, "pair": process.name, "inputs": list(process.features),
            "levels": {name: [min(levels), max(levels)] for name, levels in zip(process.level_inputs, process.levels)}}


def document_molecule(spec: dict) -> species.Molecule | None:
    """The molecule of a validated weights document: its ``molecule`` entry, else its pair's, else None.

    Documents written before the entry existed (schema 1, early schema 2) give it through
    their pair; one trained on a user table without a known pair has none.
    """
    entry = spec.get("molecule")
    if isinstance(entry, dict):
        return species.MOLECULES[entry["name"]]
    pair = spec.get("pair")
    return species.PAIRS[pair].molecule if pair in species.PAIRS else None


def _validate_molecule(spec: dict, source: str) -> None:
    """The optional ``molecule`` entry: a known molecule, its level range, agreeing with the pair and valid_range."""
    entry = spec.get("molecule")
    if entry is None:
        return
    if not isinstance(entry, dict) or entry.get("name") not in species.MOLECULES:
        raise KvtError(f"{source}: molecule must be {{\"name\": one of {', '.join(species.MOLECULES)}, "
                       f"\"levels\": [1, max level]}}, got {entry!r}")
    m = species.MOLECULES[entry["name"]]
    if entry.get("levels") != [1, m.max_level]:
        raise KvtError(f"{source}: molecule.levels is {entry.get('levels')!r}; {m.name} levels are 1..{m.max_level}")
    pair = spec.get("pair")
    if pair in species.PAIRS and species.PAIRS[pair].molecule is not m:
        raise KvtError(f"{source}: molecule {m.name} does not match pair {pair}")
    lo, hi = spec["valid_range"]["level"]
    if lo < 1 or hi > m.max_level:
        raise KvtError(f"{source}: valid_range.level [{lo:g}, {hi:g}] goes outside {m.name} levels 1..{m.max_level}")


def _validate_process(spec: dict, source: str) -> None:
    """The ``process`` entry of a schema-3 document: a VV or VV' pair kvt knows, its level ranges within the ladders."""
    from kvt.physics.process import EXCHANGE_PAIRS, resolve

    entry = _require(spec, "process", "", source)
    kind, pair = (entry.get(key) if isinstance(entry, dict) else None for key in ("kind", "pair"))
    if kind not in EXCHANGE_PAIRS or pair not in EXCHANGE_PAIRS[kind]:
        known = "; ".join(f"{k}: {', '.join(pairs)}" for k, pairs in EXCHANGE_PAIRS.items())
        raise KvtError(f"{source}: process must be {{\"kind\": vv or vv', \"pair\": A-B ({known})}}, got {entry!r}")
    process = resolve(pair, kind)
    for name, levels in zip(process.level_inputs, process.levels):
        lo, hi = _matrix(_require(_require(spec, "valid_range", "", source), name, "valid_range.", source),
                         f"valid_range.{name}", source)
        if lo < min(levels) or hi > max(levels):
            raise KvtError(f"{source}: valid_range.{name} [{lo:g}, {hi:g}] goes outside {process.label}'s "
                           f"{name} {min(levels)}..{max(levels)}")


def _require(spec, key, where, source):
    if not isinstance(spec, dict) or key not in spec:
        raise KvtError(f"{source}: missing key '{where}{key}'")
    return spec[key]


def _matrix(value, where, source) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise KvtError(f"{source}: '{where}' is not an array of numbers") from None
    if not np.all(np.isfinite(array)):
        raise KvtError(f"{source}: '{where}' has NaN or infinite values")
    return array


def _validate_fho(features: dict, source: str) -> None:
    """The per-level tables and pair constants of the fho features."""
    tables = {}
    for key in ("theta_K", "theta1_K"):
        values = _matrix(_require(features, key, "features.", source), f"features.{key}", source)
        if values.ndim != 1 or values.size == 0 or np.any(values <= 0):
            raise KvtError(f"{source}: features.{key} must be a non-empty list of numbers > 0 (one per level)")
        tables[key] = values
    if tables["theta_K"].shape != tables["theta1_K"].shape:
        raise KvtError(f"{source}: features.theta1_K has shape {tables['theta1_K'].shape}, expected "
                       f"{tables['theta_K'].shape} like features.theta_K")
    for key in ("steric_factor", "nu"):
        value = _require(features, key, "features.", source)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
            raise KvtError(f"{source}: features.{key} must be a number >= 0, got {value!r}")


def _validate_exchange(features: dict, source: str) -> None:
    """The level energies and FHO VV constants of the exchange features."""
    for key in ("energies_a_K", "energies_b_K"):
        values = _matrix(_require(features, key, "features.", source), f"features.{key}", source)
        if values.ndim != 1 or values.size < 2 or values[0] != 0 or np.any(np.diff(values) <= 0):
            raise KvtError(f"{source}: features.{key} must list the level energies E(0) = 0 < E(1) < ... in K")
    for key in ("p_coefficient", "lambda_coefficient"):
        value = _require(features, key, "features.", source)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
            raise KvtError(f"{source}: features.{key} must be a number > 0, got {value!r}")


def validate(spec: dict, source: str = "weights") -> dict:
    """Check a weights document; raise ``KvtError`` naming the first problem."""
    if not isinstance(spec, dict):
        raise KvtError(f"{source}: expected a JSON object")
    if spec.get("format") != FORMAT:
        raise KvtError(f"{source}: not a kvt weights file (format is {spec.get('format')!r}, expected '{FORMAT}')")
    version = _require(spec, "schema_version", "", source)
    if isinstance(version, bool) or not isinstance(version, int) or version not in FEATURE_KINDS_BY_VERSION:
        raise KvtError(f"{source}: unsupported schema_version {version!r}; this kvt reads versions "
                       f"{', '.join(str(v) for v in FEATURE_KINDS_BY_VERSION)}")
    features = _require(spec, "features", "", source)
    kind = _require(features, "kind", "features.", source)
    if kind not in FEATURE_KINDS_BY_VERSION[version]:
        raise KvtError(f"{source}: unknown features.kind {kind!r} for schema_version {version}; expected one of "
                       f"{', '.join(FEATURE_KINDS_BY_VERSION[version])}")
    n_features = len(FEATURE_SETS[kind])
    if kind == "fho":
        _validate_fho(features, source)
    if kind == "exchange":
        _validate_exchange(features, source)
    for key in ("scale", "shift"):
        values = _matrix(_require(features, key, "features.", source), f"features.{key}", source)
        if values.shape != (n_features,):
            raise KvtError(f"{source}: features.{key} has shape {values.shape}, expected ({n_features},)")
    inputs = _require(features, "network_inputs", "features.", source)
    if (not isinstance(inputs, list) or not inputs
            or not all(isinstance(i, int) and 0 <= i < n_features for i in inputs)):
        raise KvtError(f"{source}: features.network_inputs must be a list of indices 0..{n_features - 1}")
    layers = _require(spec, "layers", "", source)
    if not isinstance(layers, list) or not layers:
        raise KvtError(f"{source}: 'layers' must be a non-empty list")
    width = len(inputs)
    for index, layer in enumerate(layers):
        where = f"layers[{index}]."
        weights = _matrix(_require(layer, "weights", where, source), f"{where}weights", source)
        bias = _matrix(_require(layer, "bias", where, source), f"{where}bias", source)
        activation = _require(layer, "activation", where, source)
        if activation not in ACTIVATIONS:
            raise KvtError(f"{source}: {where}activation {activation!r} is not one of {', '.join(ACTIVATIONS)}")
        if weights.ndim != 2 or weights.shape[0] != width:
            raise KvtError(f"{source}: {where}weights has shape {weights.shape}, expected ({width}, n)")
        if bias.shape != (weights.shape[1],):
            raise KvtError(f"{source}: {where}bias has shape {bias.shape}, expected ({weights.shape[1]},)")
        width = weights.shape[1]
    if width != 1:
        raise KvtError(f"{source}: the last layer has {width} outputs, expected 1")
    target = _require(spec, "target", "", source)
    target_kind = _require(target, "kind", "target.", source)
    if target_kind not in TARGET_KINDS:
        raise KvtError(f"{source}: unknown target.kind {target_kind!r}; expected one of {', '.join(TARGET_KINDS)}")
    keys = ("scale", "shift", "factor") if target_kind == "minmax_1e18" else (
        "mean", "std", "baseline_coef", "baseline_intercept")
    for key in keys:
        _require(target, key, "target.", source)
    if target_kind == "log_space":
        coef = _matrix(target["baseline_coef"], "target.baseline_coef", source)
        if coef.shape != (n_features,):
            raise KvtError(f"{source}: target.baseline_coef has shape {coef.shape}, expected ({n_features},)")
    if version == EXCHANGE_SCHEMA_VERSION:
        _validate_process(spec, source)
    valid = _require(spec, "valid_range", "", source)
    for key in INPUTS[kind][:-1] + ("T_K",):
        bounds = _matrix(_require(valid, key, "valid_range.", source), f"valid_range.{key}", source)
        if bounds.shape != (2,):
            raise KvtError(f"{source}: valid_range.{key} must be [min, max]")
    _validate_molecule(spec, source)
    return spec


# ---------------------------------------------------------------- export (needs the Keras model)
def _fold_layers(model) -> list[dict]:
    """Dense layers with every BatchNormalization folded into a neighbouring Dense.

    A BN after a linear Dense is folded into that Dense (W g, (b - mu) g + beta);
    a BN after a nonlinear Dense is folded into the next Dense (an affine map of its
    inputs): W' = diag(g) W, b' = (beta - mu g) W + b, with g = gamma / sqrt(var + eps).
    Consecutive BNs compose into one affine map first. Anything the schema cannot
    represent (other layer types, activations, a BN over another axis, a trailing BN)
    raises ``KvtError``.
    """
    import keras

    dense: list[dict] = []
    pending = None  # (scale, offset) of a BN waiting for the next Dense
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            weights = np.asarray(keras.ops.convert_to_numpy(layer.kernel), dtype=float)
            bias = (np.asarray(keras.ops.convert_to_numpy(layer.bias), dtype=float) if layer.use_bias
                    else np.zeros(weights.shape[1]))
            if pending is not None:
                scale, offset = pending
                bias = offset @ weights + bias
                weights = scale[:, None] * weights
                pending = None
            activation = keras.activations.serialize(layer.activation)
            activation = activation if isinstance(activation, str) else activation.get("config", {}).get("name")
            if activation not in ACTIVATIONS:
                raise KvtError(f"cannot export activation {activation!r}; supported: {', '.join(ACTIVATIONS)}")
            dense.append({"weights": weights, "bias": bias, "activation": activation})
        elif isinstance(layer, keras.layers.BatchNormalization):
            mean = np.asarray(keras.ops.convert_to_numpy(layer.moving_mean), dtype=float)
            var = np.asarray(keras.ops.convert_to_numpy(layer.moving_variance), dtype=float)
            gamma = (np.asarray(keras.ops.convert_to_numpy(layer.gamma), dtype=float) if layer.scale
                     else np.ones_like(mean))
            beta = (np.asarray(keras.ops.convert_to_numpy(layer.beta), dtype=float) if layer.center
                    else np.zeros_like(mean))
            if layer.axis not in (-1, 1) or mean.ndim != 1:
                raise KvtError(f"cannot export {layer.name}: batch normalisation over axis {layer.axis!r}; the "
                               f"weights schema folds only per-feature normalisation (axis -1)")
            scale = gamma / np.sqrt(var + layer.epsilon)
            offset = beta - mean * scale
            if pending is not None:  # a BN right after another unfolded BN: compose the two affine maps
                pending = (pending[0] * scale, pending[1] * scale + offset)
            elif dense and dense[-1]["activation"] == "linear":
                dense[-1]["weights"] = dense[-1]["weights"] * scale[None, :]
                dense[-1]["bias"] = dense[-1]["bias"] * scale + offset
            else:
                pending = (scale, offset)
        elif isinstance(layer, keras.layers.InputLayer):
            continue
        else:
            raise KvtError(f"cannot export layer {layer.name} of type {type(layer).__name__}")
    if pending is not None:
        raise KvtError("cannot export a network that ends with BatchNormalization")
    return [{"activation": d["activation"], "weights": d["weights"].tolist(), "bias": d["bias"].tolist()}
            for d in dense]


def export_weights(model, transform, metadata: dict) -> dict:
    """The weights document of a trained Keras model and its fitted transform."""
    from kvt import __version__

    state = transform.to_dict()
    feature_kind = transform.feature_kind
    parameters = {key: transform.parameters[key] for key in PARAMETER_KEYS[feature_kind]}
    scaler = transform.feature_scaler_
    if state["kind"] == "study":
        target_scaler = transform.target_scaler_
        target = {"kind": "minmax_1e18", "scale": float(target_scaler.scale_[0]),
                  "shift": float(target_scaler.min_[0]), "factor": float(transform.target_factor),
                  "formula": "k = (y - shift) / scale / factor"}
    else:
        target = {"kind": "log_space", "mean": state["target_scaler"]["mean"], "std": state["target_scaler"]["scale"],
                  "baseline_coef": state["baseline"]["coef"], "baseline_intercept": state["baseline"]["intercept"],
                  "formula": "k = exp(y * std + mean + sum_j baseline_coef[j] * x[j] + baseline_intercept)"}
    dataset = metadata["dataset"]
    process = dataset.get("process")  # an exchange process (VV, VV'); None for VT
    molecule = None if process else dataset.get("molecule") or molecule_record(dataset.get("pair"))
    ranges = dataset["level_ranges"] if process else {"level": dataset["level_range"]}
    return validate({
        "format": FORMAT,
        "schema_version": EXCHANGE_SCHEMA_VERSION if process else SCHEMA_VERSION,
        "kvt_version": __version__,
        "pair": dataset.get("pair"),
        **({"molecule": molecule} if molecule else {}),
        **({"process": process_record(process)} if process else {}),
        "mode": metadata.get("options", {}).get("mode", "study"),
        "dataset_sha256": dataset.get("sha256"),
        "valid_range": {**ranges, "T_K": dataset["T_range_K"]},
        "features": {"kind": feature_kind, "names": list(FEATURE_SETS[feature_kind]),
                     "scale": scaler.scale_.tolist(), "shift": scaler.min_.tolist(),
                     "network_inputs": list(state.get("network_inputs", range(len(scaler.scale_)))),
                     **parameters,
                     "formula": "x = f * scale + shift; the network reads x[network_inputs]"},
        "layers": _fold_layers(model),
        "target": target,
    })


def to_text(spec: dict) -> str:
    """Plain-text weights for the C reference evaluator (examples/kvt_eval.c).

    Line 1: ``kvt-weights-text <schema_version>``; then ``features <kind> <n>`` and the n
    scales and n shifts; for kind fho, ``fho <n_levels> <steric_factor> <nu>``, the
    n_levels theta_K and the n_levels theta1_K; ``inputs <m>`` and the m indices the
    network reads; ``layers <L>``; per layer ``<n_in> <n_out> <activation>`` and the weights
    row by row (n_in x n_out), then the n_out biases; then ``target <kind>`` and its
    numbers (minmax_1e18: scale shift factor; log_space: mean std intercept and the
    n baseline coefficients); last ``valid_range <level min> <level max> <T min> <T max>``,
    the trained range the evaluator refuses to leave. Numbers are written with 17
    significant digits.
    """
    validate(spec)

    def numbers(values) -> str:
        return " ".join(f"{float(v):.17g}" for v in np.ravel(values))

    features = spec["features"]
    lines = [f"kvt-weights-text {spec['schema_version']}",
             f"features {features['kind']} {len(features['scale'])}",
             numbers(features["scale"]), numbers(features["shift"])]
    if features["kind"] == "fho":
        lines += [f"fho {len(features['theta_K'])} {numbers([features['steric_factor'], features['nu']])}",
                  numbers(features["theta_K"]), numbers(features["theta1_K"])]
    lines += [f"inputs {len(features['network_inputs'])}",
              " ".join(str(i) for i in features["network_inputs"]),
              f"layers {len(spec['layers'])}"]
    for layer in spec["layers"]:
        weights = np.asarray(layer["weights"], dtype=float)
        lines.append(f"{weights.shape[0]} {weights.shape[1]} {layer['activation']}")
        lines.extend(numbers(row) for row in weights)
        lines.append(numbers(layer["bias"]))
    target = spec["target"]
    lines.append(f"target {target['kind']}")
    if target["kind"] == "minmax_1e18":
        lines.append(numbers([target["scale"], target["shift"], target["factor"]]))
    else:
        lines.append(numbers([target["mean"], target["std"], target["baseline_intercept"]]))
        lines.append(numbers(target["baseline_coef"]))
    valid = spec["valid_range"]
    lines.append(f"valid_range {numbers([*valid['level'], *valid['T_K']])}")
    return "\n".join(lines) + "\n"
