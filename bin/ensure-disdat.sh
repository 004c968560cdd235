#!/bin/sh
# Makes sure Python Disdat 1.2.0 and moto's S3 server are installed in a virtualenv, for the
# interoperability tests of dsdt (`make test` runs this). The virtualenv is kept between runs
# at $DISDAT_VENV (default ~/.cache/paasta-toolkit/disdat-1.2.0); its path is printed.
set -eu
venv=${DISDAT_VENV:-$HOME/.cache/paasta-toolkit/disdat-1.2.0}
ready() {
    [ -x "$venv/bin/dsdt" ] && [ -x "$venv/bin/moto_server" ] &&
        "$venv/bin/python" -c 'import importlib.metadata as m; assert m.version("disdat") == "1.2.0"' 2>/dev/null
}
if ready; then
    echo "$venv"
    exit 0
fi
echo "ensure-disdat: installing disdat 1.2.0 and moto's server into $venv" >&2
mkdir -p "$(dirname "$venv")"
if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian's python3 needs its venv module as a package of its own.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv >/dev/null
        rm -rf "$venv"
        python3 -m venv "$venv"
    else
        echo "ensure-disdat: python3 -m venv failed: install Python 3 with its venv module" >&2
        exit 1
    fi
fi
"$venv/bin/pip" install -q --disable-pip-version-check 'disdat==1.2.0' 'moto[server]==5.*' >&2
ready || { echo "ensure-disdat: the install in $venv did not give dsdt and moto_server" >&2; exit 1; }
echo "$venv"
