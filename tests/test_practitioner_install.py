"""The practitioner distribution (packaging/attn-ref) installs and runs on its own: a wheel built
from this checkout goes into a fresh virtual environment that holds torch and numpy only (the
pinned versions, from the same package mirrors as ``make venv``), and every module kind imports,
builds and runs there, with none of the course's packages (Jupyter, nbgrader, matplotlib)
installed and the course-only modules absent from the wheel."""
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow

# run inside the fresh environment, from a folder outside the checkout (python -I: neither the
# current folder nor PYTHONPATH is on sys.path, so only the installed attn_ref can be imported)
SCRIPT = textwrap.dedent('''
    import sys
    import torch
    import attn_ref
    from attn_ref import kinds, models, reference

    assert "site-packages" in attn_ref.__file__, attn_ref.__file__
    torch.manual_seed(0)
    x = torch.randn(2, 32, 9, 7)
    for name in kinds.names():
        m = kinds.build(name, 32).eval()
        with torch.no_grad():
            y = m(x)
        assert y.shape == x.shape and bool(torch.isfinite(y).all()), name
        # the channel argument taken from the previous layer of a network
        net = models.Bottleneck(16, 8, attention=models.make_attention(name, 32)).eval()
        with torch.no_grad():
            assert net(torch.randn(1, 16, 9, 7)).shape == (1, 32, 9, 7), name
        print("ran", name)
    # a published layout loads (the official CoordAtt's keys are ours)
    ca = attn_ref.CoordinateAttention(32)
    attn_ref.load_official_state_dict(ca, attn_ref.CoordinateAttention(32).state_dict())
    with reference.reference_mode(), torch.no_grad():
        ca(x)
    for course_only in ("plots", "grading", "profiling", "data"):
        try:
            getattr(attn_ref, course_only)
        except ModuleNotFoundError as e:
            assert "course" in str(e), e
        else:
            raise AssertionError(f"attn_ref.{course_only} is in the practitioner install")
    assert "matplotlib" not in sys.modules
    print("practitioner install OK")
''')


def _pins():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line.split("#", 1)[0].strip())
        if m:
            pins[m.group(1).lower()] = m.group(2)
    return pins


def run(cmd, **kw):
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert out.returncode == 0, f"{cmd}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


def test_wheel_installs_and_runs_with_torch_and_numpy_only(tmp_path):
    # the distribution's folder and the package source, in their layout, outside the checkout
    # (a build in place writes build/ and egg-info folders)
    src = tmp_path / "src"
    shutil.copytree(ROOT / "packaging" / "attn-ref", src / "packaging" / "attn-ref")
    shutil.copytree(ROOT / "attn_ref", src / "attn_ref",
                    ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path / "dist"
    # the project environment's setuptools where it has one (no index needed), else pip's
    # isolated build, which installs setuptools from the index
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-w", dist,
         src / "packaging" / "attn-ref"])
    (wheel,) = dist.glob("attn_ref-*.whl")
    files = set(zipfile.ZipFile(wheel).namelist())
    assert "attn_ref/coord.py" in files and "attn_ref/csrc/fused_cpu.cpp" in files
    course_only = {f for f in files if re.match(r"attn_ref/(grading/|plots|data|profiling)", f)}
    assert not course_only, course_only

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv])
    py = venv / "bin" / "python"
    pins = _pins()
    run([py, "-m", "pip", "install", "--quiet", f"torch=={pins['torch']}",
         f"numpy=={pins['numpy']}"])
    run([py, "-m", "pip", "install", "--quiet", wheel])      # with its dependencies: present
    installed = {p["name"].lower() for p in
                 json.loads(run([py, "-m", "pip", "list", "--format=json"]))}
    assert {"attn-ref", "torch", "numpy"} <= installed, installed
    course = {"jupyterlab", "notebook", "nbgrader", "nbformat", "nbclient", "ipykernel",
              "jupyter-client", "matplotlib", "onnx", "onnxruntime", "pytest"}
    assert not installed & course, installed & course
    out = run([py, "-I", "-c", SCRIPT], cwd=tmp_path)
    assert "practitioner install OK" in out, out
    assert out.count("ran ") == 6, out
