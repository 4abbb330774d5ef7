"""nbgrader's exchange with the course's editions (a class hub: hub/setup.sh sets these classes as
``c.ExchangeFactory.release_assignment`` and ``c.ExchangeFactory.fetch_assignment``).

The instructor's ``nbgrader release_assignment <a>`` releases course/<a>/ to the exchange's
``outbound/<a>/`` as nbgrader always does and, with it, each edition's release course/<lang>/<a>/
(attn_grade.editions) to ``editions/<lang>/<a>/`` beside it in the course's exchange folder
(the instructor's, read-only to learners, like outbound/). nbgrader's list, submit and collect
never look there: a class has one assignment <a> with one notebook name, whichever edition a
learner works.

A learner's ``Fetch`` (the Assignment List, or ``nbgrader fetch_assignment``) copies the edition
in the learner's language where the exchange has one, English otherwise. The learner's language
is the one they chose in JupyterLab (Settings → Language), read from their own JupyterLab
settings with jupyterlab_server (the class-wide default from the environment's overrides.json
where they chose none); ``c.FetchEdition.language`` sets it instead.
"""
from __future__ import annotations

import os
import shutil

from nbgrader.exchange.default import ExchangeFetchAssignment, ExchangeReleaseAssignment
from nbgrader.utils import check_mode
from traitlets import Unicode

from attn_ref.i18n import normalise

from .editions import EDITIONS

EDITIONS_FOLDER = "editions"    # <exchange>/<course>/editions/<lang>/<assignment>/


def lab_language() -> str:
    """The course language (``"en"``, ``"zh-CN"``) of this account's JupyterLab: its
    ``@jupyterlab/translation-extension:plugin`` locale as JupyterLab keeps it (the user's
    settings in ``<jupyter config dir>/lab/user-settings``, else the default that the app
    settings' overrides.json gives it, else the server's locale). English for a locale the course
    has no edition in, or settings that cannot be read."""
    from jupyterlab.commands import get_app_dir, get_user_settings_dir
    from jupyterlab_server.settings_utils import get_settings
    from jupyterlab_server.translation_utils import L10N_SCHEMA_NAME, SYS_LOCALE

    app = get_app_dir()
    try:
        found, _ = get_settings(os.path.join(app, "settings"), os.path.join(app, "schemas"),
                                get_user_settings_dir(), schema_name=L10N_SCHEMA_NAME)
        locale = (found["settings"].get("locale")
                  or found["schema"]["properties"]["locale"].get("default"))
    except Exception:       # no schema (JupyterLab not installed here), unreadable settings
        locale = None
    if not locale or locale == "default":
        locale = SYS_LOCALE
    try:
        return normalise(locale)
    except ValueError:
        return "en"


class ReleaseEditions(ExchangeReleaseAssignment):
    """``nbgrader release_assignment``: the English release to outbound/ as nbgrader does, then
    each edition's release (course/<lang>/<a>/, where ``make release`` wrote one) to
    editions/<lang>/<a>/, with outbound's permissions; an edition released before and gone
    from course/ is taken back."""

    def copy_files(self):
        super().copy_files()
        assignment = self.coursedir.assignment_id
        editions = os.path.join(self.course_path, EDITIONS_FOLDER)
        dir_mode = os.stat(self.outbound_path).st_mode & 0o7777
        for lang in EDITIONS:
            src = self.coursedir.format_path(
                os.path.join(self.coursedir.release_directory, lang), ".", assignment)
            dest = os.path.join(editions, lang, assignment)
            if os.path.isdir(dest):
                shutil.rmtree(dest)     # the English release checked --force for both
            if not os.path.isdir(src):
                continue
            self.ensure_directory(editions, dir_mode)
            self.ensure_directory(os.path.join(editions, lang), dir_mode)
            self.src_path, self.dest_path = src, dest
            super().copy_files()
            self.log.info("Released edition %s of %s", lang, assignment)


class FetchEdition(ExchangeFetchAssignment):
    """``nbgrader fetch_assignment``: the edition of the assignment in the learner's language
    where the exchange has one (:class:`ReleaseEditions`), else the English release; the same
    folder, notebook names and nbgrader metadata either way."""

    language = Unicode(
        "", help="The edition to fetch (en, zh-CN); empty: the language of the learner's "
                 "JupyterLab (Settings → Language)").tag(config=True)

    def init_src(self):
        super().init_src()
        lang = normalise(self.language) if self.language else lab_language()
        if lang == "en":
            return
        edition = os.path.join(self.course_path, EDITIONS_FOLDER, lang,
                               self.coursedir.assignment_id)
        if os.path.isdir(edition) and check_mode(edition, read=True, execute=True):
            self.src_path = edition
            self.log.info("Edition: %s", lang)
        else:
            self.log.info("No %s edition of %s: fetching the English one", lang,
                          self.coursedir.assignment_id)
