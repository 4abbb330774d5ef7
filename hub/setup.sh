#!/usr/bin/env bash
# Sets up a class hub for attention-course on this machine, as root (README, "A class on
# JupyterHub"; site/teach/hub.md says why each step is there). Run it again after a `git pull`:
# it brings the shared environment up to date and keeps everything else.
#
#   CLASS        the hub's shared folder (default /srv/attention-course): env/ (the Python
#                environment every account runs), exchange/ (nbgrader's), instructor/ (the
#                instructor's Jupyter settings) and hub/ (JupyterHub's state)
#   INSTRUCTOR   the instructor's account (default: instructor); the class folder is a clone of
#                this repository in its home, ~INSTRUCTOR/attention-course
#   LEARNERS     the learners' accounts, space-separated (default: "learner1 learner2")
#   NEW_PASSWORDS=1  give every account this script created (now or before) a new random
#                password and print it (make hub); other accounts keep theirs
#   HUB_PYTHON   the Python the environment is built with (default /usr/bin/python3: every
#                account must be able to run it)
#
# Accounts that do not exist are created (useradd -m); every home is made private (mode 700).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLASS=${CLASS:-/srv/attention-course}
INSTRUCTOR=${INSTRUCTOR:-instructor}
LEARNERS=${LEARNERS:-learner1 learner2}
HUB_PYTHON=${HUB_PYTHON:-/usr/bin/python3}
COURSE_ID=attention-course
ENV=$CLASS/env

if [ "$(id -u)" != 0 ]; then
  echo "hub/setup.sh must run as root: it creates the accounts and gives each folder its owner" \
       "(sudo make hub, or see README, 'A class on JupyterHub')" >&2
  exit 1
fi
if ! "$HUB_PYTHON" -c 'import venv' 2>/dev/null; then
  echo "$HUB_PYTHON cannot build a virtual environment (Debian: apt-get install python3-venv)" >&2
  exit 1
