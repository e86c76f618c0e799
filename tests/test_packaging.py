"""pyproject.toml is the one list of dependencies; environment.yml mirrors it."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DESIGN_CARD = {"jupyterlab", "ipywidgets", "ccxt", "pandas", "numpy", "hvplot", "streamz", "panel",
               "nbval"}


def _split(req: str) -> tuple[str, str]:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$", req)
    return match.group(1).lower().replace("_", "-"), match.group(3).replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + list(project["optional-dependencies"]["test"])
    return dict(_split(r) for r in reqs)


def conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    reqs = [d for d in env["dependencies"] if isinstance(d, str) and _split(d)[0] not in ("python", "pip")]
    pip = [d for d in env["dependencies"] if isinstance(d, dict)]
    assert pip == [{"pip": ["-e ."]}], "environment.yml installs the project itself with pip"
    return dict(_split(r) for r in reqs)


def test_environment_yml_mirrors_pyproject():
    assert conda_requirements() == pyproject_requirements()


def test_design_card_packages_are_dependencies_with_lower_bounds():
    reqs = pyproject_requirements()
    assert DESIGN_CARD <= set(reqs)
    assert all(spec.startswith(">=") for spec in reqs.values())


def test_python_version_and_console_script():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    assert project["scripts"]["jarvis"] == "jarvis_helpers.cli:main"
