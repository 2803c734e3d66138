"""torchrun's environment variables and timeouts, crafted: each bad value is refused naming the
variable, and a rank whose peers never start fails within the rendezvous timeout (not the
600 s collective timeout), naming MASTER_ADDR/PORT and WORLD_SIZE. Gloo on 127.0.0.1 only."""

from __future__ import annotations

import pytest
from ports import free_port

from panda_viz.commands import cli
from panda_viz.exceptions import InvalidInputError
from panda_viz.runtime.distributed import (
    MAX_TIMEOUT,
    Launch,
    launch_settings,
    process_group,
)

from .bounded import run_bounded

GOOD = {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}


def test_good_settings_and_running_alone():
    assert launch_settings(GOOD) == Launch(2, 1, 1, "127.0.0.1", 29500)
    assert launch_settings({}) == Launch(1, 0, 0, None, None)
    assert launch_settings({"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0"}).world_size == 1


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"WORLD_SIZE": "-3"}, r"WORLD_SIZE must be a whole number in \[1, 65536\] .*; got '-3'"),
        ({"WORLD_SIZE": "abc"}, r"WORLD_SIZE must be a whole number .*; got 'abc'"),
        ({"WORLD_SIZE": ""}, r"WORLD_SIZE must be .*; got ''"),
        ({"WORLD_SIZE": "1e3"}, r"WORLD_SIZE .*got '1e3'"),
        ({"WORLD_SIZE": "9" * 5000}, r"WORLD_SIZE .*got '99999"),
        ({"WORLD_SIZE": "100000"}, r"WORLD_SIZE must be a whole number in \[1, 65536\]"),
        ({"RANK": "2"}, r"RANK must be a whole number in \[0, 1\] \(this process's rank of WORLD_SIZE=2\); got '2'"),
        ({"RANK": "x"}, r"RANK must be .*; got 'x'"),
        ({"RANK": None}, r"RANK must be set when WORLD_SIZE=2"),
        ({"LOCAL_RANK": "-1"}, r"LOCAL_RANK must be a whole number in \[0, 1\]"),
        ({"MASTER_PORT": "70000"}, r"MASTER_PORT must be a whole number in \[1, 65535\]"),
        ({"MASTER_PORT": "http"}, r"MASTER_PORT must be .*got 'http'"),
        ({"MASTER_PORT": None}, r"MASTER_PORT must be set .* when WORLD_SIZE=2"),
        ({"MASTER_ADDR": None}, r"MASTER_ADDR must be set .* when WORLD_SIZE=2"),
        ({"MASTER_ADDR": "a b"}, r"MASTER_ADDR must be set"),
    ],
)
def test_bad_variables_are_named(change, match):
    env = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    with pytest.raises(InvalidInputError, match=match):
        launch_settings(env)


@pytest.mark.parametrize("env", [{"RANK": "1"}, {"WORLD_SIZE": "1", "LOCAL_RANK": "3"}])
def test_a_rank_without_its_world_is_refused(env):
    with pytest.raises(InvalidInputError, match="must be 0 .*WORLD_SIZE is 1 or unset"):
        launch_settings(env)


@pytest.mark.parametrize(("value", "error"), [(1e30, InvalidInputError), (float("inf"), ValueError), (0, InvalidInputError),
                                              (-5, InvalidInputError), ("60", TypeError)])
def test_timeouts_are_bounded(value, error):
    for kwargs in ({"timeout": value}, {"rendezvous_timeout": value}):
        with pytest.raises(error, match="timeout"):
            with process_group("cpu", **kwargs):
                pass
    with process_group("cpu", timeout=MAX_TIMEOUT, rendezvous_timeout=MAX_TIMEOUT) as w:
        assert w.size == 1


@pytest.mark.parametrize(("env", "name"), [({"WORLD_SIZE": "-3"}, "WORLD_SIZE"), ({"WORLD_SIZE": "abc"}, "WORLD_SIZE"),
                                           ({**GOOD, "MASTER_PORT": "0"}, "MASTER_PORT")])
def test_the_commands_name_the_variable_and_do_no_work(tmp_path, capsys, monkeypatch, env, name):
    for key in GOOD:
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "f.npz"
    assert cli.main(["fit", "dcgan-digiface", "--layer", "main.5", "--samples", "8", "--parts", "2", "--out", str(out)]) == 1
    assert f"panda-viz fit: error: environment variable {name} must be" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("argv", "message"), [
    (["--timeout", "1e30"], "argument --timeout: expected a number in (0, 604800]; got '1e30'"),
    (["--timeout", "nan"], "argument --timeout: expected a number in (0, 604800]"),
    (["--rendezvous-timeout", "0"], "argument --rendezvous-timeout: expected a number in (0, 604800]; got '0'"),
    (["--memory-budget", "-1"], "argument --memory-budget: expected a number in (0, 4096]"),
])
def test_timeout_options_are_bounded_by_argparse(capsys, argv, message):
    base = ["fit", "dcgan-digiface", "--layer", "main.5", "--samples", "8", "--parts", "2", "--out", "f.npz"]
    with pytest.raises(SystemExit) as info:
        cli.main(base + argv)
    assert info.value.code == 2 and message in capsys.readouterr().err


_NO_PEER = """
import os, time
os.environ.update(WORLD_SIZE="2", RANK=RANK, MASTER_ADDR="127.0.0.1", MASTER_PORT=PORT, TORCH_CPP_LOG_LEVEL="FATAL")
from panda_viz.runtime.distributed import process_group
t = time.monotonic()
try:
    with process_group("cpu", timeout=600, rendezvous_timeout=3):
        pass
finally:
    RESULT = time.monotonic() - t
"""


@pytest.mark.parametrize("rank", ["0", "1"])
def test_a_rank_with_no_peer_fails_within_the_rendezvous_timeout(rank):
    """rank 0 waits for a rank 1 that never starts; rank 1 for a rank 0 that is not there.
    Either fails after ~3 s (the rendezvous timeout), not the 600 s collective timeout."""
    port = str(free_port())
    outcome = run_bounded(f"RANK = {rank!r}\nPORT = {port!r}\n" + _NO_PEER, memory_mb=400, timeout_s=40)
    assert outcome.error_type == "DistributedError", outcome.error_message
    message = outcome.error_message
    assert "did not form within the rendezvous timeout of 3 s" in message
    assert f"WORLD_SIZE=2, RANK={rank}, MASTER_ADDR=127.0.0.1, MASTER_PORT={port}" in message
    assert outcome.seconds < 20


def test_the_command_with_no_peer_fails_fast_naming_the_rendezvous(tmp_path):
    port = str(free_port())
    snippet = f"""
import os
os.environ.update(WORLD_SIZE="2", RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT={port!r}, TORCH_CPP_LOG_LEVEL="FATAL")
from panda_viz.commands import cli
RESULT = cli.main(["render", "dcgan-digiface", "--edit", "white_lips", "--seeds", "0:4", "--out", {str(tmp_path / "r")!r},
                   "--rendezvous-timeout", "2"])
"""
    outcome = run_bounded(snippet, memory_mb=400, timeout_s=40)
    assert outcome.error_type is None and outcome.result == 1
    assert outcome.seconds < 20
    assert not (tmp_path / "r").exists()
