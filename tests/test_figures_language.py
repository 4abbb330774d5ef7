"""Figures in the learner's language (attn_ref.i18n.figures): a Chinese notebook's figures are
drawn with their texts from the catalogue and a font with Chinese glyphs; an English notebook's
are left exactly as the code drew them; without such a font, English, said once."""
import json
import warnings

import matplotlib
import nbformat
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from attn_ref.i18n import figures, set_language, tr  # noqa: E402

TITLE, LABEL, LINE = ("astronaut: Gabor feature maps X", "astronaut",
                      "random weights: gate s per Gabor channel")


@pytest.fixture(autouse=True)
def english_afterwards():
    yield
    set_language(None)
    plt.close("all")


def _figure():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label=LINE)
    ax.set_title(TITLE)
    ax.set_xlabel(LABEL)
    ax.set_xticks([0, 1], ["brick", "grass"])
    ax.legend()
    return fig


def _texts(fig):
    return [t for t in fig.findobj(Text) if t.get_text()]


def test_the_catalogue_has_the_texts_used_here():
    for text in (TITLE, LABEL, LINE, "brick", "grass"):
        assert tr(text, "zh-CN") != text, text


def test_a_chinese_figure_is_translated_and_drawn_with_the_chinese_font():
    assert figures.font_path() and figures.font_path().endswith("NotoSansCJKsc-Regular.otf")
    family = figures.cjk_family()
    assert family == "Noto Sans CJK SC"
    fig = _figure()
    assert figures.translate(fig, "zh-CN")
    fig.canvas.draw()                                    # tick labels drawn from the formatter
    said = {t.get_text() for t in _texts(fig)}
    assert {tr(TITLE, "zh-CN"), tr(LABEL, "zh-CN"), tr(LINE, "zh-CN"), "砖墙", "草地"} <= said
    assert not said & {TITLE, LABEL, LINE, "brick", "grass"}
    assert all(t.get_fontfamily()[-1] == family for t in _texts(fig))
    with warnings.catch_warnings(record=True) as seen:   # a glyph no font has: a box, and this
        warnings.simplefilter("always")
        fig.savefig(__import__("io").BytesIO(), format="png")
    assert not [w for w in seen if "missing from font" in str(w.message)]
    before = [(t.get_text(), tuple(t.get_fontfamily())) for t in _texts(fig)]
    figures.translate(fig, "zh-CN")                      # a second time changes nothing
    assert [(t.get_text(), tuple(t.get_fontfamily())) for t in _texts(fig)] == before


def test_an_english_figure_is_left_as_it_was():
    fig = _figure()
    before = [(t.get_text(), tuple(t.get_fontfamily())) for t in _texts(fig)]
    assert not figures.translate(fig, "en")
    set_language("en")
    assert not figures.translate(fig)
    assert [(t.get_text(), tuple(t.get_fontfamily())) for t in _texts(fig)] == before


def test_without_a_chinese_font_figures_stay_english_and_say_so_once(monkeypatch, capsys):
    monkeypatch.setattr(figures, "_family", [])
    monkeypatch.setattr(figures, "_told", False)
    monkeypatch.setattr(figures, "font_path", lambda: None)
    monkeypatch.setattr(figures, "SYSTEM_FAMILIES", ())
    first, second = _figure(), _figure()
    before = [(t.get_text(), tuple(t.get_fontfamily())) for t in _texts(first)]
    assert not figures.translate(first, "zh-CN") and not figures.translate(second, "zh-CN")
    assert [(t.get_text(), tuple(t.get_fontfamily())) for t in _texts(first)] == before
    err = capsys.readouterr().err
    assert err.count(tr(figures.NO_FONT, "zh-CN")) == 1 and "mplfonts" in err, err


