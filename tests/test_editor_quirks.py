"""A notebook that opens in Jupyter is graded: the editors' quirks of attn_grade.edits (found in
public bug reports) are repaired as Jupyter opens a notebook, and each such notebook passes
preflight, reads in nbgrader and renders in nbconvert's HTML export (what feedback uses)."""
import json
from pathlib import Path

import nbformat
import pytest

from attn_grade import edits, engine, pipeline

ROOT = Path(__file__).resolve().parent.parent
QUIRKS = ["vscode", "colab_widgets", "no_outputs_keys", "duplicate_ids", "extra_cell_key",
          "colab", "nbformat_minor"]


def _correct(assignment="01_se", name="se.ipynb"):
    nb = nbformat.read(ROOT / "course" / assignment / name, as_version=4)
    answers = pipeline.correct_answers(ROOT / "solutions" / assignment / name)
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    return nb


def _with(quirk):
    nb = _correct()
    edits.apply(nb, [[quirk, 4]] if quirk == "nbformat_minor" else [[quirk]])
    return edits.dumps(nb).encode()


def _strictly_valid(data: bytes) -> bool:
    try:
        nbformat.validate(json.loads(data))
        return True
    except nbformat.ValidationError:
        return False


@pytest.mark.parametrize("quirk", ["vscode", "no_outputs_keys", "extra_cell_key"])
def test_the_quirks_fail_nbformats_strict_check(quirk):
    """What the grader refused before: the strict schema check rejects each of these files."""
    assert not _strictly_valid(_with(quirk))


def test_colabs_widget_state_breaks_nbconverts_html_export_until_repaired():
    from nbconvert import HTMLExporter

    data = _with("colab_widgets")
    with pytest.raises(KeyError, match="state"):
        HTMLExporter().from_notebook_node(nbformat.reads(data.decode(), as_version=4))
    nb, repairs = engine.as_jupyter_opens(data)
    assert any("widget" in r for r in repairs)
    assert "<html" in HTMLExporter().from_notebook_node(nb)[0]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return engine.release_bundle(ROOT, "01_se", tmp_path_factory.mktemp("cache"))


@pytest.mark.parametrize("quirk", QUIRKS)
def test_a_notebook_with_an_editors_quirk_passes_preflight_valid(quirk, bundle):
    info = []
    ok, notes = engine.preflight(engine.Task("s", "01_se", {"se.ipynb": _with(quirk)}, bundle),
                                 info)
    assert list(ok) == ["se.ipynb"] and notes == [], notes
    repaired = quirk not in ("colab", "nbformat_minor")      # those two are valid nbformat
    assert len(info) == int(repaired) and all("read as Jupyter opens it" in i for i in info)
    assert _strictly_valid(ok["se.ipynb"]), quirk
    got = nbformat.reads(ok["se.ipynb"].decode(), as_version=4)
    want = _correct()
    assert [c.source for c in got.cells] == [c.source for c in want.cells]
    assert [c.get("metadata", {}).get("nbgrader") for c in got.cells] == \
        [c.get("metadata", {}).get("nbgrader") for c in want.cells] or quirk == "colab"


def test_what_jupyter_cannot_open_is_still_refused_with_its_reason():
    for data, why in ((b"{not json", "NotJSONError"), (b'{"cells": 3}', None),
                      ("é".encode("latin-1"), "UnicodeDecodeError")):
        with pytest.raises(ValueError, match=why):
            engine.as_jupyter_opens(data)


def test_a_valid_notebook_needs_no_repair():
    nb, repairs = engine.as_jupyter_opens(edits.dumps(_correct()).encode())
    assert repairs == []


def test_the_failed_nbgrader_command_is_read_from_its_log():
    from attn_grade.nbgrader_run import FAILED

    assert engine.failed_command(f"x\n[Error] y\n{FAILED}generate_feedback\n") == \
        "generate_feedback"
    assert engine.failed_command("Traceback ...\nMemoryError\n") == "?"


def test_every_quirk_has_a_sample_learner_graded_in_full():
    full = {"test_squeeze": 2, "test_excitation": 3, "test_se_module": 3, "test_param_count": 2}
    samples = pipeline.expected_samples()
    for quirk in QUIRKS:
        have = [s for s, spec in samples.items()
                if any(e[0] == quirk for e in spec.get("edits", {}).get("01_se", []))]
        assert have and all(samples[s]["scores"]["01_se"] == full for s in have), quirk


def test_the_coordinator_drops_outputs_and_leaves_the_quirks_for_preflight():
    data = _with("colab_widgets")
    shipped = json.loads(engine.without_outputs(data))
    assert all(not c.get("outputs") for c in shipped["cells"])
    assert "state" not in shipped["metadata"]["widgets"][
        "application/vnd.jupyter.widget-state+json"]
    assert engine.without_outputs(b"{not json") == b"{not json"


@pytest.mark.slow
def test_a_feedback_that_cannot_be_rendered_leaves_the_score_standing(bundle):
    """generate_feedback fails (here: a feedback preprocessor that does not exist): the
    submission is still graded, with its full score and a note saying so."""
    broken = dict(bundle)
    broken["nbgrader_config.py"] = bundle["nbgrader_config.py"] + \
        b"\nc.GenerateFeedback.preprocessors = ['no_such_module.NoSuchPreprocessor']\n"
    res = engine.grade_one(engine.Task("s", "01_se", {"se.ipynb": _with("vscode")}, broken))
    assert res.graded, res.notes
    assert sum(a for cells in res.scores.values() for a, _ in cells.values()) == 10
    assert any("feedback could not be rendered" in n for n in res.notes), res.notes
    assert not any(k.startswith("feedback/") for k in res.files)
    assert any("read as Jupyter opens it" in i for i in res.info)


def test_the_gradebook_holds_zero_for_a_submission_that_was_not_graded(bundle, tmp_path):
    """The table and grades.csv give a submission not graded zero; so does the gradebook, even
    where nbgrader left scores before it failed."""
    from nbgrader.api import Gradebook

    db = tmp_path / "gradebook.db"
    db.write_bytes(bundle["autograde/gradebook.db"])
    url = "sqlite:///" + str(db)
    for graded, want in ((False, 0.0), (True, 2.0)):
        res = engine.Result("s", "01_se", graded=graded,
                            scores={"se": {"test_squeeze": (2.0, 2.0)}})
        engine.merge(res, url, tmp_path / "out")
        with Gradebook(url) as gb:
            grade = gb.find_grade("test_squeeze", "se", "01_se", "s")
            assert grade.auto_score == want, graded
