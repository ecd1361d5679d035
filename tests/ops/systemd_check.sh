#!/bin/sh
# systemd checks of the ops suite.
#   verify   UNIT INSTALLED_SUPERVISOR BUILD_SUPERVISOR: `systemd-analyze verify` must print nothing
#            (it exits 0 on unknown keys and bad values and only warns on stderr)
#   security UNIT ...: `systemd-analyze security --offline=true --threshold=40` must pass (the
#            threshold is in tenths: 40 = exposure 4.0); the score is printed for the log
#   sysusers SYSUSERS TMPFILES: both snippets parse (dry run into an empty root)
set -u
mode=$1
work=$(mktemp -d /tmp/ringward-systemd-XXXXXX)
trap 'rm -rf "$work"' EXIT
case "$mode" in
verify|security)
  unit=$2 installed=$3 built=$4
  # The unit as installed names the installed binary; point it at the build's so verify can check
  # that the command exists and is executable.
  sed "s|$installed|$built|g" "$unit" > "$work/ringward.service"
  cd "$work" || exit 1
  if [ "$mode" = verify ]; then
    systemd-analyze verify ./ringward.service > out.txt 2> err.txt
    rc=$?
    cat out.txt err.txt
    if [ $rc -ne 0 ] || [ -s err.txt ]; then echo "FAIL: systemd-analyze verify rc=$rc or warnings"; exit 1; fi
    echo "verify: no warnings"
  else
    systemd-analyze security --offline=true --threshold=40 ./ringward.service > out.txt 2>&1
    rc=$?
    grep -E '✗|Overall' out.txt
    [ $rc -eq 0 ] || { echo "FAIL: exposure above 4.0"; exit 1; }
  fi
  ;;
sysusers)
  # Create the users in an empty root, then the directories with them: both snippets must apply
  # cleanly and give the documented owners and modes.
  mkdir -p "$work/root/etc"
  systemd-sysusers --root="$work/root" "$2" || { echo "FAIL: sysusers"; exit 1; }
  for u in ringward-proc ringward-ship; do
    grep -q "^$u:" "$work/root/etc/passwd" || { echo "FAIL: $u not created"; exit 1; }
  done
  grep -q "^ringward:" "$work/root/etc/group" || { echo "FAIL: group ringward not created"; exit 1; }
  systemd-tmpfiles --root="$work/root" --create "$3" > "$work/tf.txt" 2>&1
  rc=$?
  cat "$work/tf.txt"
  [ $rc -eq 0 ] && [ ! -s "$work/tf.txt" ] || { echo "FAIL: tmpfiles rc=$rc"; exit 1; }
  ship_uid=$(grep '^ringward-ship:' "$work/root/etc/passwd" | cut -d: -f3)
  for d in var/lib/ringward var/lib/ringward/buffer var/lib/ringward/dlq; do
    [ "$(stat -c '%a %u' "$work/root/$d")" = "750 $ship_uid" ] || { echo "FAIL: $d: $(stat -c '%a %u' "$work/root/$d")"; exit 1; }
  done
  [ "$(stat -c '%a %u' "$work/root/run/ringward")" = "750 0" ] || { echo "FAIL: run/ringward"; exit 1; }
  echo "sysusers + tmpfiles: ok"
  ;;
*) echo "usage: $0 verify|security|sysusers ..."; exit 2 ;;
esac
exit 0
