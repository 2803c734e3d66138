"""The opcode machine of panda_viz.fileio.safe_pickle against the standard library's.

Plain data pickled with every protocol must read back exactly as ``pickle.loads`` reads it;
the opcode table must cover every opcode :mod:`pickletools` knows, each either run by the
method named after it or refused. The crafted, hostile streams are in
tests/robustness/test_generator_files.py.
"""

from __future__ import annotations

import collections
import pickle
import pickletools

import numpy as np
import pytest

from panda_viz.exceptions import InvalidFileError, UnsafePickleError
from panda_viz.fileio.pickle_data import data_handlers
from panda_viz.fileio.pickle_objects import Finisher
from panda_viz.fileio.safe_pickle import OPCODES, REFUSED, RestrictedUnpickler

PLAIN = {
    "ints": [0, 1, -1, 255, 256, 65535, 65536, 2**31 - 1, -(2**31), 2**31, 2**64, -(2**70)],
    "floats": [0.0, -1.5, 1e300, float("inf")],
    "text": ["", "a", "é\u1234", "x" * 300, "\ud800"],
    "bytes": [b"\x00\xff", b"y" * 300],  # b"" is bytes() in protocols 0-2: a call, not allowed
    "constants": [None, True, False],
    "tuples": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)],
    "nested": {"a": [1, [2, [3, {"b": (4, 5)}]]], (1, "k"): frozenset({1, 2}), 3: {1, 2, 3}},
    "ordered": collections.OrderedDict([("w", 1), ("b", [2])]),
}


def _read(data: bytes):
    value = RestrictedUnpickler(data, data_handlers(), where="test").load()
    return Finisher("test", (np.ndarray, np.generic, np.dtype))(value)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_plain_data_reads_as_pickle_reads_it(protocol):
    shared = [1, 2]
    value = {**PLAIN, "shared": [shared, shared]}
    if protocol >= 3:
        value["empty bytes"] = b""
    if protocol == 5:  # BYTEARRAY8 (earlier protocols call builtins.bytearray)
        value["bytearray"] = bytearray(b"ab")
    data = pickle.dumps(value, protocol=protocol)
    assert _read(data) == pickle.loads(data)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_numpy_arrays_and_scalars(protocol):
    value = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "s": np.float64(2.5), "f": np.asfortranarray(np.eye(2))}
    got = _read(pickle.dumps(value, protocol=protocol))
    for key, expected in value.items():
        assert got[key].dtype == expected.dtype and np.array_equal(got[key], expected)


def test_pop_mark_discards_the_marked_items_and_reading_goes_on():
    # PROTO 2, MARK, BININT1 1, POP_MARK, BININT1 7, STOP
    data = b"\x80\x02(K\x011K\x07."
    assert pickle.loads(data) == 7
    assert _read(data) == 7


def test_the_table_covers_every_opcode_once():
    known = {ord(op.code): op.name for op in pickletools.opcodes}
    assert set(OPCODES) | set(REFUSED) == set(known)
    assert not set(OPCODES) & set(REFUSED)
    for code, method in OPCODES.items():
        assert method == f"op_{known[code].lower()}"
        assert callable(getattr(RestrictedUnpickler, method))


@pytest.mark.parametrize("code", sorted(REFUSED))
def test_refused_opcodes_name_why(code):
    with pytest.raises(UnsafePickleError, match=f"refusing {REFUSED[code][:10]}.*nothing from the file was run"):
        _read(b"\x80\x02" + bytes([code]) + b"\x00" * 8 + b".")


def test_an_unknown_opcode_names_the_offset():
    with pytest.raises(InvalidFileError, match=r"unknown opcode b'\\xff'.*\(at byte 2, opcode b'\\xff'\)"):
        _read(b"\x80\x02\xff.")
