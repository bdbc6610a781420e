"""Several processes train one model: where they meet, and how they agree.

A distributed smoke job runs one process per task, started by Slurm's ``srun`` (SLURM_PROCID,
SLURM_NTASKS, SLURM_LOCALID, SLURM_JOB_NODELIST, SLURM_JOB_ID) or by hand / torchrun (RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT). The processes meet over TCP at the first
node of the job (rank 0) and use torch.distributed: NCCL between GPUs, gloo on CPUs.

Every collective here is called by every rank in the same order; a rank that would leave early
(MLflow unreachable on rank 0, say) first tells the others through ``broadcast``, so no rank
waits for ever in a collective that its peer never enters.
"""

from __future__ import annotations

import datetime
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from onprem_mlops.smoke.deps import require

BASE_PORT = 29500
PORT_SPREAD = 1000  # jobs on the same first node get different ports: BASE + job id % SPREAD
DEFAULT_TIMEOUT_S = 300.0
BACKENDS = ("gloo", "nccl")


class RendezvousError(ValueError):
    """The environment does not say where the processes meet; the message names what is missing."""


def expand_hostlist(expression: str) -> list[str]:
    """Slurm's compressed host list as host names: ``node[1-3,07],gpu-a`` -> 4 names.

    Zero-padded ranges keep their width (``n[08-10]`` -> n08, n09, n10), as Slurm writes them.
    """
    hosts: list[str] = []
    for part in re.findall(r"[^,\[]+(?:\[[^\]]*\][^,\[]*)*", expression):
        hosts.extend(_expand_one(part.strip()))
    return [h for h in hosts if h]


def _expand_one(pattern: str) -> list[str]:
    match = re.search(r"\[([^\]]*)\]", pattern)
    if not match:
        return [pattern]
    head, tail = pattern[: match.start()], pattern[match.end() :]
    names: list[str] = []
    for item in match.group(1).split(","):
        low, _, high = item.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise RendezvousError(f"cannot read the Slurm host list {pattern!r}")
        width = len(low) if low.startswith("0") else 0
        for number in range(int(low), int(high or low) + 1):
            names.extend(f"{head}{number:0{width}d}{rest}" for rest in _expand_one(tail))
    return names


@dataclass(frozen=True)
class Rendezvous:
    rank: int
    world_size: int
    local_rank: int
    master_addr: str
    master_port: int
    hosts: tuple[str, ...] = field(default=())
    launcher: str = "env"  # "slurm" or "env"

    @property
    def init_method(self) -> str:
        host = f"[{self.master_addr}]" if ":" in self.master_addr else self.master_addr
        return f"tcp://{host}:{self.master_port}"


def _integer(env: Mapping[str, str], name: str) -> int:
    value = env.get(name)
    if value is None or not value.strip().isdigit():
        raise RendezvousError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def from_environment(env: Mapping[str, str] | None = None) -> Rendezvous:
    """Where this process stands in the job, from Slurm's variables or torchrun's."""
    env = os.environ if env is None else env
    if "SLURM_PROCID" in env and "RANK" not in env:
        rank, world = _integer(env, "SLURM_PROCID"), _integer(env, "SLURM_NTASKS")
        local = _integer(env, "SLURM_LOCALID") if "SLURM_LOCALID" in env else 0
        nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST") or ""
        hosts = tuple(expand_hostlist(nodelist))
        if not hosts:
            raise RendezvousError("SLURM_JOB_NODELIST is empty: run the job with srun or sbatch")
        job = _integer(env, "SLURM_JOB_ID") if "SLURM_JOB_ID" in env else 0
        port = env.get("MASTER_PORT") or str(BASE_PORT + job % PORT_SPREAD)
        addr = env.get("MASTER_ADDR") or hosts[0]
        launcher = "slurm"
    else:
        missing = [n for n in ("RANK", "WORLD_SIZE", "MASTER_ADDR") if not env.get(n)]
        if missing:
            raise RendezvousError(
                "--distributed needs Slurm's srun (SLURM_PROCID, SLURM_NTASKS, "
                f"SLURM_JOB_NODELIST) or RANK, WORLD_SIZE and MASTER_ADDR; missing: "
                f"{', '.join(missing)}"
            )
        rank, world = _integer(env, "RANK"), _integer(env, "WORLD_SIZE")
        local = _integer(env, "LOCAL_RANK") if "LOCAL_RANK" in env else 0
        addr, port = env["MASTER_ADDR"], env.get("MASTER_PORT") or str(BASE_PORT)
        hosts, launcher = (), "env"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise RendezvousError(f"MASTER_PORT must be a TCP port (1-65535), got {port!r}")
    if world < 1 or rank >= world:
        raise RendezvousError(f"rank {rank} does not fit a job of {world} processes")
    return Rendezvous(rank, world, local, addr, int(port), hosts, launcher)


