"""The editions of a chapter in other languages are kept in step with the English one.

An edition (attn_grade.editions) is solutions/<lang>/<assignment>/<name>.ipynb beside the English
solutions/<assignment>/<name>.ipynb. Both are released, handed in and graded as the same
assignment, so they must agree in everything but words. Each test names the cell that differs.

* structure: the same cells, in order, of the same types, ids, nbgrader metadata (grade ids,
  points, locks) and tags;
* code: the course's own code cells (set-up, read-only, test) byte for byte — the grader restores
  them from the one gradebook, whichever edition comes in, and anything else would be taken for
  the learner's typing; the answer cells (nbgrader's solution cells) the same code, with only
  their strings (docstrings) and comments in the edition's language;
* maths and numbers: the same display equations ($$ ... $$, with their \\tag numbers), the same
  headings, and the same numbers in each markdown cell;
* language: every markdown cell of an edition is written in it, the glossary's terms are used
  (attn_ref/i18n/glossary.zh-CN.md), and every message the chapter's code shows a learner — the
  visible tests' names and hints, the hidden checks' titles, hints and case labels — is in the
  catalogue (attn_ref/i18n/zh-CN.json);
* release: the edition's release holds no solution and the English release no edition.

A chapter without an edition yet is reported as skipped ("not translated yet"), so what remains of
a translation shows in every test run.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat
import pytest

from attn_grade.editions import EDITIONS, edition_assignments
from attn_ref.i18n import METADATA_KEY, catalogue, glossary, notebook_language, tr

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS, COURSE = ROOT / "solutions", ROOT / "course"
ENGLISH = sorted(SOLUTIONS.glob("*/*.ipynb"))
CJK = re.compile(r"[\u4e00-\u9fff]")

# Numbers a cell may legitimately write differently in an edition: {(lang, assignment, cell id):
# {"en": {...}, "zh": {...}, "why": "..."}}. Empty so far.
NUMBERS_WRITTEN_DIFFERENTLY: dict = {}

PAIRS = [pytest.param(lang, nb, marks=[] if (SOLUTIONS / lang / nb.parent.name / nb.name).exists()
                      else pytest.mark.skip(reason=f"{nb.parent.name} not translated into "
                                                   f"{lang} yet"),
                      id=f"{lang}-{nb.parent.name}")
         for lang in EDITIONS for nb in ENGLISH]


def _rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


def _edition(lang: str, english: Path) -> Path:
    return SOLUTIONS / lang / english.parent.name / english.name


def _name(i: int, cell) -> str:
    gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"cell {i} ({cell.cell_type}{', ' + repr(gid) if gid else ''}, id {cell.get('id')})"


def _pairs(lang: str, english: Path):
    a = nbformat.read(english, as_version=4)
    b = nbformat.read(_edition(lang, english), as_version=4)
    return a, b


# --- code: the same program, strings and comments aside ---------------------------------------
def _code_shape(source: str) -> str:
    """The program of a code cell with every string constant emptied and comments gone (IPython
    magics and shell lines kept as they are), plus nbgrader's marker lines in order."""
    lines, markers = [], []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith(("%", "!")):
            markers.append(stripped)
            lines.append("")
            continue
        if stripped.startswith("###"):
            markers.append(stripped)
        lines.append(line)
    tree = ast.parse("\n".join(lines))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = ""
        if isinstance(node, ast.JoinedStr):
            node.values = [v for v in node.values if not isinstance(v, ast.Constant)]
    return ast.dump(tree) + "\n" + "\n".join(markers)


def test_code_shape_ignores_words_only():
    en = 'def f(x):\n    """Mean."""\n    ### BEGIN SOLUTION\n    return x.mean(2)  # over H\n    ### END SOLUTION\n'
    zh = 'def f(x):\n    """均值。"""\n    ### BEGIN SOLUTION\n    return x.mean(2)  # 在 H 上\n    ### END SOLUTION\n'
    assert _code_shape(en) == _code_shape(zh)
    assert _code_shape(en) != _code_shape(en.replace("mean(2)", "mean(3)"))
    assert _code_shape(en) != _code_shape(en.replace("    ### END SOLUTION\n", ""))


