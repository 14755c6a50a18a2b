#!/usr/bin/env bash
# Print a command that runs Python X.Y (e.g. 3.10), or explain how to install one.
# Looks at pythonX.Y on PATH, then at pyenv's installed versions. Never assumes a path.
set -euo pipefail
want="$1"
check() { "$@" -c "import sys; sys.exit(0 if '%d.%d' % sys.version_info[:2] == '$want' else 1)" >/dev/null 2>&1; }
if command -v pyenv >/dev/null 2>&1; then
  for v in $(pyenv versions --bare 2>/dev/null | grep -E "^${want//./\\.}(\.[0-9]+)?$" | sort -V -r); do
    exe=$(PYENV_VERSION="$v" pyenv which "python$want" 2>/dev/null || true)
    if [ -n "$exe" ] && check "$exe"; then echo "$exe"; exit 0; fi
  done
fi
if command -v "python$want" >/dev/null 2>&1 && check "python$want"; then
  command -v "python$want"; exit 0
fi
cat >&2 <<MSG
legal-triage needs Python $want, which was not found.
Install it, then run the command again, for example:
  - with pyenv:            pyenv install $want
  - on Debian/Ubuntu:      apt-get install python$want python$want-venv   (where the release packages it)
  - or from python.org:    https://www.python.org/downloads/
(Rasa 3.6 runs on Python 3.10; our app runs on Python 3.11.)
MSG
exit 1
