/*
 * kvt_eval: reference evaluator of a kvt network in plain C (C99, libm only).
 *
 *   kvt export --run RUN --format weights-text -o model.txt
 *   cc -O2 -std=c99 -o kvt_eval examples/kvt_eval.c -lm
 *   printf '32 1000\n1 250\n' | ./kvt_eval model.txt
 *
 * Reads "level T" pairs (T in K) from standard input, one per line, and prints
 * k_VT(level -> level-1, T) in m^3/s, one per line. It reads text forms of schema
 * versions 1 and 2 (features level_T, log_space, fho). The text format is described
 * in docs/weights-format.md; this file is meant to be read and copied into a solver.
 * A line that is not two numbers, a non-integer level, or a point outside the trained
 * range (the file's valid_range line) stops it with a message on stderr and exit status 1.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FEATURES 16
#define MAX_LAYERS 8
#define MAX_LEVELS 64

enum { KIND_LEVEL_T, KIND_LOG_SPACE, KIND_FHO };

typedef struct {
    int n_in, n_out, sigmoid;
    double *weights; /* n_in x n_out, row-major */
    double *bias;    /* n_out */
} Layer;

typedef struct {
    int kind;       /* features.kind: KIND_LEVEL_T, KIND_LOG_SPACE or KIND_FHO (see raw_features) */
    int n_features, n_inputs, n_layers, target_log_space;
    int n_levels;                  /* fho: per-level tables, index level - 1 */
    double theta[MAX_LEVELS], theta1[MAX_LEVELS], steric, nu;
    double scale[MAX_FEATURES], shift[MAX_FEATURES];
    int inputs[MAX_FEATURES];
    Layer layers[MAX_LAYERS];
    double t_a, t_b, t_c;          /* minmax: scale shift factor; log: mean std intercept */
    double coef[MAX_FEATURES];     /* log-space baseline coefficients */
    int width;                     /* widest layer */
    double level_min, level_max, t_min, t_max; /* trained range */
} Net;

static void fail(const char *what) {
    fprintf(stderr, "kvt_eval: bad weights file (%s)\n", what);
    exit(2);
}

static void read_numbers(FILE *f, double *out, int n, const char *what) {
    for (int i = 0; i < n; i++)
        if (fscanf(f, "%lf", &out[i]) != 1) fail(what);
}

/* Number of raw features of each kind, as in kvt.network.features.FEATURE_SETS. */
static int kind_size(int kind) { return kind == KIND_LEVEL_T ? 2 : kind == KIND_LOG_SPACE ? 5 : 11; }

/* The raw features f of (level, T): the one place this file computes them (kvt/network/features.py in Python).
 * Returns 0, or -1 for a level outside the fho tables. */
static int raw_features(const Net *net, double level, double T, double *f) {
    if (net->kind == KIND_LEVEL_T) { f[0] = level; f[1] = T; return 0; }
    f[0] = level; f[1] = log(level); f[2] = pow(T, -1.0 / 3.0); f[3] = log(T); f[4] = 1000.0 / T;
    if (net->kind == KIND_LOG_SPACE) return 0;
    if (level < 1 || level > net->n_levels || level != floor(level)) return -1;
    double th = net->theta[(int)level - 1], th1 = net->theta1[(int)level - 1];
    double b = cbrt(th1 / T), a = net->steric * th1 / th;
    double eps = (net->nu + level) * a * exp(-b) + (level * a / 2.0) * (level * a / 2.0) * exp(-2.0 * b);
    f[5] = th / T; f[6] = log(th); f[7] = cbrt(th * th / T); f[8] = cbrt(th / (T * T));
    f[9] = eps; f[10] = log1p(b * eps / 3.0);
    return 0;
}