# --- markdown: equations, headings, numbers ---------------------------------------------------
DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
TAG = re.compile(r"\\tag\{([^}]*)\}")
NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")


def _equations(md: str) -> list[str]:
    return [" ".join(e.split()) for e in DISPLAY.findall(md)]


def _headings(md: str) -> list[str]:
    """Each heading's level and its section number ("## 2.1 ..." -> "## 2.1")."""
    out = []
    for line in md.splitlines():
        m = re.match(r"(#{1,6})\s+(\d+(?:\.\d+)*\.?)?", line)
        if m:
            out.append(f"{m.group(1)} {m.group(2) or ''}".strip())
    return out


def _numbers(md: str) -> set[str]:
    return set(NUMBER.findall(md))


def test_markdown_helpers_see_what_differs():
    en = "## 2.1 Squeeze\n\nFrom 7.48 % to 6.62 %; 25,557,032 weights.\n\n$$ z = 1 \\tag{1}$$"
    assert _numbers(en) == {"2.1", "7.48", "6.62", "25,557,032", "1"}
    assert _equations(en) == ["z = 1 \\tag{1}"]
    assert _headings(en) == ["## 2.1"]
    assert _numbers(en.replace("6.62", "6.26")) != _numbers(en)


# --- the tests --------------------------------------------------------------------------------
@pytest.mark.parametrize("lang,english", PAIRS)
def test_same_cells_and_metadata(lang, english):
    a, b = _pairs(lang, english)
    edition = _rel(_edition(lang, english))
    assert len(a.cells) == len(b.cells), (
        f"{edition} has {len(b.cells)} cells, {_rel(english)} {len(a.cells)}: an edition has the "
        "same cells as the English notebook")
    problems = []
    for i, (x, y) in enumerate(zip(a.cells, b.cells)):
        if x.cell_type != y.cell_type or x.get("id") != y.get("id"):
            problems.append(f"{_name(i, y)}: English has {_name(i, x)}")
            continue
        for key in ("nbgrader", "editable", "deletable", "tags"):
            if x.metadata.get(key) != y.metadata.get(key):
                problems.append(f"{_name(i, y)}: metadata {key!r} differs from English "
                                f"({x.metadata.get(key)!r} vs {y.metadata.get(key)!r})")
    assert not problems, f"{edition} is out of step with {_rel(english)}:\n" + "\n".join(problems)
    assert notebook_language(b) == lang, f"{edition}: metadata {METADATA_KEY} must say {lang!r}"
    assert notebook_language(a) == "en", f"{_rel(english)}: the English edition has no language mark"
    assert a.metadata.get("kernelspec") == b.metadata.get("kernelspec"), edition


@pytest.mark.parametrize("lang,english", PAIRS)
def test_same_code(lang, english):
    a, b = _pairs(lang, english)
    problems = []
    for i, (x, y) in enumerate(zip(a.cells, b.cells)):
        if x.cell_type != "code" or y.cell_type != "code":
            continue
        if x.metadata.get("nbgrader", {}).get("solution"):
            try:
                same = _code_shape(x.source) == _code_shape(y.source)
            except SyntaxError as exc:
                problems.append(f"{_name(i, y)}: does not parse ({exc})")
                continue
            if not same:
                problems.append(f"{_name(i, y)}: the answer cell's code differs from English "
                                "(only strings and comments may)")
        elif x.source != y.source:
            problems.append(f"{_name(i, y)}: the course's code cells are the same in every "
                            "edition, byte for byte (what they print is translated by "
                            "attn_ref/i18n/<lang>.json)")
    assert not problems, f"{_rel(_edition(lang, english))}:\n" + "\n".join(problems)


