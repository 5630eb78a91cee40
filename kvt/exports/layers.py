"""The layers of a network in generated C and Fortran: one emitter for every network kernel (VT and exchange).

:func:`layer_code` writes the merged layers of :class:`kvt.network.inference.Network` over all columns (a
transition or level pair each) at once, in axpy form over unit-stride, fixed-length loops, which compilers
vectorise (GCC already at -O2, whose "very cheap" cost model takes a loop only when its trip count is a
compile-time multiple of the vector length: the columns are padded to a multiple of 4). The sigmoid is
1 / (1 + e^-z), numpy's 0.5 (1 + tanh(z / 2)) to a few ulp, with e^-z from :func:`c_exp` in C.

When the first layer is a sigmoid whose inputs are each either the same in every column (functions of T,
computed once per call) or fixed per column (functions of the level alone, known at export time), its
e^-z = e^-(b + w_T x_T + m) e^-(w_L x_L - m) splits into a per-call factor (one exp per unit) and a table of
the second factor computed with numpy at export time (m centres each unit's table): the layer costs one
multiply, add and divide per unit and column. When the next layer has one output (the usual hidden -> 1 linear
end), it is summed in the same pass, two units a division: w_a / d_a + w_b / d_b = (w_a d_b + w_b d_a) / (d_a d_b)
with d = 1 + e^-z (an odd unit count gets a unit of zero weight). The exchange code runs one level_a a pass over
the level_b columns: level_a is then a :class:`Block` input, its part a factor per pass from a table
[unit][level_a] (e^-z = e^-(b + w_T x_T + m) e^-(w_a x_a - m_a) e^-(w_b x_b - m_b)).
"""

from __future__ import annotations

import numpy as np

#: The table of the first layer holds e^-(w_L x_L - m) with |w_L x_L - m| at most this (else the general path) ...
TABLE_SPAN = 100.0
#: ... and the per-call exponent is clamped to +-CALL_CLAMP: beyond it the sigmoid is 0 or 1 to double precision
#: (|z| >= CALL_CLAMP - TABLE_SPAN = 150 there), and d = 1 + e^-z <= 1 + e^350, so a product of two d is finite.
CALL_CLAMP = 250.0


