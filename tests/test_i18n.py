"""attn_ref.i18n: how a message finds its language and its translation."""
import json

import pytest

from attn_ref import i18n
from attn_ref.i18n import language, normalise, notebook_language, set_language, tr


@pytest.fixture(autouse=True)
def automatic_language(monkeypatch, tmp_path):
    """Each test starts with no language chosen, no environment and an empty working folder."""
    monkeypatch.delenv("ATTN_COURSE_LANG", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    set_language(None)
    yield
    set_language(None)


def _notebook(path, lang=None):
    meta = {"attn_course": {"language": lang}} if lang else {}
    path.write_text(json.dumps({"cells": [], "metadata": meta, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_exact_messages_and_templates_translate_field_by_field():
    assert tr("apply the ReLU between the two layers.", "zh-CN") == "在两层之间加 ReLU。"
    line = ("  case 2/6 (x of shape (1, 1, 1, 1), float64): 3 of 4 values differ; the largest "
            "difference, 1.5, is at batch 0, channel 1 (got 2, expected 0.5)")
    assert tr(line, "zh-CN") == ("  用例 2/6（形状为 (1, 1, 1, 1) 的 x，float64）：4 个值中有 3 个不同；"
                                 "最大差值 1.5 位于批内第 0 个样本、第 1 个通道（实际 2，期望 0.5）")
    # a hint inside a line is translated too; each line of a text on its own
    text = "✘ squeeze(x): 1 of 6 hidden cases failed.\n    hint: these are sums over H x W; divide by H * W."
    assert tr(text, "zh-CN") == ("✘ squeeze(x)：6 个隐藏用例中 1 个未通过。\n"
                                 "    提示：这是 H x W 上的总和；还要除以 H * W。")


def test_unknown_text_and_english_stay_as_they_are():
    assert tr("something the catalogue does not know", "zh-CN") == "something the catalogue does not know"
    assert tr("hint: not in the catalogue either", "zh-CN") == "提示：not in the catalogue either"
    assert tr("apply the ReLU between the two layers.", "en") == "apply the ReLU between the two layers."
    assert tr("apply the ReLU between the two layers.") == "apply the ReLU between the two layers."
    assert tr("", "zh-CN") == ""


def test_language_tags_are_normalised_and_unknown_ones_refused():
    assert normalise("zh_CN.UTF-8") == normalise("zh") == normalise("ZH-cn") == "zh-CN"
    assert normalise(None) == normalise("en_US") == "en"
    with pytest.raises(ValueError, match="no edition in 'fr'"):
        normalise("fr")
    with pytest.raises(ValueError):
        set_language("klingon")


def test_the_language_comes_from_the_choice_the_environment_or_the_notebook(monkeypatch, tmp_path):
    assert language() == "en"
    nb = _notebook(tmp_path / "se.ipynb", "zh-CN")
    set_language(None)                   # the working folder holds one Chinese notebook
    assert language() == "zh-CN"
    monkeypatch.setenv("JPY_SESSION_NAME", str(_notebook(tmp_path / "other.ipynb")))
    set_language(None)                   # the notebook Jupyter names comes first
    assert language() == "en"
    monkeypatch.setenv("ATTN_COURSE_LANG", "zh-CN")
    set_language(None)                   # then the environment
    assert language() == "zh-CN"
    assert set_language("en") == "en" == language()     # and an explicit choice over all
    assert notebook_language(nb) == "zh-CN"
    assert notebook_language({"metadata": {"attn_course": {"language": "fr"}}}) == "en"


def test_notebooks_in_the_folder_that_disagree_decide_nothing(tmp_path):
    _notebook(tmp_path / "a.ipynb", "zh-CN")
    _notebook(tmp_path / "b.ipynb")
    set_language(None)
    assert language() == "en"


def test_the_glossary_is_read():
    rows = i18n.glossary()
    assert {"en": "channel attention", "zh": "通道注意力", "first": True} == \
        {k: v for k, v in rows[1].items() if k != "note"}
    assert len({r["en"].lower() for r in rows}) == len(rows)        # each term once
    assert all(r["zh"] and r["zh"] != r["en"] for r in rows)


def test_the_dtype_test_speaks_the_learners_language(capsys):
    """expect_dtype (ECA's gate, the reachability matrix) passes and fails in Chinese too."""
    import torch

    from attn_ref.grading.visible import expect_dtype

    set_language("zh-CN")
    expect_dtype(torch.zeros(2), torch.float32, "s")
    assert capsys.readouterr().out.strip() == "通过：s 的数据类型为 torch.float32"
    with pytest.raises(AssertionError) as failed:
        expect_dtype(torch.zeros(2, dtype=torch.float64), torch.float32, "s", "cast the weight")
    assert "期望数据类型为 torch.float32，实际为 torch.float64" in str(failed.value)
    with pytest.raises(AssertionError) as failed:
        expect_dtype([0.0], torch.float32, "s")
    assert "期望数据类型为 torch.float32 的张量，实际得到 list" in str(failed.value)


def test_the_hidden_checks_line_in_the_kernel_speaks_the_notebooks_language(capsys):
    """grade() run by an instructor on a Chinese solution (or nbval): its line and its failure
    in Chinese, as the grader's feedback would say them."""
    from attn_ref.grading import grade

    set_language("zh-CN")
    grade("se.squeeze", lambda x: x.mean(dim=(2, 3)), namespace={})
    assert capsys.readouterr().out.startswith("隐藏检查：squeeze(x)：全部")
    with pytest.raises(AssertionError) as failed:
        grade("se.squeeze", lambda x: x.sum(dim=(2, 3)), namespace={})
    assert "个隐藏用例中" in str(failed.value) and "hidden cases" not in str(failed.value)