@pytest.mark.parametrize("lang,english", PAIRS)
def test_same_equations_headings_and_numbers(lang, english):
    a, b = _pairs(lang, english)
    problems = []
    for i, (x, y) in enumerate(zip(a.cells, b.cells)):
        if x.cell_type != "markdown":
            continue
        if _equations(x.source) != _equations(y.source):
            problems.append(f"{_name(i, y)}: display equations differ: English "
                            f"{_equations(x.source)}, edition {_equations(y.source)}")
        if TAG.findall(x.source) != TAG.findall(y.source):
            problems.append(f"{_name(i, y)}: equation numbers differ")
        if _headings(x.source) != _headings(y.source):
            problems.append(f"{_name(i, y)}: headings differ: {_headings(x.source)} vs "
                            f"{_headings(y.source)}")
        allowed = NUMBERS_WRITTEN_DIFFERENTLY.get((lang, english.parent.name, y.get("id")), {})
        en_n = _numbers(x.source) - set(allowed.get("en", ()))
        ed_n = _numbers(y.source) - set(allowed.get(lang.split("-")[0], ()))
        if en_n != ed_n:
            problems.append(f"{_name(i, y)}: numbers only in English {sorted(en_n - ed_n)}, only "
                            f"in the edition {sorted(ed_n - en_n)}")
    assert not problems, f"{_rel(_edition(lang, english))}:\n" + "\n".join(problems)


@pytest.mark.parametrize("lang,english", PAIRS)
def test_prose_is_translated_and_follows_the_glossary(lang, english):
    a, b = _pairs(lang, english)
    en_md = "\n".join(c.source for c in a.cells if c.cell_type == "markdown")
    ed_md = "\n".join(c.source for c in b.cells if c.cell_type == "markdown")
    problems = [f"{_name(i, y)}: not translated (no Chinese in it)"
                for i, y in enumerate(b.cells)
                if y.cell_type == "markdown" and re.search("[A-Za-z]{3}", y.source)
                and not CJK.search(y.source)]
    for row in glossary():
        if not re.search(rf"(?<![\w-]){re.escape(row['en'])}", en_md, re.I):
            continue
        at = ed_md.find(row["zh"])
        if at < 0:
            problems.append(f"the English uses {row['en']!r}; the glossary's {row['zh']!r} is "
                            "missing")
        elif row["first"] and not re.match(rf"\s*[（(]\s*{re.escape(row['en'])}",
                                           ed_md[at + len(row["zh"]):], re.I):
            problems.append(f"the first {row['zh']!r} needs the English term in brackets: "
                            f"{row['zh']}（{row['en']}）")
    assert not problems, f"{_rel(_edition(lang, english))}:\n" + "\n".join(problems)


