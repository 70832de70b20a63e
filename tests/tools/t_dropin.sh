#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# splicemsg systemd-dropin: the drop-in it prints (LD_PRELOAD naming the
# installed library or $SPLICEMSG_LIB, one Environment= line per option
# given and none other, values quoted and escaped as systemd reads them),
# options before and after the service, its refusals (exit 2, nothing
# written), and --write --root DIR: the file where systemd looks for it,
# mode 0644, replaced whole, no temporary left behind, and accepted by
# systemd-analyze verify without a word.  One line per check; exit 0, 1,
# 77 or 99.
set -u
# shellcheck source=tests/t_lib.sh
. "$(cd "$(dirname "$0")/.." && pwd)/t_lib.sh"
SM_WRAPPER=${SM_WRAPPER:-$top_builddir/tools/splicemsg}
t_clean_env
unset SPLICEMSG_LIB
[ -x "$SM_WRAPPER" ] || { echo "ERROR: $SM_WRAPPER not built"; exit 99; }
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$T_NAME.XXXXXX") || exit 99
trap 'rm -rf "$T_TMP"' EXIT
OUT=$T_TMP/out ERR=$T_TMP/err

# The installed library's path, as make install lays it out.
# shellcheck disable=SC2016 # make expands it, not the shell
libdir=$(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top_builddir" \
	--no-print-directory --eval='sm-print-%: ; @echo $($*)' sm-print-libdir)
abi=$(sed -n 's/^SM_ABI=//p' "$top_srcdir/configure.ac")
lib=$libdir/libsplicemsg.so.$abi

dropin() {
	"$SM_WRAPPER" systemd-dropin "$@" >"$OUT" 2>"$ERR"
	rc=$?
}
# The Environment= lines of $OUT, in order.
envs() { grep '^Environment=' "$OUT"; }

dropin nginx --engine uring --only nginx --stats '/var/log/sm/%p.json'
want='Environment="LD_PRELOAD='$lib'"
Environment="SPLICEMSG_ONLY=nginx"
Environment="SPLICEMSG_ENGINE=uring"
Environment="SPLICEMSG_STATS=/var/log/sm/%%p.json"'
[ $rc -eq 0 ] && grep -qx '\[Service\]' "$OUT" && [ "$(envs)" = "$want" ]
t_verdict $? "LD_PRELOAD, then one line per option, %p kept from systemd as %%p" \
	"exit $rc:" "$OUT"

dropin --engine uring --only nginx --stats '/var/log/sm/%p.json' nginx.service
[ $rc -eq 0 ] && [ "$(envs)" = "$want" ]
t_verdict $? "options before the service, and NAME.service, the same" \
	"exit $rc:" "$OUT"

dropin nginx
[ $rc -eq 0 ] && [ "$(envs)" = "Environment=\"LD_PRELOAD=$lib\"" ]
t_verdict $? "no option: LD_PRELOAD alone" "exit $rc:" "$OUT"

SPLICEMSG_LIB=$SM_LIB dropin nginx --log-file '/tmp/a "b"\c'
want='Environment="LD_PRELOAD='$SM_LIB'"
Environment="SPLICEMSG_LOG_FILE=/tmp/a \"b\"\\c"'
[ $rc -eq 0 ] && [ "$(envs)" = "$want" ] && [ ! -s "$ERR" ]
t_verdict $? "\$SPLICEMSG_LIB named; quotes and backslashes escaped" \
	"exit $rc:" "$OUT"

# Refusals: a usage error, nothing printed.
refuse() {
	local what=$1
	shift
	dropin "$@"
	[ $rc -eq 2 ] && [ ! -s "$OUT" ] && [ -s "$ERR" ]
	t_verdict $? "refuses $what (exit 2)" "exit $rc:" "$ERR"
}
refuse "a bad word" --engine fast nginx
refuse "no service"
refuse "two services" nginx apache2
refuse "a name with a slash" ../nginx
refuse "an empty name" ''
refuse "a value with a newline" nginx --only "$(printf 'a\nb')"
refuse "--root without --write" --root "$T_TMP" nginx
refuse "the wrapper's --verbose" -v nginx

# --write under a scratch root.
root=$T_TMP/root
d=$root/etc/systemd/system/nginx.service.d
dropin nginx --engine kmod
printed=$(cat "$OUT")
dropin nginx --engine kmod --write --root "$root"
[ $rc -eq 0 ] && [ "$(cat "$d/splicemsg.conf" 2>&1)" = "$printed" ] &&
	[ "$(stat -c %a "$d/splicemsg.conf")" = 644 ] &&
	grep -q "systemctl daemon-reload" "$OUT"
t_verdict $? "--write --root: the printed drop-in, mode 0644, in SERVICE.service.d" \
	"exit $rc:" "$ERR"
dropin nginx.service --zc never --write --root "$root"
[ $rc -eq 0 ] && grep -qx 'Environment="SPLICEMSG_ZC=never"' "$d/splicemsg.conf" &&
	! grep -q SPLICEMSG_ENGINE "$d/splicemsg.conf" &&
	[ "$(ls -A "$d")" = splicemsg.conf ]
t_verdict $? "--write again: replaced whole, no temporary file left" \
	"exit $rc, $d holds: $(ls -A "$d" | tr '\n' ' ')"
# A directory that cannot be made: an error that says where.
mkdir -p "$root/etc/systemd/system"
: >"$root/etc/systemd/system/x.service.d"
dropin x --write --root "$root"
[ $rc -eq 1 ] && grep -q 'x.service.d' "$ERR" && [ ! -s "$OUT" ]
t_verdict $? "--write where the directory cannot be: exit 1, said where" \
	"exit $rc:" "$ERR"

# What systemd makes of it: a unit of the scratch root with the drop-in,
# verified offline; a specifier it cannot resolve or a line it cannot
# parse would be reported.
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$root/usr/bin"
	cp "$(type -P true)" "$root/usr/bin/t"
	printf '[Unit]\nDescription=t\nDefaultDependencies=no\n[Service]\nExecStart=/usr/bin/t\n' \
		>"$root/etc/systemd/system/t.service"
	SPLICEMSG_LIB=/usr/bin/t dropin t --write --root "$root" \
		--stats '/x/%p "q"\z' --only t --log-file '/l/%h'
	systemd-analyze verify --root="$root" t.service >"$T_TMP/verify" 2>&1
	[ $? -eq 0 ] && [ $rc -eq 0 ] && [ ! -s "$T_TMP/verify" ]
	t_verdict $? "systemd-analyze verify: the drop-in parses, no stray specifier" \
		"" "$T_TMP/verify"
else
	t_skip "systemd-analyze verify" "no systemd-analyze"
fi
t_finish
