"""Data-parallel adapter training: each rank takes a fixed share of every global batch; sums are all-reduced.

Every rank builds the same model from the same seed and draws the same global batch (the same data
order generator). :meth:`DataParallel.shard` gives rank ``r`` the ``r``-th of ``world`` contiguous,
near-equal blocks of it. Each rank sums its shard's loss, the target-token count is summed over the
ranks first, and each rank divides by that global count before ``backward``; summing the gradients
(:meth:`DataParallel.sum_gradients`) then gives the gradient of the one-process mean-over-tokens loss,
up to the order of the additions. Every rank takes the same optimizer step, so the weights stay
identical on every rank without a broadcast.

With ``world == 1`` every method is the identity and nothing touches ``torch.distributed``: a
one-process training runs exactly the operations it ran before this module existed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from recbench.errors import RecbenchError


class PeerLost(RecbenchError):
    """Another rank stopped during a collective: its own error is the cause, this one a consequence."""


@dataclass(frozen=True)
class DataParallel:
    """This process's place in a data-parallel training (one process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1

    def shard(self, batch: list) -> list:
        """This rank's contiguous block of ``batch`` (block sizes differ by at most one; may be empty)."""
        if self.world == 1:
            return batch
        n = len(batch)
        return batch[self.rank * n // self.world : (self.rank + 1) * n // self.world]

    def total(self, count: int, device: torch.device | str) -> int:
        """``count`` summed over the ranks."""
        if self.world == 1:
            return count
        t = torch.tensor([count], dtype=torch.int64, device=device)
        self._all_reduce(t)
        return int(t.item())

    def sum_floats(self, values: list[float], device: torch.device | str) -> list[float]:
        """Each of ``values`` summed over the ranks (in float64)."""
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=device)
        self._all_reduce(t)
        return t.tolist()

    def sum_gradients(self, params: list[torch.nn.Parameter], loss: torch.Tensor) -> torch.Tensor:
        """Sum every parameter's gradient over the ranks in place, in one all-reduce; ``loss`` (a
        detached scalar) is summed with them and returned.

        A parameter keeps ``grad is None`` when no rank gave it a gradient (as AdamW expects: it skips
        such parameters); a rank with an empty shard contributes zeros.
        """
        if self.world == 1:
            return loss
        dev = loss.device
        flat = [p.grad.detach().flatten().float() if p.grad is not None else torch.zeros(p.numel(), device=dev)
                for p in params]  # fmt: skip
        has = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=dev)
        buf = torch.cat([*flat, has, loss.detach().float().reshape(1)])
        self._all_reduce(buf)
        offset = 0
        for p, seen in zip(params, buf[-1 - len(params) : -1].tolist(), strict=True):
            part = buf[offset : offset + p.numel()].view_as(p).to(p.dtype)
            p.grad = part.clone() if seen else None
            offset += p.numel()
        return buf[-1]

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            try:
                dist.barrier()
            except RuntimeError as exc:
                raise self._lost(exc) from None

    def _all_reduce(self, tensor: torch.Tensor) -> None:
        import torch.distributed as dist

        try:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        except RuntimeError as exc:  # gloo: "Connection closed by peer" within a second of a rank's exit
            raise self._lost(exc) from None

    def _lost(self, exc: Exception) -> PeerLost:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        return PeerLost(
            f"rank {self.rank} of {self.world}: another rank of the data-parallel training stopped ({first})"
        )


SINGLE = DataParallel()


def current(world_expected: int) -> DataParallel:
    """This process's :class:`DataParallel` for a training that asks for ``world_expected`` processes.

    ``world_expected == 1`` trains in this process alone (whatever the launch); otherwise the process
    group must be initialised with exactly that many ranks.
    """
    if world_expected == 1:
        return SINGLE
    import torch.distributed as dist

    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    if world != world_expected:
        raise RecbenchError(
            f"this interpreter trains data-parallel in {world_expected} processes but {world} "
            f"{'is' if world == 1 else 'are'} running; launch it with --num-processes {world_expected}"
        )
    return DataParallel(dist.get_rank(), world)
