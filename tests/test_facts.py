"""Figures in the chapters' prose: papers' figures are listed with their source in FACTS.md, and
results of the notebooks' own runs are printed by their cells, not typed into the text."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "solutions").glob("*/*.ipynb"))
# a percentage with two integer digits, or a two-decimal figure in a markdown table cell
PAPER_FIGURE = re.compile(r"(?<![\d.])(\d\d\.\d+) ?%|\|\s*\**(\d\d\.\d\d)\**\s*(?=\|)")
RUN_RESULT = re.compile(r"\d+\.\d\s*±\s*\d+\.\d")           # mean ± std typed into the text


def _markdown(path):
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_every_quoted_paper_figure_is_in_the_fact_table(path):
    facts = (ROOT / "FACTS.md").read_text()
    missing = sorted({m.group(1) or m.group(2) for text in _markdown(path)
                      for m in PAPER_FIGURE.finditer(text)} - set(re.findall(r"\d\d\.\d+", facts)))
    assert not missing, f"{path.parent.name}: figures not listed in FACTS.md: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_no_run_results_typed_into_the_text(path):
    typed = [m.group(0) for text in _markdown(path) for m in RUN_RESULT.finditer(text)]
    assert not typed, f"{path.parent.name}: results typed into the prose: {typed}"


def test_eca_chapter_shows_the_released_mobilenetv2_kernels_of_the_hidden_check():
    from attn_ref.grading.checks_eca import MOBILENETV2_RELEASED

    nb = nbformat.read(ROOT / "solutions" / "02_eca" / "eca.ipynb", as_version=4)
    src = "".join(c.source for c in nb.cells if c.cell_type == "code")
    assert f'"MobileNetV2": {MOBILENETV2_RELEASED}' in src
    assert MOBILENETV2_RELEASED == (1, 1, 1, 1, 3, 3, 3)      # k = 1 below 96 channels, 3 from 96


def test_the_readme_lists_every_chapter_with_its_points():
    """The README's *Chapters* table has one row per assignment, its points the sum of the
    chapter's graded cells (nbgrader metadata)."""
    readme = (ROOT / "README.md").read_text()
    table = dict(re.findall(r"^\| `(\d\d_\w+)` \| [^|]+ \| (\d+) \|", readme, re.M))
    points = {p.parent.name: sum(c.metadata.get("nbgrader", {}).get("points", 0)
                                 for c in nbformat.read(p, as_version=4).cells
                                 if c.metadata.get("nbgrader", {}).get("grade"))
              for p in NOTEBOOKS}
    assert table == {a: str(int(n)) for a, n in points.items()}


# ----- the kinds of claim a chapter makes about its own run ---------------------------------------
CHAPTER_OF = {"se": "01_se", "eca": "02_eca", "cbam": "03_cbam", "ca": "04_ca", "network": "05_network",
              "profiling": "06_profiling", "bonus": "07_bonus"}
NUMBER_WORD = (r"(?:\d[\d,]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
               r"thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty)")


def _notebook(assignment):
    return nbformat.read(ROOT / "solutions" / assignment / f"{assignment.split('_', 1)[1]}.ipynb",
                         as_version=4)


def _answer_checks():
    """(check id, assignment, expected values) of every exercise whose answer is a fixed value (a
    count, a list of kernel sizes): the cases the hidden tests compare with no argument."""
    import numpy as np

    from attn_ref.grading import all_checks

    out = []
    for cid, check in sorted(all_checks().items()):
        cases = check.cases()
        if len(cases) == 1 and not cases[0].args:
            values = np.asarray(check.expected(cases[0]), dtype=float).ravel().tolist()
            out.append((cid, CHAPTER_OF[cid.split(".")[0]], values))
    return out


def _spellings(values):
    """How the prose could write an exercise's answer: 80; 2,532,560 or 2{,}532{,}560; 5, 5, 5, 7."""
    def one(v):
        if v != int(v):
            return [f"{v:.2f}", f"{v:.1f}"]
        n = int(v)
        return [str(n), f"{n:,d}", f"{n:,d}".replace(",", "{,}")]
    if len(values) == 1:
        return one(values[0])
    return [", ".join(str(int(v)) if v == int(v) else str(v) for v in values)]


