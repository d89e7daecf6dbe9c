"""Which attention a transformer block should use: fused dot-product or MultiHeadAttention.

Command:  python benchmarks/attention_choice.py
Config:   one pre-norm block of the tiny config (192 wide, 3 heads, MLP 768), a batch of
          64 sequences of 64 tokens, forward + backward, fp32, 2 CPU threads.
Writes:   benchmarks/results/attention_choice.{json,md}

"fused" is `keras_jepa.layers.TransformerBlock`: one query-key-value projection and
`keras.ops.dot_product_attention` (each backend's fused kernel). "mha" is the same block
with `keras.layers.MultiHeadAttention` (separate projections, einsum attention). Each
backend runs in its own process; the median of several timed fit calls is reported.
"""

import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import benchmark_parser  # noqa: E402
from common import configure_backend_threads  # noqa: E402
from common import limit_threads  # noqa: E402
from common import machine  # noqa: E402
from common import markdown_table  # noqa: E402
from common import run_per_backend  # noqa: E402
from common import worker_args  # noqa: E402
from common import write_results  # noqa: E402


def worker(args):
    limit_threads(args.threads)
    import keras
    import numpy as np
    from keras import ops

    configure_backend_threads(args.threads)
    from keras_jepa.layers import TransformerBlock

    width, heads, tokens, batch = 192, 3, 64, 64

    class MHABlock(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.norm1 = keras.layers.LayerNormalization(epsilon=1e-6)
            self.attention = keras.layers.MultiHeadAttention(heads, width // heads)
            self.norm2 = keras.layers.LayerNormalization(epsilon=1e-6)
            self.hidden = keras.layers.Dense(4 * width)
            self.out = keras.layers.Dense(width)

        def call(self, x):
            h = self.norm1(x)
            x = x + self.attention(h, h)
            return x + self.out(ops.gelu(self.hidden(self.norm2(x)), approximate=False))

    x = np.random.default_rng(0).normal(size=(batch * args.steps, tokens, width)).astype("float32")
    results = []
    for name, make in (("fused", lambda: TransformerBlock(width, heads)), ("mha", MHABlock)):
        inputs = keras.Input((tokens, width))
        model = keras.Model(inputs, make()(inputs))
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x[:batch * 2], x[:batch * 2], batch_size=batch, verbose=0)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            model.fit(x, x, batch_size=batch, verbose=0, shuffle=False)
            times.append((time.perf_counter() - start) / args.steps)
        results.append({"backend": keras.backend.backend(), "attention": name,
                        "ms_per_step": 1e3 * statistics.median(times), "best_ms": 1e3 * min(times)})
    print(json.dumps(results))


def main():
    args = benchmark_parser(__doc__, steps=10).parse_args()
    if args.worker:
        return worker(args)
    rows = run_per_backend(os.path.abspath(__file__), args.backends,
                           worker_args(args, "steps", "repeats", "threads"))
    by_backend = {}
    for r in rows:
        by_backend.setdefault(r["backend"], {})[r["attention"]] = r["ms_per_step"]
    lines = [
        "# Attention in the transformer block: fused dot-product vs MultiHeadAttention",
        "",
        f"`python benchmarks/attention_choice.py`, {machine()['date']}, {args.threads} threads; one block "
        "192 wide / 3 heads, batch 64 × 64 tokens, forward + backward (`fit` step), median ms.",
        "",
        markdown_table(
            ["backend", "fused (ops.dot_product_attention) ms", "MultiHeadAttention ms",
             "MHA / fused"],
            [[backend, f"{t['fused']:.1f}", f"{t['mha']:.1f}", f"{t['mha'] / t['fused']:.2f}"]
             for backend, t in by_backend.items()]),
    ]
    write_results("attention_choice", {"machine": machine(), "results": rows}, lines)


if __name__ == "__main__":
    main()