def _shown_strings(source: str) -> list[str]:
    """The names and hints a test cell passes to the visible-test helpers (expect_*), the
    messages it raises and the texts it prints."""
    out = []
    tree = ast.parse("\n".join("" if ln.strip().startswith(("%", "!")) else ln
                               for ln in source.splitlines()))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "").startswith("expect_"):
            args = list(node.args[2:] if node.func.id != "expect_answer" else node.args[2:3])
            if node.func.id == "expect_defined":
                args = []
            args += [k.value for k in node.keywords if k.arg in ("hint", "name")]
            out += [a.value for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "print":
            out += [a.value for a in node.args if isinstance(a, ast.Constant)
                    and isinstance(a.value, str)]
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args \
                and isinstance(node.exc.args[0], ast.Constant) and getattr(node.exc.func, "id", "") == "AssertionError":
            out.append(node.exc.args[0].value)
    return out


# what draws a text on a figure: methods whose first text argument is shown (ax.text(x, y, s):
# the third), the plotting calls whose ``label=`` names a legend entry or a colour bar, and the
# figures of attn_ref.plots (their titles, and a block diagram's boxes)
FIGURE_TEXT = {"set_title": 0, "set_xlabel": 0, "set_ylabel": 0, "suptitle": 0, "supxlabel": 0,
               "supylabel": 0, "set_label": 0, "text": 2, "annotate": 0, "figtext": 2}
FIGURE_LISTS = {"legend": 0, "set_xticklabels": 0, "set_yticklabels": 0, "set_xticks": 1,
                "set_yticks": 1}
LABELLED = {"plot", "bar", "barh", "scatter", "loglog", "semilogx", "semilogy", "step", "hist",
            "errorbar", "fill_between", "axhline", "axvline", "axhspan", "axvspan", "stem",
            "colorbar", "imshow", "contour", "contourf"}
PLOTS = {"block_diagram": ("title",), "plot_gates": ("title",), "show_maps": ("suptitle",)}


def _text_of(node) -> str | None:
    """A string constant as written; an f-string as it reads with ``1`` for each field (the
    catalogue then needs a template for it)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "1" for v in node.values)
    return None


def _figure_strings(source: str) -> list[str]:
    """The texts a code cell puts on a figure: titles, axis labels, legend entries, annotations,
    tick labels, colour-bar labels, and the titles and boxes of attn_ref.plots' figures."""
    out = []
    tree = ast.parse("\n".join("" if ln.strip().startswith(("%", "!")) else ln
                               for ln in source.splitlines()))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", None) or getattr(node.func, "id", "")
        args = []
        if name in FIGURE_TEXT and len(node.args) > FIGURE_TEXT[name]:
            args.append(node.args[FIGURE_TEXT[name]])
        if name in FIGURE_LISTS and len(node.args) > FIGURE_LISTS[name] \
                and isinstance(node.args[FIGURE_LISTS[name]], (ast.List, ast.Tuple)):
            args += node.args[FIGURE_LISTS[name]].elts
        if name in FIGURE_LISTS or name in LABELLED:
            args += [k.value for k in node.keywords if k.arg in ("label", "labels")]
        if name in PLOTS:
            args += [k.value for k in node.keywords if k.arg in PLOTS[name]]
            if name == "block_diagram" and node.args and isinstance(node.args[0], ast.List):
                args += [e for t in node.args[0].elts if isinstance(t, ast.Tuple) for e in t.elts]
        out += [t for t in map(_text_of, args) if t is not None]
    return out


def test_figure_strings_are_found():
    cell = ('fig, ax = plt.subplots()\nax.bar(x, y, label="floor, eq. (3)")\n'
            'ax.set_title(f"roofline on {DEVICE} (ridge)"); ax.set_xlabel("arithmetic intensity")\n'
            'ax.text(0, 1, "the ridge point"); ax.legend(["measured time"])\n'
            'block_diagram([("global\\navg pool", "C")], title="SE block")\n'
            'show(rows, title="a printed table")\nprofile_rows(f, label="one call")\n')
    assert _figure_strings(cell) == ["floor, eq. (3)", "roofline on 1 (ridge)",
                                     "arithmetic intensity", "the ridge point", "measured time",
                                     "SE block", "global\navg pool", "C"]


# the lower-case words a figure may keep in English (the field writes them so: the glossary's
# header) or that name an operation as code does
KEPT_ON_FIGURES = {"softmax", "sigmoid", "swish", "conv", "max", "avg", "mean", "sum", "log"}


def _figure_words(text: str) -> bool:
    """Whether a figure's text says something in English: words as :func:`_words` finds them, or
    one English word (lower case, three letters or more, not a symbol's name such as ``a^h`` or
    ``M_s`` and not one of :data:`KEPT_ON_FIGURES`): a figure's labels are often a single word
    (``"gate"``, ``"concat"``, ``"row h"``)."""
    return _words(text) or any(w not in KEPT_ON_FIGURES for w in
                               re.findall(r"(?<![\\\w^_'])[a-z]{3,}(?![\w^_])", text))


def test_figure_words_tell_labels_from_symbols():
    assert _figure_words("gate") and _figure_words("row h") and _figure_words("a^h (one value per row)")
    assert _figure_words("floor, eq. (3)") and _figure_words("log10 weight")
    assert not _figure_words("C×H×W") and not _figure_words("sigmoid σ") and not _figure_words("M_s, 1")
    assert not _figure_words("FC  W₁") and not _figure_words("softmax") and not _figure_words("CA: a^h (a^w)ᵀ")


def _words(text: str) -> bool:
    """Whether ``text`` says something in English (not only code: ``squeeze(x).shape``,
    ``channels=64, reduction=16``), so that a learner of another edition needs it translated."""
    bare = re.sub(r"\w+=\S+", " ", re.sub(r"\([^()]*\)|\[[^\]]*\]", " ", text))
    return re.search(r"[A-Za-z]{2,}\s+[A-Za-z]{2,}", bare) is not None


def test_words_tells_prose_from_code():
    assert _words("squeeze of the ramp") and _words("x of shape (2, 3), float64")
    assert not _words("se_param_count(64, 16, bias=False)")
    assert not _words("channels=64, reduction=16, bias=True") and not _words("squeeze(x)")


@pytest.mark.parametrize("lang,english", PAIRS)
def test_every_message_a_learner_sees_is_in_the_catalogue(lang, english):
    missing = _untranslated(lang, english)
    assert not missing, (f"attn_ref/i18n/{lang}.json lacks what chapter {english.parent.name} "
                         "shows a learner:\n" + "\n".join(missing))


def _untranslated(lang: str, english: Path) -> list[str]:
    """What a chapter shows a learner in English that the catalogue of ``lang`` does not
    translate: its test cells' messages, the texts its code cells put on figures (figures are
    translated when shown, attn_ref.i18n.figures) and its hidden checks' texts."""
    from attn_ref.grading.registry import all_checks

    a, _ = _pairs(lang, english)
    missing = []
    for i, cell in enumerate(a.cells):
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            missing += [f"{_name(i, cell)}: {s!r}" for s in _shown_strings(cell.source)
                        if _words(s) and tr(s, lang) == s]
        if cell.cell_type == "code" and not cell.metadata.get("nbgrader", {}).get("solution"):
            missing += [f"{_name(i, cell)}, on a figure: {s!r}"
                        for s in _figure_strings(cell.source) if _figure_words(s) and tr(s, lang) == s]
    chapter = english.stem
    for check in all_checks(chapter).values():
        texts = [check.title, check.points_hint, *[m.hint for m in check.mistakes()],
                 *[c.label for c in check.cases()]]
        missing += [f"check {check.id}: {t!r}" for t in texts if _words(t) and tr(t, lang) == t]
    return missing


def test_a_figure_string_missing_from_the_catalogue_is_named(monkeypatch):
    """The test above fails, naming the text, where a chapter's figure says something the
    catalogue lacks."""
    from attn_ref import i18n

    english = SOLUTIONS / "01_se" / "se.ipynb"
    if not _edition("zh-CN", english).exists():
        pytest.skip("01_se has no Chinese edition")
    title = "random weights: gate s per Gabor channel"
    assert title in _figure_strings("\n".join(c.source for c in nbformat.read(
        english, as_version=4).cells if c.cell_type == "code"))
    assert not [m for m in _untranslated("zh-CN", english) if title in m]
    messages, templates = i18n.catalogue("zh-CN")
    monkeypatch.setattr(i18n, "catalogue", lambda lang: (
        {k: v for k, v in messages.items() if k != title}, templates))
    i, cell = next((i, c) for i, c in enumerate(nbformat.read(english, as_version=4).cells)
                   if c.metadata.get("nbgrader", {}).get("grade_id") == "code-04")
    assert [m for m in _untranslated("zh-CN", english) if title in m] == [
        f"{_name(i, cell)}, on a figure: {title!r}"]


def test_catalogue_templates_keep_their_fields():
    for lang in EDITIONS:
        data = json.loads((ROOT / "attn_ref" / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))
        for en, zh in data["templates"].items():
            assert sorted(re.findall(r"\{(\w+)\}", en)) == sorted(re.findall(r"\{(\w+)\}", zh)), en
        for en, zh in data["messages"].items():
            assert zh.strip() and zh != en, f"{lang}.json: {en!r} has no translation"


@pytest.mark.parametrize("lang", EDITIONS)
def test_releases_keep_editions_apart(lang):
    """course/<lang>/<a>/ is what nbgrader makes of solutions/<lang>/<a>/ (tests/test_course.py
    checks the release as a whole): no solutions or hidden tests in it, and no edition inside the
    English release."""
    for a in edition_assignments(SOLUTIONS, lang):
        for src in sorted((SOLUTIONS / lang / a).glob("*.ipynb")):
            released = COURSE / lang / a / src.name
            assert released.exists(), f"{_rel(released)} is missing: run `make release`"
            text = "\n".join(c.source for c in nbformat.read(released, as_version=4).cells)
            for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", 'grade("'):
                assert marker not in text, f"{_rel(released)} holds {marker!r}"
            answers = [c.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0].strip()
                       for c in nbformat.read(src, as_version=4).cells
                       if "### BEGIN SOLUTION" in c.source]
            for ans in answers:
                assert ans not in text, f"{_rel(released)} holds a solution: {ans[:60]!r}"
            assert notebook_language(released) == lang
    for folder in COURSE.glob("*/"):
        assert not (folder / lang).exists(), f"{_rel(folder / lang)}: an edition inside a release"


