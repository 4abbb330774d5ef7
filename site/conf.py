"""Sphinx configuration of the course site (`make site`; site/teach/site.md, *The course as a site*).

The site is built from the chapters themselves: `make site` lays out build/site-src/ with links
to this folder's pages and to the released notebooks in course/ (the learner's version: stubs, no
solutions), and myst-nb executes those notebooks at build time, so every page shows what a learner
sees before writing an answer. Nothing is fetched from the network, at build time or by the pages:
the theme (furo) ships its own assets, and MathJax comes from the PyPI package
jupyter-server-mathjax, copied into the site.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

import jupyter_server_mathjax
from docutils import nodes

from attn_grade.editions import EDITIONS         # the languages other than English
from attn_ref.i18n import normalise, tr

ROOT = Path(__file__).resolve().parents[1]          # the repository (this file is site/conf.py)
SITE_SRC = ROOT / "site"

# --- the language of this build -----------------------------------------------------------------
# The site is built once per language (make site): English from site/ and course/<a>/ into
# build/site/, and each other edition (attn_grade.editions) from site/<lang>/ and
# course/<lang>/<a>/ into build/site/<lang>/ with the same page names, so that a page's other
# language is the same path under the other root (language_switch below). SITE_LANG names the
# build's language; Sphinx's own words (search, navigation) follow `language`.
SITE_LANG = normalise(os.environ.get("SITE_LANG", "en"))
COURSE = ROOT / "course" if SITE_LANG == "en" else ROOT / "course" / SITE_LANG
language = {"en": "en", "zh-CN": "zh_CN"}[SITE_LANG]

project = "attention-course"
author = "the attention-course authors"
copyright = "the attention-course authors"

extensions = [
    "myst_nb",                  # MyST markdown pages and executed notebooks
    "sphinx.ext.autodoc",       # the API reference, from attn_ref's docstrings
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]

root_doc = "index"
exclude_patterns = ["**/.ipynb_checkpoints", "_build", "**/jupyter_execute"]
suppress_warnings = ["mystnb.unknown_mime_type"]

# --- MyST ------------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# --- executing the released notebooks ----------------------------------------------------------
# Cells a learner must write raise NotImplementedError in the released notebook; so do the cells
# that use their answers. Execution goes on past them (as *Run All* does with the cells' own
# `raises-exception` tags) and the page shows a short note in place of each traceback
# (strip_stub_errors below). jupyter-cache keeps the results in build/.jupyter_cache, keyed on
# the code: a rebuild with unchanged code executes nothing.
nb_execution_mode = "cache"
# one cache per language: jupyter-cache keys a notebook on its code, which is the same in every
# edition, while what the cells print and draw is in the edition's language
nb_execution_cache_path = str(ROOT / "build" / (".jupyter_cache" if SITE_LANG == "en"
                                                else f".jupyter_cache-{SITE_LANG}"))
nb_execution_allow_errors = True
nb_execution_raise_on_error = False
nb_execution_timeout = 900          # the network chapter's experiment takes about 2 minutes
nb_execution_show_tb = False
nb_merge_streams = True
# no ipywidgets JavaScript (myst-nb would load require.js and the widget manager from a CDN): a
# widget output (tqdm's progress bar) shows its plain-text form instead
nb_ipywidgets_js = {}
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None),
                              ("html", "application/vnd.jupyter.widget-state+json", None)]
nb_number_source_lines = False

# --- maths: MathJax 2.7 from jupyter-server-mathjax, served from the site itself -------------------
MATHJAX_SRC = Path(jupyter_server_mathjax.__file__).parent / "static"
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
if SITE_LANG != "en":       # build/site/<lang>/ uses the copy in build/site/_static/ (copy_assets)
    mathjax_path = "../../_static/" + mathjax_path
mathjax2_config = {
    "HTML-CSS": {"availableFonts": [], "webFont": "STIX-Web", "imageFont": None,
                 "preferredFont": None},
    # myst-nb marks each page's body tex2jax_ignore (its cells' plain text holds dollar signs):
    # MathJax typesets only the maths Sphinx marked (class "math") and rich outputs
    "tex2jax": {"processClass": "math|output_area|tex2jax_process|mathjax_process",
                "ignoreClass": "tex2jax_ignore|mathjax_ignore"},
    "showMathMenu": False,
    "messageStyle": "none",
}

# --- HTML ------------------------------------------------------------------------------------
html_theme = "furo"
html_title = "attention-course"
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_favicon = "_static/favicon.svg"
html_copy_source = False
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": True,
    "source_repository": None,
}


# --- the API reference -----------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autosummary_generate = False
napoleon_google_docstring = True
napoleon_numpy_docstring = True

# the chapters of this build's language, as pages course/<a>/<n> (the edition's release
# course/<lang>/<a>/<n>.ipynb is laid out at the same page name in its build)
CHAPTER_DOCS = sorted("course/" + p.relative_to(COURSE).with_suffix("").as_posix()
                      for p in COURSE.glob("*/*.ipynb"))
CHAPTER_OF_NUMBER = {int(d.split("/")[1][:2]): d for d in CHAPTER_DOCS}


def strip_stub_errors(app, doctree):
    """Replace each error output of a chapter page by one line saying why it is there."""
    # myst-nb renders an error output as a literal block with class "traceback"
    for node in list(doctree.findall(nodes.literal_block)):
        if "traceback" in node.get("classes", []):
            text = node.astext()
            name = text.strip().splitlines()[-1].split(":")[0] if text.strip() else "an error"
            cell = next((a for a in _ancestors(node) if "cell_metadata" in a.attributes), None)
            nbgrader = (cell["cell_metadata"] if cell is not None else {}).get("nbgrader", {})
            if nbgrader.get("solution"):
                words = (f"This cell is an exercise: until you write your answer in it, it stops "
                         f"with {name}.")
            else:
                words = (f"In the released notebook this cell stops with {name}: it needs your "
                         "answer to an exercise above. Once you have written it, the cell runs.")
            words = tr(words, SITE_LANG)          # the catalogue's templates (attn_ref.i18n)
            note = nodes.container(classes=["stub-note"])
            note += nodes.paragraph(text=words)
            node.replace_self(note)


CHAPTER_WORD = re.compile(r"\b([Cc]hapters?) ([1-7])\b" if SITE_LANG == "en"
                          else r"第\s*([1-7])\s*章")


def link_chapters(app, doctree):
    """Turn "chapter N" in the prose of any page into a link to chapter N."""
    from sphinx import addnodes
    docname = app.env.docname
    for text in list(doctree.findall(nodes.Text)):
        parent = text.parent
        if parent is None or isinstance(parent, (nodes.literal, nodes.literal_block,
                                                 nodes.reference, nodes.title, nodes.math,
                                                 nodes.math_block, nodes.raw)):
            continue
        if any(isinstance(a, (nodes.reference, nodes.title, addnodes.pending_xref))
               for a in _ancestors(parent)):
            continue
        source = str(text)
        if not CHAPTER_WORD.search(source):
            continue
        new, pos = [], 0
        for m in CHAPTER_WORD.finditer(source):
            target = CHAPTER_OF_NUMBER.get(int(m.group(m.lastindex)))
            if target is None or target == docname:
                continue
            new.append(nodes.Text(source[pos:m.start()]))
            ref = addnodes.pending_xref("", refdomain="std", reftype="doc",
                                        reftarget="/" + target, refexplicit=True,
                                        refdoc=docname)
            ref += nodes.inline(text=m.group(0))
            new.append(ref)
            pos = m.end()
        if not new:
            continue
        new.append(nodes.Text(source[pos:]))
        parent.replace(text, new)


def _ancestors(node):
    while node is not None:
        yield node
        node = node.parent


def add_notebook_link(app, doctree):
    """Put a download link to the chapter's released notebook at the top of its page."""
    docname = app.env.docname
    if docname not in CHAPTER_DOCS:
        return
    name = docname.split("/")[-1] + ".ipynb"
    html = ('<p class="chapter-download">' + tr(
        f'<a href="{name}" download>Download this chapter\'s notebook ({name})</a> to work it in '
        'JupyterLab (<a href="../../learn/setup.html">set-up</a>). Cells marked below stop with '
        'an error until you write the exercise they need, as they do in your notebook.',
        SITE_LANG) + '</p>')
    raw = nodes.raw("", html, format="html")
    sections = list(doctree.findall(nodes.section))
    if sections:
        title = sections[0].next_node(nodes.title)
        title.parent.insert(title.parent.index(title) + 1, raw)


