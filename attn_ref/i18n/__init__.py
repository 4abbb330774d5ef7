"""The course's languages: English (the source text) and Simplified Chinese (``zh-CN``).

Every chapter has one edition per language (``solutions/<a>/<n>.ipynb`` in English,
``solutions/zh-CN/<a>/<n>.ipynb`` in Chinese; ``tests/test_editions.py`` keeps them in step). The
editions share their code cells byte for byte: the grader restores the course's cells from the
one gradebook, whichever edition a learner hands in. What a code cell *says* — a visible test's
name and hint, ``summary(...)``, the hidden checks' feedback — is written in English in the code and
translated when it is shown, by :func:`tr`, from the catalogue ``attn_ref/i18n/zh-CN.json``:

* ``"messages"``: English text -> Chinese text, exactly as the code writes it;
* ``"templates"``: English text with ``{name}`` fields -> Chinese text with the same fields, for
  messages built at run time (``"case {i}/{n} ({label}): {what}"``); each field's own text is
  translated again (a hint inside a line).

Text the catalogue does not know is shown in English, never dropped. Terms follow the glossary
``attn_ref/i18n/glossary.zh-CN.md``.

Which language: :func:`language` — set by :func:`set_language`, else the environment variable
``ATTN_COURSE_LANG`` (``make lab COURSE_LANG=zh-CN`` sets it for the kernels; the grader sets it
from the submitted notebook), else the ``attn_course.language`` metadata of the notebook this
kernel runs (Jupyter names it in ``JPY_SESSION_NAME``) or, where none is named, of the notebooks
in the working folder if they agree (nbgrader's Validate and the grader run a notebook's kernel
there), else English.
"""
from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
LANGUAGES = ("en", "zh-CN")
DEFAULT = "en"
ENV = "ATTN_COURSE_LANG"
METADATA_KEY = "attn_course"          # notebook metadata: {"attn_course": {"language": "zh-CN"}}
GLOSSARY = HERE / "glossary.zh-CN.md"

# what a template's field may hold, by its name (any text where not named here, as little as
# will do); a name may itself hold " (" and the like: as much as will do ("ok: {name} ({what})"
# for "ok: y (B, C) (2 cases)" takes the last bracket as {what})
FIELDS = {"dtype": r"\w+", "i": r"\d+", "n": r"\d+", "k": r"\d+", "b": r"\d+", "c": r"\d+",
          "name": r".+",
          # points as the grader writes them ("1.5 of 2 points"); shares ("80%")
          "score": r"-?\d+(?:\.\d+)?", "most": r"\d+(?:\.\d+)?", "lowest": r"\d+%",
          "highest": r"\d+%"}

_chosen: str | None = None


def normalise(lang: str | None) -> str:
    """``lang`` as one of :data:`LANGUAGES` (``zh``, ``zh_CN``, ``zh-cn.UTF-8`` -> ``zh-CN``).
    Raises ``ValueError`` for a language the course does not have."""
    text = (lang or "").strip().split(".")[0].replace("_", "-").lower()
    if text in ("", "en", "en-us", "en-gb", "c", "posix"):
        return "en"
    if text in ("zh", "zh-cn", "zh-hans", "zh-hans-cn"):
        return "zh-CN"
    raise ValueError(f"the course has no edition in {lang!r}; it has {', '.join(LANGUAGES)}")


def set_language(lang: str | None) -> str:
    """Choose the language of this process's messages (``None``: back to the automatic choice).
    Returns the language now in use."""
    global _chosen
    _chosen = None if lang is None else normalise(lang)
    language.cache_clear()
    return language()


def notebook_language(nb) -> str:
    """The edition of a notebook (a dict or ``nbformat`` node, or a path): its
    ``metadata.attn_course.language``, English where it has none or an unknown one."""
    if isinstance(nb, (str, Path)):
        with open(nb, encoding="utf-8") as f:
            nb = json.load(f)
    meta = (nb.get("metadata") or {}).get(METADATA_KEY) or {}
    try:
        return normalise(meta.get("language") if isinstance(meta, dict) else None)
    except ValueError:
        return DEFAULT


_found: dict[tuple, str] = {}


