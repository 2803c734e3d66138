"""Edit-zoo JSON files crafted to read outside their folder, blow memory, or slip bad fields through."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from panda_viz import PandA, save_factors
from panda_viz.exceptions import FileLimitError, InvalidFileError, InvalidInputError
from panda_viz.formats.edit_zoo import EditZoo, load_edit_zoo
from panda_viz.formats.named_edit import NamedEdit

from .bounded import run_bounded


def _zoo(path: Path, edits: dict | None = None, **top) -> Path:
    edit = {"layer": "main.5", "n_parts": 3, "part": 0, "appearance": 1, "alpha": 2.0, "factors": "f.npz"}
    data = {"format": "panda_viz.edit_zoo", "version": 1, "name": "z", "edits": {"e": edit} if edits is None else edits}
    path.write_text(json.dumps({**data, **top}), encoding="utf-8")
    return path


@pytest.fixture()
def folder(tmp_path):
    """A zoo folder with a real factor file, and a secret file beside (outside) it."""
    g = torch.Generator().manual_seed(0)
    model = PandA(3, random_state=0).fit(torch.relu(torch.randn(10, 6, 3, 4, generator=g)), layer="main.5")
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    save_factors(model, zoo / "f.npz")
    save_factors(model, tmp_path / "secret.npz")
    return zoo


@pytest.mark.parametrize(
    "entry",
    ["/etc/passwd", "../secret.npz", "sub/../../secret.npz", "C:\\Windows\\win.ini", "\\\\server\\share\\f.npz",
     "..\\secret.npz", ["f.npz", "/etc/passwd"]],
)
def test_factor_entries_outside_the_folder_are_refused(folder, entry):
    path = _zoo(folder / "z.json", {"e": {"layer": "main.5", "n_parts": 3, "part": 0, "appearance": 1, "alpha": 2.0,
                                          "factors": entry}})
    with pytest.raises(InvalidFileError, match=r"z.json'.*edit 'e': factors entry .* (absolute path|climbs out)") as info:
        load_edit_zoo(path)
    assert info.value.path == path


def test_a_symlink_out_of_the_folder_is_refused_at_lookup(folder):
    (folder / "link.npz").symlink_to(folder.parent / "secret.npz")
    zoo = load_edit_zoo(_zoo(folder / "z.json", {"e": {"layer": "main.5", "n_parts": 3, "part": 0, "appearance": 1,
                                                       "alpha": 2.0, "factors": "link.npz"}}))
    with pytest.raises(InvalidInputError, match=r"edit 'e': factors entry 'link.npz' resolves to .*secret.npz', outside"):
        zoo.factor_paths("e")
    (folder / "inner.npz").symlink_to(folder / "f.npz")  # a link that stays inside is fine
    inner = EditZoo("z", [NamedEdit("e", "main.5", 3, 0, 1, 2.0, "inner.npz")], root=folder)
    assert inner.load_model("e", generator=None).n_parts_ == 3


def test_the_api_refuses_them_too():
    with pytest.raises(InvalidInputError, match=r"edit 'e': factors entry '/etc/passwd' is an absolute path"):
        NamedEdit("e", "main.5", 3, 0, 1, 2.0, "/etc/passwd")
    with pytest.raises(InvalidInputError, match=r"climbs out with '\.\.'"):
        EditZoo("z").add("e", layer="main.5", n_parts=3, part=0, appearance=1, alpha=1.0, factors="../x.npz")


def test_a_sparse_5_gb_json_is_refused_unread(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as f:
        f.write(b'{"format": "panda_viz.edit_zoo", "version": 1, "edits": {}, "description": "')
        f.truncate(5 << 30)
    outcome = run_bounded(f"from panda_viz import load_edit_zoo\nload_edit_zoo({str(path)!r})", memory_mb=300, timeout_s=20)
    assert outcome.error_type == "FileLimitError", outcome
    assert "5,368,709,120 bytes; an edit zoo is at most" in outcome.error_message
    assert outcome.seconds < 10 and outcome.peak_rss_mb < 500


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ('{"format": "panda_viz.edit_zoo"}'.encode("utf-16"), "is not UTF-8 text: it is UTF-16 text .*; save it as UTF-8"),
        ('{"format": "panda_viz.edit_zoo"}'.encode("utf-16-le"), "looks like UTF-16/32 text"),
        ('{"format": "panda_viz.edit_zoo"}'.encode("utf-32"), "is not UTF-8 text: it is UTF-32 text"),
        (b'{"name": "\xff\xfe\x00garbage"}', r"is not UTF-8 text \(byte 0xff at offset 10\)"),
        (bytes(range(256)), "looks like UTF-16/32 text"),
        (b'{"format": ', "is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, r"nests too deeply to be an edit zoo \(.*RecursionError"),
        (b'{"version": ' + b"9" * 5000 + b"}", r"is not readable JSON \(ValueError"),
        (b"[]", "is not an edit zoo"),
    ],
)
def test_undecodable_files_get_a_clear_error(tmp_path, data, match):
    path = tmp_path / "bad.json"
    path.write_bytes(data)
    with pytest.raises(InvalidFileError, match=match) as info:
        load_edit_zoo(path)
    assert info.value.path == path


def test_a_utf8_bom_is_accepted(tmp_path):
    path = _zoo(tmp_path / "z.json")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert list(load_edit_zoo(path)) == ["e"]


_EDIT = {"layer": "main.5", "n_parts": 3, "part": 0, "appearance": 1, "alpha": 2.0, "factors": "f.npz"}
_TERM = {"part": 0, "appearance": 1, "alpha": 2.0}
_TERMS = {"layer": "main.5", "n_parts": 3, "factors": "f.npz"}  # an edit of several terms, less its "terms"


@pytest.mark.parametrize(
    ("top", "edits", "match"),
    [
        ({"name": 5}, None, r"\"name\" must be a non-empty string; got int 5$"),  # no quotes round a number
        ({"generator": ["x"]}, None, r"\"generator\" must be null or a string; got list"),
        ({"description": {"a": 1}}, None, r"\"description\" must be a string"),
        ({"fit": [1]}, None, r"\"fit\" must be null or an object; got list"),
        ({"extra": 1}, None, r"unknown top-level keys \['extra'\]"),
        ({"version": 3}, None, "edit zoo version 3 is not supported"),
        ({"version": 1.0e9}, None, "edit zoo version 1000000000.0 is not supported"),
        ({}, [], r"\"edits\" must map names to edits; got list"),
        ({}, {"e": [1]}, "edit 'e' must be an object; got list"),
        ({}, {"bad name!": _EDIT}, "an edit name is a non-empty word"),
        ({}, {"e": {**_EDIT, "part": 3}}, r"edit 'e': part must be an int or ints in 0 … 2; got 3"),
        ({}, {"e": {**_EDIT, "part": []}}, r"edit 'e': part must be an int or ints in 0 … 2; got \[\]"),
        ({}, {"e": {**_EDIT, "part": True}}, r"edit 'e': part must be an int or ints"),
        ({}, {"e": {**_EDIT, "n_parts": "3"}}, r"edit 'e': n_parts must be an int >= 1; got '3'"),
        ({}, {"e": {**_EDIT, "appearance": 1.5}}, r"edit 'e': appearance must be an int >= 0; got 1.5"),
        ({}, {"e": {**_EDIT, "alpha": "x"}}, r"edit 'e': alpha must be a finite number; got 'x'"),
        ({}, {"e": {**_EDIT, "alpha": None}}, r"edit 'e': alpha must be a finite number; got None"),
        ({}, {"e": {**_EDIT, "layer": ""}}, r"edit 'e': layer must be a module name or an official layer number"),
        ({}, {"e": {**_EDIT, "layer": 0}}, r"edit 'e': layer must be a module name or an official layer number"),
        ({}, {"e": {**_EDIT, "factors": 5}}, r"edit 'e': factors must be one .npz file"),
        ({}, {"e": {**_EDIT, "factors": ""}}, r"edit 'e': factors must be one .npz file"),
        ({}, {"e": {**_EDIT, "description": 5}}, r"edit 'e': description must be a string"),
        ({}, {"e": {**_EDIT, "colour": "red"}}, r"edit 'e' is missing \[\] / has unknown keys \['colour'\]"),
        ({"version": 2}, {"e": _TERMS | {"terms": {"part": 0}}}, r"edit 'e': \"terms\" must be a non-empty list .*got dict of 1 items"),
        ({"version": 2}, {"e": _TERMS | {"terms": [None]}}, r"edit 'e': term 0 must be an object .*; got null"),
        ({"version": 2}, {"e": _TERMS | {"terms": [_TERM | {"x": 1}]}}, r"term 0 must be an object with keys"),
        ({"version": 2}, {"e": _TERMS | {"terms": [_TERM, _TERM | {"alpha": "nan"}]}},
         r"edit 'e', term 1: alpha must be a finite number; got 'nan'"),
        ({"version": 2}, {"e": _TERMS | {"terms": [_TERM, _TERM | {"part": [[0]]}]}},
         r"edit 'e', term 1: part must be an int or ints in 0 … 2"),
        ({"version": 2}, {"e": _TERMS | {"terms": [_TERM, _TERM | {"appearance": -1}]}},
         r"edit 'e', term 1: appearance must be an int >= 0; got -1"),
    ],
)
def test_every_field_is_validated_naming_the_edit_and_key(tmp_path, top, edits, match):
    path = _zoo(tmp_path / "z.json", edits, **top)
    with pytest.raises(InvalidFileError, match=match) as info:
        load_edit_zoo(path)
    assert "'" + str(path) + "'" in str(info.value) and info.value.path == path


def test_too_many_edits(tmp_path, monkeypatch):
    import panda_viz.formats.zoo_file as zoo_file

    monkeypatch.setattr(zoo_file, "MAX_EDITS", 2)
    with pytest.raises(FileLimitError, match="3 edits; a zoo holds at most 2"):
        load_edit_zoo(_zoo(tmp_path / "z.json", {k: _EDIT for k in "abc"}))


def test_too_many_terms_are_refused_before_any_is_built(tmp_path, monkeypatch):
    import panda_viz.formats.zoo_file as zoo_file

    monkeypatch.setattr(zoo_file, "MAX_TERMS", 2)
    path = _zoo(tmp_path / "z.json", {"e": _TERMS | {"terms": [_TERM] * 3}}, version=2)
    with pytest.raises(FileLimitError, match="edit 'e': 3 terms; an edit has at most 2") as info:
        load_edit_zoo(path)
    assert info.value.path == path


def test_an_edit_of_60000_terms_is_refused_within_bounded_memory(tmp_path):
    path = _zoo(tmp_path / "z.json", {"e": _TERMS | {"terms": [_TERM] * 60_000}}, version=2)  # ~3 MB, under the size limit
    outcome = run_bounded(f"from panda_viz import load_edit_zoo\nload_edit_zoo({str(path)!r})", memory_mb=400, timeout_s=30)
    assert outcome.error_type == "FileLimitError", outcome
    assert "60,000 terms; an edit has at most 256" in outcome.error_message


def test_bad_names_and_types_at_the_api():
    with pytest.raises(InvalidInputError, match="unknown edit zoo '../../etc/passwd'"):
        load_edit_zoo("../../etc/passwd")
    with pytest.raises(TypeError, match="load_edit_zoo takes a shipped zoo's name or a .json path; got int"):
        load_edit_zoo(5)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_edit_zoo("nowhere/zoo.json")