def copy_assets(app, exc):
    """Copy MathJax (once, into the English build, which the other languages' builds inside it
    share) and each chapter's released notebook into the built site."""
    if exc is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    if SITE_LANG == "en":
        shutil.copytree(MATHJAX_SRC, out / "_static" / "mathjax", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    for doc in CHAPTER_DOCS:
        nb = COURSE / (doc.removeprefix("course/") + ".ipynb")
        (out / doc).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(nb, out / (doc + ".ipynb"))


class _QuietEmptyGlob(logging.Filter):
    """The section pages list their known pages, then a glob for pages added later
    (`learn/*`, ...); while there are none, Sphinx warns that the glob matched nothing."""

    def filter(self, record):
        return "didn't match any documents" not in str(record.msg)


def plain_bars(app, what, name, obj, options, lines):
    """attn_ref's docstrings write |x| for an absolute value or a rounding, which reST reads as a
    substitution: escape a bar except on a table's lines."""
    for i, line in enumerate(lines):
        if "|" in line and not line.lstrip().startswith(("|", "+")):
            lines[i] = line.replace("|", "\\|")


def tagged_equations_as_written(app, doctree):
    """Hand a numbered display equation (one with \\tag) to MathJax as the chapter writes it.

    Sphinx wraps a display equation holding a line break (\\\\, as in a cases environment) in
    split, where \\tag is not allowed ("\\tag not allowed in split environment"); JupyterLab
    shows the same equation unwrapped."""
    for node in list(doctree.findall(nodes.math_block)):
        tex = node.astext()
        if "\\tag" in tex and not node.get("nowrap"):
            node.clear()
            node += nodes.Text("\\[" + tex + "\\]")
            node["nowrap"] = True


def _has_page(lang: str, docname: str) -> bool:
    """Whether the build of ``lang`` has the page ``docname`` (a page of site/ or site/<lang>/,
    or a chapter of course/ or course/<lang>/)."""
    pages = SITE_SRC if lang == "en" else SITE_SRC / lang
    course = ROOT / "course" if lang == "en" else ROOT / "course" / lang
    if docname.startswith("course/"):
        return (course / (docname.removeprefix("course/") + ".ipynb")).is_file()
    return (pages / (docname + ".md")).is_file()


LANGUAGE_NAMES = {"en": "English", "zh-CN": "简体中文"}


def language_switch(app, pagename, templatename, context, doctree):
    """Put a line at the top of every page that links the same page in each other language, or,
    where that language has no such page yet, its front page."""
    if doctree is None or "body" not in context:
        return
    depth = pagename.count("/")
    to_root = "../" * (depth + (SITE_LANG != "en"))        # from this page to build/site/
    links = []
    for lang in ("en", *EDITIONS):
        if lang == SITE_LANG:
            continue
        folder = "" if lang == "en" else lang + "/"
        if _has_page(lang, pagename):
            href, title = f"{to_root}{folder}{pagename}.html", LANGUAGE_NAMES[lang]
        else:
            href = f"{to_root}{folder}index.html"
            title = tr(f"{LANGUAGE_NAMES[lang]}: this page is not translated yet", lang)
        links.append(f'<a href="{href}" hreflang="{lang}" lang="{lang}">{title}</a>')
    context["body"] = f'<p class="language-switch">{" · ".join(links)}</p>\n' + context["body"]


def _chinese_search_with_its_stemmer() -> None:
    """Sphinx 9.0.4's Chinese search names its stemmer after the language
    (``window.Stemmer = ChineseStemmer``) while the code it ships is the English stemmer, so the
    Chinese site's search page stops with "ChineseStemmer is not defined" (sphinx-doc/sphinx
    issue 14229, fixed upstream by pull request 14416, not yet released). The same search with
    its stemmer named as the code it ships; Chinese text is still cut into words by jieba."""
    from sphinx import search
    from sphinx.search.zh import SearchChinese

    class SearchChineseStemmed(SearchChinese):
        language_name = "English"          # what js_stemmer_rawcode (english-stemmer.js) defines

    search.languages["zh"] = SearchChineseStemmed


def setup(app):
    if SITE_LANG == "zh-CN":
        _chinese_search_with_its_stemmer()
    app.connect("html-page-context", language_switch)
    app.connect("doctree-read", tagged_equations_as_written)
    app.connect("autodoc-process-docstring", plain_bars)
    logging.getLogger("sphinx.sphinx.directives.other").addFilter(_QuietEmptyGlob())
    app.connect("doctree-read", strip_stub_errors)
    app.connect("doctree-read", link_chapters)
    app.connect("doctree-read", add_notebook_link)
    app.connect("build-finished", copy_assets)