fi
case "$(realpath -m "$HUB_PYTHON")" in
  /root/*) echo "$HUB_PYTHON lives under /root, which other accounts cannot enter; use a" \
                "system Python (HUB_PYTHON=/usr/bin/python3)" >&2; exit 1 ;;
esac

# --- accounts: every home private ---------------------------------------------------------------
install -d -m 755 "$CLASS"
install -d -m 700 "$CLASS/hub"
touch "$CLASS/hub/created-accounts"
for user in $INSTRUCTOR $LEARNERS; do
  if ! id -u "$user" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash "$user"
    echo "$user" >> "$CLASS/hub/created-accounts"
    [ "${NEW_PASSWORDS:-}" = 1 ] || echo "account $user created (no password yet: passwd $user)"
  fi
  chmod 700 "$(getent passwd "$user" | cut -d: -f6)"
  # a new password only for an account this script created (make hub: every time)
  if [ "${NEW_PASSWORDS:-}" = 1 ] && grep -qx "$user" "$CLASS/hub/created-accounts"; then
    password=$("$HUB_PYTHON" -c 'import secrets; print(secrets.token_urlsafe(9))')
    echo "$user:$password" | chpasswd
    echo "account $user, password: $password"
  fi
done
INSTRUCTOR_HOME=$(getent passwd "$INSTRUCTOR" | cut -d: -f6)
INSTRUCTOR_GROUP=$(id -gn "$INSTRUCTOR")
COURSE=$INSTRUCTOR_HOME/attention-course

# --- the shared environment: one Python every account can run ---------------------------------
# Rebuilt when requirements.txt changes; the course's packages (attn_ref, attn_grade) are copied
# in (not an editable install: the class folder they come from is the instructor's alone).
stamp="$(sha256sum "$REPO/requirements.txt" | cut -c1-16) $("$HUB_PYTHON" --version)"
if [ "$(cat "$ENV/.requirements" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$ENV"
  "$HUB_PYTHON" -m venv "$ENV"
  "$ENV/bin/python" -m pip install --quiet --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  "$ENV/bin/python" -m pip install --quiet -r "$REPO/requirements.txt" 2>&1 \
    | grep -v "^WARNING: Location" || true
  "$ENV/bin/python" -c "import jupyterhub, nbgrader, torch"
  echo "$stamp" > "$ENV/.requirements"
fi
build=$(mktemp -d)
git -C "$REPO" ls-files -z | (cd "$REPO" && xargs -0 cp --parents -t "$build")
if ! "$ENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation --force-reinstall \
     "$build" > "$build.log" 2>&1; then
  cat "$build.log" >&2; exit 1
fi
rm -rf "$build" "$build.log"

# What every account's Jupyter reads (the environment's own etc/jupyter): the exchange (with the
# course's editions), the locked-cell marks, and the JupyterLab parts a learner uses (the
# instructor's are switched back on in $CLASS/instructor, on the instructor's Jupyter
# configuration path only).
install -d -m 755 "$ENV/etc/jupyter/labconfig" \
  "$ENV/share/attention-course/custom"
install -m 644 "$REPO/lab/custom/custom.css" "$ENV/share/attention-course/custom/custom.css"
cat > "$ENV/etc/jupyter/nbgrader_config.py" <<EOF
# written by hub/setup.sh: nbgrader's exchange on this hub
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "$COURSE_ID"
c.Exchange.root = "$CLASS/exchange"
# every edition released with the English one; a learner fetches the one of their JupyterLab's
# language (Settings -> Language), English where a chapter has none (attn_grade.exchange)
c.ExchangeFactory.release_assignment = "attn_grade.exchange.ReleaseEditions"
c.ExchangeFactory.fetch_assignment = "attn_grade.exchange.FetchEdition"
EOF
sed -e "s|@CUSTOM@|$ENV/share/attention-course/custom|" "$REPO/hub/learner/jupyter_server_config.json" \
  > "$ENV/etc/jupyter/jupyter_server_config.json"
install -m 644 "$REPO/hub/learner/page_config.json" "$ENV/etc/jupyter/labconfig/page_config.json"
install -d -m 755 "$ENV/share/jupyter/lab/settings"
install -m 644 "$REPO/hub/learner/overrides.json" "$ENV/share/jupyter/lab/settings/overrides.json"
chmod -R a+rX,go-w "$ENV"

# --- nbgrader's exchange: anyone may hand in; the course folder in it is the instructor's -------
install -d -m 1777 "$CLASS/exchange"
install -d -m 755 -o "$INSTRUCTOR" -g "$INSTRUCTOR_GROUP" "$CLASS/exchange/$COURSE_ID"

# --- the class folder: a clone of this repository, the instructor's alone -----------------------
if [ ! -d "$COURSE" ]; then
  git clone --quiet --no-hardlinks "$REPO" "$COURSE"
fi
chown -R "$INSTRUCTOR:$INSTRUCTOR_GROUP" "$COURSE"
chmod 700 "$COURSE"
# its .venv is the shared environment (make's stamp says it is installed)
if [ ! -e "$COURSE/.venv" ]; then
  ln -s "$ENV" "$COURSE/.venv"
fi
touch "$ENV/.installed"

# --- the instructor's Jupyter: formgrader on the class folder -----------------------------------
install -d -m 700 -o "$INSTRUCTOR" -g "$INSTRUCTOR_GROUP" "$CLASS/instructor" \
  "$CLASS/instructor/labconfig"
install -m 600 -o "$INSTRUCTOR" -g "$INSTRUCTOR_GROUP" "$REPO/hub/instructor/page_config.json" \
  "$CLASS/instructor/labconfig/page_config.json"
install -m 600 -o "$INSTRUCTOR" -g "$INSTRUCTOR_GROUP" \
  "$REPO/hub/instructor/jupyter_server_config.json" "$CLASS/instructor/jupyter_server_config.json"
cat > "$CLASS/instructor/nbgrader_config.py" <<EOF
# written by hub/setup.sh: the class folder's configuration, wherever the instructor's Jupyter runs
c = get_config()  # noqa: F821
load_subconfig("nbgrader_config.py", path="$COURSE")  # noqa: F821
EOF
chown "$INSTRUCTOR:$INSTRUCTOR_GROUP" "$CLASS/instructor/nbgrader_config.py"
chmod 600 "$CLASS/instructor/nbgrader_config.py"

cat > "$CLASS/hub/class.json" <<EOF
{"class": "$CLASS", "instructor": "$INSTRUCTOR", "learners": "$LEARNERS", "course": "$COURSE"}
EOF
echo "class hub set up in $CLASS: instructor $INSTRUCTOR (class folder $COURSE), learners: $LEARNERS"
