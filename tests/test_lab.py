"""``panda-viz lab``: the JupyterLab command line it builds and its bad-input messages."""

from __future__ import annotations

import os
import sys

from panda_viz import cli, lab


def test_lab_is_a_subcommand_with_its_options(tmp_path, capsys):
    notebook = tmp_path / "explore.ipynb"
    notebook.write_text("{}")
    code = cli.main(["lab", str(notebook), "--port", "9123", "--no-browser", "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.split()[:3] == [sys.executable, "-m", "jupyterlab"]
    assert str(notebook.resolve()) in out
    for option in ("--ServerApp.ip=127.0.0.1", "--ServerApp.port=9123", "--no-browser",
                   f"--ServerApp.root_dir={tmp_path.resolve()}"):
        assert option in out


def test_lab_defaults_to_the_explorer_notebook():
    assert lab.default_notebook().parts[-2:] == ("notebooks", "explore.ipynb")
    command = lab.lab_command(lab.default_notebook())
    assert "--no-browser" not in command and "--ServerApp.ip=127.0.0.1" in command
    assert ("--allow-root" in command) == (os.geteuid() == 0)  # JupyterLab refuses root without it


def test_lab_reports_a_missing_notebook_and_a_bad_port(tmp_path, capsys):
    assert cli.main(["lab", str(tmp_path / "nope.ipynb"), "--dry-run"]) == 2
    assert "nope.ipynb' not found" in capsys.readouterr().err
    notebook = tmp_path / "a.ipynb"
    notebook.write_text("{}")
    assert cli.main(["lab", str(notebook), "--port", "0", "--dry-run"]) == 2
    assert "--port must be in 1..65535; got 0" in capsys.readouterr().err
