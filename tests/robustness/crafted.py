"""Crafting bad generator files at test time (nothing malicious is committed as a binary).

:class:`Asm` writes pickle opcodes one by one, so a test can build streams that
``pickle.dumps`` never writes (a BUILD after a record, a billion-laughs memo, a declared
length far past the end). The other helpers write torch.save zip/legacy files and network
pickles around such streams.
"""

from __future__ import annotations

import importlib.util
import io
import struct
import sys
import zipfile
from pathlib import Path

import torch

from panda_viz.generators.nvlabs.stylegan2 import StyleGAN2

_WRITER_PATH = Path(__file__).resolve().parents[1] / "generators" / "nvlabs_pickle_writer.py"


def nvlabs_writer():
    """tests/generators/nvlabs_pickle_writer.py (official-format network pickles)."""
    name = "_robustness_nvlabs_pickle_writer"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _WRITER_PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


class Calls:
    """Pickles as ``function(*args)``: what a malicious pickle does (reading it must never run it)."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return (self.function, self.args)


TINY_KWARGS = dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3, channel_base=64, channel_max=8,
                   mapping_kwargs={"num_layers": 1})


def tiny_stylegan2(seed: int = 0) -> tuple[StyleGAN2, dict]:
    """A small StyleGAN2 with random weights and its constructor kwargs."""
    module = StyleGAN2(**TINY_KWARGS)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in module.state_dict().values():
            if tensor.is_floating_point():
                tensor.normal_(0, 0.5, generator=generator)
    return module, {**TINY_KWARGS, "mapping_kwargs": dict(TINY_KWARGS["mapping_kwargs"])}


class Asm:
    """A pickle assembler: ``Asm(2).global_('os', 'system').str('ls').tuple1().reduce().stop()``."""

    def __init__(self, protocol: int | None = 2) -> None:
        self.out = bytearray(b"\x80" + bytes([protocol]) if protocol is not None and protocol >= 2 else b"")

    def raw(self, data: bytes) -> Asm:
        self.out += data
        return self

    def bytes(self) -> bytes:
        return bytes(self.out)

    # constants
    def none(self) -> Asm:
        return self.raw(b"N")

    def int(self, value: int) -> Asm:
        return self.raw(b"J" + struct.pack("<i", value))

    def str(self, text: str) -> Asm:
        data = text.encode("utf-8")
        return self.raw(b"X" + struct.pack("<I", len(data)) + data)

    def binbytes(self, data: bytes) -> Asm:
        return self.raw(b"B" + struct.pack("<I", len(data)) + data)

    def true(self) -> Asm:
        return self.raw(b"\x88")

    def false(self) -> Asm:
        return self.raw(b"\x89")

    # containers and stack
    def mark(self) -> Asm:
        return self.raw(b"(")

    def tuple(self) -> Asm:
        return self.raw(b"t")

    def tuple1(self) -> Asm:
        return self.raw(b"\x85")

    def tuple2(self) -> Asm:
        return self.raw(b"\x86")

    def empty_tuple(self) -> Asm:
        return self.raw(b")")

    def empty_dict(self) -> Asm:
        return self.raw(b"}")

    def empty_list(self) -> Asm:
        return self.raw(b"]")

    def list(self) -> Asm:
        return self.raw(b"l")

    def append(self) -> Asm:
        return self.raw(b"a")

    def appends(self) -> Asm:
        return self.raw(b"e")

    def setitem(self) -> Asm:
        return self.raw(b"s")

    def setitems(self) -> Asm:
        return self.raw(b"u")

    def put(self, index: int) -> Asm:
        return self.raw(b"r" + struct.pack("<I", index))

    def get(self, index: int) -> Asm:
        return self.raw(b"j" + struct.pack("<I", index))

    def dup(self) -> Asm:
        return self.raw(b"2")

    # calls
    def global_(self, module: str, name: str) -> Asm:
        return self.raw(b"c" + module.encode() + b"\n" + name.encode() + b"\n")

    def reduce(self) -> Asm:
        return self.raw(b"R")

    def build(self) -> Asm:
        return self.raw(b"b")

    def newobj(self) -> Asm:
        return self.raw(b"\x81")

    def stop(self) -> Asm:
        return self.raw(b".")

    # NVlabs records
    def record_start(self) -> Asm:
        """``_reconstruct_persistent_obj(`` then a metadata dict left open for items."""
        return self.global_("torch_utils.persistence", "_reconstruct_persistent_obj").empty_dict()

    def item(self, key: str) -> Asm:
        """Push ``key``; the caller pushes the value and calls :meth:`setitem`."""
        return self.str(key)

    def record_end(self) -> Asm:
        return self.tuple1().reduce()


def record(asm: Asm, class_name: str = "Generator", *, state=None) -> Asm:
    """A minimal record: type 'class', class_name, version 6, module_src '', and ``state``
    (a callable that pushes the state value onto ``asm``; an empty dict by default)."""
    asm.record_start()
    asm.item("type").str("class").setitem()
    asm.item("class_name").str(class_name).setitem()
    asm.item("version").int(6).setitem()
    asm.item("module_src").str("").setitem()
    asm.item("state")
    if state is None:
        asm.empty_dict()
    else:
        state(asm)
    asm.setitem()
    return asm.record_end()


def g_ema_pickle(body) -> bytes:
    """``{'G_ema': <body>}``: ``body(asm)`` pushes the value."""
    asm = Asm(2).empty_dict().str("G_ema")
    body(asm)
    return asm.setitem().stop().bytes()


def zip_checkpoint(data_pkl: bytes, records: dict[str, bytes] | None = None, *, name: str = "archive",
                   compress: int = zipfile.ZIP_STORED) -> bytes:
    """A torch.save-style zip: ``name/data.pkl`` plus ``name/data/<key>`` records."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compress) as archive:
        archive.writestr(f"{name}/data.pkl", data_pkl)
        archive.writestr(f"{name}/byteorder", "little")
        for key, data in (records or {}).items():
            archive.writestr(f"{name}/data/{key}", data)
        archive.writestr(f"{name}/version", "3\n")
    return buffer.getvalue()


def tensor_pickle(entries: dict[str, tuple[str, int, tuple, tuple, int]], *, protocol: int = 2) -> bytes:
    """A zip ``data.pkl`` of ``{name: tensor}`` where each tensor is ``(storage key, storage
    numel, size, stride, offset)`` over a FloatStorage persistent id (what torch.save writes)."""
    asm = Asm(protocol).global_("collections", "OrderedDict").empty_tuple().reduce().mark()
    for name, (key, numel, size, stride, offset) in entries.items():
        asm.str(name).global_("torch._utils", "_rebuild_tensor_v2").mark()
        asm.mark().str("storage").global_("torch", "FloatStorage").str(key).str("cpu").int(numel).tuple().raw(b"Q")
        asm.int(offset)
        asm.mark()
        for n in size:
            asm.int(n)
        asm.tuple().mark()
        for s in stride:
            asm.int(s)
        asm.tuple().false().global_("collections", "OrderedDict").empty_tuple().reduce().tuple().reduce()
    return asm.setitems().stop().bytes()


def float_bytes(n: int, value: float = 0.5) -> bytes:
    return struct.pack(f"<{n}f", *([value] * n))
