"""Crafted generator files (NVlabs pickles, .pt/.pth state dicts, genforce checkpoints,
BigGAN folders): no code runs, no memory or time blow-up, and every refusal is a clear error.

One test per class of attack. Files are crafted at test time (tests/robustness/crafted.py).
Code execution: a payload would write a marker file, which must not exist afterwards.
Memory and time: the loads run in a child under RLIMIT_AS (500 MB above the interpreter's
baseline) and a 20 s limit (:mod:`tests.robustness.bounded`), several files per child.
Errors: type and message (the file, what was expected, what was found) asserted in-process.
"""

from __future__ import annotations

import builtins
import importlib
import json
import os
import pickle
import subprocess
import zipfile

import numpy as np
import pytest
import torch

import panda_viz
from panda_viz.exceptions import (
    FileLimitError,
    InvalidFileError,
    NetworkPickleError,
    NonFiniteError,
    PandaVizError,
    UnsafePickleError,
)
from panda_viz.fileio.torch_files import load_torch_file
from panda_viz.generators.nvlabs.network_pickle import load_network_pickle

from .bounded import run_bounded
from .crafted import (
    Asm,
    Calls,
    float_bytes,
    g_ema_pickle,
    nvlabs_writer,
    record,
    tensor_pickle,
    tiny_stylegan2,
    zip_checkpoint,
)


def _official(tmp_path, name="network.pkl", *, protocol=4, module=None, kwargs=None, extra=None):
    if module is None:
        module, kwargs = tiny_stylegan2()
    marker = tmp_path / "module_src_ran"
    path = nvlabs_writer().write_network_pickle(tmp_path / name, module, kwargs, marker=marker, protocol=protocol, extra=extra)
    return path, marker


# =====================================================================================
# valid files still load: every pickle protocol
# =====================================================================================
def test_network_pickles_of_every_protocol_load_the_same_generator(tmp_path):
    module, kwargs = tiny_stylegan2()
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = module.eval()(z)
    for protocol in range(6):
        path, marker = _official(tmp_path, f"p{protocol}.pkl", protocol=protocol, module=module, kwargs=kwargs)
        G = panda_viz.load_generator(path)
        torch.testing.assert_close(G.synthesize(z), expected, atol=0, rtol=0)
        assert not marker.exists()


def test_numpy_values_of_every_protocol_read_as_pickle_wrote_them(tmp_path):
    values = {"size": np.array([36, 36]), "rate": np.float64(16.0), "flags": np.array([[True], [False]]),
              "fortran": np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)), "set": {"a", "b"}, "bytes": b"\x00\xff"}
    for protocol in range(6):
        path = tmp_path / f"values{protocol}.pkl"
        path.write_bytes(pickle.dumps(values, protocol=protocol))
        loaded = load_network_pickle(path)
        assert set(loaded) == set(values) and loaded["set"] == {"a", "b"} and loaded["bytes"] == b"\x00\xff"
        assert type(loaded["rate"]) is np.float64 and loaded["rate"] == 16.0
        for key in ("size", "flags", "fortran"):
            np.testing.assert_array_equal(loaded[key], values[key])
            assert loaded[key].dtype == values[key].dtype


def test_legacy_and_zip_state_dicts_and_float16_weights_load(tmp_path):
    module, kwargs = tiny_stylegan2()
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = module.eval()(z)
    for zipped in (True, False):
        path = tmp_path / f"G_ema_{zipped}.pt"
        torch.save(module.state_dict(), path, _use_new_zipfile_serialization=zipped)
        torch.testing.assert_close(panda_viz.load_generator(path, config=kwargs).synthesize(z), expected, atol=0, rtol=0)
    half = {k: v.half() if v.is_floating_point() else v for k, v in module.state_dict().items()}
    torch.save(half, tmp_path / "half.pt")
    G = panda_viz.load_generator(tmp_path / "half.pt", config=kwargs)
    assert all(p.dtype == torch.float32 for p in G.module.parameters())


# =====================================================================================
# 1. no code runs
# =====================================================================================
_PAYLOADS = [
    (os.system, "touch {marker}"),
    (builtins.exec, "open({marker!r}, 'w').write('ran')"),
    (builtins.eval, "open({marker!r}, 'w').write('ran')"),
    (subprocess.call, ["touch", "{marker}"]),
    (importlib.import_module, "os"),
    (torch.load, "{marker}"),
]


@pytest.mark.parametrize("protocol", range(6))
def test_code_globals_are_refused_before_they_run(tmp_path, protocol):
    marker = tmp_path / "marker"
    for function, argument in _PAYLOADS:
        argument = [a.format(marker=marker) for a in argument] if isinstance(argument, list) else argument.format(marker=marker)
        path = tmp_path / "evil.pkl"
        payload = Calls(function, argument)
        with nvlabs_writer().stand_ins() as (reconstruct, easydict):
            blob = pickle.dumps({"G_ema": nvlabs_writer().Persistent(reconstruct, "Generator", {"_parameters": {}, "evil": payload}, "")},
                                protocol=protocol)
        path.write_bytes(blob)
        with pytest.raises(UnsafePickleError, match=r"evil\.pkl: refusing to load global [\w.]+: .*allowed: "):
            panda_viz.load_generator(path)
        assert not marker.exists()


def test_module_source_is_text_never_run(tmp_path):
    path, marker = _official(tmp_path)
    G = panda_viz.load_generator(path)
    assert G.module.img_resolution == 8 and not marker.exists()


