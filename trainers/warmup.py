"""Build DeepSpeed's CPU ops once, at setup, so concurrent trials never queue on the build lock.

Run as ``python -m trainers.warmup``; it initialises one tiny DeepSpeed engine and takes about a
minute on a fresh machine, a few seconds once the ops are cached.
"""

from __future__ import annotations

import time


def main() -> None:
    """Initialise one tiny DeepSpeed engine and take one step."""
    import torch

    from trainers.engine import ensure_process_group

    started = time.perf_counter()
    ensure_process_group()  # builds DeepSpeed's ops into this environment's folder (trainers.ops)
    import deepspeed

    model = torch.nn.Linear(4, 2)
    engine, *_ = deepspeed.initialize(
        model=model,
        optimizer=torch.optim.AdamW(model.parameters()),
        config={"train_micro_batch_size_per_gpu": 1, "steps_per_print": 10**9},
    )
    loss = engine(torch.ones(1, 4, device=engine.device)).sum()
    engine.backward(loss)
    engine.step()
    print(f"DeepSpeed ready on {engine.device} ({time.perf_counter() - started:.1f}s)")


if __name__ == "__main__":
    main()
