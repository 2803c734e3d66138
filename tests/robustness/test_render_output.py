"""``panda-viz render``'s output folder, crafted against it at test time: links to files and folders
outside it, sparse 5 GB files, hard links, FIFOs, a planted manifest and journal. Nothing is read or
written outside the folder, nothing is trusted that a record does not vouch for, memory stays small.

Each crafted run happens in a child under :func:`~tests.robustness.bounded.run_bounded` (memory
and time capped), which returns what the test then checks from here.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from panda_viz import Generator
from panda_viz.commands import cli
from panda_viz.commands.render import MAX_FILES, RenderJob, parse_seeds, render_edits
from panda_viz.exceptions import FileWriteError, InvalidInputError, ResourceLimitError

from .bounded import run_bounded

SPARSE = 5 * 2**30

# A child renders white_lips for seeds 0:6 into OUT (the folder given as ARGV), batch 3.
_RENDER = """
import json, os
from pathlib import Path
import panda_viz
from panda_viz.commands.render import RenderJob, render_edits
G = panda_viz.load_generator("dcgan-digiface")
zoo = panda_viz.load_edit_zoo(G.name)
jobs = [RenderJob("white_lips", zoo=zoo, edit="white_lips", model=zoo.load_model("white_lips", G))]
manifest = render_edits(G, jobs, range(0, 6), OUT, batch_size=3, progress=False)
RESULT = {"written": [f["seed"] for f in manifest["files"] if f["written"]],
          "files": {f["file"]: [f["size"], f["sha256"]] for f in manifest["files"]}}