def _legacy_storage(inner: bytes) -> bytes:
    """torch's legacy header, then ``inner`` as the object pickle."""
    head = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
    head += pickle.dumps({"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
    return head + inner


@pytest.mark.parametrize(
    "body, error, message",
    [
        # allowed globals called with arguments they do not take
        (lambda a: a.global_("_codecs", "encode").str("x").str("rot13").tuple2().reduce(), UnsafePickleError,
         r"refusing _codecs.encode other than encode\(str, 'latin1'\)"),
        (lambda a: a.global_("collections", "OrderedDict").int(1).int(2).tuple2().reduce(), NetworkPickleError,
         r"OrderedDict takes no arguments or a list of pairs"),
        (lambda a: a.global_("builtins", "set").empty_list().empty_list().append().tuple1().reduce(), NetworkPickleError,
         r"builtins.set items must be str, numbers, bytes or None"),
        (lambda a: a.global_("torch._utils", "_rebuild_tensor_v2").mark().str("storage").int(0).empty_tuple()
         .empty_tuple().false().empty_dict().tuple().reduce(), NetworkPickleError,
         r"a tensor's storage must be a storage record; got 'storage'"),
        (lambda a: a.global_("torch", "FloatStorage").int(10**9).tuple1().reduce(), UnsafePickleError,
         r"refusing to call torch.FloatStorage: it is allowed only as an argument"),
        (lambda a: a.global_("numpy.core.multiarray", "_reconstruct").global_("numpy", "dtype").int(0).tuple1().binbytes(b"b")
         .mark().tuple().reduce() if False else a.global_("numpy.core.multiarray", "_reconstruct").global_("numpy", "dtype")
         .mark().int(0).tuple().binbytes(b"b").raw(b"\x87").reduce(), UnsafePickleError,
         r"refusing numpy _reconstruct of anything but numpy.ndarray"),
        (lambda a: a.global_("copyreg", "_reconstructor").global_("numpy", "ndarray").global_("builtins", "dict").none()
         .raw(b"\x87").reduce(), UnsafePickleError, r"refusing copyreg._reconstructor other than \(EasyDict, dict, items\)"),
        (lambda a: a.global_("torch_utils.persistence", "_reconstruct_persistent_obj").str("meta").tuple1().reduce(),
         NetworkPickleError, r"_reconstruct_persistent_obj takes one metadata dict; got a tuple of 1 items"),
        (lambda a: a.global_("dnnlib.util", "EasyDict").str("x").tuple1().empty_dict().raw(b"\x92"), NetworkPickleError,
         r"NEWOBJ with arguments that are not a tuple, or with keyword arguments|EasyDict is created empty"),
        # a storage blob whose own pickle names a code global
        (lambda a: a.global_("torch.storage", "_load_from_bytes").binbytes(_legacy_storage(pickle.dumps(Calls(os.system, "true"), protocol=2)))
         .tuple1().reduce(), UnsafePickleError, r"a tensor storage at byte \d+\): refusing to load global (posix|os)\.system"),
        # opcodes that instantiate or call outside the allow-list
        (lambda a: a.mark().raw(b"ios\nsystem\n"), UnsafePickleError, r"refusing INST/OBJ opcodes"),
        (lambda a: a.mark().global_("collections", "OrderedDict").raw(b"o"), UnsafePickleError, r"refusing INST/OBJ opcodes"),
        (lambda a: a.raw(b"\x82\x01"), UnsafePickleError, r"refusing EXT opcodes"),
        (lambda a: a.raw(b"P0\n"), UnsafePickleError, r"refusing persistent id '0'"),
        (lambda a: a.str("x").raw(b"Q"), UnsafePickleError, r"refusing persistent id 'x'"),
        (lambda a: a.raw(b"\x97"), UnsafePickleError, r"refusing out-of-band buffers"),
        # BUILD on what must not be rewritten
        (lambda a: record(a).empty_dict().str("class_name").str("os").setitem().build(), NetworkPickleError,
         r"BUILD on PendingRecord is not allowed \(it would rewrite it after its checks\)"),
        (lambda a: a.empty_list().empty_dict().build(), NetworkPickleError, r"BUILD on a list of 0 items is not allowed"),
        (lambda a: a.global_("collections", "OrderedDict").empty_tuple().reduce().empty_dict().str("__class__").int(1)
         .setitem().build(), NetworkPickleError, r"BUILD on an OrderedDict may set only '_metadata'"),
        # a record rewritten through the memo after it was created: the checks run at the end
        (lambda a: a.empty_list().global_("torch_utils.persistence", "_reconstruct_persistent_obj").empty_dict().put(7)
         .str("type").str("class").setitem().str("class_name").str("Generator").setitem().tuple1().reduce().append()
         .get(7).str("class_name").empty_list().setitem().raw(b"0"), NetworkPickleError,
         r"class_name must be a str naming a class; got a list of 0 items"),
    ],
)
def test_allowed_globals_and_opcodes_take_only_what_a_network_pickle_needs(tmp_path, body, error, message):
    path = tmp_path / "crafted.pkl"
    path.write_bytes(g_ema_pickle(body))
    with pytest.raises(error, match=message) as caught:
        panda_viz.load_generator(path)
    assert "crafted.pkl" in str(caught.value)


def test_torch_files_refuse_code_and_foreign_persistent_ids(tmp_path):
    marker = tmp_path / "marker"
    zipped = tmp_path / "evil.pth"
    zipped.write_bytes(zip_checkpoint(pickle.dumps({"generator": Calls(os.system, f"touch {marker}")}, protocol=2)))
    with pytest.raises(UnsafePickleError, match=r"evil\.pth: refusing to load global (posix|os)\.system"):
        panda_viz.load_generator(zipped)
    legacy = tmp_path / "evil.pt"
    legacy.write_bytes(_legacy_storage(pickle.dumps(Calls(os.system, f"touch {marker}"), protocol=2)))
    with pytest.raises(UnsafePickleError, match=r"evil\.pt: refusing to load global (posix|os)\.system"):
        panda_viz.load_generator(legacy, config={})
    module_pid = tmp_path / "module.pth"
    module_pid.write_bytes(zip_checkpoint(Asm(2).mark().str("module").str("x").tuple().raw(b"Q").stop().bytes()))
    with pytest.raises(UnsafePickleError, match=r"module\.pth: refusing persistent id 'module': only storages"):
        panda_viz.load_generator(module_pid)
    bin_file = tmp_path / "biggan" / "pytorch_model.bin"
    bin_file.parent.mkdir()
    bin_file.write_bytes(zip_checkpoint(pickle.dumps(Calls(builtins.exec, f"open({str(marker)!r}, 'w')"), protocol=2)))
    config = {"output_dim": 8, "z_dim": 8, "class_embed_dim": 8, "channel_width": 4, "num_classes": 10,
              "layers": [[True, 16, 8], [False, 8, 4], [False, 4, 2], [False, 2, 1]], "attention_layer_position": -1}
    (bin_file.parent / "config.json").write_text(json.dumps(config))
    pytest.importorskip("pytorch_pretrained_biggan")
    with pytest.raises(UnsafePickleError, match=r"pytorch_model\.bin: refusing to load global (builtins|__builtin__)\.exec"):
        panda_viz.load_generator(bin_file)
    assert not marker.exists()


# =====================================================================================
# 2. no memory or time bombs (in a child under RLIMIT_AS and a time limit)
# =====================================================================================
_CHILD = """
import time, json
import panda_viz

def peak_mb():  # this process's own high-water mark (ru_maxrss would include the forking parent's)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024

RESULT = []
for name, path, options in json.loads(CASES):
    t0 = time.perf_counter()
    try:
        panda_viz.load_generator(path, **options)
        outcome = (None, [], "")
    except BaseException as exc:
        outcome = (type(exc).__name__, [c.__name__ for c in type(exc).__mro__], str(exc)[:300])
    RESULT.append([name, *outcome, time.perf_counter() - t0, peak_mb()])
"""


def _run_cases(cases: list[tuple[str, object, dict]], *, memory_mb: int = 500, timeout_s: float = 20):
    """Load each ``(name, path, options)`` in one bounded child; returns {name: (type, mro, message, s, peak MB)}."""
    snippet = f"CASES = {json.dumps([(n, str(p), o) for n, p, o in cases])!r}\n" + _CHILD
    outcome = run_bounded(snippet, memory_mb=memory_mb, timeout_s=timeout_s)
    assert outcome.error_type is None, outcome.error_message
    return {name: tuple(rest) for name, *rest in outcome.result}


def _assert_refused(results, name, error, message):
    kind, mro, text, seconds, _ = results[name]
    assert kind is not None, f"{name}: loaded without an error"
    assert error.__name__ in mro, f"{name}: {kind}: {text}"
    assert kind not in ("MemoryError", "RecursionError"), f"{name}: {kind}: {text}"
    assert __import__("re").search(message, text), f"{name}: {text!r} does not match {message!r}"
    assert seconds < 10, f"{name}: took {seconds:.1f} s"


def test_numpy_and_declared_sizes_cannot_claim_memory(tmp_path):
    files = {}

    def write(name, data):
        files[name] = tmp_path / f"{name}.pkl"
        files[name].write_bytes(data)

    # object arrays (112 bytes asked for 2.1 GB) and void dtypes
    write("object_array", pickle.dumps({"G_ema": np.empty(3, dtype=object)}, protocol=2))
    write("void_dtype", g_ema_pickle(lambda a: a.global_("numpy", "dtype").str("V2000000000").false().true().raw(b"\x87").reduce()))
    write("array_short_data", g_ema_pickle(lambda a: a.global_("numpy.core.multiarray", "_reconstruct").global_("numpy", "ndarray")
                                            .mark().int(0).tuple().binbytes(b"b").raw(b"\x87").reduce()
                                            .mark().int(1).mark().int(2**30).int(2**30).tuple()
                                            .global_("numpy", "dtype").str("f8").false().true().raw(b"\x87").reduce()
                                            .false().binbytes(b"\0" * 8).tuple().build()))
    # declared lengths far past the end of the file
    write("binbytes8", Asm(4).raw(b"\x8e" + (2**62).to_bytes(8, "little")).stop().bytes())
    write("binunicode8", Asm(4).raw(b"\x8d" + (2**60).to_bytes(8, "little")).stop().bytes())
    write("frame", Asm(4).raw(b"\x95" + (2**62).to_bytes(8, "little")).stop().bytes())
    write("long4", Asm(2).raw(b"\x8b" + (2**30).to_bytes(4, "little")).stop().bytes())
    write("text_int", Asm(0).raw(b"I" + b"9" * 100_000 + b"\n").stop().bytes())
    # an embedded storage that declares 2**40 floats over 16 bytes
    storage = _legacy_storage(Asm(2).mark().str("storage").global_("torch", "FloatStorage").str("0").str("cpu").int(2**31 - 1)
                              .none().tuple().raw(b"Q").stop().bytes() + pickle.dumps(["0"], protocol=2)
                              + (2**31 - 1).to_bytes(8, "little") + b"\0" * 16)
    write("storage_count", g_ema_pickle(lambda a: a.global_("torch.storage", "_load_from_bytes").binbytes(storage).tuple1().reduce()))
    results = _run_cases([(name, path, {}) for name, path in files.items()])
    _assert_refused(results, "object_array", UnsafePickleError, r"object_array\.pkl: refusing NumPy dtype 'O8'|refusing .*object")
    _assert_refused(results, "void_dtype", UnsafePickleError, r"refusing NumPy dtype 'V2000000000' \(kind 'V'\)")
    _assert_refused(results, "array_short_data", NetworkPickleError, r"declares shape \(1073741824, 1073741824\) of float64 .* but holds 8 bytes")
    for name in ("binbytes8", "binunicode8"):
        _assert_refused(results, name, NetworkPickleError, rf"{name}\.pkl ends early: the pickle declares [\d,]+ more bytes")
    _assert_refused(results, "frame", NetworkPickleError, r"frame\.pkl is not a readable pickle: a frame declares")
    _assert_refused(results, "long4", FileLimitError, r"long4\.pkl: an integer of 1,073,741,824 bytes \(at most 256\)")
    _assert_refused(results, "text_int", FileLimitError, r"text_int\.pkl: an integer of 100,000 digits")
    _assert_refused(results, "storage_count", NetworkPickleError,
                    r"storage_count\.pkl \(a tensor storage at byte \d+\) ends early: storage '0' declares 8,589,934,588 bytes, 16 remain")
    assert max(peak for *_, peak in results.values()) < 1500


def _laughs(asm: Asm, levels: int, width: int = 10) -> Asm:
    """A list holding ``width`` references to a list holding ``width`` references … (width**levels leaves)."""
    asm.str("lol").put(0).raw(b"0")
    for level in range(1, levels + 1):
        asm.mark()
        for _ in range(width):
            asm.get(level - 1)
        asm.list().put(level)
        if level < levels:
            asm.raw(b"0")  # POP: only the last level stays on the stack
    return asm


def test_billion_laughs_and_deep_nesting_are_bounded(tmp_path):
    files = {}

    def write(name, data):
        files[name] = tmp_path / f"{name}.pkl"
        files[name].write_bytes(data)

    def kwargs_state(a):
        a.empty_dict().str("_init_kwargs").empty_dict().str("z_dim")
        _laughs(a, 9).setitem().setitem()

    write("laughs_kwargs", g_ema_pickle(lambda a: record(a, state=kwargs_state)))
    write("laughs_class_name", g_ema_pickle(lambda a: _laughs(a.global_("torch_utils.persistence", "_reconstruct_persistent_obj")
                                                               .empty_dict().str("type").str("class").setitem().str("class_name"), 9)
                                            .setitem().tuple1().reduce()))

    def nested_records(a, depth=5000):
        for _ in range(depth):
            a.global_("torch_utils.persistence", "_reconstruct_persistent_obj").empty_dict()
            a.str("type").str("class").setitem().str("class_name").str("Generator").setitem().str("state")
            a.empty_dict().str("_modules").empty_dict().str("synthesis")
        a.none()
        for _ in range(depth):
            a.setitem().setitem().setitem().tuple1().reduce()
        return a

    write("nested_records", g_ema_pickle(nested_records))
    write("nested_lists", g_ema_pickle(lambda a: a.raw(b"(" * 200_000 + b"]" + b"l" * 200_000)))
    write("nested_tuples", g_ema_pickle(lambda a: a.none().raw(b"\x85" * 500_000)))
    write("self_reference", g_ema_pickle(lambda a: a.empty_list().put(0).get(0).append()))
    write("many_sets", g_ema_pickle(lambda a: a.raw(b"(" + b"\x8f" * 1_500_000 + b"l")))
    write("many_memo", g_ema_pickle(lambda a: a.none().raw(b"\x94" * 1_500_000)))
    write("deep_kwargs_dict_keys", g_ema_pickle(lambda a: a.empty_dict().none().raw(b"\x85" * 100_000).none().setitem()))
    results = _run_cases([(name, path, {}) for name, path in files.items()])
    _assert_refused(results, "laughs_kwargs", FileLimitError, r"laughs_kwargs\.pkl: the data expands to more than 1,000,000 values")
    _assert_refused(results, "laughs_class_name", NetworkPickleError, r"class_name must be a str naming a class; got a list of 10 items")
    for name in ("nested_records", "nested_lists", "nested_tuples", "self_reference"):
        _assert_refused(results, name, FileLimitError, rf"{name}\.pkl: the data nests deeper than 100 levels|{name}\.pkl: the pickle creates more than 128 MB of containers")
    _assert_refused(results, "many_sets", FileLimitError, r"many_sets\.pkl: the pickle creates more than 128 MB of containers")
    _assert_refused(results, "many_memo", FileLimitError, r"many_memo\.pkl: the pickle stores more than 500,000 memo entries")
    _assert_refused(results, "deep_kwargs_dict_keys", NetworkPickleError, r"a dict key or set item must be a str, number, bytes or None; got a tuple of 1 items")
    assert max(peak for *_, peak in results.values()) < 1500


def test_configurations_are_compared_with_the_weights_before_anything_is_built(tmp_path):
    huge = dict(z_dim=16384, c_dim=0, w_dim=16384, img_resolution=8192, img_channels=3, channel_base=2**24, channel_max=16384,
                mapping_kwargs={"num_layers": 64})
    files = []
    # a 355-byte-style pickle: a record with huge kwargs and no weights
    with nvlabs_writer().stand_ins() as (reconstruct, easydict):
        synthesis = nvlabs_writer().Persistent(reconstruct, "SynthesisNetwork", {"block_resolutions": [4]}, "")
        state = {"_parameters": {}, "_modules": {"synthesis": synthesis}, "_init_kwargs": easydict(huge)}
        blob = pickle.dumps({"G_ema": nvlabs_writer().Persistent(reconstruct, "Generator", state, "")}, protocol=4)
    (tmp_path / "huge.pkl").write_bytes(blob)
    files.append(("huge_pickle", tmp_path / "huge.pkl", {}))
    # a two-key state dict with a config asking for the same
    torch.save({"mapping.fc0.weight": torch.zeros(2, 2), "synthesis.b4.const": torch.zeros(2, 4, 4)}, tmp_path / "two.pt")
    files.append(("two_keys", tmp_path / "two.pt", {"config": huge}))
    files.append(("sg3_layers", tmp_path / "two.pt", {"config": {**huge, "img_resolution": 1024, "num_layers": 10**6}, "architecture": "stylegan3"}))
    files.append(("sg3_stopband", tmp_path / "two.pt", {"config": {**huge, "img_resolution": 1024, "first_stopband": 1e-300}, "architecture": "stylegan3"}))
    # genforce: stride-0 tensors declaring 65,536 channels over one float
    entries = {"mapping.dense0.weight": ("0", 1, (65536, 65536), (0, 0), 0), "truncation.w_avg": ("0", 1, (65536,), (0,), 0),
               "synthesis.early_layer.const": ("0", 1, (1, 65536, 4, 4), (0, 0, 0, 0), 0),
               "synthesis.layer0.bias": ("0", 1, (65536,), (0,), 0)}
    (tmp_path / "stride0.pth").write_bytes(zip_checkpoint(tensor_pickle(entries), {"0": float_bytes(1)}))
    files.append(("stride0", tmp_path / "stride0.pth", {}))
    # genforce: 20,000 synthesis.layerN.bias keys (a quadratic key scan took 88 s)
    many = {f"synthesis.layer{i}.bias": ("0", 1, (1,), (1,), 0) for i in range(20_000)}
    many.update({"synthesis.early_layer.const": ("0", 1, (1, 1, 1, 1), (1, 1, 1, 1), 0), "truncation.w_avg": ("0", 1, (1,), (1,), 0),
                 "mapping.dense0.weight": ("0", 1, (1, 1), (1, 1), 0)})
    (tmp_path / "many.pth").write_bytes(zip_checkpoint(tensor_pickle(many), {"0": float_bytes(1)}))
    files.append(("many_layers", tmp_path / "many.pth", {}))
    # a zip record that declares more bytes than the archive has, and a compressed (deflate-bomb) record
    big = zip_checkpoint(tensor_pickle({"w": ("0", 2**28, (2**28,), (1,), 0)}), {"0": float_bytes(4)})
    (tmp_path / "short_record.pth").write_bytes(big)
    files.append(("short_record", tmp_path / "short_record.pth", {}))
    bomb = zip_checkpoint(tensor_pickle({"w": ("0", 2**28, (2**28,), (1,), 0)}), {"0": b"\0" * 2**30 if False else b"\0" * 2**20},
                          compress=zipfile.ZIP_DEFLATED)
    (tmp_path / "deflated.pth").write_bytes(bomb)
    files.append(("deflated", tmp_path / "deflated.pth", {}))
    results = _run_cases(files)
    _assert_refused(results, "huge_pickle", NetworkPickleError, r"huge\.pkl \(G_ema\): the weights do not match a stylegan2 generator built "
                    r"from its configuration: missing synthesis\.b4\.const")
    _assert_refused(results, "two_keys", NetworkPickleError, r"two\.pt with config=: the weights do not match a stylegan2 generator .*missing")
    _assert_refused(results, "sg3_layers", NetworkPickleError, r"stylegan3 synthesis option 'num_layers' must be an int in \[1, 64\]; got 1000000")
    _assert_refused(results, "sg3_stopband", NetworkPickleError, r"option 'first_stopband' must be a finite number in \(0, 8192\]|sampling rates")
    _assert_refused(results, "stride0", InvalidFileError, r"stride0\.pth is not a readable pickle: a tensor declares 4,294,967,296 elements "
                    r"\(size \(65536, 65536\), stride \(0, 0\)\) over storage '0' of 1: expanded views are not read")
    _assert_refused(results, "many_layers", FileLimitError, r"many\.pth \('state dict'\): the number of resolutions .* is 10,000; at most 12")
    _assert_refused(results, "short_record", InvalidFileError, r"storage '0' .* declares 1,073,741,824 bytes but member 'archive/data/0' holds 16")
    _assert_refused(results, "deflated", InvalidFileError, r"deflated\.pth: member 'archive/[\w/]+' \(.*\) is compressed; torch\.save stores members uncompressed")
    assert max(peak for *_, peak in results.values()) < 1500


def test_biggan_configs_are_checked_before_building(tmp_path):
    pytest.importorskip("pytorch_pretrained_biggan")
    base = {"output_dim": 8, "z_dim": 8, "class_embed_dim": 8, "channel_width": 4, "num_classes": 1000,
            "layers": [[True, 16, 1]], "attention_layer_position": 8, "n_stats": 51, "eps": 1e-4}
    cases = {
        "many_layers": {**base, "layers": [[True, 2, 2]] * 80_000},
        "wide": {**base, "channel_width": 10**6},
        "layer_types": {**base, "layers": [["yes", 2, 2]]},
    }
    runs = []
    for name, config in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps(config, separators=(",", ":")))
        torch.save({"embeddings.weight": torch.zeros(8, 1000)}, folder / "pytorch_model.bin")
        runs.append((name, folder / "pytorch_model.bin", {}))
    results = _run_cases(runs)
    _assert_refused(results, "many_layers", FileLimitError, r"many_layers/config\.json: 'layers' lists 80,000 layers; at most 64")
    _assert_refused(results, "wide", FileLimitError, r"wide/config\.json: 'channel_width' must be an int in \[1, 1024\]; got 1000000")
    _assert_refused(results, "layer_types", InvalidFileError, r"layers\[0\] must be \[upsample \(bool\), in, out")
    assert max(peak for *_, peak in results.values()) < 1500


# =====================================================================================
# 3. clear errors: the file, what was expected, what was found
# =====================================================================================
def _write_record_pickle(tmp_path, state, *, class_name="Generator", src="", name="bad.pkl", meta_extra=None):
    with nvlabs_writer().stand_ins() as (reconstruct, easydict):
        persistent = nvlabs_writer().Persistent(reconstruct, class_name, state, src)
        if meta_extra:
            original = persistent.__reduce__

            def reduce():
                function, (meta,) = original()
                return function, ({**meta, **meta_extra},)

            persistent.__reduce__ = reduce
        path = tmp_path / name
        path.write_bytes(pickle.dumps({"G_ema": persistent}, protocol=4))
    return path


@pytest.mark.parametrize(
    "state, meta_extra, message",
    [
        ({"_parameters": [1, 2]}, None, r"'_parameters' must be a dict of name -> tensors; got a list of 2 items"),
        ({"_parameters": {"w": "x"}}, None, r"'_parameters'\['w'\] holds 'x'; expected one of tensors or None"),
        ({"_modules": {"synthesis": 3}}, None, r"'_modules'\['synthesis'\] holds 3; expected one of pickled network objects"),
        ({"_init_kwargs": {1: 2}}, None, r"'_init_kwargs' keys must be argument names \(str\); got 1"),
        ({"_init_kwargs": [1]}, None, r"'_init_kwargs' must be a dict of keyword arguments; got a list of 1 items"),
        ({"_init_args": "abc"}, None, r"'_init_args' must be a list or tuple; got 'abc'"),
        ({}, {"module_src": b"import os"}, r"module_src must be text \(str\) or None; got bytes of 9 bytes"),
        ({}, {"class_name": ["Generator"]}, r"class_name must be a str naming a class; got a list of 1 items"),
        ({}, {"type": "function"}, r"unsupported persistent object type 'function' \(expected 'class'\)"),
        ({}, {"version": "6"}, r"version must be an int or None; got '6'"),
        ({}, {"state": [1]}, r"its state must be a dict; got a list of 1 items"),
    ],
)
def test_malformed_records_name_the_file_the_key_and_what_was_found(tmp_path, state, meta_extra, message):
    path = _write_record_pickle(tmp_path, {"_parameters": {}, "_buffers": {}, "_modules": {}, **state}, meta_extra=meta_extra)
    with pytest.raises(NetworkPickleError, match=r"bad\.pkl: (a )?pickled network object[^:]*: " + message):
        load_network_pickle(path)


def _with_kwargs(tmp_path, change):
    module, kwargs = tiny_stylegan2()
    kwargs = {**kwargs, **change}
    path, _ = _official(tmp_path, "kwargs.pkl", module=module, kwargs=kwargs)
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        ({"w_dim": 0}, r"generator option 'w_dim' must be an int in \[1, 16384\]; got 0"),
        ({"conv_clamp": "x"}, r"stylegan2 synthesis option 'conv_clamp' must be a finite number in \[0, 1e\+09\] or None; got 'x'"),
        ({"img_resolution": 12}, r"generator option 'img_resolution' must be a power of two in \[4, 8192\]; got 12"),
        ({"z_dim": 8.0}, r"generator option 'z_dim' must be an int in \[1, 16384\]; got 8.0"),
        ({"mapping_kwargs": {"num_layers": -1}}, r"stylegan2 mapping option 'num_layers' must be an int in \[1, 64\]; got -1"),
        ({"mapping_kwargs": [1]}, r"option 'mapping_kwargs' must be a dict of options; got a list of 1 items"),
        ({"resample_filter": [0, 0]}, r"stylegan2 synthesis option 'resample_filter' must be a list of 1 to 16 finite numbers with a non-zero sum"),
        ({"architecture": "resnet"}, r"stylegan2 synthesis option 'architecture' must be one of 'skip', 'orig'; got 'resnet'"),
        ({"mystery": 1}, r"stylegan2 synthesis options not supported here: 'mystery'"),
        ({"channel_base": 4}, r"option 'channel_base' \(4\) must be at least img_resolution \(8\)"),
    ],
)
def test_bad_constructor_options_are_named_before_building(tmp_path, change, message):
    path = _with_kwargs(tmp_path, change)
    with pytest.raises(NetworkPickleError, match=r"kwargs\.pkl \(G_ema\): " + message):
        panda_viz.load_generator(path)


