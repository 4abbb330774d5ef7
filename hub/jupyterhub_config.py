"""JupyterHub settings of an attention-course class hub (README, "A class on JupyterHub").

Start it as root, after ``hub/setup.sh``, with ``jupyterhub -f hub/jupyterhub_config.py`` (``make
hub`` does both). Log-in is PAM (the machine's accounts) for the class's accounts only; each
user's JupyterLab runs as that user (the default LocalProcessSpawner) from the shared environment
``<class>/env``; the instructor's alone also reads ``<class>/instructor`` (formgrader on the class
folder). The proxy is the configurable-http-proxy pinned in hub/package-lock.json (``npm ci`` in
hub/).

Environment: ATTN_HUB_CLASS (the folder hub/setup.sh set up, default /srv/attention-course),
ATTN_HUB_IP (default 127.0.0.1; a real server: its public address, behind TLS) and
ATTN_HUB_PORT (default 8000; the proxy's API and the hub take the next two ports).
"""
import json
import os

c = get_config()  # noqa: F821  (provided by traitlets when jupyterhub loads this file)
here = os.path.dirname(os.path.abspath(__file__))
CLASS = os.environ.get("ATTN_HUB_CLASS", "/srv/attention-course")
with open(os.path.join(CLASS, "hub", "class.json")) as f:
    setup = json.load(f)                    # written by hub/setup.sh
INSTRUCTOR, LEARNERS = setup["instructor"], setup["learners"].split()
ENV = os.path.join(CLASS, "env")

PORT = int(os.environ.get("ATTN_HUB_PORT", "8000"))
c.JupyterHub.ip = os.environ.get("ATTN_HUB_IP", "127.0.0.1")
c.JupyterHub.port = PORT
# the proxy's API and the hub itself: on the loopback, on the next two ports
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PORT + 1}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = PORT + 2
# the hub's own state: root's alone
c.JupyterHub.db_url = "sqlite:///" + os.path.join(CLASS, "hub", "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(CLASS, "hub", "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = os.path.join(CLASS, "hub", "jupyterhub-proxy.pid")
c.ConfigurableHTTPProxy.command = [os.path.join(here, "node_modules", ".bin",
                                                "configurable-http-proxy")]

c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = {INSTRUCTOR, *LEARNERS}
c.PAMAuthenticator.open_sessions = False

c.Spawner.cmd = [os.path.join(ENV, "bin", "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
c.Spawner.environment = {"PATH": os.path.join(ENV, "bin") + ":/usr/local/bin:/usr/bin:/bin",
                         "MPLBACKEND": "Agg"}


def instructor_settings(spawner):
    """The instructor's JupyterLab also reads <class>/instructor: the class folder's
    nbgrader_config.py (for formgrader) and nbgrader's instructor parts switched on."""
    if spawner.user.name == INSTRUCTOR:
        spawner.environment = {**spawner.environment,
                               "JUPYTER_CONFIG_PATH": os.path.join(CLASS, "instructor")}


c.Spawner.pre_spawn_hook = instructor_settings