static void load(const char *path, Net *net) {
    char word[64], kind[64];
    int version;
    FILE *f = fopen(path, "r");
    if (!f) { perror(path); exit(2); }
    if (fscanf(f, "%63s %d", word, &version) != 2 || strcmp(word, "kvt-weights-text") || version < 1 || version > 2)
        fail("header, expected 'kvt-weights-text 1' or 'kvt-weights-text 2'");
    if (fscanf(f, "%63s %63s %d", word, kind, &net->n_features) != 3 || strcmp(word, "features")
        || net->n_features > MAX_FEATURES) fail("features line");
    if (!strcmp(kind, "level_T")) net->kind = KIND_LEVEL_T;
    else if (!strcmp(kind, "log_space")) net->kind = KIND_LOG_SPACE;
    else if (!strcmp(kind, "fho") && version >= 2) net->kind = KIND_FHO;
    else fail("unknown features kind");
    if (net->n_features != kind_size(net->kind)) fail("number of features of this kind");
    read_numbers(f, net->scale, net->n_features, "feature scales");
    read_numbers(f, net->shift, net->n_features, "feature shifts");
    if (net->kind == KIND_FHO) {
        if (fscanf(f, "%63s %d %lf %lf", word, &net->n_levels, &net->steric, &net->nu) != 4 || strcmp(word, "fho")
            || net->n_levels < 1 || net->n_levels > MAX_LEVELS) fail("fho line");
        read_numbers(f, net->theta, net->n_levels, "fho theta_K");
        read_numbers(f, net->theta1, net->n_levels, "fho theta1_K");
    }
    if (fscanf(f, "%63s %d", word, &net->n_inputs) != 2 || strcmp(word, "inputs")
        || net->n_inputs > net->n_features) fail("inputs line");
    for (int i = 0; i < net->n_inputs; i++)
        if (fscanf(f, "%d", &net->inputs[i]) != 1) fail("input indices");
    if (fscanf(f, "%63s %d", word, &net->n_layers) != 2 || strcmp(word, "layers")
        || net->n_layers > MAX_LAYERS) fail("layers line");
    net->width = net->n_inputs;
    for (int l = 0; l < net->n_layers; l++) {
        Layer *L = &net->layers[l];
        if (fscanf(f, "%d %d %63s", &L->n_in, &L->n_out, kind) != 3) fail("layer line");
        L->sigmoid = strcmp(kind, "sigmoid") == 0;
        L->weights = malloc(sizeof(double) * L->n_in * L->n_out);
        L->bias = malloc(sizeof(double) * L->n_out);
        read_numbers(f, L->weights, L->n_in * L->n_out, "layer weights");
        read_numbers(f, L->bias, L->n_out, "layer bias");
        if (L->n_out > net->width) net->width = L->n_out;
    }
    if (fscanf(f, "%63s %63s", word, kind) != 2 || strcmp(word, "target")) fail("target line");
    net->target_log_space = strcmp(kind, "log_space") == 0;
    if (fscanf(f, "%lf %lf %lf", &net->t_a, &net->t_b, &net->t_c) != 3) fail("target numbers");
    if (net->target_log_space) read_numbers(f, net->coef, net->n_features, "baseline coefficients");
    if (fscanf(f, "%63s", word) != 1 || strcmp(word, "valid_range")) fail("valid_range line");
    double range[4];
    read_numbers(f, range, 4, "valid_range numbers");
    net->level_min = range[0]; net->level_max = range[1]; net->t_min = range[2]; net->t_max = range[3];
    fclose(f);
}

static double predict(const Net *net, double level, double T, double *a, double *b) {
    double raw[MAX_FEATURES], x[MAX_FEATURES];
    if (raw_features(net, level, T, raw)) return NAN;
    for (int j = 0; j < net->n_features; j++) x[j] = raw[j] * net->scale[j] + net->shift[j];
    for (int j = 0; j < net->n_inputs; j++) a[j] = x[net->inputs[j]];
    for (int l = 0; l < net->n_layers; l++) {
        const Layer *L = &net->layers[l];
        for (int o = 0; o < L->n_out; o++) {
            double s = L->bias[o];
            for (int i = 0; i < L->n_in; i++) s += a[i] * L->weights[i * L->n_out + o];
            b[o] = L->sigmoid ? 1.0 / (1.0 + exp(-s)) : s;
        }
        double *t = a; a = b; b = t;
    }
    double y = a[0];
    if (!net->target_log_space) return (y - net->t_b) / net->t_a / net->t_c;
    double ln_k = y * net->t_b + net->t_a + net->t_c;
    for (int j = 0; j < net->n_features; j++) ln_k += net->coef[j] * x[j];
    return exp(ln_k);
}

static int bad_input(long line, const char *what) {
    fprintf(stderr, "kvt_eval: line %ld of the input: %s\n", line, what);
    return 1;
}

int main(int argc, char **argv) {
    Net net;
    double level, T;
    if (argc != 2) { fprintf(stderr, "usage: %s weights.txt < points\n", argv[0]); return 2; }
    load(argv[1], &net);
    double *a = malloc(sizeof(double) * net.width), *b = malloc(sizeof(double) * net.width);
    char line[512];
    long number = 0;
    while (fgets(line, sizeof line, stdin)) {
        char *end, *rest;
        number++;
        if (!strchr(line, '\n') && !feof(stdin)) return bad_input(number, "line too long");
        if (strspn(line, " \t\r\n") == strlen(line)) continue; /* blank line */
        level = strtod(line, &end);
        if (end == line) return bad_input(number, "expected 'level T'");
        T = strtod(end, &rest);
        if (rest == end) return bad_input(number, "expected 'level T'");
        while (*rest == ' ' || *rest == '\t' || *rest == '\r' || *rest == '\n') rest++;
        if (*rest) return bad_input(number, "expected exactly two numbers, 'level T'");
        if (!isfinite(level) || level != floor(level)) return bad_input(number, "level is not an integer");
        if (!isfinite(T) || T <= 0) return bad_input(number, "T must be a number > 0 K");
        if (level < net.level_min || level > net.level_max || T < net.t_min || T > net.t_max) {
            fprintf(stderr, "kvt_eval: line %ld: level %g, T %g K is outside the trained range: levels %g..%g, "
                    "T %g..%g K\n", number, level, T, net.level_min, net.level_max, net.t_min, net.t_max);
            return 1;
        }
        {
            double k = predict(&net, level, T, a, b);
            if (isnan(k)) {
                fprintf(stderr, "kvt_eval: level %g is outside the weights file's level tables\n", level);
                return 1;
            }
            printf("%.17g\n", k);
        }
    }
    return 0;
}