class Group:
    """A joined torch.distributed process group with the few collectives the job needs."""

    def __init__(self, rendezvous: Rendezvous, backend: str) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.rendezvous = rendezvous
        self.backend = backend
        self._dist = require("torch.distributed")

    @property
    def rank(self) -> int:
        return self.rendezvous.rank

    @property
    def size(self) -> int:
        return self.rendezvous.world_size

    def join(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        rv = self.rendezvous
        self._dist.init_process_group(
            self.backend,
            init_method=rv.init_method,
            rank=rv.rank,
            world_size=rv.world_size,
            timeout=datetime.timedelta(seconds=timeout_s),
        )

    def leave(self, wait: bool = True, linger_s: float = 30.0) -> None:
        """Leave the group; ``wait``: first wait until every rank is here.

        A rank whose process ends while a peer still holds its gloo connections makes gloo
        abort that peer (SIGABRT, "terminate called without an active exception"; seen once in
        the Slurm scenario after a barrier, on the rank that was not rank 0). So after the
        barrier every rank destroys the group, and then says so through the rendezvous store,
        which rank 0 hosts: the others add one to a counter and may end; rank 0 keeps the store
        (and its process) until all have (at most ``linger_s``). A barrier that fails (a peer is
        gone already) still destroys the group here, never at interpreter exit.
        """
        if not self._dist.is_initialized():
            return
        store = None
        try:
            if wait:
                self._dist.barrier()
                store = self._default_store()
        except RuntimeError:  # a peer is gone: no one to wait for, but still destroy
            pass
        finally:
            self._dist.destroy_process_group()
        if store is not None:
            self._last_word(store, linger_s)

    def _default_store(self) -> Any:
        """The rendezvous store, held so that rank 0's server outlives the group (or None)."""
        c10d = getattr(self._dist, "distributed_c10d", None)
        getter = getattr(c10d, "_get_default_store", None)
        try:
            return getter() if getter else None
        except RuntimeError:
            return None

    def _last_word(self, store: Any, linger_s: float) -> None:
        key = "onprem-mlops/left"
        try:
            if self.rank != 0:
                store.add(key, 1)
                return
            deadline = time.monotonic() + linger_s
            while store.add(key, 0) < self.size - 1 and time.monotonic() < deadline:
                time.sleep(0.05)
        except RuntimeError:  # a peer's store client went away: nothing left to wait for
            return

    def _tensor(self, value: float) -> Any:
        torch = require("torch")
        device = "cuda" if self.backend == "nccl" else "cpu"
        return torch.tensor([value], dtype=torch.float64, device=device)

    def broadcast(self, value: float, src: int = 0) -> float:
        """Rank ``src``'s value on every rank."""
        tensor = self._tensor(value)
        self._dist.broadcast(tensor, src=src)
        return float(tensor.item())

    def any(self, flag: bool) -> bool:
        """True on every rank when it is true on at least one."""
        tensor = self._tensor(1.0 if flag else 0.0)
        self._dist.all_reduce(tensor, op=self._dist.ReduceOp.MAX)
        return bool(tensor.item() > 0)

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value`` (picklable), in rank order, on every rank."""
        out: list[Any] = [None] * self.size
        self._dist.all_gather_object(out, value)
        return out


def default_backend(device: str) -> str:
    """NCCL between GPUs, gloo on CPUs."""
    return "nccl" if device == "cuda" else "gloo"
