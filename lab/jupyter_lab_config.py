"""JupyterLab settings for the learner's course (`make lab`, and the browser test).

Loaded with `jupyter lab --config=lab/jupyter_lab_config.py`. It switches on JupyterLab's custom
CSS (`LabApp.custom_css`, JupyterLab >= 4.1) and serves it from `lab/custom/custom.css` in this
repository instead of the user's `<jupyter config dir>/custom/`, so the course's look does not
depend on anyone's home directory.
"""
import os

c = get_config()  # noqa: F821  (provided by traitlets when jupyter loads this file)
here = os.path.dirname(os.path.abspath(__file__))

c.LabApp.custom_css = True
c.ServerApp.tornado_settings = {"static_custom_path": [os.path.join(here, "custom")]}
