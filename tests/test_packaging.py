"""The project's own files install everything: pyproject, environment.yml, setup.sh, CI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import panda_viz

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _environment_yml() -> dict:
    """A tiny reader for our environment.yml (flat lists and one nested pip list)."""
    env: dict = {"channels": [], "dependencies": [], "pip": []}
    section = None
    for line in (ROOT / "environment.yml").read_text().splitlines():
        stripped = line.split("#", 1)[0].rstrip()
        if not stripped:
            continue
        if not line.startswith(" "):
            key, _, value = stripped.partition(":")
            section = key
            if value.strip():
                env[key] = value.strip()
        elif stripped.strip() == "- pip:":
            section = "pip"
        elif stripped.strip().startswith("- "):
            env.setdefault(section, []).append(stripped.strip()[2:].strip())
    return env


def test_environment_yml_in_sync_with_pyproject():
    project = _pyproject()["project"]
    env = _environment_yml()
    assert env["channels"] == ["conda-forge"]
    python = [d for d in env["dependencies"] if d.startswith("python")]
    assert python == [f"python{project['requires-python']}"]
    assert "pip" in env["dependencies"]
    # the package itself (with the extras the test command needs) comes from pyproject
    assert env["pip"] == ["-e .[test]"]
    assert set(project["optional-dependencies"]) >= {"test"}


def test_torch_range_accepts_the_cpu_wheel():
    """2.13.0+cpu must satisfy pyproject's torch requirement, or pip would fetch a CUDA build."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    reqs = [Requirement(r) for r in _pyproject()["project"]["dependencies"]]
    torch_req = next(r for r in reqs if r.name == "torch")
    assert Version("2.13.0+cpu") in torch_req.specifier
    assert not any(r.name in {"torchvision", "gan-face-generate"} for r in reqs)


@pytest.mark.skipif(not os.environ.get("CI"), reason="the CPU-wheel check applies to CI machines")
def test_ci_uses_the_cpu_torch_wheel():
    import torch

    assert torch.__version__ == "2.13.0+cpu"


def test_readme_quickstart_and_ci_agree():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Quickstart\s+```bash\n(.*?)```", readme, re.S).group(1).strip().splitlines()
    assert len(block) == 2
    assert "setup.sh" in block[0] and "panda-viz demo" in block[0]
    test_command = block[1].strip()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in [line.strip() for line in ci]


def test_version_and_console_script():
    assert re.fullmatch(r"\d+\.\d+\.\d+", panda_viz.__version__)
    assert _pyproject()["project"]["scripts"]["panda-viz"] == "panda_viz.cli:main"
    out = subprocess.run([sys.executable, "-m", "panda_viz.cli", "--help"], capture_output=True, text=True, check=True)
    assert "usage: panda-viz" in out.stdout
    assert "demo" in out.stdout


def test_lazy_public_names_resolve():
    for name in ["Generator", "load_generator", "available_generators", "ConvergenceWarning"]:
        assert getattr(panda_viz, name) is not None
    try:
        panda_viz.does_not_exist
    except AttributeError as err:
        assert "does_not_exist" in str(err)