def language() -> str:
    """The language messages are shown in (see the module's docstring for the order). Found
    again where the process, its folder or its environment changed (a kernel forked from a
    zygote that imported the course before it moved into the notebook's folder)."""
    if _chosen:
        return _chosen
    try:
        cwd = os.getcwd()
    except OSError:                   # a folder removed under the process
        cwd = ""
    key = (os.getpid(), cwd, os.environ.get(ENV, ""), os.environ.get("JPY_SESSION_NAME", ""))
    if key not in _found:
        _found.clear()
        _found[key] = _language()
    return _found[key]


language.cache_clear = _found.clear         # set_language and the tests start afresh


def kernel_notebooks() -> list[str]:
    """The notebook this kernel runs, as Jupyter names it (``JPY_SESSION_NAME``: its path or, as
    some servers give it, its name relative to the working folder); where none is named, the
    notebooks in the working folder (a kernel started by nbgrader's Validate or by the grader runs
    in the notebook's folder), at most 20. Empty where none is found."""
    session = os.environ.get("JPY_SESSION_NAME", "")
    for path in (session, os.path.basename(session)):
        if path.endswith(".ipynb") and os.path.isfile(path):
            return [path]
    try:
        return [str(p) for p in sorted(Path.cwd().glob("*.ipynb"))[:20]]
    except OSError:
        return []


def _language() -> str:
    env = os.environ.get(ENV, "")
    if env:
        try:
            return normalise(env)
        except ValueError:
            return DEFAULT
    # the notebook's edition, or the editions of the notebooks beside the kernel where they agree
    try:
        found = {notebook_language(p) for p in kernel_notebooks()}
    except (OSError, ValueError):
        found = set()
    return found.pop() if len(found) == 1 else DEFAULT


@functools.lru_cache(maxsize=None)
def catalogue(lang: str) -> tuple[dict[str, str], list[tuple[re.Pattern, str]]]:
    """(exact messages, compiled templates) of ``lang``; empty for English."""
    if lang == "en":
        return {}, []
    data = json.loads((HERE / f"{lang}.json").read_text(encoding="utf-8"))
    templates = []
    # the most specific first: the longest literal text
    for en, zh in sorted(data.get("templates", {}).items(),
                         key=lambda kv: -len(re.sub(r"\{\w+\}", "", kv[0]))):
        parts = re.split(r"\{(\w+)\}", en)
        pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>{FIELDS.get(p, '.+?')})"
                          for i, p in enumerate(parts))
        templates.append((re.compile(pattern + r"\Z", re.S), zh))
    return dict(data.get("messages", {})), templates


_LEAD = re.compile(r"^(\s*(?:[✔✘·]\s+)?)(.*?)(\s*)\Z", re.S)


def _one(text: str, lang: str, depth: int) -> str:
    messages, templates = catalogue(lang)
    if text in messages:
        return messages[text]
    lead, body, tail = _LEAD.match(text).groups()
    if body in messages:
        return lead + messages[body] + tail
    if depth < 4:
        for pattern, zh in templates:
            m = pattern.match(body)
            if m:
                fields = {k: _one(v, lang, depth + 1) for k, v in m.groupdict().items()}
                return lead + zh.format(**fields) + tail
    return text


def tr(text: str, lang: str | None = None) -> str:
    """``text`` in ``lang`` (default :func:`language`): line by line, each line as the catalogue
    has it (exactly or by a template), unknown lines unchanged."""
    lang = normalise(lang) if lang else language()
    if lang == "en" or not text:
        return text
    if "\n" not in text:
        return _one(text, lang, 0)
    messages, _ = catalogue(lang)
    if text in messages:
        return messages[text]
    return "\n".join(_one(line, lang, 0) for line in text.split("\n"))


def glossary() -> list[dict]:
    """The glossary's rows, from the table of ``glossary.zh-CN.md``: ``{"en", "zh", "first",
    "note"}``, ``first`` true where the Chinese term's first use in a chapter carries the English
    term in brackets."""
    rows = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        if not line.lstrip().startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or set(cells[0]) <= set("-: ") or cells[0].lower() == "english":
            continue
        rows.append({"en": cells[0], "zh": cells[1], "first": cells[2] in ("是", "yes"),
                     "note": cells[3] if len(cells) > 3 else ""})
    return rows
