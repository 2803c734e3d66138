"""The dispatcher: every sub-command is a module with ``add_arguments`` and ``run``, and its --help works."""

from __future__ import annotations

import pytest

from panda_viz.commands import cli


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_sub_command_has_add_arguments_and_run_and_a_help(name, capsys):
    module, help_text = cli.COMMANDS[name]
    assert callable(module.add_arguments) and callable(module.run)
    with pytest.raises(SystemExit) as exit_info:
        cli.main([name, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: panda-viz {name} ") and help_text in " ".join(out.split())
    assert cli.build_parser().parse_args([name, *_required(name)])._run is module.run


def _required(name: str) -> list[str]:
    """The fewest arguments ``name`` parses with."""
    return {"fit": ["G", "--layer", "main.5", "--samples", "8", "--parts", "2", "--out", "f.npz"],
            "render": ["G", "--seeds", "0:2", "--out", "out"]}.get(name, [])


def test_no_command_prints_the_help_and_exits_2(capsys):
    assert cli.main([]) == 2
    out = capsys.readouterr().out
    assert out.startswith("usage: panda-viz") and all(name in out for name in cli.COMMANDS)


@pytest.mark.parametrize("alpha", ["nan", "inf"])
def test_render_refuses_a_non_finite_alpha_and_writes_nothing(tmp_path, capsys, alpha):
    out = tmp_path / "r"
    assert cli.main(["render", "dcgan-digiface", "--edit", "white_lips", "--seeds", "0:2", "--out", str(out),
                     "--alpha", alpha]) == 1
    assert f"panda-viz render: error: --alpha must be a finite number; got {alpha}" in capsys.readouterr().err
    assert not out.exists()
