"""The safe network-pickle reader: refuses what it does not know before it runs, and says
what it found when a file is not a supported network pickle."""

from __future__ import annotations

import builtins
import collections
import io
import os
import pickle

import numpy as np
import pytest
import torch
from nvlabs_pickle_writer import Persistent, stand_ins, write_network_pickle
from robustness.crafted import Calls

import panda_viz
from panda_viz.generators.nvlabs.network_pickle import (
    NetworkPickleError,
    PersistentRecord,
    SafeUnpickler,
    UnsafePickleError,
    load_network_pickle,
    plain,
    record_state_dict,
)
from panda_viz.generators.nvlabs.stylegan2 import StyleGAN2


def _tiny_stylegan2():
    kwargs = dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3, channel_base=64, channel_max=8,
                  mapping_kwargs={"num_layers": 1})
    return StyleGAN2(**kwargs), kwargs


def _record_pickle(tmp_path, g_ema_state, *, class_name="Generator", src="", extra=None):
    with stand_ins() as (reconstruct, easydict):
        data = {"G_ema": Persistent(reconstruct, class_name, g_ema_state, src), **(extra or {})}
        path = tmp_path / "network.pkl"
        path.write_bytes(pickle.dumps(data, protocol=4))
    return path


@pytest.mark.parametrize(
    "function, args, name",
    [
        (os.system, "touch {marker}", r"(posix|nt|os)\.system"),
        (builtins.exec, "open({marker!r}, 'w').write('ran')", r"builtins\.exec"),
    ],
)
def test_disallowed_global_is_refused_before_it_runs(tmp_path, function, args, name):
    marker = tmp_path / "marker"
    payload = Calls(function, args.format(marker=str(marker)))
    path = _record_pickle(tmp_path, {"_parameters": {}, "_buffers": {}, "_modules": {}, "evil": payload})
    with pytest.raises(UnsafePickleError, match=rf"refusing to load global {name}"):
        load_network_pickle(path)
    with pytest.raises(UnsafePickleError, match=rf"refusing to load global {name}"):
        panda_viz.load_generator(path)
    assert not marker.exists()


def test_records_are_data_and_module_source_never_runs(tmp_path):
    marker = tmp_path / "marker"
    src = f"import os\nos.system('touch {marker}')\n\nclass Generator:\n    pass\n\nclass SynthesisNetwork:\n    pass\n"
    weight = torch.nn.Parameter(torch.arange(6.0).reshape(2, 3))
    with stand_ins() as (reconstruct, easydict):
        child = Persistent(
            reconstruct, "SynthesisNetwork",
            {"_parameters": collections.OrderedDict(weight=weight), "_buffers": collections.OrderedDict(
                kept=torch.ones(2), cache=torch.zeros(3)), "_non_persistent_buffers_set": {"cache"},
             "_modules": collections.OrderedDict(), "sampling_rate": np.float64(16.0), "size": np.array([36, 36])},
            src,
        )
        data = {"G_ema": Persistent(reconstruct, "Generator", {
            "_parameters": {}, "_buffers": {}, "_modules": collections.OrderedDict(synthesis=child),
            "_init_kwargs": easydict(z_dim=4, mapping_kwargs=easydict(num_layers=2))}, src)}
        blob = pickle.dumps(data, protocol=3)
    loaded = load_network_pickle(io.BytesIO(blob))
    record = loaded["G_ema"]
    assert isinstance(record, PersistentRecord) and record.class_name == "Generator"
    assert record.module_classes == ["Generator", "SynthesisNetwork"]
    kwargs = record.state["_init_kwargs"]
    assert isinstance(kwargs, dict) and kwargs["mapping_kwargs"]["num_layers"] == 2
    assert type(plain(kwargs)) is dict and type(plain(kwargs)["mapping_kwargs"]) is dict
    synthesis = record.children["synthesis"]
    assert plain(synthesis.state["sampling_rate"]) == 16.0 and type(plain(synthesis.state["sampling_rate"])) is float
    assert synthesis.state["size"].tolist() == [36, 36]
    weights = record_state_dict(record)
    assert list(weights) == ["synthesis.weight", "synthesis.kept"]  # non-persistent buffer left out
    assert torch.equal(weights["synthesis.weight"], torch.arange(6.0).reshape(2, 3))
    assert not marker.exists()


