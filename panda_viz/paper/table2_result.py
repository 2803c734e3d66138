"""Table 2's result: one row per method and region, written as CSV and Markdown."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..exceptions import InvalidIndexError
from ..fileio.atomic import atomic_path
from ..runtime.figure_folder import figure_destination

__all__ = ["Table2Row", "Table2Result", "NO_STYLE_SPACE"]

#: The note of StyleSpace's row on a generator without a style space (the paper's Table 1
#: marks StyleSpace not architecture-agnostic).
NO_STYLE_SPACE = "n/a: no style space"


@dataclass(frozen=True)
class Table2Row:
    """One method on one region."""

    method: str
    region: str
    candidate: str
    alpha: float
    selection_roir: float
    inside_change: float
    roir_mean: float
    roir_std: float
    n_unchanged: int
    swd: float
    fid: float | None
    note: str = ""

    @property
    def available(self) -> bool:
        """False for a method that cannot run on the generator (its ``note`` says why; its numbers are NaN)."""
        return not self.note


@dataclass
class Table2Result:
    rows: list[Table2Row]
    settings: dict[str, Any]
    seconds: float

    def row(self, method: str, region: str) -> Table2Row:
        for r in self.rows:
            if r.method == method and r.region == region:
                return r
        raise InvalidIndexError(
            f"Table2Result.row: no row for method {method!r} and region {region!r}; rows: "
            + ", ".join(f"({r.method!r}, {r.region!r})" for r in self.rows)
        )

    def to_csv(self) -> str:
        buf = io.StringIO()
        fields = list(Table2Row.__dataclass_fields__)
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for r in self.rows:
            d = asdict(r)
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else ("" if v is None else v)) for k, v in d.items()})
        return buf.getvalue()

    def to_markdown(self) -> str:
        regions = list(dict.fromkeys(r.region for r in self.rows))
        methods = list(dict.fromkeys(r.method for r in self.rows))
        with_fid = any(r.fid is not None for r in self.rows)
        s = self.settings
        lines = [
            f"ROIR (↓, mean ± std over {s['n_eval']} evaluation samples) and SWD (↓, ×10³) of the "
            f"automatically chosen edit per method and region, `{s['generator']}`; in-region RMS "
            f"change matched to {s['target_change']} (images in [−1, 1]).",
            "",
        ]
        metric_names = ["ROIR", "SWD"] + (["FID"] if with_fid else [])
        header = "| method | " + " | ".join(f"{reg} {m}" for reg in regions for m in metric_names) + " |"
        lines += [header, "|" + " --- |" * (1 + len(regions) * len(metric_names))]
        for method in methods:
            cells = []
            for reg in regions:
                r = self.row(method, reg)
                if not r.available:
                    cells += [r.note] + [""] * (len(metric_names) - 1)
                    continue
                cells.append(f"{r.roir_mean:.2f} ± {r.roir_std:.2f}")
                cells.append(f"{r.swd:.2f}")
                if with_fid:
                    cells.append("" if r.fid is None else f"{r.fid:.2f}")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines += ["", "| method | region | chosen edit | α | selection ROIR | in-region change (eval) | unchanged samples |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for r in self.rows:
            if not r.available:
                lines.append(f"| {r.method} | {r.region} | {r.note} | | | | |")
                continue
            lines.append(
                f"| {r.method} | {r.region} | {r.candidate} | {r.alpha:.3g} | {r.selection_roir:.2f} | "
                f"{r.inside_change:.3f} | {r.n_unchanged} |"
            )
        lines += ["", "Settings: " + ", ".join(f"{k}={v}" for k, v in s.items()) + f"; took {self.seconds:.0f} s."]
        return "\n".join(lines) + "\n"

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write ``table2.csv`` and ``table2.md`` into ``out_dir`` atomically; returns their paths.

        When ``out_dir`` is the checkout's ``figures/`` and ``$PANDA_VIZ_FIGURES`` is set,
        they go there instead (:func:`panda_viz.runtime.figure_folder.figure_destination`).
        """
        out = Path(out_dir)
        paths = figure_destination(out / "table2.csv"), figure_destination(out / "table2.md")
        for path, text in zip(paths, (self.to_csv(), self.to_markdown())):
            with atomic_path(path) as tmp:
                tmp.write_text(text, encoding="utf-8")
        return paths
