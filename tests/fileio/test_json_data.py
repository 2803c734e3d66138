"""The one JSON reader (panda_viz.fileio.json_data), and the three kinds of file that use it:
edit zoos, generator configurations and the metadata of saved factor archives."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import torch

import panda_viz
from panda_viz import PandA, load_factors, save_factors
from panda_viz.exceptions import FileLimitError, InvalidFileError
from panda_viz.fileio.json_data import parse_json, read_json_file

DEEP = "[" * 100_000 + "]" * 100_000


def test_parse_json_maps_every_refusal_to_a_file_error():
    assert parse_json('{"a": [1, 2.5, null]}', where="x", what="y") == {"a": [1, 2.5, None]}
    with pytest.raises(FileLimitError, match=r"^x nests too deeply to be a thing \(.*RecursionError\)"):
        parse_json(DEEP, where="x", what="a thing")
    with pytest.raises(InvalidFileError, match=r"^x is not valid JSON: Expecting value"):
        parse_json('{"a": ', where="x", what="a thing")
    with pytest.raises(InvalidFileError, match=r"^x is not readable JSON \(ValueError: .*digits"):
        parse_json("9" * 5000, where="x", what="a thing")


def test_read_json_file_checks_size_encoding_and_kind(tmp_path):
    path = tmp_path / "c.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"z": 1}).encode())
    assert read_json_file(path, where="config", what="a config", max_bytes=100) == {"z": 1}  # a UTF-8 BOM is fine
    with pytest.raises(FileLimitError, match=r"config is \d+ bytes; a config is at most 10 bytes \(not read\)") as info:
        read_json_file(path, where="config", what="a config", max_bytes=10)
    assert info.value.path == path
    path.write_text(json.dumps({"z": 1}), encoding="utf-16")
    with pytest.raises(InvalidFileError, match="config is not UTF-8 text: it is UTF-16 text"):
        read_json_file(path, where="config", what="a config", max_bytes=100)
    path.write_bytes(b'{"z": "\xff"}')
    with pytest.raises(InvalidFileError, match=r"config is not UTF-8 text \(byte 0xff at offset 7\); a config is a UTF-8"):
        read_json_file(path, where="config", what="a config", max_bytes=100)
    with pytest.raises(InvalidFileError, match="config is not a regular file"):
        read_json_file(tmp_path, where="config", what="a config", max_bytes=100)


def test_deep_nesting_is_the_same_error_in_every_json_panda_viz_reads(tmp_path):
    zoo = tmp_path / "zoo.json"
    zoo.write_text(DEEP)
    with pytest.raises(FileLimitError, match="nests too deeply to be an edit zoo"):
        panda_viz.load_edit_zoo(zoo)
    config = tmp_path / "config.json"
    config.write_text(DEEP)
    with pytest.raises(FileLimitError, match="nests too deeply to be a generator configuration"):
        read_json_file(config, where="config file", what="a generator configuration", max_bytes=1 << 20)
    g = torch.Generator().manual_seed(0)
    model = PandA(3, random_state=0).fit(torch.relu(torch.randn(10, 6, 3, 4, generator=g)), layer="main.5")
    good = save_factors(model, tmp_path / "f.npz")
    with zipfile.ZipFile(good) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.array(DEEP))
    members["metadata.npy"] = buffer.getvalue()
    crafted = tmp_path / "deep.npz"
    with zipfile.ZipFile(crafted, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(FileLimitError, match="its metadata nests too deeply"):
        load_factors(crafted)
