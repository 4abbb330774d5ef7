"""Figures in the learner's language: their texts translated, drawn with a font that has the glyphs.

The chapters' code cells are the same in every edition, so a figure's title, axis labels, legend
and tick labels are written in English in the code. In a kernel whose language
(:func:`attn_ref.i18n.language`) is not English, :func:`translate` puts each of a figure's texts
through :func:`attn_ref.i18n.tr` (the catalogue, exactly or by a template) and adds a font with
Chinese glyphs after each text's own fonts, so that matplotlib takes a character from it only where
the text's font (DejaVu Sans) lacks it: Latin letters, digits and symbols look as in the English
edition. Text the catalogue does not know stays as it is (a learner's own Chinese label is drawn
with the same font).

When it runs, in one place: :func:`watch` registers :func:`translate` with IPython's display
formatter for matplotlib figures (``mimebundle_formatter.for_type_by_name``), a formatter that
changes the figure in place and returns nothing, so that IPython's own PNG formatter (which
``matplotlib_inline`` registers) then draws the translated figure. Every way a notebook shows a
figure with the inline backend (the course's) goes through it: ``plt.show()``, the figures
``matplotlib_inline`` flushes after a cell, a figure as a cell's value and ``display(fig)``; an
interactive backend that draws a figure itself (``%matplotlib widget``) is left alone, but for the
figures of :mod:`attn_ref.plots`. ``watch`` does nothing in English or outside
IPython; it is called when :mod:`attn_ref.grading` is imported and by each visible-test helper
(as the translation of printed lines is, :func:`attn_ref.grading.visible._translated_prints`),
and by the figures of :mod:`attn_ref.plots`, which also translate themselves where they are
drawn, in or out of a notebook.

The font: Noto Sans CJK SC (SIL Open Font License 1.1), the file ``NotoSansCJKsc-Regular.otf`` of
the pinned PyPI package ``mplfonts`` (requirements.txt, environment.yml), registered with
matplotlib by its path (``fontManager.addfont``); only that file of the package is used (it also
ships other fonts, one of them of unclear licence) and the package itself is never imported.
Nothing is downloaded and matplotlib's configuration is left as it is. Where that package is
missing, a Noto Sans CJK SC or Source Han Sans SC that matplotlib finds on the system serves. With
neither, figures keep their English texts (never boxes in place of characters), and the first
figure says so once, on standard error.
"""
from __future__ import annotations

import sys
from importlib.util import find_spec
from pathlib import Path

from . import language, tr

PACKAGE, FILE = "mplfonts", "fonts/NotoSansCJKsc-Regular.otf"
# families with the glyphs of Simplified Chinese that matplotlib may know from the system
SYSTEM_FAMILIES = ("Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC")
NO_FONT = ("Figures keep their English labels: matplotlib has no font with Chinese glyphs here "
           "(install the course's requirements: requirements.txt pins mplfonts, which has Noto "
           "Sans CJK SC).")

_family: list = []        # [] not looked for yet; [None] none found; [name] found
_told = False


def font_path() -> str | None:
    """The path of the Noto Sans CJK SC file of the installed ``mplfonts`` package, found without
    importing the package; ``None`` where it is not installed."""
    spec = find_spec(PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / FILE
        if path.is_file():
            return str(path)
    return None


def cjk_family() -> str | None:
    """The family name of a font with Chinese glyphs, registered with matplotlib on the first
    call (:func:`font_path`, else a system font of :data:`SYSTEM_FAMILIES`); ``None`` where there
    is none."""
    if _family:
        return _family[0]
    from matplotlib import font_manager

    name = None
    path = font_path()
    if path:
        try:
            font_manager.fontManager.addfont(path)
            name = font_manager.get_font(path).family_name
        except (OSError, RuntimeError, ValueError):
            name = None
    for family in () if name else SYSTEM_FAMILIES:
        try:
            font_manager.fontManager.findfont(font_manager.FontProperties(family=family),
                                              fallback_to_default=False)
        except ValueError:
            continue
        name = family
        break
    _family.append(name)
    return name


def translate(fig, lang: str | None = None) -> bool:
    """Translate the texts of the matplotlib figure ``fig`` (titles, labels, legend, annotations,
    tick labels set as text) into ``lang`` (default: :func:`attn_ref.i18n.language`), in place,
    and give every text the Chinese font as its last fallback. Returns whether the figure was
    translated: ``False`` in English, and where no font with Chinese glyphs exists (the figure is
    left in English, and the first time standard error says why). Translating twice changes
    nothing."""
    global _told
    lang = lang or language()
    if lang == "en" or fig is None:
        return False
    family = cjk_family()
    if family is None:
        if not _told:
            _told = True
            print(tr(NO_FONT, lang), file=sys.stderr)
        return False
    from matplotlib.text import Text

    for ax in getattr(fig, "axes", []):
        for axis in (ax.xaxis, ax.yaxis):
            _tick_labels(axis.get_major_formatter(), lang)
    for text in fig.findobj(Text):
        words = text.get_text()
        if words:
            said = tr(words, lang)
            if said != words:
                text.set_text(said)
        families = list(text.get_fontfamily())
        if family not in families:
            text.set_fontfamily(families + [family])
    return True


def _tick_labels(fmt, lang: str) -> None:
    """Tick labels set as text are drawn anew from the axis' formatter: translate them there.
    ``set_xticklabels(labels)`` without fixed ticks keeps them in a ``FixedFormatter``;
    ``set_xticks(ticks, labels)`` in a ``FuncFormatter`` calling a function with a dict (tick ->
    label) as its first argument. Other formatters write numbers and are left as they are."""
    import functools

    from matplotlib.ticker import FixedFormatter, FuncFormatter

    if isinstance(fmt, FixedFormatter):
        fmt.seq = [tr(s, lang) if isinstance(s, str) else s for s in fmt.seq]
    elif isinstance(fmt, FuncFormatter) and isinstance(fmt.func, functools.partial) \
            and fmt.func.args and isinstance(fmt.func.args[0], dict):
        labels = fmt.func.args[0]
        for tick, label in labels.items():
            if isinstance(label, str):
                labels[tick] = tr(label, lang)


def _before_display(fig):
    """IPython's display formatter for figures (:func:`watch`): translates and shows nothing
    itself, so the PNG formatter draws the figure as translated."""
    try:
        translate(fig)
    except Exception as exc:          # a figure is still shown, in English, whatever went wrong
        print(f"attn_ref.i18n.figures: {type(exc).__name__}: {exc}", file=sys.stderr)
    return None


def watch() -> bool:
    """In a notebook's kernel (IPython) whose language is not English, translate every figure
    just before it is displayed (see the module's docstring). Returns whether it is set up; safe
    to call again."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or language() == "en":
        return False
    formatter = shell.display_formatter.mimebundle_formatter
    where = ("matplotlib.figure", "Figure")
    figure = getattr(sys.modules.get(where[0]), where[1], None)    # matplotlib is not imported here
    if figure is not None:
        if formatter.type_printers.get(figure) is not _before_display:
            formatter.for_type(figure, _before_display)
    elif formatter.deferred_printers.get(where) is not _before_display:
        formatter.for_type_by_name(*where, _before_display)
    return True
