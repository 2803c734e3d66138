"""Write network pickles in NVlabs' official format, for the loader tests.

An official pickle is a dict (``G``, ``D``, ``G_ema``, ``training_set_kwargs``,
``augment_pipe``) whose networks were pickled by ``torch_utils.persistence``: each calls
the global ``torch_utils.persistence._reconstruct_persistent_obj(meta)`` with the class
name, the defining module's source and the object's ``__dict__``; tensors go through
torch's own ``__reduce_ex__`` (``_rebuild_parameter``, ``_rebuild_tensor_v2``,
``torch.storage._load_from_bytes``), kwargs are ``dnnlib.util.EasyDict``. Here stand-in
``torch_utils`` and ``dnnlib`` modules exist only while pickling, so the stream names the
same globals as an official file. The weights are those of the test data (tests/data).
"""

from __future__ import annotations

import pickle
import sys
import types
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from torch import nn

#: The ``module_src`` put in every record: it would write a marker file if anything ran it.
MARKER_NAME = "module_src_was_executed"


def module_src(marker: Path, classes: list[str]) -> str:
    body = "\n".join(f"class {name}(torch.nn.Module):\n    pass\n" for name in classes)
    return f"import torch\nopen({str(marker)!r}, 'w').write('ran')\n\n{body}"


@contextmanager
def _stand_in_modules() -> Iterator[tuple[Any, type]]:
    persistence = types.ModuleType("torch_utils.persistence")
    util = types.ModuleType("dnnlib.util")

    def _reconstruct_persistent_obj(meta):  # pragma: no cover - never called by the tests
        raise AssertionError("the stand-in reconstructor must not run")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj

    class EasyDict(dict):
        pass

    EasyDict.__module__ = "dnnlib.util"
    EasyDict.__qualname__ = "EasyDict"
    util.EasyDict = EasyDict
    names = {
        "torch_utils": types.ModuleType("torch_utils"),
        "torch_utils.persistence": persistence,
        "dnnlib": types.ModuleType("dnnlib"),
        "dnnlib.util": util,
    }
    saved = {name: sys.modules.get(name) for name in names}
    sys.modules.update(names)
    try:
        yield _reconstruct_persistent_obj, EasyDict
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class Persistent:
    """Pickles as ``_reconstruct_persistent_obj(meta)``, as persistence-decorated classes do."""

    def __init__(self, reconstruct: Any, class_name: str, state: dict, src: str) -> None:
        self.reconstruct, self.class_name, self.state, self.src = reconstruct, class_name, state, src

    def __reduce__(self):
        meta = dict(type="class", version=6, module_src=self.src, class_name=self.class_name, state=self.state)
        return (self.reconstruct, (meta,))


def _easy(value: Any, easydict: type) -> Any:
    if isinstance(value, dict):
        return easydict({k: _easy(v, easydict) for k, v in value.items()})
    return value


def persistent_tree(module: nn.Module, reconstruct: Any, easydict: type, src: str, init_kwargs: dict | None = None) -> Persistent:
    """``module`` as nested persistent records; its ``__dict__`` is the state, as officially."""
    state = dict(module.__dict__)
    state["_modules"] = type(state["_modules"])(
        (name, persistent_tree(child, reconstruct, easydict, src) if child is not None else None)
        for name, child in module._modules.items()
    )
    state["_init_args"] = ()
    state["_init_kwargs"] = _easy(dict(init_kwargs or {}), easydict)
    class_name = {"StyleGAN2": "Generator", "StyleGAN3": "Generator"}.get(type(module).__name__, type(module).__name__)
    return Persistent(reconstruct, class_name, state, src)


def write_network_pickle(
    path: Path,
    module: nn.Module,
    init_kwargs: dict,
    *,
    marker: Path,
    protocol: int = 3,
    extra: dict | None = None,
    drop: tuple[str, ...] = (),
) -> Path:
    """Write ``{'G', 'D', 'G_ema', 'training_set_kwargs', 'augment_pipe'}`` like a snapshot.

    ``G`` and ``G_ema`` hold ``module``; ``D`` is a small stand-in discriminator record.
    ``extra`` adds or replaces entries (may hold ``Persistent`` objects or anything
    picklable); ``drop`` removes entries.
    """
    classes = sorted({type(m).__name__ for m in module.modules()} | {"Generator"})
    src = module_src(marker, classes)
    with _stand_in_modules() as (reconstruct, easydict):
        generator = persistent_tree(module, reconstruct, easydict, src, init_kwargs)
        discriminator = persistent_tree(nn.Sequential(nn.Linear(2, 1)), reconstruct, easydict, src.replace("Generator", "Discriminator"))
        data = {
            "G": generator,
            "D": discriminator,
            "G_ema": generator,
            "training_set_kwargs": _easy({"class_name": "training.dataset.ImageFolderDataset", "resolution": 32}, easydict),
            "augment_pipe": None,
        }
        data.update(extra or {})
        for key in drop:
            data.pop(key)
        path.write_bytes(pickle.dumps(data, protocol=protocol))
    return path


@contextmanager
def stand_ins() -> Iterator[tuple[Any, type]]:
    """The stand-in reconstructor and EasyDict, for hand-made records in tests."""
    with _stand_in_modules() as pair:
        yield pair
