# Times PyTorch's conv2d (oneDNN on CPU) on the layer bench/conv2d.ts measures,
# for a side-by-side ratio in the same run. Prints one JSON object.
# Usage: python3 pytorch_conv2d.py THREADS N C H W O K PAD
import json
import sys
import time

import torch

threads, n, c, h, w, o, k, pad = (int(a) for a in sys.argv[1:9])
torch.set_num_threads(threads)
x = torch.rand(n, c, h, w) - 0.5
conv = torch.nn.Conv2d(c, o, k, padding=pad)
xg = x.clone().requires_grad_(True)


def timed(fn, min_seconds=1.5, min_reps=3):
    fn()
    samples = []
    start = time.perf_counter()
    while len(samples) < min_reps or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return min(samples)  # best call, as bench/harness.ts reports


def forward():
    with torch.no_grad():
        conv(x)


def forward_backward():
    y = conv(xg)
    y.backward(torch.ones_like(y))


print(json.dumps({
    "torch": torch.__version__,
    "mkldnn": torch.backends.mkldnn.is_available(),
    "forward_ms": timed(forward),
    "forward_backward_ms": timed(forward_backward),
}))
