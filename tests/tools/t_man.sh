#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The manual pages: each renders without a warning from groff (-ww),
# man-db's man -l and mandoc -T lint (style notes included); the lists
# man/sm-man generates say exactly what the files they come from say
# (libsplicemsg(7)'s variables and their defaults: shim/options.def; its
# fallback reasons and counters: stats.def, counters.def; splicemsg(4)'s
# sysfs counters: kmod/counters.def); and every long option the two tools'
# --help (and systemd-dropin --help) prints is described in their pages.  One line per check; exit 0,
# 1, 77 or 99.
set -u
# shellcheck source=tests/t_lib.sh
. "$(cd "$(dirname "$0")/.." && pwd)/t_lib.sh"
t_clean_env
man=$top_builddir/man
pages=(splicemsg.1 splicemsg-stat.1 splicemsg.4 libsplicemsg.7)
for p in "${pages[@]}"; do
	[ -f "$man/$p" ] || { echo "ERROR: $man/$p not built"; exit 99; }
done
command -v groff >/dev/null || { echo "SKIP: no groff"; exit 77; }
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$T_NAME.XXXXXX") || exit 99
trap 'rm -rf "$T_TMP"' EXIT
export LC_ALL=C.UTF-8 MANWIDTH=80

for p in "${pages[@]}"; do
	groff -ww -man -z "$man/$p" >"$T_TMP/out" 2>&1
	[ $? -eq 0 ] && [ ! -s "$T_TMP/out" ]
	t_verdict $? "groff -ww: $p" "warnings:" "$T_TMP/out"
	if command -v man >/dev/null; then
		man --warnings -l "$man/$p" 2>"$T_TMP/out" >"$T_TMP/$p.txt"
		[ $? -eq 0 ] && [ ! -s "$T_TMP/out" ] && [ -s "$T_TMP/$p.txt" ]
		t_verdict $? "man -l: $p" "warnings:" "$T_TMP/out"
	else
		t_skip "man -l: $p" "no man"
	fi
	if command -v mandoc >/dev/null; then
		mandoc -T lint -W all "$man/$p" >"$T_TMP/out" 2>&1
		[ ! -s "$T_TMP/out" ]
		t_verdict $? "mandoc -T lint: $p" "" "$T_TMP/out"
	else
		t_skip "mandoc -T lint: $p" "no mandoc (Debian: mandoc)"
	fi
done

# section NAME FILE: a page's section, in troff, without its heading.
section() {
	awk -v s=".SH $1" '/^\.SH / { on = ($0 == s); next } on' "$2"
}
# The tags of a section's .TP lists, each with the first line of its text.
tagged() {
	section "$1" "$2" | awk '
		tp && /^\.B / { tag = $2; tp = 0; next }
		tag != "" { print tag, $0; tag = "" }
		{ tp = ($0 == ".TP") }'
}
tags() { tagged "$@" | cut -d' ' -f1; }
# same WHAT EXPECTED GOT: one verdict on two lists.
same() {
	[ "$2" = "$3" ]
	t_verdict $? "$1" "expected: $(echo $2), got: $(echo $3)"
}

def=$top_srcdir/shim
want=$(sed -n 's/^SM_OPT(\([A-Z_]*\),.*/SPLICEMSG_\1/p' "$def/options.def")
same "libsplicemsg(7) ENVIRONMENT lists exactly options.def's variables" \
	"$want" "$(tags ENVIRONMENT "$man/libsplicemsg.7")"
bad=
while read -r name def_value; do
	def_value=${def_value#\"} def_value=${def_value%\"}
	if [ -n "$def_value" ]; then
		text="Default \\fB$def_value\\fR"
	else
		text="Default empty"
	fi
	tagged ENVIRONMENT "$man/libsplicemsg.7" | grep -qF "$name $text" ||
		bad="$bad $name"
done < <(sed -n 's/^SM_OPT(\([A-Z_]*\), *[A-Z]*, *\("[^"]*"\),.*/SPLICEMSG_\1 \2/p' \
	"$def/options.def")
[ -z "$bad" ]
t_verdict $? "libsplicemsg(7) gives each variable options.def's default" \
	"wrong or missing:$bad"

stats=$(tags STATISTICS "$man/libsplicemsg.7")
want=$(sed -n 's/^SM_FB(\([a-z_]*\),.*/\1/p' "$def/stats.def"
	sed -n 's/^SM_COUNTER(\([a-z_]*\),.*/\1/p' "$def/counters.def")
same "libsplicemsg(7) STATISTICS lists stats.def's and counters.def's keys" \
	"$want" "$stats"
same "libsplicemsg(7) DESCRIPTION lists paths.def's paths" \
	"$(sed -n 's/^SM_PATH(\([a-z_]*\),.*/\1/p' "$def/paths.def")" \
	"$(tags DESCRIPTION "$man/libsplicemsg.7")"
same "splicemsg(4) SYSFS lists kmod/counters.def's counters" \
	"$(sed -n 's/^SM_KCOUNTER(\([a-z_]*\))/\1/p' "$top_srcdir/kmod/counters.def")" \
	"$(section SYSFS "$man/splicemsg.4" |
		awk '/^\.BR [a-z_]+ [,.]$/ { print $2; if ($3 == ".") exit }')"

# Every --option of a tool's --help (and systemd-dropin's), in the OPTIONS
# or COMMANDS of its page.
for tool in splicemsg splicemsg-stat; do
	"$top_builddir/tools/$tool" --help >"$T_TMP/help" 2>&1
	[ $tool = splicemsg ] &&
		"$top_builddir/tools/$tool" systemd-dropin --help >>"$T_TMP/help" 2>&1
	groff -man -Tutf8 -P-cbou "$man/$tool.1" 2>/dev/null |
		awk '/^[A-Z]/ { on = ($0 == "OPTIONS" || $0 == "COMMANDS"); next } on' \
		>"$T_TMP/opts"
	miss=
	for o in $(grep -o -- '--[a-z][a-z-]*' "$T_TMP/help" | sort -u); do
		grep -q -- "$o\\b" "$T_TMP/opts" || miss="$miss $o"
	done
	[ -z "$miss" ]
	t_verdict $? "$tool(1) describes every option of $tool's --help" \
		"not in its OPTIONS or COMMANDS:$miss"
done
t_finish