# --- what a learner of an edition sees in the kernel ------------------------------------------
def _run_cells(nb, upto: str, env: dict, tmp_path, monkeypatch):
    """Run the notebook's cells up to the cell ``upto`` (a grade id) in a fresh kernel whose
    environment has ``env``; returns the notebook as run."""
    from nbclient import NotebookClient

    cells = []
    for cell in nb.cells:
        cells.append(cell)
        if cell.metadata.get("nbgrader", {}).get("grade_id") == upto:
            break
    nb.cells = cells
    path = tmp_path / "se.ipynb"
    nbformat.write(nb, path)
    monkeypatch.delenv("ATTN_COURSE_LANG", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v.replace("{path}", str(path)))
    NotebookClient(nb, timeout=120, allow_errors=True, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


def _text(cell) -> str:
    out = []
    for o in cell.get("outputs", []):
        out += [o.get("text", ""), o.get("ename", ""), o.get("evalue", "")]  # printed, raised
    return "\n".join(out)


@pytest.mark.slow
@pytest.mark.parametrize("env,want,unwanted", [
    # JupyterLab names the notebook a kernel runs (JPY_SESSION_NAME): its edition's language
    ({"JPY_SESSION_NAME": "{path}"}, "通道 0 的值是 0, 1, ..., 7：均值为 3.5", "their mean is"),
    # `make lab COURSE_LANG=...` sets the language for every kernel
    ({"ATTN_COURSE_LANG": "en", "JPY_SESSION_NAME": "{path}"}, "their mean is 3.5", "均值"),
], ids=["notebook-metadata", "environment"])
def test_a_learner_of_the_chinese_edition_sees_the_hint_in_chinese(env, want, unwanted, tmp_path,
                                                                   monkeypatch):
    released = COURSE / "zh-CN" / "01_se" / "se.ipynb"
    if not released.exists():
        pytest.skip("01_se has no Chinese edition")
    nb = nbformat.read(released, as_version=4)
    for cell in nb.cells:        # bob_max_pool's mistake: the squeeze takes the maximum
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "squeeze":
            cell.source = "def squeeze(x):\n    return x.amax(dim=(2, 3))\n"
    nb = _run_cells(nb, "test_squeeze", env, tmp_path, monkeypatch)
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_squeeze")
    text = _text(test)
    assert "AssertionError" in text and want in text and unwanted not in text, text


def test_the_class_report_has_its_headings_in_the_instructors_language():
    """attn_grade.report writes its headings and table heads through tr (the language of the
    instructor's process: ATTN_COURSE_LANG): every one of them is in each catalogue."""
    from attn_grade import report
    from attn_ref.i18n import set_language

    tree = ast.parse((ROOT / "autograde" / "attn_grade" / "report.py").read_text())
    shown = [n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call)
             and getattr(n.func, "id", "") == "tr" and n.args and isinstance(n.args[0], ast.Constant)]
    heads = [e.value for n in ast.walk(tree) if isinstance(n, ast.Call)
             and getattr(n.func, "id", "") == "_table" and n.args and isinstance(n.args[0], ast.List)
             for e in n.args[0].elts if isinstance(e, ast.Constant)]
    assert len(shown) >= 7 and len(heads) >= 20, (shown, heads)
    for lang in EDITIONS:
        messages, _ = catalogue(lang)
        assert not [h for h in shown + heads if h not in messages], lang
    try:
        set_language("zh-CN")
        assert "<th>作业</th><th>平均分</th>" in report._table(["assignment", "mean"], [["01_se", 1]])
    finally:
        set_language(None)
    assert "<th>assignment</th>" in report._table(["assignment", "mean"], [["01_se", 1]])