def test_state_dict_and_config_errors(tmp_path):
    module, kwargs = tiny_stylegan2()
    good = tmp_path / "G.pt"
    torch.save(module.state_dict(), good)
    utf16 = tmp_path / "utf16.json"
    utf16.write_text(json.dumps(kwargs), encoding="utf-16")
    with pytest.raises(InvalidFileError, match=r"config file '.*utf16\.json' is not UTF-8 text"):
        panda_viz.load_generator(good, config=utf16)
    broken = tmp_path / "broken.json"
    broken.write_text('{"z_dim": ')
    with pytest.raises(InvalidFileError, match=r"broken\.json' is not valid JSON"):
        panda_viz.load_generator(good, config=broken)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(FileLimitError, match=r"deep\.json' nests too deeply"):
        panda_viz.load_generator(good, config=deep)
    with pytest.raises(NetworkPickleError, match=r"'init_kwargs' must be a dict of constructor kwargs; got 'x'"):
        panda_viz.load_generator(good, config={"init_kwargs": "x"})
    with pytest.raises(NetworkPickleError, match=r"G\.pt with config=: generator option 'w_dim' must be an int in \[1, 16384\]; got nan"):
        panda_viz.load_generator(good, config={**kwargs, "w_dim": float("nan")})
    missing = dict(module.state_dict())
    del missing["synthesis.b8.conv0.weight"]
    torch.save(missing, tmp_path / "missing.pt")
    with pytest.raises(NetworkPickleError, match=r"missing\.pt with config=: the weights do not match a stylegan2 generator built from "
                       r"its configuration: missing synthesis\.b8\.conv0\.weight; unexpected none"):
        panda_viz.load_generator(tmp_path / "missing.pt", config=kwargs)
    typed = dict(module.state_dict(), **{"mapping.w_avg": torch.zeros(8, dtype=torch.int64)})
    torch.save(typed, tmp_path / "typed.pt")
    with pytest.raises(NetworkPickleError, match=r"weights of the wrong type for .*: mapping\.w_avg \(torch\.int64, expected torch\.float32\)"):
        panda_viz.load_generator(tmp_path / "typed.pt", config=kwargs)
    for value, name in ((float("nan"), "nan"), (float("inf"), "inf")):
        poisoned = dict(module.state_dict())
        poisoned["synthesis.b4.conv1.weight"] = poisoned["synthesis.b4.conv1.weight"].clone().fill_(value)
        torch.save(poisoned, tmp_path / f"{name}.pt")
        with pytest.raises(NonFiniteError, match=rf"{name}\.pt with config=: weights with NaN or infinite values: synthesis\.b4\.conv1\.weight"):
            panda_viz.load_generator(tmp_path / f"{name}.pt", config=kwargs)
    with pytest.raises(ValueError, match=r"truncation_psi must be a finite number"):
        panda_viz.load_generator(good, config=kwargs, truncation_psi=float("nan"))


