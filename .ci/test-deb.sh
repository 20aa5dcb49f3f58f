#!/usr/bin/env bash
# Debian package test, as root on this Debian machine: build the .deb from the
# release binary (packaging/deb/build.sh), lint it, then install, upgrade,
# remove and purge it for real and check the machine after each step.
#
# systemd is not PID 1 here (CI, containers): the package must install cleanly
# and must not start the unit. On a host where systemd runs, the same script
# expects the unit to be active after install.
#
# Installs what it needs when missing (lintian, cargo-deb, man-db, zsh, fish).
# Refuses to run if a helmgate package is already installed; purges its own on
# exit, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

say() { echo "test-deb: $*"; }
fail() {
  echo "test-deb: FAIL: $*" >&2
  exit 1
}
elapsed() { echo "$((SECONDS - $1))s"; }

[ "$(id -u)" -eq 0 ] || fail "needs root (dpkg -i)"
if dpkg-query -W -f='${db:Status-Abbrev}' helmgate 2>/dev/null | grep -q '^[ir]'; then
  fail "a helmgate package is already on this machine; dpkg -P helmgate first"
fi

# --- tools -----------------------------------------------------------------------
missing=()
command -v lintian >/dev/null || missing+=(lintian)
command -v dpkg-shlibdeps >/dev/null || missing+=(dpkg-dev) # cargo-deb's $auto depends
command -v man >/dev/null || missing+=(man-db)
command -v zsh >/dev/null || missing+=(zsh)   # syntax check of the zsh completions
command -v fish >/dev/null || missing+=(fish) # and the fish ones
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v adduser >/dev/null || missing+=(adduser)
command -v logrotate >/dev/null || missing+=(logrotate) # syntax check of /etc/logrotate.d/helmgate
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- build -----------------------------------------------------------------------
start=$SECONDS
packaging/deb/build.sh
say "release build + cargo-deb: $(elapsed "$start")"

