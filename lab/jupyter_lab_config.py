"""JupyterLab settings for the learner's course (`make lab`, and the browser test).

Loaded with `jupyter lab --config=lab/jupyter_lab_config.py`. It switches on JupyterLab's custom
CSS (`LabApp.custom_css`, JupyterLab >= 4.1) and serves it from `lab/custom/custom.css` in this
repository instead of the user's `<jupyter config dir>/custom/`, so the course's look does not
depend on anyone's home directory.

It also leaves out, for this JupyterLab only, what a single learner without an nbgrader exchange
has no use for (OFF): nbgrader's assignment and course lists, formgrader, create-assignment and
their menu, and jupytext's menus (`make pair` uses jupytext from the command line). It does so in
the page it serves, not in the environment's settings, so a class hub running from the same
environment (hub/) keeps them.

With ``ATTN_COURSE_LANG=zh-CN`` in the environment (``make lab COURSE_LANG=zh-CN``), JupyterLab's
own interface starts in Simplified Chinese: its default locale comes from
``lab/settings/zh-CN/overrides.json`` (the language pack jupyterlab-language-pack-zh-CN is in
requirements.txt); a learner's own choice under Settings → Language still wins.
"""
import os

c = get_config()  # noqa: F821  (provided by traitlets when jupyter loads this file)
here = os.path.dirname(os.path.abspath(__file__))

OFF = ("@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:course-list",
       "@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
       "@jupyter/nbgrader:menu", "jupyterlab-jupytext")


def without_exchange(handler, page_config):
    """jupyterlab_server's page_config_hook: OFF added to the page's disabled extensions."""
    disabled = page_config.setdefault("disabledExtensions", [])
    disabled.extend(x for x in OFF if x not in disabled)
    return page_config


c.LabApp.custom_css = True
c.ServerApp.tornado_settings = {"static_custom_path": [os.path.join(here, "custom")],
                                "page_config_hook": without_exchange}

if os.environ.get("ATTN_COURSE_LANG", "en") not in ("", "en"):
    c.LabApp.app_settings_dir = os.path.join(here, "settings", os.environ["ATTN_COURSE_LANG"])