def _report_page(monkeypatch, tmp_path, lang: str) -> tuple[str, list[str]]:
    """The class report of two made-up submissions (one late, slow, flagged, with a named
    mistake and a similar pair; one not graded) written in ``lang``, and the texts of its
    figures as they were drawn."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    from attn_grade import report
    from attn_ref.i18n import set_language

    matplotlib.use("Agg")
    S = report.Submission
    se = {"squeeze": "se", "excitation": "se"}
    subs = {("alice", "01_se"): S(
        "alice", "01_se", 2, 5, steps={"squeeze": (2, 2), "excitation": (0, 3)}, notebook_of=se,
        mistakes={"excitation": [("se.excitation", "no_relu")]},
        failed={"excitation": ["se.excitation"]},
        notes=["se.ipynb cell 12: interrupted at the time limit"],
        flags=["squeeze is defined differently above and below its test cell; the definition "
               "above it was graded"],
        seconds=12.5, timestamp="2026-12-01 10:00:00", late=3700, penalty=1),
        ("bob", "01_se"): S("bob", "01_se", 5, 5, steps={"squeeze": (2, 2), "excitation": (3, 3)},
                            notebook_of=se, seconds=8.0, graded=False)}
    monkeypatch.setattr(report, "collect", lambda grading, db: subs)
    monkeypatch.setattr(report, "similar_pairs", lambda *a: [("01_se", "alice", "bob", 0.91, 0.85, 99)])
    monkeypatch.setattr(report, "hints", lambda: {
        ("se.excitation", "no_relu"): "apply the ReLU between the two layers."})
    drawn, savefig = [], Figure.savefig

    def recorded(fig, *args, **kwargs):
        drawn.extend(t.get_text() for t in fig.findobj(Text) if t.get_text())
        return savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", recorded)
    try:
        set_language(lang)
        page = report.write(tmp_path, tmp_path, "sqlite://").read_text()
    finally:
        set_language(None)
    return page, drawn


def test_the_class_report_is_all_in_the_instructors_language(monkeypatch, tmp_path):
    """Every text of the class report — headings, table heads, paragraphs, the figures' titles
    and labels, the images' descriptions, the table's words, the grader's notes and the hints —
    is written in Chinese for a Chinese instructor (ATTN_COURSE_LANG=zh-CN): what stays in
    Latin letters is the class's data (ids, names of assignments, steps, checks and mistakes),
    file names, the names of tools and the units of a lateness."""
    page, drawn = _report_page(monkeypatch, tmp_path / "zh", "zh-CN")
    data = {"alice", "bob", "squeeze", "excitation", "no_relu", "ReLU", "UTC", "nbgrader",
            "copydetect", "grades_steps", "grades", "submissions", "steps", "mistakes",
            "similarity", "csv", "report", "autograde", "grading", "json", "ipynb",
            "min"}                                        # a lateness: "1 h 1 min"
    alts = re.findall(r'alt="([^"]*)"', page)
    text = html_text = re.sub(r"<[^>]+>", " ", re.sub(r"<(style|title)>.*?</\1>", " ", page))
    text += "\n" + "\n".join(alts + drawn)
    english = sorted({w for w in re.findall(r"(?<![\w.])[A-Za-z][A-Za-z_]+", text)
                      if w not in data} - {"se"})
    assert not english, f"English left in the Chinese class report: {english}"
    assert "班级报告" in html_text and "待复核：" in html_text and "至" in html_text
    assert len(alts) == 4 and len(drawn) > 10
    en_page, en_drawn = _report_page(monkeypatch, tmp_path / "en", "en")
    assert "A named mistake is one of the hidden check's catalogued mistakes" in en_page
    assert "grading time (2 submissions, 20 s in all)" in en_drawn
    assert not CJK.search(en_page + "".join(en_drawn))


def test_a_submission_is_graded_after_the_release_of_its_edition(tmp_path):
    """attn_grade.editions.edition_of: by the notebook's metadata; where an editor dropped it
    (Colab), by which release's markdown the notebook holds; English otherwise."""
    from attn_grade.editions import edition_of, release_path

    course = tmp_path / "course"
    for lang, words in (("en", "Squeeze"), ("zh-CN", "挤压")):
        path = release_path(course, "01_se", "se.ipynb", lang)
        path.parent.mkdir(parents=True)
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {words}"),
                                             nbformat.v4.new_code_cell("x = 1")])
        if lang != "en":
            nb.metadata[METADATA_KEY] = {"language": lang}
        nbformat.write(nb, path)
    zh = nbformat.read(release_path(course, "01_se", "se.ipynb", "zh-CN"), as_version=4)
    assert edition_of(course, "01_se", "se.ipynb", zh) == "zh-CN"
    zh.metadata = {}                                       # saved by Colab
    assert edition_of(course, "01_se", "se.ipynb", zh) == "zh-CN"
    en = nbformat.read(release_path(course, "01_se", "se.ipynb", "en"), as_version=4)
    assert edition_of(course, "01_se", "se.ipynb", en) == "en"
    # a chapter whose edition the class does not have is graded after the English release
    zh.metadata[METADATA_KEY] = {"language": "zh-CN"}
    assert edition_of(course, "02_eca", "eca.ipynb", zh) == "en"
    assert release_path(course, "01_se", "se.ipynb", "zh-CN") == course / "zh-CN" / "01_se" / "se.ipynb"


