"""The project installs the way the README says, with one set of pins."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).parents[1]


def _pyproject_deps() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def test_environment_yml_carries_the_same_pins_as_pyproject() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    env_reqs = {str(Requirement(r)) for r in pip_section if not r.startswith("-e")}
    assert env_reqs == {str(Requirement(r)) for r in _pyproject_deps()}
    assert "-e ." in pip_section
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python == "python=3.11"


def test_constraints_satisfy_the_ranges() -> None:
    pins = {}
    for raw in (ROOT / "constraints.txt").read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            req = Requirement(line)
            pins[req.name.lower().replace("_", "-")] = next(iter(req.specifier)).version
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for spec in _pyproject_deps() + extras["dev"]:
        req = Requirement(spec)
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{name} has no pin in constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} not in {req.specifier}"
        )


def test_torch_is_pinned_exactly() -> None:
    assert "torch==2.13.0" in _pyproject_deps()


def test_layout_matches_the_design() -> None:
    for part in ("notebooks", "stockbot", "dashboards", "hub", "tests", "benchmarks", "examples"):
        assert (ROOT / part).is_dir(), part
    for f in (
        "jupyterhub_config.py",
        "environment.yml",
        "pyproject.toml",
        "Makefile",
        "README.md",
        ".ci/run",
    ):
        assert (ROOT / f).is_file(), f


def test_sample_data_ships_with_its_provenance() -> None:
    sample = ROOT / "stockbot" / "data" / "sample"
    for name in ("dow29.csv.gz", "spy.csv.gz", "wiki5.csv.gz", "PROVENANCE.md", "REPAIRS.md"):
        assert (sample / name).is_file(), name
    assert "MIT" in (sample / "PROVENANCE.md").read_text()


def test_library_never_imports_ui_packages() -> None:
    for path in (ROOT / "stockbot").rglob("*.py"):
        text = path.read_text()
        for banned in ("import panel", "import voila", "import jupyterhub", "from panel", "from jupyterhub"):
            assert banned not in text, f"{path} imports a UI package ({banned})"