def test_truncated_file(tmp_path):
    marker = tmp_path / "marker"
    module, kwargs = _tiny_stylegan2()
    full = write_network_pickle(tmp_path / "full.pkl", module, kwargs, marker=marker)
    blob = full.read_bytes()
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(NetworkPickleError, match=r"cut\.pkl.*truncated"):
        panda_viz.load_generator(cut)


def test_corrupt_and_foreign_files(tmp_path):
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"\x80\x04\x95this is no pickle at all" + bytes(range(256)))
    with pytest.raises(NetworkPickleError, match=r"junk\.pkl is not a readable pickle"):
        panda_viz.load_generator(junk)
    zipped = tmp_path / "saved.pkl"
    torch.save({"w": torch.zeros(1)}, zipped)
    with pytest.raises(NetworkPickleError, match="zip archive"):
        panda_viz.load_generator(zipped)
    listing = tmp_path / "list.pkl"
    listing.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(NetworkPickleError, match="holds a list; a network pickle holds a dict with 'G_ema'"):
        panda_viz.load_generator(listing)


def test_persistent_ids_are_refused():
    class WithIds(pickle.Pickler):
        def persistent_id(self, obj):
            return "storage0" if isinstance(obj, str) and obj == "x" else None

    buffer = io.BytesIO()
    WithIds(buffer).dump({"a": "x"})
    with pytest.raises(UnsafePickleError, match="refusing persistent id 'storage0'"):
        SafeUnpickler(io.BytesIO(buffer.getvalue())).load()


def test_pickle_without_g_ema_names_its_keys(tmp_path):
    marker = tmp_path / "marker"
    module, kwargs = _tiny_stylegan2()
    path = write_network_pickle(tmp_path / "noema.pkl", module, kwargs, marker=marker, drop=("G_ema",))
    with pytest.raises(NetworkPickleError, match=r"has no 'G_ema'; keys found: 'G', 'D', 'training_set_kwargs', 'augment_pipe'"):
        panda_viz.load_generator(path)
    # another entry can be asked for by name
    G = panda_viz.load_generator(path, network="G")
    assert G.module.img_resolution == 8


def test_g_ema_that_is_not_a_network(tmp_path):
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps({"G_ema": {"weight": 1}}))
    with pytest.raises(NetworkPickleError, match="'G_ema' in .* is a dict, not a pickled network"):
        panda_viz.load_generator(path)


def test_unsupported_architecture_names_what_was_found(tmp_path):
    with stand_ins() as (reconstruct, easydict):
        synthesis = Persistent(reconstruct, "SuperresGenerator", {
            "_parameters": {}, "_buffers": {}, "_modules": {}, "img_resolution": 256, "sr_stages": 3,
        }, "class SuperresGenerator:\n    pass\n")
        state = {"_parameters": {}, "_buffers": {}, "_modules": {"synthesis": synthesis}, "_init_kwargs": easydict(z_dim=64)}
        path = tmp_path / "xl.pkl"
        path.write_bytes(pickle.dumps({"G_ema": Persistent(reconstruct, "Generator", state, "class Generator:\n    pass\n")}))
    with pytest.raises(
        NetworkPickleError,
        match=r"unsupported generator architecture: found class 'Generator' with a synthesis of class "
        r"'SuperresGenerator' \(attributes: img_resolution, sr_stages\); its module defines Generator, SuperresGenerator",
    ):
        panda_viz.load_generator(path)


def test_missing_constructor_arguments(tmp_path):
    with stand_ins() as (reconstruct, easydict):
        synthesis = Persistent(reconstruct, "SynthesisNetwork", {"_parameters": {}, "_buffers": {}, "_modules": {},
                                                                  "block_resolutions": [4, 8]}, "")
        state = {"_parameters": {}, "_buffers": {}, "_modules": {"synthesis": synthesis}, "_init_kwargs": easydict(z_dim=64)}
        path = tmp_path / "noargs.pkl"
        path.write_bytes(pickle.dumps({"G_ema": Persistent(reconstruct, "Generator", state, "")}))
    with pytest.raises(NetworkPickleError, match=r"keeps no constructor arguments \['c_dim', 'w_dim', 'img_resolution', 'img_channels'\]"):
        panda_viz.load_generator(path)
