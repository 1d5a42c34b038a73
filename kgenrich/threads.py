"""How many CPU threads kgenrich's libraries use, and how they wait: fair on a machine that does other work.

Torch (intra-op), LightGBM and the BLAS libraries parallelise with OpenMP.  By default OpenMP takes a
thread per core and lets a thread that waits for the others *spin* (burn its core polling) for a
while.  Beside other busy processes that is the worst case: a parallel step waits for its slowest
thread, that thread is descheduled, and the others spin on the cores the machine needed (measured
on 2 cores beside two busy processes: the demo's text heads went from 20 to 1.3 epochs/s).  So,
once, when a command starts and before any of those libraries is loaded (:func:`configure`):

- waiting threads spin only briefly, then sleep: ``GOMP_SPINCOUNT=1000`` (GNU OpenMP, which torch and
  LightGBM's wheels use; its default spins 300,000 times), ``KMP_BLOCKTIME=0`` (Intel's and LLVM's),
  unless the environment already says otherwise (an ``OMP_WAIT_POLICY`` of the user's included).  Not
  ``OMP_WAIT_POLICY=PASSIVE``, which sleeps at once: LightGBM's many short parallel loops then pay a
  wake-up each, and two such threads were slower than one (60 rounds of a 10-class model on 60,000
  rows, 2 cores: 4.7-5.0 s passive, 3.9 s with one thread, 2.3-2.5 s with a spin count of 1,000;
  beside two busy processes 4.0-7.0 s passive, 5.2-5.8 s with a spin count of 1,000, 8.3 s with
  OpenMP's default);
- the thread count is the cores this process may use (its CPU affinity, the container's CPU quota,
  never more than the physical cores among them) less the load the other processes put on them
  (the threads runnable now, the median of samples over a quarter of a second; the one-minute
  load average only where that cannot be read), at least one: ``OMP_NUM_THREADS`` (read by torch, LightGBM and
  OpenBLAS when they start), unless the environment sets it.  The ``threads`` setting
  (``KGENRICH_THREADS``) overrides the choice; ``[models] threads`` (torch) and ``[models] n_jobs``
  (LightGBM) override it per model.

The choice is made once: the load average of a command's own later work would otherwise make it
shrink itself.  What was chosen and why is :data:`CHOSEN` (the model cards and ``--json`` reports
carry the thread counts the models used).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

QUIET_WAITING = {"GOMP_SPINCOUNT": "1000", "KMP_BLOCKTIME": "0"}


def quiet_waiting(environ=os.environ) -> None:
    """Set the brief-spin waiting (module doc) where the environment says nothing of its own."""
    if "OMP_WAIT_POLICY" in environ:  # the user's wait policy decides the spinning
        environ.setdefault("KMP_BLOCKTIME", QUIET_WAITING["KMP_BLOCKTIME"])
        return
    for key, value in QUIET_WAITING.items():
        environ.setdefault(key, value)
CHOSEN: dict = {}  # {"threads": n, "why": "..."} once configure() ran


def _physical_cores(cpus: set[int]) -> int:
    """Physical cores among ``cpus`` (hyper-threads of one core count once); len(cpus) if unknown."""
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topology / "physical_package_id").read_text().strip(), (topology / "core_id").read_text().strip()))
        except OSError:
            return len(cpus)
    return len(cores) or len(cpus)


def _cgroup_quota() -> float | None:
    """CPUs the container may use (cgroup v2 ``cpu.max`` or v1 ``cfs_quota``), None if unlimited/unknown."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    except (OSError, ValueError):
        return None


def usable_cores() -> int:
    """The cores this process may run on: affinity, container quota, physical cores only."""
    try:
        cpus = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = set(range(os.cpu_count() or 1))
    cores = _physical_cores(cpus)
    quota = _cgroup_quota()
    if quota is not None:
        cores = min(cores, max(1, math.floor(quota)))
    return max(1, cores)


def _running_now(samples: int = 13, pause: float = 0.02) -> int | None:
    """Threads runnable right now besides this one (Linux ``/proc/loadavg``'s fourth field), the median of
    samples over about a quarter of a second."""
    import time

    counts = []
    for i in range(samples):
        try:
            running = Path("/proc/loadavg").read_text().split()[3].split("/")[0]
            counts.append(max(0, int(running) - 1))
        except (OSError, IndexError, ValueError):
            return None
        if i + 1 < samples:
            time.sleep(pause)
    return sorted(counts)[len(counts) // 2]


def others_load() -> tuple[float, str]:
    """How many cores other work keeps busy now: the threads runnable besides this one (sampled), or,
    where that cannot be read, the one-minute load average.

    Not the load average where the runnable threads can be read: it lags a minute behind, in both
    directions, and counts work that has just ended -- the `kgenrich load` (or the parent process)
    that ran a moment before a sync would leave that sync one thread on an idle machine."""
    now = _running_now()
    if now is not None:
        return float(now), f"{now} other thread(s) runnable now"
    try:
        average = os.getloadavg()[0]
    except (AttributeError, OSError):
        average = 0.0
    return average, f"load average {average:.2f}"


def free_cores(cores: int | None = None, load: float | None = None) -> tuple[int, str]:
    """(threads, why): the usable cores less the other processes' load, at least one."""
    cores = usable_cores() if cores is None else cores
    if load is None:
        load, why = others_load()
    else:
        why = f"load {load:.2f}"
    threads = max(1, min(cores, math.floor(cores - load + 0.5)))
    return threads, f"{cores} usable core(s), {why}"


def parse_threads(value) -> int | None:
    """The ``threads`` setting: "auto" (None) or a whole number >= 1."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
        return None
    if isinstance(value, bool):
        raise ValueError('"auto" or a whole number >= 1')
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError('"auto" or a whole number >= 1') from None
    if number < 1 or number != float(value):
        raise ValueError('"auto" or a whole number >= 1')
    return number


def wait_policy(environ=os.environ) -> str:
    """How waiting OpenMP threads behave, in a word for model cards and reports."""
    if environ.get("OMP_WAIT_POLICY"):
        return environ["OMP_WAIT_POLICY"]
    return f"spin {environ['GOMP_SPINCOUNT']}, then sleep" if environ.get("GOMP_SPINCOUNT") else "OpenMP default"


def configure(threads: int | None = None, environ=os.environ) -> dict:
    """Set the OpenMP environment for this process (see the module doc); call before torch, LightGBM
    or numpy's BLAS start.  ``threads``: the setting (None: choose).  Returns :data:`CHOSEN`."""
    quiet_waiting(environ)
    if threads is not None:
        chosen, why = threads, "the threads setting"
        environ["OMP_NUM_THREADS"] = str(threads)
    elif environ.get("OMP_NUM_THREADS", "").strip():
        chosen, why = environ["OMP_NUM_THREADS"], "OMP_NUM_THREADS in the environment"
    else:
        chosen, why = free_cores()
        environ["OMP_NUM_THREADS"] = str(chosen)
    CHOSEN.clear()
    CHOSEN.update({"threads": int(chosen) if str(chosen).isdigit() else chosen, "why": why,
                   "wait_policy": wait_policy(environ)})
    return dict(CHOSEN)
