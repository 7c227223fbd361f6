"""The benchmark's CPU peer (scripts/bench/measure-torch.ts starts it): PyTorch's BatchNorm2d and
GroupNorm in training mode, timed the way the benchmark times this package's ops (scripts/timing.ts,
Sampling: the same warm-up and sampling rule, wall clock). Reads one JSON request per line on stdin:
  {"op": "bn" | "gn", "n", "c", "hw", "groups", "layout": "NCHW" | "NHWC", "minRuns", "sampleMs", "warmupMs"}
and answers one JSON line {"forward", "backward", "forward+backward"} in milliseconds.
argv[1]: the thread count (torch.set_num_threads)."""
import json
import math
import sys
import time

import torch

MIN_WARMUP_CALLS = 3
MAX_RUNS = 10_000


def now_ms():
    return time.perf_counter_ns() / 1e6


def median_ms(step, sampling):
    warmup_start = now_ms()
    calls = 0
    while calls < MIN_WARMUP_CALLS or now_ms() - warmup_start < sampling["warmupMs"]:
        step()
        calls += 1
    per_call = (now_ms() - warmup_start) / calls
    runs = min(MAX_RUNS, max(sampling["minRuns"], math.ceil(sampling["sampleMs"] / per_call)))
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        step()
        times.append((time.perf_counter_ns() - start) / 1e6)
    times.sort()
    return times[len(times) // 2]


def measure(request):
    n, c, hw = request["n"], request["c"], request["hw"]
    fmt = torch.channels_last if request["layout"] == "NHWC" else torch.contiguous_format
    x = (torch.rand(n, c, hw, hw) * 2 - 1 + torch.rand(n, c, hw, hw)).contiguous(memory_format=fmt)
    dy = torch.rand(n, c, hw, hw).contiguous(memory_format=fmt)
    module = torch.nn.BatchNorm2d(c) if request["op"] == "bn" else torch.nn.GroupNorm(request["groups"], c)
    module.train()

    def forward():
        with torch.no_grad():
            module(x)

    grad_x = x.clone().requires_grad_(True)

    def forward_backward():
        grad_x.grad = None
        module(grad_x).backward(dy)

    kept = module(grad_x)  # one graph, its backward run again and again

    def backward():
        grad_x.grad = None
        kept.backward(dy, retain_graph=True)

    return {
        "forward": median_ms(forward, request),
        "backward": median_ms(backward, request),
        "forward+backward": median_ms(forward_backward, request),
    }


def main():
    torch.set_num_threads(int(sys.argv[1]))
    for line in sys.stdin:
        sys.stdout.write(json.dumps(measure(json.loads(line))) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