def padded(n: int) -> int:
    """``n`` rounded up to a multiple of 4: the column count of the layers' buffers (whole vectors, no remainder)."""
    return -(-n // 4) * 4


def c_exp(p: str) -> list[str]:
    """``static inline double <p>_exp_(double x)`` = e^x for |x| <= 708, to 2 ulp, and ``<p>_sigmoid_(z)``.

    x / ln 2 is rounded to an integer n by adding 1.5 * 2^52 (round to nearest), the remainder r = x - n ln 2 taken
    in two parts (Cody-Waite, |r| <= ln 2 / 2), e^r by its Taylor polynomial of degree 13 (error below 1e-17)
    evaluated by Estrin's scheme, and 2^n built from n's bits in the exponent field. Having no call and no branch,
    it vectorises in fixed-length loops even at -O2 (libm's exp and tanh do not). It needs |x| <= 708: the callers
    clamp in a loop of their own first, since a clamp inside lets GCC thread the constant bound into the
    arithmetic, which then no longer vectorises at -O2. A NaN stays NaN.
    """
    return [
        f"static inline double {p}_exp_(double x)", "{",
        "    double y, n, r, r2, r4, e, s;", "    uint64_t bits;",
        "    y = x * 1.4426950408889634 + 6755399441055744.0; /* 1.5 * 2^52: y's low bits hold n = round(x / ln 2) */",
        "    n = y - 6755399441055744.0;",
        "    r = (x - n * 0.6931471803691238) - n * 1.9082149292705877e-10; /* ln 2 in two parts */",
        "    r2 = r * r;", "    r4 = r2 * r2;",
        "    e = ((1.0 + r) + r2 * (0.5 + r * (1.0 / 6.0)))",
        "        + r4 * ((1.0 / 24.0 + r * (1.0 / 120.0)) + r2 * (1.0 / 720.0 + r * (1.0 / 5040.0)))",
        "        + r4 * r4 * (((1.0 / 40320.0 + r * (1.0 / 362880.0)) + r2 * (1.0 / 3628800.0 + r * (1.0 / 39916800.0)))",
        "                     + r4 * (1.0 / 479001600.0 + r * (1.0 / 6227020800.0)));",
        "    memcpy(&bits, &y, sizeof bits);", "    bits = (bits + 1023u) << 52; /* 2^n */",
        "    memcpy(&s, &bits, sizeof s);", "    return e * s;", "}",
        f"static inline double {p}_sigmoid_(double z) /* 1 / (1 + e^-z) for |z| <= 708 */", "{",
        f"    return 1.0 / (1.0 + {p}_exp_(-z));", "}"]


def _first_layer_table(weights, bias, inputs, n_pad):
    """(the bias plus m, the table e^-(w_L x_L - m_L) [unit][column], the table e^-(w_B x_B - m_B) [unit][block] or
    None) of the first layer, m = m_L + m_B; None where it does not apply (an input computed per column at run
    time, or level parts spanning more than TABLE_SPAN from their centres)."""
    units = weights.shape[1]
    columns = [n for n, source in enumerate(inputs) if isinstance(source, np.ndarray)]
    blocks = [n for n, source in enumerate(inputs) if isinstance(source, Block)]
    if len(columns) + len(blocks) + sum(isinstance(source, str) for source in inputs) < len(inputs):
        return None

    def part(indexes, values):
        return sum((np.outer(weights[n], values(n)) for n in indexes), np.zeros((units, 1)))

    column = part(columns, lambda n: inputs[n])
    block = part(blocks, lambda n: inputs[n].values)
    c_column, c_block = ((v.max(axis=1) + v.min(axis=1)) / 2.0 for v in (column, block))
    span = np.abs(column - c_column[:, None]).max(axis=1) + np.abs(block - c_block[:, None]).max(axis=1)
    if np.any(span > TABLE_SPAN):
        return None
    table = np.ones((units, n_pad))
    table[:, :column.shape[1]] = np.exp(-(column - c_column[:, None]))
    return (bias + c_column + c_block, table,
            np.exp(-(block - c_block[:, None])) if blocks else None)


class Block:
    """A network input the same in every column of a block (one pass of the layers) but not in every block: its
    ``values`` per block (known at export time), the code of the block's index (0-based in C, 1-based in
    Fortran) and ``fallback``, the input to use where the first layer takes the general path."""

    def __init__(self, values, index: str, fallback):
        self.values, self.index, self.fallback = np.asarray(values, dtype=float), index, fallback


def layer_code(network, fortran: bool, p: str, n_cols: str, n_pad: int, inputs):
    """The network's layers over ``n_cols`` (= ``n_pad``, a multiple of 4) columns at once.

    ``inputs[n]`` gives network input ``n``: a string, code of a value the same in every column (computed once
    per call); a numpy array, its value in each column, fixed at export time (the level's features); or
    ``(array, index)``, column ``index`` of ``array`` computed at run time (``array[index * n_cols + j]`` in C,
    ``array(j, index + 1)`` in Fortran); or a :class:`Block`. Each layer is written in axpy form, ``out(:, o) += w(i, o) * in(:, i)``
    over the columns; a sigmoid first layer of such inputs as the module's docstring says. Returns (constant
    arrays as (name, values), local declarations, statements once per call, statements per block, the code of
    column ``j``'s output, whether ``<p>_exp_`` is used).
    """
    end = "" if fortran else ";"

    def at(i):  # a constant index, in the language's base
        return str(i + 1) if fortran and isinstance(i, int) else str(i)

    def col(array, index, j="j"):
        return f"{array}({j}, {at(index)})" if fortran else f"{array}[{at(index)} * {n_cols} + {j}]"

    def loop(var, n, body):
        return ([f"do {var} = 1, {n}", *(f"  {line}" for line in body), "end do"] if fortran
                else [f"for ({var} = 0; {var} < {n}; {var}++) {{", *(f"    {line}" for line in body), "}"])

    def name(stem, number):
        return f"{stem}{number}" if fortran else f"{p}_{stem}{number}_"

    arrays, statements, used, local, per_call = [], [], {"o"}, [], []
    layers = list(network.layers)
    weights, bias, activation = layers[0]
    table = _first_layer_table(weights, bias, inputs, n_pad) if activation == "sigmoid" else None
    if table is None:
        inputs = [source.fallback if isinstance(source, Block) else source for source in inputs]
    level = [n for n, source in enumerate(inputs) if isinstance(source, np.ndarray)]
    if table is None and level:  # the level's features as a table of columns
        values = np.array([np.pad(inputs[n], (0, n_pad - len(inputs[n]))) for n in level])
        arrays.append((name("xl", ""), values.T if fortran else values))
        inputs = [(name("xl", ""), level.index(n)) if n in level else source for n, source in enumerate(inputs)]
    fused = table is not None and len(layers) > 1 and layers[1][0].shape[1] == 1
    if fused:  # an even number of units (a unit of zero weight added), two a division
        odd = weights.shape[1] % 2
        layers[0] = (np.pad(weights, ((0, 0), (0, odd))), np.pad(bias, (0, odd)), activation)
        layers[1] = (np.pad(layers[1][0], ((0, odd), (0, 0))), layers[1][1], layers[1][2])
        table = (np.pad(table[0], (0, odd)), np.pad(table[1], ((0, odd), (0, 0)), constant_values=1.0),
                 None if table[2] is None else np.pad(table[2], ((0, odd), (0, 0)), constant_values=1.0))
    src, dst, uses_exp, written = None, "h0", False, set()
    one = "1.0_dp" if fortran else "1.0"
    for number, (weights, bias, activation) in enumerate(layers):
        n_in, n_out = weights.shape
        if fused and number == 1:  # done with layer 0
            continue
        arrays.append((name("w", number), weights))

        def w(i):
            return f"w{number}({at(i)}, o)" if fortran else f"{p}_w{number}_[{at(i)} * {n_out} + o]"

        once = [f"cw = cw + {w(n)} * {inputs[n]}{end}" for n in range(n_in) if src is None and isinstance(inputs[n], str)]
        statements.append(("! " if fortran else "/* ") + f"layer {number}: {n_in} -> {n_out}, {activation}"
                          + (", and layer 1 in the same pass (two units a division)" if fused and number == 0 else "")
                          + ("" if fortran else " */"))
        if src is None and table is not None:
            arrays += [(name("c", number), table[0]), (name("e", number), table[1].T if fortran else table[1])]
            c_at = f"c{number}(o)" if fortran else f"{p}_c{number}_[o]"

            def e_at(o):
                return f"e{number}(j, {o})" if fortran else f"{p}_e{number}_[({o}) * {n_cols} + j]"

            bound = f"{CALL_CLAMP}_dp" if fortran else f"{CALL_CLAMP}"
            per_call.append(statements.pop())  # the layer's comment, before its once-per-call part
            if fortran:
                per_call += loop("o", n_out, [f"cw = {c_at}", *once, f"a0(o) = exp(-max(-{bound}, min({bound}, cw)))"])
            else:
                per_call += [*loop("o", n_out, [f"cw = {c_at};", *once, f"cw = cw < -{bound} ? -{bound} : cw;",
                                                f"a0[o] = cw > {bound} ? -{bound} : -cw;"]),
                             *loop("o", n_out, [f"a0[o] = {p}_exp_(a0[o]);"])]
                uses_exp = True
            if table[2] is None:
                a0 = (lambda o: f"a0({o})") if fortran else (lambda o: f"a0[{o}]")
            else:  # times the block's factor e^-(w_B x_B - m_B)
                block = next(source for source in inputs if isinstance(source, Block))
                arrays.append((name("f", number), table[2].T if fortran else table[2]))
                n_blocks = table[2].shape[1]
                a0 = ((lambda o: f"a0({o}) * f{number}({block.index}, {o})") if fortran
                      else (lambda o: f"a0[{o}] * {p}_f{number}_[({o}) * {n_blocks} + {block.index}]"))
            local.append(f"real(dp) :: a0({n_out})" if fortran else f"double a0[{n_out}];")
            written.add(dst)
            if not fused:
                statements += loop("o", n_out, [f"cw = {a0('o')}{end}", *loop(
                    "j", n_cols, [f"{col(dst, 'o')} = {one} / ({one} + cw * {e_at('o')}){end}"])])
                src, dst = dst, "h1"
                continue
            # 1 / d_a and 1 / d_b of two units at once: (w_a d_b + w_b d_a) / (d_a d_b), d = 1 + e^-z <= 1 + e^350
            w1, b1, act1 = layers[1]
            arrays += [(name("w", 1), w1), (name("b", 1), b1)]
            w1_at = (lambda o: f"w1({o}, 1)") if fortran else (lambda o: f"{p}_w1_[{o}]")
            local.append("real(dp) :: w_a, w_b, c_a, c_b, d_a, d_b" if fortran
                         else "double w_a, w_b, c_a, c_b, d_a, d_b;")
            o1 = "o + 1"
            body = [f"w_a = {w1_at('o')}{end}", f"w_b = {w1_at(o1)}{end}", f"c_a = {a0('o')}{end}", f"c_b = {a0(o1)}{end}",
                    *loop("j", n_cols, [f"d_a = {one} + c_a * {e_at('o')}{end}", f"d_b = {one} + c_b * {e_at(o1)}{end}",
                                        f"{col(dst, 0)} = {col(dst, 0)} + (w_a * d_b + w_b * d_a) / (d_a * d_b){end}"])]
            statements += [*loop("j", n_cols, [f"{col(dst, 0)} = {name('b', 1)}{'(1)' if fortran else '[0]'}{end}"]),
                           f"do o = 1, {n_out}, 2" if fortran else f"for (o = 0; o < {n_out}; o += 2) {{",
                           *(f"  {line}" if fortran else f"    {line}" for line in body), "end do" if fortran else "}"]
            n_out, activation = 1, act1
        else:
            arrays.append((name("b", number), bias))
            body = [f"cw = {name('b', number)}{'(o)' if fortran else '[o]'}{end}", *once,
                    *loop("j", n_cols, [f"{col(dst, 'o')} = cw{end}"])]
            if src is None:
                for n in range(n_in):
                    if not isinstance(inputs[n], str):
                        array, index = inputs[n]
                        body += [f"cw = {w(n)}{end}", *loop(
                            "j", n_cols, [f"{col(dst, 'o')} = {col(dst, 'o')} + cw * {col(array, index)}{end}"])]
            else:
                used.add("i")
                body += loop("i", n_in, [f"cw = {w('i')}{end}", *loop(
                    "j", n_cols, [f"{col(dst, 'o')} = {col(dst, 'o')} + cw * {col(src, 'i')}{end}"])])
            statements += loop("o", n_out, body)
        written.add(dst)
        if activation == "sigmoid":
            if fortran:  # 1 / (1 + e^-z) = 0.5 (1 + tanh(z / 2)), numpy's form, to a few ulp
                statements.append(f"{dst}(:, 1:{n_out}) = 1.0_dp / (1.0_dp + exp(-{dst}(:, 1:{n_out})))")
            else:  # the clamp to |z| <= 708 in a loop of its own (see c_exp)
                statements += [*loop("j", f"{n_out} * {n_cols}", [f"cw = {dst}[j] < -708.0 ? -708.0 : {dst}[j];",
                                                                  f"{dst}[j] = cw > 708.0 ? 708.0 : cw;"]),
                               *loop("j", f"{n_out} * {n_cols}", [f"{dst}[j] = {p}_sigmoid_({dst}[j]);"])]
                uses_exp = True
        src, dst = dst, ("h1" if dst == "h0" else "h0")
    width = max(w.shape[1] for w, _, _ in layers[1 if fused else 0:])
    buffers = sorted(written)
    if fortran:
        local = ["real(dp) :: cw, " + ", ".join(f"{b}({n_cols}, {width})" for b in buffers), *local,
                 f"integer :: {', '.join(sorted(used))}"]
    else:
        local = ["double cw, " + ", ".join(f"{b}[{width} * {n_cols}]" for b in buffers) + ";", *local,
                 f"int {', '.join(sorted(used))};"]
    return arrays, local, per_call, statements, col(src, 0), uses_exp