def test_non_finite_weights_in_a_network_pickle_are_named(tmp_path):
    module, kwargs = tiny_stylegan2()
    with torch.no_grad():
        module.mapping.fc0.bias[0] = float("nan")
    path, _ = _official(tmp_path, "nan.pkl", module=module, kwargs=kwargs)
    with pytest.raises(NonFiniteError, match=r"nan\.pkl \(G_ema\): weights with NaN or infinite values: mapping\.fc0\.bias"):
        panda_viz.load_generator(path)


def _genforce(tmp_path, name, change):
    """A tiny genforce StyleGAN2 checkpoint (random weights of the right shapes), changed by ``change(sd)``."""
    from panda_viz.generators.genforce.stylegan2 import StyleGAN2Generator

    module = StyleGAN2Generator(8, [8, 8], [8, 8])
    state = {k: torch.randn(v.shape, generator=torch.Generator().manual_seed(0)) for k, v in module.state_dict().items()}
    change(state)
    path = tmp_path / name
    torch.save({"generator_smooth": state}, path)
    return path


def test_genforce_checkpoint_errors(tmp_path):
    assert panda_viz.load_generator(_genforce(tmp_path, "ok.pth", lambda sd: None)).module.resolution == 8
    cases = [
        (lambda sd: sd.pop("mapping.dense0.weight"), InvalidFileError, r"a\.pth \('generator_smooth'\): the weight 'mapping\.dense0\.weight' is missing"),
        (lambda sd: sd.update({"mapping.dense1.weight": torch.zeros(3)}), InvalidFileError, r"'mapping\.dense1\.weight' has shape \(3,\); expected 2 dimensions"),
        (lambda sd: sd.update({"synthesis.layer2.bias": 5}), InvalidFileError, r"'synthesis\.layer2\.bias' holds 5, expected a tensor"),
        (lambda sd: sd.update({"synthesis.layer0.weight": torch.zeros(8, 8, 3, 2)}), InvalidFileError,
         r"weights of the wrong shape for the genforce stylegan2 generator its shapes describe: synthesis\.layer0\.weight \(8, 8, 3, 2\)"),
        (lambda sd: sd.update({"extra.weight": torch.zeros(1)}), InvalidFileError, r"missing none; unexpected extra\.weight"),
        (lambda sd: sd.update({"truncation.w_avg": torch.zeros(5)}), InvalidFileError, r"truncation\.w_avg of shape \(5,\); only repeat_w=True"),
        (lambda sd: sd.update({"mapping.dense0.weight": torch.zeros(8, 100_000)}), FileLimitError, r"z_dim is 100,000; at most 16,384"),
    ]
    for change, error, message in cases:
        with pytest.raises(error, match=message):
            panda_viz.load_generator(_genforce(tmp_path, "a.pth", change))
    from panda_viz.generators.genforce.pggan import PGGANGenerator

    pggan = PGGANGenerator(8, [8, 8])
    sd = dict(pggan.state_dict(), lod=torch.zeros(5))
    torch.save({"generator": sd}, tmp_path / "lod.pth")
    with pytest.raises(InvalidFileError, match=r"lod\.pth \('generator'\): 'lod' must be one floating-point number \(the level of detail\); got \(5,\)"):
        panda_viz.load_generator(tmp_path / "lod.pth")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", r"empty\.pth is empty \(0 bytes\): not a torch\.save file"),
        (pickle.dumps(7, protocol=2), r"empty\.pth is a pickle but not a torch\.save file \(no torch magic number\)"),
        (b"hello world", r"is not a torch\.save file: it starts with b'hell'"),
        (zip_checkpoint(pickle.dumps(7, protocol=2)), r"not a genforce checkpoint .*it holds 7\); load_nvlabs_state_dict: NVlabs state dicts need config="),
        (zip_checkpoint(pickle.dumps({"generator": {1: 2}}, protocol=2)), r"not a genforce checkpoint"),
        (zip_checkpoint(b"\x80\x02}q\x00(X"), r"ends early"),
    ],
    ids=["empty", "int-pickle", "text", "zip-int", "int-keys", "truncated"],
)
def test_files_that_are_not_checkpoints(tmp_path, content, message):
    path = tmp_path / "empty.pth"
    path.write_bytes(content)
    with pytest.raises(InvalidFileError, match=message):
        panda_viz.load_generator(path)