bin=${CARGO_TARGET_DIR:-target}/release/helmgate
version=$("$bin" --version)
version=${version#helmgate }
deb=target/debian/helmgate_${version}-1_$(dpkg --print-architecture).deb
[ -f "$deb" ] || fail "no $deb"
say "built $deb ($(du -h "$deb" | cut -f1))"

# The same files repacked as the next revision, to test an upgrade. (dpkg-deb
# rather than a second cargo-deb run: cargo-deb deletes other versions' .debs
# from target/debian.)
work=target/deb-test
rm -rf "$work"
mkdir -p "$work"
dpkg-deb --raw-extract "$deb" "$work/tree"
sed -i "s/^Version: .*/Version: ${version}-2/" "$work/tree/DEBIAN/control"
upgrade_deb=$work/helmgate_${version}-2.deb
dpkg-deb --root-owner-group -Zgzip -z1 --build "$work/tree" "$upgrade_deb" >/dev/null

# --- static checks of the .deb ------------------------------------------------------
dpkg-deb --info "$deb" conffiles | grep -qx /etc/helmgate/helmgate.toml ||
  fail "/etc/helmgate/helmgate.toml is not a conffile"
dpkg-deb --info "$deb" conffiles | grep -qx /etc/logrotate.d/helmgate ||
  fail "/etc/logrotate.d/helmgate is not a conffile"
# The bash completions need bash-completion's loader.
dpkg-deb --field "$deb" Recommends | tr ',' '\n' | grep -qx ' *bash-completion' ||
  fail "the package does not recommend bash-completion (Recommends: $(dpkg-deb --field "$deb" Recommends))"

say "$(lintian --version)"
# Overrides ship in the package (packaging/deb/lintian-overrides, each with its
# reason); --show-overrides prints them so the log says what was overridden.
# Any other tag of severity info or above fails. (Not with --fail-on: combined
# with --show-overrides it counts the overridden tags too.)
lintian_out=$(lintian --display-info --show-overrides --fail-on none "$deb" 2>&1) || {
  printf '%s\n' "$lintian_out" >&2
  fail "lintian $deb"
}
if printf '%s\n' "$lintian_out" | grep -E '^[EWIX]: '; then
  fail "lintian reported tags that are not overridden"
fi
printf '%s\n' "$lintian_out" | grep '^O: ' | sed 's/^/test-deb: lintian override: /' || true
say "lintian: clean (no tag but the overrides above)"

# --- install -----------------------------------------------------------------------
installed=
cleanup() {
  if [ -n "$installed" ]; then
    dpkg -P helmgate >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

status() { dpkg-query -W -f='${db:Status-Abbrev}' helmgate 2>/dev/null | tr -d ' ' || true; }
service_running() { pgrep -f '^/usr/bin/helmgate( |$)' >/dev/null; }
systemd_running() { [ -d /run/systemd/system ]; }

unit=/usr/lib/systemd/system/helmgate.service
wants=/etc/systemd/system/multi-user.target.wants/helmgate.service
conf=/etc/helmgate/helmgate.toml
schema=/usr/share/helmgate/helmgate.schema.json
files=(
  /usr/bin/helmgate
  "$conf"
  "$unit"
  /usr/share/man/man1/helmgate.1.gz
  /usr/share/man/man1/helmgate-completions.1.gz
  /usr/share/man/man1/helmgate-healthcheck.1.gz
  /usr/share/man/man1/helmgate-manpage.1.gz
  /usr/share/man/man1/helmgate-schema.1.gz
  /usr/share/man/man5/helmgate.toml.5.gz
  "$schema"
  /usr/share/bash-completion/completions/helmgate
  /usr/share/zsh/vendor-completions/_helmgate
  /usr/share/fish/vendor_completions.d/helmgate.fish
  /usr/share/doc/helmgate/copyright
  /usr/share/doc/helmgate/changelog.Debian.gz
  /usr/share/lintian/overrides/helmgate
  /etc/logrotate.d/helmgate
)

if systemd_running; then
  say "systemd is running here"
else
  say "systemd is not PID 1 here (pid 1: $(cat /proc/1/comm))"
fi
installed=1
dpkg_out=$(dpkg -i "$deb" 2>&1) || {
  printf '%s\n' "$dpkg_out" >&2
  fail "dpkg -i $deb"
}
printf '%s\n' "$dpkg_out" | sed 's/^/test-deb: dpkg -i: /'
! printf '%s\n' "$dpkg_out" | grep -qi 'warning' || fail "dpkg -i printed a warning"
[ "$(status)" = ii ] || fail "after dpkg -i the package is '$(status)', not installed"

listed=$(dpkg -L helmgate)
for f in "${files[@]}"; do
  printf '%s\n' "$listed" | grep -qx "$f" || fail "dpkg -L helmgate lacks $f"
  test -f "$f" || fail "$f not installed"
done
test -x /usr/bin/helmgate || fail "/usr/bin/helmgate is not executable"
say "dpkg -i: installed ${#files[@]} checked files"

# The service user, and the config readable by its group only.
getent passwd helmgate >/dev/null || fail "no helmgate user"
getent group helmgate >/dev/null || fail "no helmgate group"
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd helmgate)
[ "$uid" -lt 1000 ] || fail "helmgate is not a system user (uid $uid)"
[ "$gid" = "$(getent group helmgate | cut -d: -f3)" ] || fail "helmgate's primary group is not helmgate"
[ "$shell" = /usr/sbin/nologin ] || fail "helmgate's shell is $shell"
[ ! -e "$home" ] || fail "helmgate's home $home exists"
perms() { stat -c '%U:%G %a' "$1"; }
[ "$(perms "$conf")" = "root:helmgate 640" ] || fail "$conf is $(perms "$conf")"
[ "$(perms /etc/helmgate)" = "root:helmgate 750" ] || fail "/etc/helmgate is $(perms /etc/helmgate)"
[ -d /etc/helmgate/conf.d ] && [ -z "$(ls -A /etc/helmgate/conf.d)" ] ||
  fail "no empty /etc/helmgate/conf.d"
[ "$(perms /etc/helmgate/conf.d)" = "root:helmgate 750" ] || fail "/etc/helmgate/conf.d is $(perms /etc/helmgate/conf.d)"
say "user helmgate (uid $uid), $conf root:helmgate 640, an empty conf.d/"

# The installed config is valid as installed, for root and for the unit's user
# (ExecStartPre runs this check as User=helmgate).
/usr/bin/helmgate --check --config "$conf" >/dev/null || fail "helmgate --check $conf"
runuser -u helmgate -- /usr/bin/helmgate --check --config "$conf" >/dev/null ||
  fail "the helmgate user cannot read and check $conf"
say "helmgate --check $conf: valid (as root and as helmgate)"

# The JSON Schema editors use: the binary's own, and the installed config's
# `#:schema` line points at it.
cmp -s <(/usr/bin/helmgate schema) "$schema" || fail "$schema is not what helmgate schema prints"
[ "$(head -n 1 "$conf")" = "#:schema $schema" ] || fail "$conf does not start with #:schema $schema"
say "$schema: what helmgate schema prints; $conf points at it"

# The unit: the /usr/bin copy of systemd/helmgate.service, enabled (a symlink,
# as dh_installsystemd does everywhere), started only where systemd runs.
grep -q '^ExecStart=/usr/bin/helmgate ' "$unit" || fail "$unit does not run /usr/bin/helmgate"
diff <(sed 's#/usr/local/bin/helmgate#/usr/bin/helmgate#g' systemd/helmgate.service) "$unit" >/dev/null ||
  fail "$unit differs from systemd/helmgate.service beyond the binary path"
verify_out=$(systemd-analyze verify "$unit" 2>&1) || true
[ -z "$verify_out" ] || {
  printf '%s\n' "$verify_out" >&2
  fail "systemd-analyze verify $unit"
}
[ -L "$wants" ] || fail "the unit is not enabled ($wants missing)"
# Log files: the unit may write /var/log/helmgate, which logrotate rotates
# with SIGUSR1 (helmgate reopens its files on it).
grep -qx 'LogsDirectory=helmgate' "$unit" || fail "$unit does not allow writing /var/log/helmgate"
grep -q 'USR1' /etc/logrotate.d/helmgate || fail "/etc/logrotate.d/helmgate does not send SIGUSR1"
logrotate_out=$(logrotate --debug /etc/logrotate.d/helmgate 2>&1) || {
  printf '%s\n' "$logrotate_out" >&2
  fail "logrotate --debug /etc/logrotate.d/helmgate"
}
! printf '%s\n' "$logrotate_out" | grep -qi 'error' || {
  printf '%s\n' "$logrotate_out" >&2
  fail "logrotate reports an error in /etc/logrotate.d/helmgate"
}
say "log files: LogsDirectory=helmgate, /etc/logrotate.d/helmgate parses and sends SIGUSR1"
if systemd_running; then
  systemctl is-active --quiet helmgate || fail "systemd runs here but helmgate.service is not active"
  ! printf '%s\n' "$dpkg_out" | grep -q 'was not started' || fail "postinst says the service was not started, but it runs"
  say "unit active (systemd is running)"
else
  sleep 1
  ! service_running || fail "helmgate was started although systemd is not running"
  # ... and postinst says so, with the command that runs it.
  printf '%s\n' "$dpkg_out" | grep -q 'helmgate.service was not started' ||
    fail "postinst did not say that the service was not started"
  printf '%s\n' "$dpkg_out" | grep -qF 'runuser -u helmgate -- helmgate --config /etc/helmgate/helmgate.toml' ||
    fail "postinst did not say how to run helmgate without systemd"
  say "unit enabled ($wants), not started: systemd is not running; postinst said how to run it"
fi

# Completions parse in their shells; the man pages render without warnings.
bash -n /usr/share/bash-completion/completions/helmgate || fail "bash completions: syntax"
bash -c 'source /usr/share/bash-completion/completions/helmgate && complete -p helmgate' >/dev/null ||
  fail "bash completions do not register for helmgate"
zsh -n /usr/share/zsh/vendor-completions/_helmgate || fail "zsh completions: syntax"
fish --no-execute /usr/share/fish/vendor_completions.d/helmgate.fish || fail "fish completions: syntax"
[ "$(man -w helmgate)" = /usr/share/man/man1/helmgate.1.gz ] || fail "man -w helmgate: $(man -w helmgate)"
[ "$(man -w helmgate.toml)" = /usr/share/man/man5/helmgate.toml.5.gz ] || fail "man -w helmgate.toml: $(man -w helmgate.toml)"
for page in man1/helmgate.1 man1/helmgate-completions.1 man1/helmgate-healthcheck.1 man1/helmgate-manpage.1 \
  man1/helmgate-schema.1 man5/helmgate.toml.5; do
  rendered=$(MANWIDTH=80 man --warnings -l "/usr/share/man/$page.gz" 2>&1 >/dev/null) || fail "man $page"
  [ -z "$rendered" ] || {
    printf '%s\n' "$rendered" >&2
    fail "man $page: groff warnings"
  }
done
MANWIDTH=80 man -l /usr/share/man/man1/helmgate.1.gz 2>/dev/null | grep -q -- '--upgrade-sock' ||
  fail "man helmgate lacks --upgrade-sock"
for section in FILES SIGNALS 'EXIT STATUS' ENVIRONMENT 'SEE ALSO'; do
  MANWIDTH=80 man -l /usr/share/man/man1/helmgate.1.gz 2>/dev/null | grep -qx "$section" ||
    fail "man helmgate lacks the section $section"
done
MANWIDTH=80 man 5 helmgate.toml 2>/dev/null | grep -q 'grace_period_secs' ||
  fail "man 5 helmgate.toml lacks [server] grace_period_secs"
say "completions (bash, zsh, fish) parse; man pages render"

# --- upgrade: local edits to the conffile survive -----------------------------------
echo "# local edit by test-deb" >>"$conf"
dpkg_out=$(dpkg -i "$upgrade_deb" 2>&1) || {
  printf '%s\n' "$dpkg_out" >&2
  fail "dpkg -i $upgrade_deb (upgrade)"
}
[ "$(dpkg-query -W -f='${Version}' helmgate)" = "${version}-2" ] || fail "upgrade did not install ${version}-2"
grep -qx "# local edit by test-deb" "$conf" || fail "the upgrade overwrote the local edit of $conf"
[ "$(perms "$conf")" = "root:helmgate 640" ] || fail "after upgrade $conf is $(perms "$conf")"
say "upgrade to ${version}-2: local edit of $conf kept, still root:helmgate 640"

# --- remove: program gone, conffile and user kept -------------------------------------
dpkg -r helmgate >/dev/null 2>&1 || fail "dpkg -r helmgate"
[ "$(status)" = rc ] || fail "after dpkg -r the package is '$(status)', not config-files"
for f in /usr/bin/helmgate "$unit" /usr/share/man/man1/helmgate.1.gz /usr/share/bash-completion/completions/helmgate "$schema"; do
  [ ! -e "$f" ] || fail "dpkg -r left $f"
done
grep -qx "# local edit by test-deb" "$conf" || fail "dpkg -r removed or reset $conf"
getent passwd helmgate >/dev/null || fail "dpkg -r removed the helmgate user (only purge should)"
! service_running || fail "helmgate runs after dpkg -r"
say "dpkg -r: binary, unit, man page, completions removed; $conf (with the edit) and user kept"

# --- purge: conffile, user, group, overrides and unit links gone ---------------------------
dpkg -P helmgate >/dev/null 2>&1 || fail "dpkg -P helmgate"
installed=
[ -z "$(status)" ] || [ "$(status)" = pn ] || fail "after dpkg -P the package is '$(status)'"
[ ! -e "$conf" ] || fail "dpkg -P left $conf"
[ ! -e /etc/helmgate ] || fail "dpkg -P left /etc/helmgate"
[ ! -e /var/log/helmgate ] || fail "dpkg -P left /var/log/helmgate"
[ ! -e /etc/logrotate.d/helmgate ] || fail "dpkg -P left /etc/logrotate.d/helmgate"
! getent passwd helmgate >/dev/null || fail "dpkg -P left the helmgate user"
! getent group helmgate >/dev/null || fail "dpkg -P left the helmgate group"
! dpkg-statoverride --list | grep -q /etc/helmgate || fail "dpkg -P left stat overrides"
for link in "$wants" /etc/systemd/system/helmgate.service; do # enable link; mask from dpkg -r
  if [ -e "$link" ] || [ -L "$link" ]; then fail "dpkg -P left $link"; fi
done
say "dpkg -P: $conf, /etc/helmgate, user, group, stat overrides and unit links removed"

say "all Debian package checks passed"