# --- in a notebook's kernel ------------------------------------------------------------------
CELLS = [
    # a chapter's first cell imports the course's grading helpers: that sets up the translation
    "import matplotlib.pyplot as plt\nimport attn_ref.grading",
    # a figure a code cell draws itself, shown by plt.show()
    f"fig, ax = plt.subplots(figsize=(3, 2))\nax.plot([0, 1], [0, 1], label={LINE!r})\n"
    f"ax.set_title({TITLE!r}); ax.set_xlabel({LABEL!r}); ax.legend()\nplt.show()",
    # one left for matplotlib_inline to show after the cell, drawn by attn_ref.plots
    "import numpy as np\nfrom attn_ref.plots import plot_gates\n"
    "ax2 = plot_gates({'astronaut': np.full(3, 0.6), 'brick': np.full(3, 0.3)}, ['a', 'b', 'c'],"
    " title='random weights: gate s per Gabor channel')\nfig2 = ax2.figure",
    "import json, warnings\nfrom matplotlib.text import Text\nout = []\nfor f in (fig, fig2):\n"
    "    with warnings.catch_warnings(record=True) as seen:\n"
    "        warnings.simplefilter('always')\n        f.canvas.draw()\n"
    "    texts = [t for t in f.findobj(Text) if t.get_text()]\n"
    "    out.append({'texts': [t.get_text() for t in texts],\n"
    "                'families': sorted({tuple(t.get_fontfamily()) for t in texts}),\n"
    "                'missing': [str(w.message) for w in seen if 'missing from font' in str(w.message)]})\n"
    "print(json.dumps(out, ensure_ascii=False))",
]


def _run(tmp_path, monkeypatch, lang):
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if lang != "en":
        nb.metadata["attn_course"] = {"language": lang}
    path = tmp_path / "figures.ipynb"
    nbformat.write(nb, path)
    monkeypatch.delenv("ATTN_COURSE_LANG", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.setenv("JPY_SESSION_NAME", str(path))
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    pngs = [o["data"]["image/png"] for c in nb.cells for o in c.outputs
            if o.get("output_type") == "display_data" and "image/png" in o.get("data", {})]
    errors = [o.get("text", "") for c in nb.cells for o in c.outputs if o.get("name") == "stderr"]
    report = json.loads(nb.cells[-1].outputs[-1]["text"])
    return pngs, errors, report


@pytest.mark.slow
def test_a_chinese_notebooks_figures_are_in_chinese_and_an_english_ones_unchanged(tmp_path,
                                                                                  monkeypatch):
    (tmp_path / "zh").mkdir()
    (tmp_path / "en").mkdir()
    zh_png, zh_err, zh = _run(tmp_path / "zh", monkeypatch, "zh-CN")
    en_png, en_err, en = _run(tmp_path / "en", monkeypatch, "en")
    assert len(zh_png) == len(en_png) == 2, (zh_err, en_err)     # both figures shown in both
    assert not zh_err and not en_err, (zh_err, en_err)     # no glyph missing while they were drawn
    # English: the texts as the code wrote them, in matplotlib's own font
    assert {TITLE, LABEL, LINE, "astronaut", "brick"} <= set(en[0]["texts"] + en[1]["texts"])
    assert en[0]["families"] == en[1]["families"] == [["sans-serif"]]
    # Chinese: the same cells' texts from the catalogue, the Chinese font after matplotlib's own
    for english, chinese in zip(en, zh):
        assert [tr(t, "zh-CN") for t in english["texts"]] == chinese["texts"]
        assert chinese["families"] == [["sans-serif", "Noto Sans CJK SC"]]
        assert not chinese["missing"], chinese["missing"]
    assert {"宇航员：Gabor 特征图 X", "宇航员", "随机权重：每个 Gabor 通道的门控 s", "砖墙"} <= \
        set(zh[0]["texts"] + zh[1]["texts"])
    assert zh_png != en_png


def test_describe_gates_speaks_the_learners_language():
    """describe_gates' lines (printed beside the gate plots) come from the catalogue's template
    in Chinese, the image names and "none" translated, the channel labels and values as they
    are; in English they are as before."""
    from attn_ref.plots import describe_gates

    gates = {"brick": [0.9, 0.3, 0.6, 0.2], "grass": [0.4, 0.4, 0.4, 0.4]}
    labels = ["λ=4, θ=0°", "λ=4, θ=90°", "λ=8, θ=0°", "λ=8, θ=90°"]
    set_language("zh-CN")
    assert describe_gates(gates, labels, top=2) == [
        "砖墙：门控最大的是 λ=4, θ=0° (0.90), λ=8, θ=0° (0.60) | 高于 ½ 的 —— λ=4: θ=0°; λ=8: θ=0°",
        "草地：门控最大的是 λ=4, θ=0° (0.40), λ=4, θ=90° (0.40) | 高于 ½ 的 —— λ=4: 无; λ=8: 无"]
    set_language("en")
    assert describe_gates(gates, labels, top=2)[1] == (
        "grass: largest λ=4, θ=0° (0.40), λ=4, θ=90° (0.40) | above ½ — λ=4: none; λ=8: none")