"""


def _render(out: Path, memory_mb: int = 600) -> object:
    return run_bounded(f"OUT = {str(out)!r}\n" + _RENDER, memory_mb=memory_mb, timeout_s=120)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(folder: Path) -> dict[str, tuple[str, int]]:
    """Every entry below ``folder``: its kind and size, links not followed."""
    out = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
        out[path.relative_to(folder).as_posix()] = (kind, info.st_size if kind == "file" else 0)
    return out


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """A clean render of seeds 0:6 (the reference every crafted folder starts from)."""
    out = tmp_path_factory.mktemp("render") / "out"
    outcome = _render(out)
    assert outcome.error_type is None, outcome.error_message
    assert outcome.result["written"] == list(range(6))
    return out, outcome.result["files"]


def _copy_of(first_run, tmp_path: Path) -> Path:
    source, _ = first_run
    out = tmp_path / "out"
    (out / "white_lips").mkdir(parents=True)
    for path in (source / "white_lips").iterdir():
        (out / "white_lips" / path.name).write_bytes(path.read_bytes())
    (out / "manifest.json").write_bytes((source / "manifest.json").read_bytes())
    return out


def test_a_clean_rerun_trusts_its_own_records_and_rewrites_nothing(first_run, tmp_path):
    out = _copy_of(first_run, tmp_path)
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "white_lips").iterdir()}
    outcome = _render(out)
    assert outcome.error_type is None and outcome.result["written"] == []
    assert {p.name: p.stat().st_mtime_ns for p in (out / "white_lips").iterdir()} == stamps
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["n_files"] == 6 and all(set(f) >= {"size", "sha256"} for f in manifest["files"])


def test_links_sparse_files_hard_links_and_fifos_are_rendered_again_never_followed(first_run, tmp_path):
    """The issue's crafted folder: a PNG linked to a file elsewhere (even an exact copy of the
    right image), one linked to a 5 GB sparse file, a regular 5 GB sparse file, a hard link to a
    file elsewhere, a FIFO. Every one is replaced by a fresh regular PNG; what they point to is
    untouched and never read (the run stays far below 5 GB and is quick)."""
    out = _copy_of(first_run, tmp_path)
    _, files = first_run
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = out / "white_lips"
    # an exact copy of seed 0's image outside: following the link would make it look done
    (outside / "copy.png").write_bytes((folder / "00000000.png").read_bytes())
    secret = outside / "secret.txt"
    secret.write_text("not yours\n")
    sparse = outside / "sparse.bin"
    with open(sparse, "wb") as f:
        f.truncate(SPARSE)
    for seed, make in (
        (0, lambda p: p.symlink_to(outside / "copy.png")),
        (1, lambda p: p.symlink_to(sparse)),
        (2, lambda p: open(p, "wb").truncate(SPARSE)),  # a regular file, sparse, of the wrong size
        (3, lambda p: os.link(secret, p)),
        (4, lambda p: os.mkfifo(p)),
    ):
        path = folder / f"{seed:08d}.png"
        path.unlink()
        make(path)
    before = {p: (_sha(p) if p != sparse else None, p.stat().st_size) for p in (outside / "copy.png", secret, sparse)}

    outcome = _render(out)
    assert outcome.error_type is None, outcome.error_message
    assert outcome.result["written"] == [0, 1, 2, 3, 4]  # seed 5 was intact and recorded
    assert outcome.peak_rss_mb < 1200 and outcome.seconds < 90
    # the images are regular files again, equal to the clean run's
    assert outcome.result["files"] == files
    for seed in range(6):
        path = folder / f"{seed:08d}.png"
        assert path.is_file() and not path.is_symlink() and path.stat().st_nlink == 1
        assert [path.stat().st_size, _sha(path)] == files[f"white_lips/{seed:08d}.png"]
    # nothing outside was written to
    assert {p: (_sha(p) if p != sparse else None, p.stat().st_size) for p in before} == before
    assert secret.read_text() == "not yours\n" and secret.stat().st_nlink == 1
    assert sorted(p.name for p in outside.iterdir()) == ["copy.png", "secret.txt", "sparse.bin"]


def test_a_linked_edit_folder_is_refused_and_nothing_is_written_through_it(tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "white_lips").symlink_to(elsewhere, target_is_directory=True)
    outcome = _render(out)
    assert outcome.error_type == "UnsafePathError", outcome.error_message
    assert "white_lips' is a symbolic link" in outcome.error_message and "never through a link" in outcome.error_message
    assert "ValueError" in outcome.error_mro
    assert list(elsewhere.iterdir()) == []
    assert _tree(out) == {"white_lips": ("link", 0)}  # no manifest, no journal


def test_an_edit_folder_that_is_a_file_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "white_lips").write_text("keep")
    outcome = _render(out)
    assert outcome.error_type == "FileWriteError" and "is a file, not a folder" in outcome.error_message
    assert (out / "white_lips").read_text() == "keep"


def test_a_planted_manifest_and_journal_are_not_trusted_nor_written_through(first_run, tmp_path):
    """manifest.json linked to a file elsewhere, a journal linked to a file elsewhere, a journal
    vouching for a sparse 5 GB "image" with a forged size: none is believed or followed."""
    out = _copy_of(first_run, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    real_manifest = (out / "manifest.json").read_bytes()
    (outside / "manifest.json").write_bytes(real_manifest)
    (out / "manifest.json").unlink()
    (out / "manifest.json").symlink_to(outside / "manifest.json")  # the right records, behind a link
    (outside / "log").write_text("mine\n")
    (out / ".render-journal.rank0.jsonl").symlink_to(outside / "log")
    big = out / "white_lips" / "00000005.png"
    big.unlink()
    with open(big, "wb") as f:
        f.truncate(SPARSE)
    (out / ".render-journal.rank1.jsonl").write_text(json.dumps(
        {"file": "white_lips/00000005.png", "size": SPARSE, "sha256": "0" * 64}) + "\n")

    outcome = _render(out)
    assert outcome.error_type is None, outcome.error_message
    assert outcome.result["written"] == list(range(6))  # no record believed: every image rendered again
    assert outcome.peak_rss_mb < 1200 and outcome.seconds < 90
    assert (outside / "log").read_text() == "mine\n" and (outside / "manifest.json").read_bytes() == real_manifest
    assert not (out / "manifest.json").is_symlink() and json.loads((out / "manifest.json").read_text())["n_files"] == 6
    assert big.stat().st_size < 100_000
    assert not [p for p in out.iterdir() if p.name.startswith(".render-journal")]  # the manifest holds them now


def test_a_sparse_manifest_is_refused_unread(first_run, tmp_path):
    out = _copy_of(first_run, tmp_path)
    with open(out / "manifest.json", "wb") as f:
        f.truncate(SPARSE)
    outcome = _render(out, memory_mb=400)
    assert outcome.error_type is None, outcome.error_message
    assert outcome.result["written"] == list(range(6)) and outcome.seconds < 90


def test_thousands_of_planted_sparse_journals_cannot_stall_a_run(first_run, tmp_path):
    """2,000 journals of 512 MB each (1 TB of zeros): the records are read up to 1 GiB in all, once."""
    out = _copy_of(first_run, tmp_path)
    for rank in range(2000):
        with open(out / f".render-journal.rank{rank}.jsonl", "wb") as f:
            f.truncate(512 * 2**20)
    outcome = _render(out, memory_mb=400)
    assert outcome.error_type is None, outcome.error_message
    assert outcome.result["written"] == []  # the manifest, read first, still vouches for every image
    assert outcome.seconds < 60 and outcome.peak_rss_mb < 1100
    assert not [p for p in out.iterdir() if p.name.startswith(".render-journal")]


def test_an_interrupted_run_resumes_from_its_journal(first_run, tmp_path):
    """No manifest (the run was killed before it), but the journal of what it finished: those files are kept."""
    out = _copy_of(first_run, tmp_path)
    _, files = first_run
    (out / "manifest.json").unlink()
    journal = [json.dumps({"file": f"white_lips/{s:08d}.png", "edit": "white_lips", "seed": s,
                           "size": files[f"white_lips/{s:08d}.png"][0], "sha256": files[f"white_lips/{s:08d}.png"][1],
                           "written": True}) for s in (0, 1, 2)]
    (out / ".render-journal.rank0.jsonl").write_text("\n".join(journal) + "\n" + '{"file": "white_lips/0000')  # cut short
    (out / "white_lips" / "00000001.png").write_bytes(b"x" * files["white_lips/00000001.png"][0])  # right size, wrong bytes
    outcome = _render(out)
    assert outcome.error_type is None, outcome.error_message
    assert outcome.result["written"] == [1, 3, 4, 5]


# ------------------------------------------------------------------------------ bad folders and counts
def test_out_must_be_a_folder_and_never_the_empty_path(dcgan, tmp_path, capsys):
    jobs = [RenderJob("original")]
    with pytest.raises(InvalidInputError, match="--out must name a folder; got ''"):
        render_edits(dcgan, jobs, range(0, 1), "")
    afile = tmp_path / "file"
    afile.write_text("x")
    for out in (afile, afile / "sub"):
        with pytest.raises(FileWriteError, match="is a file") as info:
            render_edits(dcgan, jobs, range(0, 1), out)
        assert isinstance(info.value, OSError) and info.value.path == Path(out)
    assert afile.read_text() == "x"
    with pytest.raises(SystemExit) as info:
        cli.main(["render", "dcgan-digiface", "--edit", "white_lips", "--seeds", "0:2", "--out", ""])
    assert info.value.code == 2 and "argument --out: expected a folder; got ''" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", "manifest.json", "", "x" * 101])
def test_a_job_name_that_is_not_one_plain_folder_name_is_refused(dcgan, tmp_path, name):
    with pytest.raises(InvalidInputError, match="cannot name a folder of images"):
        render_edits(dcgan, [RenderJob(name)], range(0, 1), tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        ("0:1000000000", ResourceLimitError, "asks for 1,000,000,000 seeds; one render makes at most 500,000 images"),
        ("0:1e30", InvalidInputError, "--seeds must be A:B"),
        ("0:" + "9" * 30, InvalidInputError, "--seeds must be A:B"),
        (f"0:{2**63 + 1}", InvalidInputError, "a seed is at most 2\\*\\*63 - 1"),
        ("5:5", InvalidInputError, "--seeds must be A:B"),
        ("-1:3", InvalidInputError, "--seeds must be A:B"),
    ],
)
def test_seed_ranges_are_bounded_before_anything_is_built(text, error, match):
    with pytest.raises(error, match=match):
        parse_seeds(text)


def test_the_largest_seeds_and_range_are_accepted():
    top = 2**63 - 1
    assert parse_seeds(f"{top}:{top + 1}") == range(top, top + 1)
    assert len(parse_seeds(f"0:{MAX_FILES}")) == MAX_FILES


def test_huge_ranges_and_batches_fail_fast_and_small_in_a_bounded_child(tmp_path):
    """The issue's blow-ups, now refused before any list or allocation: 1e9 seeds (MemoryError at
    3.4 GB before), 2**70-long ranges (OverflowError), a batch of 100,000 (torch's allocator)."""
    snippet = f"""
import panda_viz
from panda_viz.commands.render import RenderJob, render_edits
G = panda_viz.load_generator("dcgan-digiface")
seen = []
for seeds, batch in ((range(0, 10**9), 16), (range(0, 2**70), 16), (range(0, 8), 100_000)):
    try:
        render_edits(G, [RenderJob("original")], seeds, {str(tmp_path / "out")!r}, batch_size=batch)
        seen.append(None)
    except Exception as err:
        seen.append([type(err).__name__, str(err)])
RESULT = seen
"""
    outcome = run_bounded(snippet, memory_mb=400, timeout_s=60)
    assert outcome.error_type is None, outcome.error_message
    (e1, m1), (e2, m2), (e3, m3) = outcome.result
    assert e1 == "ResourceLimitError" and "1,000,000,000 seeds × 1 folders" in m1
    assert e2 == "InvalidInputError" and "a seed is at most" in m2
    assert e3 == "InvalidInputError" and "render_edits: batch_size must be an int in [1, 4096]; got 100,000" in m3
    assert outcome.peak_rss_mb < 900 and outcome.seconds < 30
    assert not (tmp_path / "out").exists()


def test_a_batch_past_the_memory_budget_is_refused_with_what_fits(dcgan, tmp_path):
    small = Generator(dcgan.module, dcgan.latent_shape, name=dcgan.name, memory_budget=64 * 2**20)
    fits = small.batch_size_for(None, at_most=4096)
    assert 1 <= fits < 4096
    with pytest.raises(ResourceLimitError, match=rf"{fits + 1:,} images per forward pass do not fit in the generator's "
                                                 rf"memory budget of 0.0625 GiB \(at most {fits:,} do\)"):
        render_edits(small, [RenderJob("original")], range(0, 2), tmp_path / "out", batch_size=fits + 1)
    assert not (tmp_path / "out").exists()
    manifest = render_edits(small, [RenderJob("original")], range(0, 2), tmp_path / "out", progress=False)
    assert manifest["batch_size"] == min(16, fits)
