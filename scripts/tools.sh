# Sourced by demo.sh and test.sh: a venv with the template's tools (tests/requirements.txt) on PATH.
venv=.venv-template
if [ ! -x "$venv/bin/python" ]; then
  echo "==> creating $venv for the template's tools"
  python3 -m venv "$venv"
fi
echo "==> installing the template's tools into $venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
export PATH="$PWD/$venv/bin:$PATH"
