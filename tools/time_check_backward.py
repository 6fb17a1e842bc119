"""How long check_backward takes on a naive convolution written in loops (the course
style): a (2, 3, 7, 7) input, 4 filters of 3x3, stride 1, pad 1. Best of 3 runs.

    PYTHONPATH=. python tools/time_check_backward.py
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

import learner_layers as L  # noqa: E402

from tinygrad_mlp import check_backward  # noqa: E402


def main() -> None:
    """Time the check of each version of the convolution, best of 3."""
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    conv_param = {"stride": 1, "pad": 1}
    pairs = {"np.zeros padding": (L.conv_forward_zeros_pad, L.conv_backward_naive)}
    try:
        check_backward((L.conv_forward_naive, L.conv_backward_naive), x, w, b, conv_param)
        pairs["np.pad"] = (L.conv_forward_naive, L.conv_backward_naive)
    except ValueError as exc:
        print(f"(np.pad version skipped: {exc})")
    for name, pair in pairs.items():
        times = []
        for _ in range(3):
            start = time.perf_counter()
            report = check_backward(pair, x, w, b, conv_param)
            times.append(time.perf_counter() - start)
        assert report.passed, str(report)
        print(f"naive conv ({name}), x 2x3x7x7, w 4x3x3x3: check_backward best {min(times):.2f} s of 3")


if __name__ == "__main__":
    main()
