"""README tables equal what ``benchmarks/tables.py`` renders from the committed benchmark JSON."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _load_tables():
    spec = importlib.util.spec_from_file_location("bench_tables", REPO / "benchmarks" / "tables.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


tables = _load_tables()
README = (REPO / "README.md").read_text(encoding="utf-8")
BLOCKS = {m["name"]: m for m in tables.BLOCK.finditer(README)}


def test_every_table_has_its_block_and_json():
    assert set(tables.REGISTRY) <= set(BLOCKS), "run `python benchmarks/tables.py` after adding one"
    assert set(BLOCKS) <= set(tables.REGISTRY), "a README block names no table in tables.py"
    assert len(BLOCKS) == len(list(tables.BLOCK.finditer(README))), "a table marked twice"
    for files, _ in tables.REGISTRY.values():
        for f in files:
            assert (REPO / tables.RESULTS / f).is_file(), f


@pytest.mark.parametrize("name", sorted(tables.REGISTRY))
def test_readme_block_equals_its_json(name):
    block = BLOCKS.get(name)
    assert block is not None, f"README.md has no block for {name}"
    assert block[0] == tables.render(name), (
        f"README.md table {name!r} differs from {tables.REGISTRY[name][0]}: "
        "run `python benchmarks/tables.py` (the JSON wins)"
    )


def test_check_mode_agrees(capsys):
    assert tables.main(["--check"]) == 0, capsys.readouterr()


def test_check_reports_a_changed_figure_and_writes_nothing(tmp_path, capsys):
    readme = tmp_path / "README.md"
    text = README.replace("| 14,256 |", "| 14,257 |", 1)
    assert text != README
    readme.write_text(text, encoding="utf-8")
    assert tables.main(["--check", "--readme", str(readme)]) == 1
    assert "pilot-zone" in capsys.readouterr().out
    assert readme.read_text(encoding="utf-8") == text
    assert tables.main(["--readme", str(readme)]) == 0
    assert readme.read_text(encoding="utf-8") == README


def test_rewrite_touches_only_the_blocks():
    text = "intro 14,257\n" + README.replace("| 14,256 |", "| 14,257 |", 1) + "\nend\n"
    new, changed, problems = tables.update(text)
    assert changed == ["pilot-zone"] and problems == []
    assert new == "intro 14,257\n" + README + "\nend\n"


def test_missing_block_is_a_problem():
    _, _, problems = tables.update("no tables here\n")
    assert len(problems) == len(tables.REGISTRY)


@pytest.mark.parametrize("name", sorted(tables.REGISTRY))
def test_empty_json_prints_na_not_numbers(name, tmp_path):
    files, fn = tables.REGISTRY[name]
    for f in files:
        (tmp_path / tables.RESULTS).mkdir(parents=True, exist_ok=True)
        (tmp_path / tables.RESULTS / f).write_text("{}\n", encoding="utf-8")
    out = fn(tables.load(files, tmp_path))
    full = fn(tables.load(files))
    # realnets, resco-rl, adaptive-resco: no networks, no rows; adaptive-sweep: no points
    assert tables.NA in out or name in ("realnets", "resco-rl", "adaptive-resco", "adaptive-sweep")
    assert out.count("|") <= full.count("|")


def test_a_missing_field_prints_na():
    data = json.loads((REPO / tables.RESULTS / "hotpath.json").read_text())
    data["speedup_vs_meso"] = 63.4
    assert "**63x**" in tables.table_hotpath(data)
    del data["speedup_vs_meso"]
    assert "**n/a**" in tables.table_hotpath(data)


@pytest.mark.parametrize(
    "value, kind, unit, out",
    [
        (42.25, "s", " s", "42.3 s"),  # half up on the number as written, not on its binary float
        (2009.67, "count", "", "2,010"),
        (0.0475, "rate", "", "0.048"),
        (3.012, "rate", "", "3.0"),
        (0.007000000000000001, "pct", " %", "0.007 %"),  # nonzero keeps one significant figure
        (0.0, "s", "", "0.0"),
        (-0.04, "s", "", "-0.04"),
        (349.9, "x", "x", "350x"),
        (None, "s", " s", "n/a"),
        (float("nan"), "s", " s", "n/a"),
        (True, "count", "", "n/a"),
        ("12", "count", "", "n/a"),
    ],
)
def test_fmt(value, kind, unit, out):
    assert tables.fmt(value, kind, unit) == out


def _load_figures():
    spec = importlib.util.spec_from_file_location(
        "bench_figures", REPO / "benchmarks" / "figures.py"
    )
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_readme_figures_are_drawn_from_their_json(tmp_path):
    """Every figure exists, the README shows it, and it is redrawn from the committed JSON."""
    import shutil

    figures = _load_figures()
    for png, (src, _) in figures.FIGURES.items():
        assert (REPO / tables.RESULTS / png).is_file(), png
        assert f"benchmarks/results/{png}" in README, f"README.md does not show {png}"
        shutil.copy(REPO / tables.RESULTS / src, tmp_path / src)
    assert figures.main(["--root", str(tmp_path)]) == 0
    for png in figures.FIGURES:
        assert (tmp_path / png).stat().st_size > 10_000  # a drawn figure, not an empty file