def test_truncated_and_corrupt_files_at_every_length_give_clear_errors(tmp_path):
    """Every prefix of a valid pickle and of a valid .pt fails with a PandaVizError naming the file."""
    path, _ = _official(tmp_path, "whole.pkl", protocol=2)
    blob = path.read_bytes()
    module, kwargs = tiny_stylegan2()
    torch.save(module.state_dict(), tmp_path / "whole.pt", _use_new_zipfile_serialization=False)
    legacy = (tmp_path / "whole.pt").read_bytes()
    cut = tmp_path / "cut.pkl"
    cut_pt = tmp_path / "cut.pt"
    for fraction in np.linspace(0.0, 0.999, 25):
        cut.write_bytes(blob[: int(len(blob) * fraction)])
        with pytest.raises(PandaVizError, match=r"cut\.pkl"):
            panda_viz.load_generator(cut)
        cut_pt.write_bytes(legacy[: int(len(legacy) * fraction)])
        with pytest.raises(PandaVizError, match=r"cut\.pt"):
            panda_viz.load_generator(cut_pt, config=kwargs)
    rng = np.random.default_rng(0)
    for _ in range(25):  # flipped bytes: refused or loaded, never a low-level error
        data = bytearray(blob)
        for index in rng.integers(0, len(data), 3):
            data[index] = int(rng.integers(0, 256))
        cut.write_bytes(bytes(data))
        try:
            panda_viz.load_generator(cut)
        except PandaVizError as error:
            assert "cut.pkl" in str(error)


