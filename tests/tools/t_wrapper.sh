#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The splicemsg wrapper command: what it puts in the environment of the
# command it runs, its exit codes, and that the library really is loaded
# there.  One line per check, a summary line, and the usual exit codes:
# 0 pass, 1 fail, 77 skip, 99 harness error.
#
# Environment: SM_WRAPPER (default $top_builddir/tools/splicemsg), SM_LIB
# (default $top_builddir/shim/.libs/libsplicemsg.so), top_srcdir (for
# shim/options.def and shim/options.c), top_builddir.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u

# shellcheck source=tests/t_lib.sh
. "$(cd "$(dirname "$0")/.." && pwd)/t_lib.sh"
SM_WRAPPER=${SM_WRAPPER:-$top_builddir/tools/splicemsg}
[[ $SM_WRAPPER == */* ]] || SM_WRAPPER=./$SM_WRAPPER
OPTIONS_DEF=$top_srcdir/shim/options.def
OPTIONS_C=$top_srcdir/shim/options.c
t_clean_env
# The copy under test, whatever is installed in the wrapper's libdir.
export SPLICEMSG_LIB=$SM_LIB

for f in "$SM_WRAPPER" "$SM_LIB" "$OPTIONS_DEF" "$OPTIONS_C"; do
	if [ ! -e "$f" ]; then
		echo "ERROR: $f not found (make check builds it)"
		exit 99
	fi
done

# A sanitized library is preloaded ahead of the ASan runtime it needs,
# which ASan refuses by default; the programs it goes into are not ours.
if [ "${SM_PRELOAD:-$SM_LIB}" != "$SM_LIB" ]; then
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
	export ASAN_OPTIONS
fi

T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$T_NAME.XXXXXX") || exit 99
trap 'rm -rf "$T_TMP"' EXIT
trap 'exit 99' INT TERM
OUT=$T_TMP/out
ERR=$T_TMP/err

T_TIMEOUT=()
command -v timeout >/dev/null && T_TIMEOUT=(timeout 60)

# t_run [VAR=value...] PROGRAM ARGS...: stdout in $OUT, stderr in $ERR,
# exit status in $rc.
t_run() {
	"${T_TIMEOUT[@]}" env "$@" >"$OUT" 2>"$ERR"
	rc=$?
}

# The value of $1 in an `env` listing in $OUT; status 1 if absent.
t_env() {
	grep -m1 "^$1=" "$OUT" | cut -d= -f2-
	grep -q "^$1=" "$OUT"
}

# Every "NAME default" pair of options.def, one per line.
def_list() {
	sed -n 's/^SM_OPT(\([A-Z0-9_]*\), *[A-Z]*, *"\([^"]*\)".*/\1 \2/p' \
		"$OPTIONS_DEF"
}

# The words options.def gives type $1, as the library parses them, sorted.
words_lib() {
	sed -n "s/^SM_WORD($1, *\"\([^\"]*\)\".*/\1/p" "$OPTIONS_DEF" | sort
}

# ...and as the wrapper's --help lists them for SPLICEMSG_$1.
words_wrapper() {
	"$SM_WRAPPER" --help |
		sed -n "s/.* SPLICEMSG_$1: \([^ ]*\)\$/\1/p" |
		tr '|' '\n' | sort
}

ndef=$(grep -c '^SM_OPT(' "$OPTIONS_DEF")
if [ "$ndef" -eq 0 ] || [ "$(def_list | wc -l)" -ne "$ndef" ]; then
	echo "ERROR: cannot parse the SM_OPT lines of $OPTIONS_DEF"
	exit 99
fi

# ---- running the command ---------------------------------------------

nocmd=sm-no-such-command-$$
t_run "$SM_WRAPPER" -- "$nocmd"
if [ "$rc" -ne 127 ]; then
	t_fail "missing command" "exit $rc, not 127"
elif ! grep -qxF "splicemsg: $nocmd: command not found" "$ERR"; then
	t_fail "missing command" "message: $(head -1 "$ERR")"
else
	t_pass "missing command: exit 127, command not found"
fi

printf 'echo not run\n' >"$T_TMP/noexec"
t_run "$SM_WRAPPER" "$T_TMP/noexec"
if [ "$rc" -eq 126 ]; then
	t_pass "command that cannot run: exit 126"
else
	t_fail "command that cannot run" "exit $rc, not 126"
fi

# shellcheck disable=SC2016 # for the inner shell to expand
t_run "$SM_WRAPPER" sh -c 'echo "$1"; exit 3' sh --engine=bogus -v
if [ "$rc" -eq 3 ] && [ "$(cat "$OUT")" = "--engine=bogus" ]; then
	t_pass "options after COMMAND are COMMAND's; its exit status kept"
else
	t_fail "options after COMMAND" "exit $rc, output '$(head -1 "$OUT")'"
fi

# ---- LD_PRELOAD ----------------------------------------------------------

t_run "$SM_WRAPPER" -- env
got=$(t_env LD_PRELOAD)
if [ "$got" = "$SM_LIB" ]; then
	t_pass "LD_PRELOAD set to the library"
else
	t_fail "LD_PRELOAD set to the library" "LD_PRELOAD='$got'"
fi

# ld.so warns on stderr about the missing object; that is expected.
other=$T_TMP/no-such-preload.so
t_run LD_PRELOAD="$other" "$SM_WRAPPER" -- env
got=$(t_env LD_PRELOAD)
if [ "$got" = "$SM_LIB:$other" ]; then
	t_pass "library prepended to an existing LD_PRELOAD"
else
	t_fail "prepend to LD_PRELOAD" "LD_PRELOAD='$got'"
fi

for pre in "$SM_LIB" "$other:$SM_LIB" "$other $SM_LIB"; do
	t_run LD_PRELOAD="$pre" "$SM_WRAPPER" -- env
	got=$(t_env LD_PRELOAD)
	if [ "$got" = "$pre" ]; then
		t_pass "not added twice to LD_PRELOAD='$pre'"
	else
		t_fail "not added twice to '$pre'" "LD_PRELOAD='$got'"
	fi
done

ln -s "$SM_LIB" "$T_TMP/alias.so"
t_run LD_PRELOAD="$T_TMP/alias.so" "$SM_WRAPPER" -- env
got=$(t_env LD_PRELOAD)
if [ "$got" = "$T_TMP/alias.so" ]; then
	t_pass "not added when LD_PRELOAD has it by another path"
else
	t_fail "another path to the library" "LD_PRELOAD='$got'"
fi

libdir=$(cd -P "$(dirname "$SM_LIB")" && pwd)
(cd "$libdir" && SPLICEMSG_LIB=$(basename "$SM_LIB") \
	"$SM_WRAPPER" -- env) >"$OUT" 2>"$ERR"
got=$(t_env LD_PRELOAD)
if [[ $got == /* ]] && [ "$got" -ef "$SM_LIB" ]; then
	t_pass "relative SPLICEMSG_LIB made absolute"
else
	t_fail "relative SPLICEMSG_LIB" "LD_PRELOAD='$got'"
fi

t_run SPLICEMSG_LIB="$T_TMP/none.so" "$SM_WRAPPER" -- touch "$T_TMP/ran"
if [ "$rc" -eq 1 ] && [ ! -e "$T_TMP/ran" ] &&
   grep -q "SPLICEMSG_LIB=$T_TMP/none.so" "$ERR"; then
	t_pass "SPLICEMSG_LIB naming nothing: exit 1, not run"
else
	t_fail "SPLICEMSG_LIB naming nothing" "exit $rc: $(head -1 "$ERR")"
fi

# Without SPLICEMSG_LIB, a copy of the wrapper finds the library of the
# build tree it sits in.  /proc/self/exe sees through symbolic links, so
# the wrapper is copied; a libtool wrapper script would not work copied.
tree=$(cd -P "$T_TMP" && pwd)/tree
mkdir -p "$tree/tools" "$tree/shim/.libs"
cp "$SM_WRAPPER" "$tree/tools/splicemsg"
cp "$SM_LIB" "$tree/shim/.libs/libsplicemsg.so"
if [ "$(head -c2 "$SM_WRAPPER")" = "#!" ]; then
	t_skip "build-tree lookup" "$SM_WRAPPER is a script"
else
	t_run -u SPLICEMSG_LIB "$tree/tools/splicemsg" -v -- env
	got=$(t_env LD_PRELOAD)
	# the build tree comes before an installed library
	if [ "$got" = "$tree/shim/.libs/libsplicemsg.so" ]; then
		t_pass "library found in the build tree"
	else
		t_fail "build-tree lookup" "exit $rc, LD_PRELOAD='$got'"
	fi
fi

# ---- options and variables ---------------------------------------------

t_run "$SM_WRAPPER" --engine uring --stats "$T_TMP/x" -- env
if [ "$(t_env SPLICEMSG_ENGINE)" = uring ] &&
   [ "$(t_env SPLICEMSG_STATS)" = "$T_TMP/x" ]; then
	t_pass "--engine X --stats Y set the variables"
else
	t_fail "--engine X --stats Y" "exit $rc; $(grep ^SPLICEMSG_ "$OUT")"
fi

t_run "$SM_WRAPPER" --zc=never --log=debug --log-file="$T_TMP/log" \
	--only=a,b -- env
if [ "$(t_env SPLICEMSG_ZC)" = never ] &&
   [ "$(t_env SPLICEMSG_LOG)" = debug ] &&
   [ "$(t_env SPLICEMSG_LOG_FILE)" = "$T_TMP/log" ] &&
   [ "$(t_env SPLICEMSG_ONLY)" = a,b ]; then
	t_pass "--opt=value forms set the variables"
else
	t_fail "--opt=value forms" "exit $rc; $(grep ^SPLICEMSG_ "$OUT")"
fi

t_run SPLICEMSG_ZC=report SPLICEMSG_ENGINE=native "$SM_WRAPPER" \
	--engine=kmod -- env
if [ "$(t_env SPLICEMSG_ZC)" = report ] &&
   [ "$(t_env SPLICEMSG_ENGINE)" = kmod ]; then
	t_pass "environment kept without an option, overridden by one"
else
	t_fail "environment vs options" "$(grep ^SPLICEMSG_ "$OUT")"
fi

t_run "$SM_WRAPPER" --engine=bogus -- touch "$T_TMP/ran"
if [ "$rc" -eq 2 ] && [ ! -e "$T_TMP/ran" ] && grep -q bogus "$ERR"; then
	t_pass "bad --engine value: exit 2, not run"
else
	t_fail "bad --engine value" "exit $rc: $(head -1 "$ERR")"
fi

for args in "--no-such-option true" "-x true" "--engine" "" \
	"--verbose=1 true" "doc extra"
do
	# shellcheck disable=SC2086 # split on purpose
	t_run "$SM_WRAPPER" $args
	if [ "$rc" -eq 2 ] && [ -s "$ERR" ]; then
		t_pass "usage error '$args': exit 2"
	else
		t_fail "usage error '$args'" "exit $rc"
	fi
done

# The wrapper's lists of accepted words against the library's own.
for pair in ENGINE:ENGINE ZC:ZC LOG:LEVEL; do
	var=${pair%%:*}
	lib_words=$(words_lib "${pair#*:}")
	if [ -z "$lib_words" ]; then
		t_error "words of SPLICEMSG_$var" \
			"no SM_WORD(${pair#*:}, ...) in $OPTIONS_DEF"
		continue
	fi
	wrapper_words=$(words_wrapper "$var")
	if [ "$lib_words" != "$wrapper_words" ]; then
		t_fail "words of SPLICEMSG_$var" \
			"library: $(echo "$lib_words" | tr '\n' ' ')," \
			"wrapper: $(echo "$wrapper_words" | tr '\n' ' ')"
		continue
	fi
	bad=
	for w in $lib_words; do
		flag=--$(echo "$var" | tr 'A-Z_' 'a-z-')
		t_run "$SM_WRAPPER" "$flag=$w" -- true
		[ "$rc" -eq 0 ] || bad="$bad $w"
	done
	if [ -z "$bad" ]; then
		t_pass "SPLICEMSG_$var: the wrapper accepts the library's words"
	else
		t_fail "SPLICEMSG_$var words" "refused:$bad"
	fi
done

# ---- doc, -v, --version --------------------------------------------------

t_run "$SM_WRAPPER" doc
missing=
while read -r name def; do
	[ -n "$def" ] || def='""'
	grep -qxF "SPLICEMSG_$name (default: $def)" "$OUT" ||
		missing="$missing $name"
done < <(def_list)
if [ "$rc" -ne 0 ]; then
	t_fail "doc" "exit $rc"
elif [ -n "$missing" ]; then
	t_fail "doc" "no or wrong block for:$missing"
elif [ "$(grep -c '^SPLICEMSG_' "$OUT")" -ne "$ndef" ]; then
	t_fail "doc" "$(grep -c '^SPLICEMSG_' "$OUT") blocks, $ndef options"
elif grep -v '^SPLICEMSG_' "$OUT" | grep -qv '^    [^ ]'; then
	t_fail "doc" "a description line is not indented by 4"
elif awk 'length($0) > 76 && !/^SPLICEMSG_/ { bad = 1 } END { exit !bad }' \
	"$OUT"; then
	t_fail "doc" "a description line is longer than 76 columns"
else
	t_pass "doc: every option of options.def with its default"
fi

t_run SPLICEMSG_ZC=never "$SM_WRAPPER" -v --engine uring -- true
missing=
while read -r name def; do
	grep -q "^splicemsg: SPLICEMSG_$name=" "$ERR" ||
		missing="$missing $name"
done < <(def_list)
if [ "$rc" -ne 0 ]; then
	t_fail "-v" "exit $rc"
elif ! grep -qxF "splicemsg: library $SM_LIB (from \$SPLICEMSG_LIB)" \
	"$ERR"; then
	t_fail "-v" "no library line: $(head -1 "$ERR")"
elif [ -n "$missing" ]; then
	t_fail "-v" "no line for:$missing"
elif ! grep -qxF "splicemsg: SPLICEMSG_ENGINE=uring (option)" "$ERR" ||
     ! grep -qxF "splicemsg: SPLICEMSG_ZC=never (environment)" "$ERR" ||
     ! grep -qxF "splicemsg: SPLICEMSG_ENABLE=1 (default)" "$ERR"; then
	t_fail "-v" "option/environment/default not marked: $(grep ENGINE \
		"$ERR")"
else
	t_pass "-v prints the library and every variable's effective value"
fi

t_run "$SM_WRAPPER" --version
version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' \
	"$top_builddir/config.h" 2>/dev/null)
line1=$(sed -n 1p "$OUT")
line2=$(sed -n 2p "$OUT")
if [ -e /dev/splicemsg ]; then
	want="module api "
else
	want="module: not loaded (/dev/splicemsg: "
fi
if [ "$rc" -ne 0 ]; then
	t_fail "--version" "exit $rc"
elif [ -n "$version" ] && [ "$line1" != "splicemsg $version" ]; then
	t_fail "--version" "'$line1', config.h says $version"
elif [[ $line1 != "splicemsg "[0-9]* ]]; then
	t_fail "--version" "'$line1'"
elif [[ $line2 != "$want"* ]]; then
	t_fail "--version" "module line '$line2'"
else
	t_pass "--version: $line1; $line2"
fi

# ---- the library in the command ------------------------------------------

# The library writes its stats at exit only after an interposed call, so a
# stats file shows it was loaded, read its options and saw a sendfile.
py=$(command -v python3)
sendfile_py='import os, socket
a, b = socket.socketpair()
with open(os.environ["T_FILE"], "rb") as f:
	assert os.sendfile(a.fileno(), f.fileno(), 0, 5) == 5
assert b.recv(5) == b"01234"'
printf '0123456789\n' >"$T_TMP/data"
if [ -z "$py" ]; then
	t_skip "library loaded" "no python3 to call sendfile"
else
	t_run T_FILE="$T_TMP/data" "$SM_WRAPPER" --engine=native \
		--stats="$T_TMP/stats.%p.json" -- "$py" -c "$sendfile_py"
	stats=$(cat "$T_TMP"/stats.*.json 2>/dev/null)
	if [ "$rc" -ne 0 ]; then
		t_fail "library loaded" "exit $rc: $(tail -1 "$ERR")"
	elif [[ $stats != *'"calls_by_path":{'* ]]; then
		t_fail "library loaded" "no stats file with calls_by_path"
	elif [[ $stats != *'"engine":"native"'* ]]; then
		t_fail "library loaded" "--engine=native not seen: $stats"
	else
		t_pass "library loaded in the command, options seen"
	fi

	rm -f "$T_TMP"/stats.*.json
	t_run T_FILE="$T_TMP/data" "$SM_WRAPPER" --only=sm-no-such-program \
		--stats="$T_TMP/stats.%p.json" -- "$py" -c "$sendfile_py"
	if [ "$rc" -eq 0 ] && ! ls "$T_TMP"/stats.*.json >/dev/null 2>&1
	then
		t_pass "--only leaves other programs alone"
	else
		t_fail "--only" "exit $rc, or stats written for python"
	fi
fi

t_finish
