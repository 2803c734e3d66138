"""The project's own files install everything: pyproject, environment.yml, setup.sh, CI, and the wheel."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomllib
from ports import free_port

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
    # the package itself, with the extras the test command needs (test; docs for the strict site build)
    assert env["pip"] == ["-e .[test,docs]"]
    assert set(project["optional-dependencies"]) >= {"test", "docs"}


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
    assert _pyproject()["project"]["scripts"]["panda-viz"] == "panda_viz.commands.cli:main"
    out = subprocess.run([sys.executable, "-m", "panda_viz.commands.cli", "--help"], capture_output=True, text=True, check=True)
    assert "usage: panda-viz" in out.stdout
    assert "demo" in out.stdout


def test_lazy_public_names_resolve():
    for name in ["Generator", "load_generator", "available_generators", "ConvergenceWarning"]:
        assert getattr(panda_viz, name) is not None
    try:
        panda_viz.does_not_exist
    except AttributeError as err:
        assert "does_not_exist" in str(err)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("CI"), reason="builds and installs the wheel: CI only")
def test_the_wheel_alone_runs_demo_and_lab(tmp_path):
    """`pip install .` without a checkout beside it: the wheel, in a fresh virtual environment
    that sees this one's dependencies (torch …) but not this checkout, runs `panda-viz demo`
    and `panda-viz lab`, which writes the shipped Explorer notebook into the work folder
    (~/panda-viz for a wheel)."""
    source, dist, venv, work = tmp_path / "source", tmp_path / "dist", tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    # what the build reads, copied: an in-tree build would leave build/ and *.egg-info here
    shutil.copytree(ROOT / "panda_viz", source / "panda_viz", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # this checkout must not be importable
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(dist), str(source)], check=True, cwd=tmp_path, env=env)
    (wheel,) = dist.glob("panda_viz-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
    python = venv / "bin" / "python"
    site_packages = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                   check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)], check=True,
                   cwd=tmp_path, env=env)
    # then this environment's packages (torch, jupyterlab …), after the wheel's, as plain path
    # entries: their .pth files (this checkout's editable install among them) are not processed
    import site

    Path(site_packages, "outer_environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    # an installed wheel has no checkout: its work folder is ~/panda-viz (runtime/work_folder.py)
    env.pop("PANDA_VIZ_WORK", None)
    env["HOME"] = str(tmp_path / "home")
    env.update({"JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
                "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws"),
                "IPYTHONDIR": str(tmp_path / "ipython")})

    def run(*argv: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=600, **kwargs)

    where = run(str(python), "-c", "import panda_viz; print(panda_viz.__file__)")
    assert where.returncode == 0 and where.stdout.strip().startswith(site_packages), where
    panda_viz_command = str(venv / "bin" / "panda-viz")
    demo = run(panda_viz_command, "demo", "--out", "demo", "--n-samples", "48", "--n-parts", "4")
    assert demo.returncode == 0, demo.stderr
    assert sorted(p.name for p in (work / "demo").iterdir()) == sorted(
        ["parts.png", "saliency.png", "edits.png", "removal.png", "named_edits.png", "real_photo.png"])

    port = free_port()
    lab = subprocess.Popen([panda_viz_command, "lab", "--no-browser", "--ip", "127.0.0.1", "--port", str(port)],
                           cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert lab.poll() is None, lab.stdout.read()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "panda-viz lab (from the wheel) did not listen within 120 s"
            time.sleep(0.2)
        written = tmp_path / "home" / "panda-viz" / "explore.ipynb"
        packaged = Path(site_packages, "panda_viz", "data", "explore.ipynb")
        assert written.read_bytes() == packaged.read_bytes() == (ROOT / "panda_viz" / "data" / "explore.ipynb").read_bytes()
        lab.send_signal(signal.SIGTERM)
        assert lab.wait(timeout=60) == 0
    finally:
        if lab.poll() is None:
            lab.kill()
            lab.wait()
        lab.stdout.close()
