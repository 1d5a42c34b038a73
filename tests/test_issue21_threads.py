"""Issue 21, item 8: the thread settings kgenrich chooses to stay fair on a shared machine (threads.py).

The timing itself is measured by bench/bench_shared_machine.py (timed tests would be flaky on CI);
here: what is chosen from which inputs, that it reaches the libraries before they start, and that a
setting overrides it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kgenrich import threads
from kgenrich.config import load_settings
from kgenrich.errors import ConfigError

KGENRICH = [sys.executable, "-m", "kgenrich"]


@pytest.mark.parametrize("cores, load, expected", [
    (2, 0.0, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 2.0, 1), (2, 7.5, 1), (16, 3.4, 13), (16, 0.0, 16), (1, 0.0, 1),
])
def test_the_free_cores(cores, load, expected):
    chosen, why = threads.free_cores(cores=cores, load=load)
    assert chosen == expected and f"{cores} usable core(s)" in why


def test_work_that_has_just_ended_does_not_count(monkeypatch):
    """Regression: the one-minute load average still counted a `load` (or a bench's own setup) that
    had just ended, so a sync started right after it on an idle 2-core machine ran on one thread."""
    monkeypatch.setattr(os, "getloadavg", lambda: (1.6, 1.5, 1.2))
    monkeypatch.setattr(threads, "_running_now", lambda: 0)
    assert threads.free_cores(cores=2) == (2, "2 usable core(s), 0 other thread(s) runnable now")
    monkeypatch.setattr(threads, "_running_now", lambda: None)  # no /proc/loadavg: the average it is
    assert threads.free_cores(cores=2)[0] == 1


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="needs Linux /proc/loadavg")
def test_a_busy_process_is_seen_at_once():
    busy = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 20\nwhile time.time() < end: pass"])
    try:
        import time
        time.sleep(0.3)
        load, why = threads.others_load()
        assert load >= 1 and "runnable now" in why
    finally:
        busy.kill()
        busy.wait()


def test_usable_cores_are_within_the_affinity():
    assert 1 <= threads.usable_cores() <= len(os.sched_getaffinity(0))


def test_configure_sets_the_environment_before_the_libraries_start():
    env: dict = {}
    chosen = threads.configure(None, environ=env)
    assert env["GOMP_SPINCOUNT"] == "1000" and env["KMP_BLOCKTIME"] == "0" and "OMP_WAIT_POLICY" not in env
    assert chosen["wait_policy"] == "spin 1000, then sleep"
    assert int(env["OMP_NUM_THREADS"]) == chosen["threads"] >= 1
    # what the user set wins: their OpenMP environment, and the threads setting over all of it
    env = {"OMP_NUM_THREADS": "3", "OMP_WAIT_POLICY": "ACTIVE"}
    assert threads.configure(None, environ=env)["why"] == "OMP_NUM_THREADS in the environment"
    assert env == {"OMP_NUM_THREADS": "3", "OMP_WAIT_POLICY": "ACTIVE", "KMP_BLOCKTIME": "0"}
    threads.configure(5, environ=env)
    assert env["OMP_NUM_THREADS"] == "5"


def test_the_threads_setting_is_typed(tmp_path):
    assert load_settings(environ={"KGENRICH_THREADS": "3"}, cwd=tmp_path).threads == 3
    assert load_settings(environ={"KGENRICH_THREADS": "auto"}, cwd=tmp_path).threads is None
    (tmp_path / "kgenrich.toml").write_text('threads = "many"\n')
    with pytest.raises(ConfigError, match="'threads' must be \"auto\" or a whole number >= 1"):
        load_settings(environ={}, cwd=tmp_path)


def test_a_command_runs_its_libraries_with_the_chosen_threads(tmp_path):
    """In a real process: torch and LightGBM's OpenMP see the setting, and waiting threads spin briefly."""
    probe = ("import click, os\n"
             "from kgenrich.cli import main\n"
             "@main.command()\n"
             "def probe():\n"
             "    import torch, lightgbm, json\n"
             "    from threadpoolctl import threadpool_info\n"
             "    print(json.dumps({'torch': torch.get_num_threads(), 'wait': os.environ.get('GOMP_SPINCOUNT'),\n"
             "                      'openmp': sorted({i['num_threads'] for i in threadpool_info()\n"
             "                                        if i['user_api'] == 'openmp'})}))\n"
             "main(['probe'], prog_name='kgenrich')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KGENRICH_", "OMP_", "KMP_"))}
    env["KGENRICH_THREADS"] = "1"
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen == {"torch": 1, "wait": "1000", "openmp": [1]}