@pytest.mark.slow
def test_what_the_course_cells_print_and_raise_is_in_chinese(tmp_path, monkeypatch):
    """In the Chinese edition, the lines the course's read-only cells print (f-strings with
    numbers: the catalogue's templates) and the AssertionErrors its test cells raise come out in
    Chinese; a line a learner's own cell prints stays as typed, even where a template would
    match it."""
    from attn_grade.pipeline import correct_answers, parse_cells

    released = COURSE / "zh-CN" / "01_se" / "se.ipynb"
    nb = nbformat.read(released, as_version=4)
    answers = {**correct_answers(SOLUTIONS / "zh-CN" / "01_se" / "se.ipynb"),
               # carol_no_sigmoid's excitation and block: no sigmoid on the gate
               **parse_cells(ROOT / "autograde" / "samples" / "carol_no_sigmoid" / "01_se.py")}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
        if gid == "squeeze":
            cell.source += "\nprint('expected 3, got 4')\n"
    nb = _run_cells(nb, "code-03", {"JPY_SESSION_NAME": "{path}"}, tmp_path, monkeypatch)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): _text(c) for c in nb.cells}
    assert "expected 3, got 4" in by_id["squeeze"], by_id["squeeze"]
    assert "门控值必须在 (0, 1) 内" in by_id["test_se_module"], by_id["test_se_module"]
    assert "the gate must lie in (0, 1)" not in by_id["test_se_module"]
    assert "SE 共增加" in by_id["code-02"] and "SE adds" not in by_id["code-02"], by_id["code-02"]
    assert "计数器，全连接层：" in by_id["code-03"] and "counter, FC" not in by_id["code-03"]


@pytest.mark.slow
def test_a_correct_step_of_the_chinese_edition_says_so_in_chinese(tmp_path, monkeypatch):
    released = COURSE / "zh-CN" / "01_se" / "se.ipynb"
    if not released.exists():
        pytest.skip("01_se has no Chinese edition")
    nb = nbformat.read(released, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "squeeze":
            cell.source = ("def squeeze(x):\n    print('my own line')\n"
                           "    return x.mean(dim=(2, 3))\n")
    nb = _run_cells(nb, "test_squeeze", {"JPY_SESSION_NAME": "{path}"}, tmp_path, monkeypatch)
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_squeeze")
    text = _text(test)
    assert "通过：斜坡输入的挤压（最大绝对误差" in text, text
    assert "这一步的可见测试全部通过；提交后隐藏测试也通过，就得到这 2 分。" in text, text
    assert "Every visible test" not in text and "my own line" in text, text   # the learner's own stay