def test_the_answer_checks_are_found():
    found = {cid for cid, _, _ in _answer_checks()}
    assert {"eca.params", "eca.params.adaptive", "cbam.cost.resnet50", "network.se_conv3"} <= found


@pytest.mark.parametrize("cid,assignment,values", _answer_checks(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_prose_does_not_give_away_an_exercise_answer(cid, assignment, values):
    """No markdown cell of the chapter states an exercise's answer (a count of 10 or more, a
    non-integer, or a list): the intro, the pitfalls and the summary of 02_eca once printed 80 and
    86, the answers of exercise 4. Printed by a cell after the exercise is fine; typed is not."""
    if len(values) == 1 and values[0] == int(values[0]) and abs(values[0]) < 10:
        pytest.skip("a one-digit answer is too common a number to search for")
    md = "\n".join(c.source for c in _notebook(assignment).cells if c.cell_type == "markdown")
    hits = [s for s in _spellings(values)
            if re.search(rf"(?<![\w.,{{}}])(?<!= ){re.escape(s)}(?![\w{{]|[.,]\d)", md)]
    assert not hits, f"{assignment}: the prose gives away the answer of {cid}: {hits}"


def _facts_rows():
    """FACTS.md's rows: (paper and repository cell, table cell, the whole row)."""
    rows = []
    for line in (ROOT / "FACTS.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 7 and cells[0] not in ("paper / repository",) and not set(cells[0]) <= {"-"}:
            rows.append((cells[0], cells[2], line))
    return rows


def _sentences(text):
    return re.split(r"(?<=[.;])\s+(?=[A-Z*(])|\n\s*[*|]", text)


FIGURE = re.compile(r"(?<![\d.])(\d\d?\.\d+) ?(?:%|M\b)")
TABLES = re.compile(r"Tables? ((?:\d+(?:, | and |–|-)?)+)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_a_quoted_figure_cites_the_table_fact_lists_for_it(path):
    """A paper's figure quoted with a table number names the table FACTS.md gives for it (05 once
    cited CBAM's 28.09 M as Table 3, 03 as Table 4; FACTS.md is the register)."""
    rows = _facts_rows()
    wrong = []
    for text in _markdown(path):
        for sentence in _sentences(text):
            cited = {int(n) for m in TABLES.finditer(sentence) for n in re.findall(r"\d+", m.group(1))}
            if not cited:
                continue
            for fig in {m.group(1) for m in FIGURE.finditer(sentence)}:
                listed = {int(n) for paper, table, line in rows if fig in line
                          for n in re.findall(r"\d+", table)}
                if listed and not cited & listed:
                    wrong.append(f"{fig} cited with Table(s) {sorted(cited)}; FACTS.md: {sorted(listed)}")
    assert not wrong, f"{path.parent.name}: {wrong}"


PAPERS = {"SE": "SENet", "SENet": "SENet", "ECA": "ECA-Net", "ECA-Net": "ECA-Net", "CBAM": "CBAM",
          "CA": "Coordinate Attention", "Coordinate Attention": "Coordinate Attention"}
PAPER_TABLE = re.compile(r"\**\b(SENet|SE|ECA-Net|ECA|CBAM|CA|Coordinate Attention)\b\** \((?:its )?Tables? "
                         r"((?:\d+(?:, | and |–|-)?)+)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_a_paper_named_with_a_table_has_that_table_in_the_fact_table(path):
    """"CBAM (Table 3)", "CA (Table 1)": every paper named with a table number in parentheses has a
    row of that table in FACTS.md (a table nobody listed is a table nobody checked)."""
    rows = _facts_rows()
    missing = []
    for text in _markdown(path):
        for m in PAPER_TABLE.finditer(text):
            paper = PAPERS[m.group(1)]
            listed = {int(n) for p, table, _ in rows if p.startswith(paper) or p.split(" (")[0] == paper
                      for n in re.findall(r"\d+", table)}
            for n in re.findall(r"\d+", m.group(2)):
                if int(n) not in listed:
                    missing.append(f"{m.group(0)!r}: FACTS.md lists {paper} tables {sorted(listed)}")
    assert not missing, f"{path.parent.name}: {missing}"


DURATION = re.compile(r"(?<![\w.])(?:about |around |roughly |under |over )?(?:\d+(?:\.\d+)? ?(?:s|ms|µs|min)\b|"
                      r"(?:\d+(?:\.\d+)?|one|two|three|a few|several) (?:seconds?|minutes?)\b|a minute\b)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_run_times_are_estimated_only_in_the_header(path):
    """How long a cell takes is a property of the run: the cells print it (progress bars, "took
    N s"); the prose estimates it only in the chapter's header line, once (05 said "about 40 s" in
    its header, "about a minute" in a printed line, and took 72 s)."""
    nb = nbformat.read(path, as_version=4)
    typed = []
    for i, cell in enumerate(nb.cells):
        text = cell.source
        if cell.cell_type == "markdown":
            if i == 0:                                   # the header: title and its one line
                text = "\n".join(line for line in text.splitlines() if not line.startswith("*attention-course"))
            text = re.sub(r"\$[^$]*\$", "", text)          # maths: $g/(2s)$ is no duration
            typed += [m.group(0) for m in DURATION.finditer(text)]
        else:                                            # an estimate typed into a printed string
            for s in re.findall(r"print\((.*?)\)\s*$", text, re.M | re.S):
                typed += [m.group(0) for m in re.finditer(r"about (?:a|\d+(?:\.\d+)?) ?(?:s|minutes?)\b", s)]
    assert not typed, f"{path.parent.name}: durations typed outside the header: {typed}"


COUNT = re.compile(rf"\b{NUMBER_WORD} of (?:the |its |all )?{NUMBER_WORD}\b(?! ?[%×x*])", re.I)
# counts in the prose that are facts of an architecture or of the paper, not results of the run
COUNTS_NOT_FROM_THE_RUN = {"16 of the 17",      # 04: MobileNetV2's blocks that expand their input
                           "4 of the 5"}        # 02: the taps of a 5-wide band that fit at its edge


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_counts_of_the_run_are_printed_not_typed(path):
    """"Six of the sixteen blocks", "the first one for two of them": a count of what the run produced
    is printed by the cell (04 said "most blocks" where its own output said six of sixteen)."""
    typed = [m.group(0) for text in _markdown(path) for m in COUNT.finditer(text)
             if m.group(0) not in COUNTS_NOT_FROM_THE_RUN]
    assert not typed, f"{path.parent.name}: counts typed into the prose: {typed}"


REFERS_TO_OUTPUT = re.compile(r"\b(?:the (?:last |first )?lines? (?:above|under|below)|the printed "
                              r"(?:lines?|shares)|the (?:last|first) (?:printed )?lines?|the line above)\b")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_prose_that_points_at_printed_lines_follows_a_cell_that_prints(path):
    """Where the text leaves a verdict to the output ("the last line says which"), a code cell
    before it prints something, and the last such cell before it keeps its checked output when it
    is deterministic (a run-to-run result is printed at every run instead)."""
    cells = nbformat.read(path, as_version=4).cells
    orphans = []
    for i, cell in enumerate(cells):
        if cell.cell_type == "markdown" and REFERS_TO_OUTPUT.search(cell.source):
            before = [c for c in cells[:i] if c.cell_type == "code"]
            if not before or "print(" not in before[-1].source:
                orphans.append(REFERS_TO_OUTPUT.search(cell.source).group(0))
    assert not orphans, f"{path.parent.name}: prose points at output no cell before it prints: {orphans}"


def test_describe_gates_names_the_largest_gates_and_those_above_one_half():
    """The words the chapters print for "which orientations dominate", on gates checkable by hand."""
    from attn_ref.plots import describe_gates

    labels = ["λ=4, θ=0°", "λ=4, θ=90°", "λ=8, θ=0°", "λ=8, θ=90°"]
    lines = describe_gates({"brick": [0.9, 0.3, 0.6, 0.2], "flat": [0.4, 0.4, 0.4, 0.4]}, labels, top=2)
    assert lines[0] == "brick: largest λ=4, θ=0° (0.90), λ=8, θ=0° (0.60) | above ½ — λ=4: θ=0°; λ=8: θ=0°"
    assert lines[1].endswith("above ½ — λ=4: none; λ=8: none")
    with pytest.raises(ValueError):
        describe_gates({"short": [0.5]}, labels)
