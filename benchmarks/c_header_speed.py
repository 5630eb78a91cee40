"""Speed of the exported C header (`kvt export --format c-header`, both kernels) against numpy and FHO-FR.

The work is what a CFD cell asks for: every transition (35) at one temperature per call, for
many temperatures spread over the trained range. Measured side by side in one run, on one core
(the process is pinned with os.sched_setaffinity and BLAS is limited to one thread), for an
accurate-mode network (32 units, the mode's default) and a study-mode one (64 units):

* kvt_rates from the header with the network kernel, compiled with cc -O2, with k_up (both
  directions) and with k_up = NULL; the same with cc -O3 -march=native
* the header with --kernel chebyshev (a per-transition Chebyshev series of the network's ln k,
  tolerance 1e-6), cc -O2 and cc -O3 -march=native; its fit's max deviation from the network
* for the accurate net (features.kind fho), the network header with the features replaced by the
  five log_space ones (same layers; its rates are not the network's): the cost of the fho features
* numpy Network.predict_k, one temperature per call (35 points) and one batch of every point
* the FHO-FR generator kvt.physics.fho.rate_coefficient, one temperature per call and one batch

Rates per second = transitions x calls / s (k_down only; the k_up lines compute twice as many
numbers). The goals of issue 25: the Chebyshev kernel >= 5e7 rates/s, the network header >= 5e6. Steady-state numbers are the best of 5 timed loops after a warm-up (C: the two variants
alternate in one process); the start-up lines
(first call in a fresh C process, a fresh Python process that imports kvt, opens the run and
predicts once, and the compile) are reported separately.

    python benchmarks/c_header_speed.py
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import timeit  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from kvt.cli.quiet import quiet_tensorflow_import  # noqa: E402

quiet_tensorflow_import()

from kvt.physics import fho  # noqa: E402
from kvt.network.inference import Network  # noqa: E402
from kvt.runs.folder import open_run, save_run  # noqa: E402
from kvt.exports import chebyshev  # noqa: E402
from kvt.exports.c_header import c_header  # noqa: E402
from kvt.training.trainer import TrainConfig, train  # noqa: E402

CALLS = 20_000  # kvt_rates calls per timed C loop
PY_CALLS = 2_000  # predict_k / rate_coefficient calls per timed Python loop

DRIVER = r"""
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "bench_rates.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
int main(int argc, char **argv) {
    long calls, n;
    int r, with_up;
    double kd[BENCH_N_TRANSITIONS], ku[BENCH_N_TRANSITIONS], sum = 0.0, t0, first, best[2] = {1e30, 1e30};
    double span = BENCH_T_MAX_K - BENCH_T_MIN_K;
    if (argc != 2) return 2;
    calls = atol(argv[1]);
    t0 = now();
    if (bench_rates(BENCH_T_MIN_K + 0.37 * span, kd, NULL) != BENCH_OK) return 1;
    first = now() - t0;
    for (r = 0; r < 12; r++) {  /* alternating k_up = NULL / k_up; rounds 0 and 1 are the warm-up */
        with_up = r % 2;
        t0 = now();
        for (n = 0; n < calls; n++) {
            double T = BENCH_T_MIN_K + span * (double)(n % 1000) / 999.0;
            if (bench_rates(T, kd, with_up ? ku : NULL) != BENCH_OK) return 1;
            sum += kd[n % BENCH_N_TRANSITIONS];
        }
        t0 = now() - t0;
        if (r > 1 && t0 < best[with_up]) best[with_up] = t0;
    }
    printf("%.9e %.9e %.9e %d %.6e\n", best[0], best[1], first, BENCH_N_TRANSITIONS, sum);
    return 0;
}
"""


def best_time(fn, repeats=5):
    """The fastest of ``repeats`` calls of ``fn`` (after one warm-up call), in seconds."""
    fn()  # warm-up
    return min(timeit.repeat(fn, number=1, repeat=repeats))


def wall(command, **kwargs):
    start = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)
    return time.perf_counter() - start, done.stdout


def log_space_twin(network):
    """The fho ``network`` with its features cut to the first five (log_space); the same layers, for timing only."""
    spec = json.loads(json.dumps(network.spec))
    features = spec["features"]
    features.update(kind="log_space", names=features["names"][:5], scale=features["scale"][:5],
                    shift=features["shift"][:5])
    spec["target"]["baseline_coef"] = spec["target"]["baseline_coef"][:5]
    return Network(spec)


O2 = ["-O2"]
NATIVE = ["-O3", "-march=native"]


def time_c(network, folder, flags=O2, fit=None):
    """(best s with k_up = NULL, best s with k_up, first call s, transitions, compile s, one-call process s)."""
    folder.mkdir()
    (folder / "bench_rates.h").write_text(c_header(network, prefix="bench", source="benchmark", fit=fit))
    (folder / "bench.c").write_text(DRIVER)
    t_compile, _ = wall(["cc", "-std=c99", *flags, "-Wall", "-Wextra", "-Werror", "-pedantic", "-o",
                         "bench", "bench.c", "-lm"], cwd=folder)
    _, out = wall(["./bench", str(CALLS)], cwd=folder)
    best_null, best_up, first, n_tr, _ = out.split()
    t_start, _ = wall(["./bench", "1"], cwd=folder)
    return float(best_null), float(best_up), float(first), int(n_tr), t_compile, t_start


def main():
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cc = subprocess.run(["cc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    print(f"machine: {platform.machine()} {cpu}, {os.cpu_count()} cores, pinned to one ({platform.platform()}), "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}, python {sys.version.split()[0]}, "
          f"numpy {np.__version__}, {cc}")
    print(f"C: {CALLS} calls per timed loop; Python: {PY_CALLS} calls per timed loop; "
          "rates/s = transitions x calls / s\n")
    with tempfile.TemporaryDirectory() as root:
        root = Path(root)
        for mode, options in (("accurate", {"epochs": 200, "finish_iterations": 50}), ("study", {"epochs": 30})):
            path = save_run(train(TrainConfig(data="O2-Ar", mode=mode, **options)), root / mode)
            network = open_run(path).network
            best_null, best_up, first, n_tr, t_compile, t_start = time_c(network, root / f"{mode}-c")
            results = {0: (best_null, first), 1: (best_up, first)}
            native = time_c(network, root / f"{mode}-native", NATIVE)
            fit = chebyshev.fit_network(network, 1e-6, "inverse_cbrt_T")
            cheb = time_c(network, root / f"{mode}-cheb", O2, fit)
            cheb_native = time_c(network, root / f"{mode}-cheb-native", NATIVE, fit)
            twin = None
            if network.feature_kind == "fho":
                twin = time_c(log_space_twin(network), root / f"{mode}-log-space-c")
            levels = np.arange(1, n_tr + 1)
            lo, hi = network.temperature_range
            temps = lo + (hi - lo) * (np.arange(PY_CALLS) % 1000) / 999.0
            big_l, big_t = np.repeat(levels, temps.size), np.tile(temps, levels.size)

            def per_call(fn):
                return lambda: [fn(levels, t) for t in temps]

            t_np_call = best_time(per_call(network.predict_k))
            t_np_batch = best_time(lambda: network.predict_k(big_l, big_t))
            t_fho_call = best_time(per_call(lambda lv, t: fho.rate_coefficient(lv, t, "Ar")), repeats=3)
            t_fho_batch = best_time(lambda: fho.rate_coefficient(big_l, big_t, "Ar"), repeats=3)
            code = (f"from kvt.runs.folder import open_run; open_run(r'{path}').network.predict_k("
                    f"list(range(1, {n_tr + 1})), 1234.5)")
            t_py_start = min(wall([sys.executable, "-c", code])[0] for _ in range(3))

            c_rate = n_tr * CALLS / results[0][0]
            rows = [("C network, k_up = NULL", c_rate),
                    ("C network, with k_up", n_tr * CALLS / results[1][0]),
                    ("C network -O3 -march=native, NULL", n_tr * CALLS / native[0]),
                    ("C chebyshev, k_up = NULL", n_tr * CALLS / cheb[0]),
                    ("C chebyshev, with k_up", n_tr * CALLS / cheb[1]),
                    ("C chebyshev -O3 -march=native, NULL", n_tr * CALLS / cheb_native[0]),
                    ("C chebyshev -O3 -march=native, k_up", n_tr * CALLS / cheb_native[1]),
                    *([("C, same layers, log_space features", n_tr * CALLS / twin[0])] if twin else []),
                    ("numpy predict_k, one T per call", n_tr * PY_CALLS / t_np_call),
                    ("numpy predict_k, one batch", n_tr * PY_CALLS / t_np_batch),
                    ("FHO-FR generator, one T per call", n_tr * PY_CALLS / t_fho_call),
                    ("FHO-FR generator, one batch", n_tr * PY_CALLS / t_fho_batch)]
            layers = " -> ".join(f"{w.shape[0]}x{w.shape[1]} {a}" for w, _, a in network.layers)
            print(f"{mode} network ({layers}), features {network.feature_kind}, {n_tr} transitions; chebyshev kernel: "
                  f"{chebyshev.summary(fit)}; steady state (cc -O2 unless named):")
            for name, rate in rows:
                print(f"  {name:<36} {rate / 1e6:9.3f} M rates/s   {1e6 * n_tr / rate:9.3f} us per 35-rate call"
                      f"   {rate / c_rate:8.3f} x the C network (-O2, k_up = NULL)")
            print("  start-up (not steady state):")
            print(f"    first kvt_rates call in a fresh process      {results[0][1] * 1e6:9.2f} us")
            print(f"    whole C process, one call (exec + call)      {t_start * 1e3:9.2f} ms")
            print(f"    fresh Python: import kvt, open run, predict  {t_py_start * 1e3:9.2f} ms")
            print(f"    cc -O2 compile of the driver and header      {t_compile * 1e3:9.2f} ms")
            print(f"    ... with the chebyshev kernel                {cheb[4] * 1e3:9.2f} ms")
            print(f"  load average after this network: {' '.join(f'{v:.2f}' for v in os.getloadavg())}\n")


if __name__ == "__main__":
    main()
