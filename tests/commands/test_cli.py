"""The dispatcher: every sub-command is a module with ``add_arguments`` and ``run``, and its --help works."""

from __future__ import annotations

import pytest

from panda_viz.commands import cli
from panda_viz.commands.help_text import RST_MARKUP, plain_text


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


@pytest.mark.parametrize("name", [None, *cli.COMMANDS])
def test_no_help_shows_rst_markup(name, capsys):
    """--help is plain text: no roles, no double backticks, no `::` block markers, no `interpreted` text."""
    with pytest.raises(SystemExit):
        cli.main(["--help"] if name is None else [name, "--help"])
    out = capsys.readouterr().out
    assert RST_MARKUP.search(out) is None, RST_MARKUP.search(out)
    assert "`" not in out
    body = "" if name is None else cli.description(cli.COMMANDS[name][0], "")
    if body:  # the docstring's words are there, past its summary (table2's is one paragraph)
        assert body.splitlines()[0].strip() in out


@pytest.mark.parametrize(
    ("rst", "text"),
    [
        (":func:`panda_viz.formats.factors.save_factors`'s format", "panda_viz.formats.factors.save_factors's format"),
        ("see :class:`~panda_viz.fileio.confined.ConfinedFolder`.", "see ConfinedFolder."),
        (":meth:`the zoo's edits <panda_viz.formats.edit_zoo.EditZoo.edits_for>`", "the zoo's edits"),
        ("``panda-viz demo`` and `x`", "panda-viz demo and x"),
        ("writes::\n\n    panda-viz fit …\n", "writes:\n\n    panda-viz fit …"),
        ("text\n\n::\n\n    a b\n", "text\n\n\n    a b"),
        ("A:B and 8:3:2.5 stay", "A:B and 8:3:2.5 stay"),
        (None, ""),
    ],
)
def test_plain_text_drops_the_markup_and_keeps_the_words(rst, text):
    assert plain_text(rst) == text


def test_errors_carry_no_stray_quotes(tmp_path, capsys):
    from panda_viz.commands.fit import report_error

    assert report_error("render", KeyError("unknown edit 'x'")) == 1  # str(KeyError) would quote the whole line
    assert capsys.readouterr().err == "panda-viz render: error: unknown edit 'x'\n"
    zoo = tmp_path / "z.json"
    zoo.write_text('{"format": "panda_viz.edit_zoo", "version": 1, "name": 5, "edits": {}}')
    assert cli.main(["render", "dcgan-digiface", "--edits", str(zoo), "--seeds", "0:1", "--out", str(tmp_path / "r")]) == 1
    assert capsys.readouterr().err.endswith('"name" must be a non-empty string; got int 5\n')  # not '5'
    zoo.write_text("{}")
    assert cli.main(["render", "dcgan-digiface", "--edits", str(zoo), "--seeds", "0:1", "--out", str(tmp_path / "r")]) == 1
    assert capsys.readouterr().err.endswith('(expected a JSON object with "format": "panda_viz.edit_zoo")\n')
    assert cli.main(["render", "dcgan-digiface", "--zoo", "stylegan2_ffhq1024", "--edit", "big_eyes", "--seeds", "0:1",
                     "--root", str(tmp_path), "--out", str(tmp_path / "r")]) == 1
    assert "pass root=<their folder>; panda-viz render: --root FOLDER)" in capsys.readouterr().err
