# Shared by scripts/serve and scripts/test.

# venv_install REQUIREMENTS: create .venv if needed and install the file when it changed.
venv_install() {
  local requirements="$1"
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv || return 1
    .venv/bin/python -m pip install -q --upgrade pip || return 1
  fi
  local stamp=".venv/.installed-$(basename "$requirements")"
  local digest
  digest=$(cat requirements*.txt constraints.txt pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ] || [ ! -x .venv/bin/g4f ]; then
    echo "Installing Python packages from $requirements..."
    # constraints.txt pins every transitive dependency (compiled from requirements-dev.txt), so a fresh
    # clone installs exactly what CI tested.
    .venv/bin/python -m pip install -q --disable-pip-version-check -r "$requirements" -c constraints.txt || return 1
    # The project itself, editable: installs the `g4f` console script (dependencies come from above).
    PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e . || return 1
    echo "$digest" > "$stamp"
  fi
}

# system_install FILE...: install the Debian packages listed in the files (one per line, # comments).
system_install() {
  local wanted missing=()
  wanted=$(cat "$@" 2>/dev/null | grep -v '^#' | tr '\n' ' ')
  for package in $wanted; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
    echo "Missing Debian packages (${missing[*]}); install them as root." >&2
    return 1
  fi
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "Installing Debian packages: ${missing[*]}..."
  $sudo apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}