def test_biggan_folder_errors(tmp_path):
    biggan = pytest.importorskip("pytorch_pretrained_biggan")
    config = biggan.BigGANConfig(output_dim=32, z_dim=8, class_embed_dim=8, channel_width=4, num_classes=1000,
                                 layers=[[True, 16, 8], [False, 8, 8], [True, 8, 4], [True, 4, 2], [False, 2, 1]],
                                 attention_layer_position=1, n_stats=51)
    with torch.device("meta"):
        shapes = biggan.BigGAN(config).state_dict()
    weights = {k: torch.full(v.shape, 0.1) for k, v in shapes.items()}
    folder = tmp_path / "g"
    folder.mkdir()
    (folder / "config.json").write_text(config.to_json_string())
    torch.save(weights, folder / "pytorch_model.bin")
    assert panda_viz.load_generator(folder / "pytorch_model.bin").z_dim == 8
    for change, error, message in [
        ({"z_dim": "8"}, InvalidFileError, r"config\.json: 'z_dim' must be an int in \[1, 4096\]; got '8'"),
        ({"layers": []}, InvalidFileError, r"'layers' must be a non-empty list of \[upsample, in, out\]"),
        ({"layers": [[True, 16, 8], [True, 8, 4], [True, 4, 2], [False, 2, 1]]}, InvalidFileError,
         r"the config describes 5 generator layers \(with attention\), the weights hold 6"),
        ({"layers": [[True, 16, 8], [False, 8, 8], [True, 8, 4], [True, 4, 2], [False, 2, 2]]}, InvalidFileError,
         r"the last block gives 2 × channel_width channels; the output layers take 1 ×"),
        ({"layers": [[True, 16, 8], [False, 4, 4], [True, 4, 2], [True, 2, 1], [False, 1, 1]]}, InvalidFileError,
         r"layers\[1\] takes 4 × channel_width channels; the previous block gives 8"),
        ({"output_dim": 64}, InvalidFileError, r"'output_dim' is 64, but 3 upsampling blocks make 32 px images"),
        ({"eps": -1}, InvalidFileError, r"'eps' must be a number in \(0, 1\); got -1"),
        ({"n_stats": 10**9}, FileLimitError, r"'n_stats' must be an int in \[2, 1024\]"),
    ]:
        (folder / "config.json").write_text(json.dumps({**json.loads(config.to_json_string()), **change}))
        with pytest.raises(error, match=message):
            panda_viz.load_generator(folder / "pytorch_model.bin")
    (folder / "config.json").write_text(config.to_json_string())
    torch.save({k: v for k, v in weights.items() if k != "embeddings.weight"}, folder / "pytorch_model.bin")
    with pytest.raises(InvalidFileError, match=r"the weights do not match the BigGAN that config\.json describes: missing embeddings\.weight"):
        panda_viz.load_generator(folder / "pytorch_model.bin")
    torch.save(dict(weights, **{"embeddings.weight": torch.full((8, 1000), float("nan"))}), folder / "pytorch_model.bin")
    with pytest.raises(NonFiniteError, match=r"pytorch_model\.bin .*: weights with NaN or infinite values: embeddings\.weight"):
        panda_viz.load_generator(folder / "pytorch_model.bin")


def test_a_storage_key_declared_again_must_agree(tmp_path):
    shared = {"a": ("0", 4, (4,), (1,), 0), "b": ("0", 4, (2,), (1,), 2)}  # two views of one storage: fine
    (tmp_path / "shared.pth").write_bytes(zip_checkpoint(tensor_pickle(shared), {"0": float_bytes(4)}))
    loaded = load_torch_file(tmp_path / "shared.pth")
    assert loaded["a"].tolist() == [0.5] * 4 and loaded["b"].tolist() == [0.5] * 2
    clash = {"a": ("0", 4, (4,), (1,), 0), "b": ("0", 8, (8,), (1,), 0)}  # the same key, another size
    (tmp_path / "clash.pth").write_bytes(zip_checkpoint(tensor_pickle(clash), {"0": float_bytes(8)}))
    with pytest.raises(InvalidFileError, match=r"clash\.pth.*storage '0' is declared twice with different types or sizes"):
        load_torch_file(tmp_path / "clash.pth")
