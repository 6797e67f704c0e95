#!/usr/bin/env bash
# Installs what the test suite needs beyond Go, if it is missing:
#   - Debian's python3-winrm (pywinrm, an independent WinRM client the simulator is checked against)
#   - the npm packages tree-sitter + tree-sitter-powershell (every PowerShell script dcproxy sends is parsed)
#   - Debian's chromium (the HTML report is rendered in a real headless browser)
#   - systemd-analyze (the scheduling examples are verified with it)
#   - tmux (the progress line is checked in a real terminal)
#   - an MIT KDC and a Samba AD DC (Kerberos and discovery tests start their own)
# Needs root for apt-get (as on CI); without root it only reports what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
/usr/bin/python3 -c 'import winrm, yaml' 2>/dev/null || need_apt+=(python3-winrm python3-yaml)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux) # the live progress line is tested in a real terminal
# --- Kerberos (remote/krb, remote/krb/krbtest): a real MIT KDC, kinit/klist, and python3-winrm's Kerberos path.
command -v krb5kdc >/dev/null 2>&1 || [ -x /usr/sbin/krb5kdc ] || need_apt+=(krb5-kdc krb5-admin-server)
command -v kinit >/dev/null 2>&1 || need_apt+=(krb5-user)
/usr/bin/python3 -c 'import kerberos' 2>/dev/null || need_apt+=(python3-kerberos)
/usr/bin/python3 -c 'import requests_kerberos' 2>/dev/null || need_apt+=(python3-requests-kerberos)
# --- end Kerberos
# --- Samba AD DC (fleet/discover/sambatest: discovery tests provision a real AD DC; CI=true fails them without it).
for p in samba samba-ad-dc samba-ad-provision samba-dsdb-modules samba-vfs-modules winbind ldap-utils dnsutils; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need_apt+=("$p")
done
# --- end Samba AD DC
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "test-deps: apt-get install ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "test-deps: missing ${need_apt[*]} (run as root to install); the tests that need them will skip" >&2
  fi
fi
if [ -f tools/psparse/package.json ] && [ ! -d tools/psparse/node_modules/tree-sitter-powershell ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "test-deps: npm ci in tools/psparse"
    # Without the npm registry (offline) the PowerShell parse tests skip locally (they fail on CI).
    (cd tools/psparse && npm ci --no-audit --no-fund --loglevel=error) ||
      echo "test-deps: npm ci failed; the PowerShell parse tests will skip" >&2
  else
    echo "test-deps: no npm; the PowerShell parse tests will skip" >&2
  fi
fi
