"""The Makefile's pins (requirements.txt) and environment.yml must never disagree."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _pins(lines):
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*==\s*([^\s;]+)", line)
        assert m, f"not an exact pin: {line!r}"
        pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def test_requirements_and_environment_agree():
    req = _pins((ROOT / "requirements.txt").read_text().splitlines())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = [d for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_section) == 1, "environment.yml needs exactly one pip: section"
    conda = _pins(pip_section[0]["pip"])
    assert req == conda, (f"only in requirements.txt: {sorted(set(req.items()) - set(conda.items()))}; "
                          f"only in environment.yml: {sorted(set(conda.items()) - set(req.items()))}")


def test_torch_is_pinned_to_the_cpu_build_on_disk():
    # a looser requirement pulls a multi-GB CUDA build; see site/teach/dependencies.md
    assert _pins((ROOT / "requirements.txt").read_text().splitlines())["torch"] == "2.13.0"


def test_installed_versions_match_the_pins():
    from importlib.metadata import version

    for name, pinned in _pins((ROOT / "requirements.txt").read_text().splitlines()).items():
        assert version(name).split("+")[0] == pinned, f"{name}: installed {version(name)}, pinned {pinned}"
