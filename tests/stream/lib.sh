# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# Shared by the stream-*.sh drivers (sourced, not run).  A driver runs
# every sm_sender scenario natively once, then under libsplicemsg with one
# or more policies, and for each run checks that the transcript is
# byte-identical to the native one and that the shim's exit stats show the
# path the policy promises.  One line per check, a summary line, and the
# usual exit codes: 0 pass, 1 fail, 77 skip, 99 harness error.

# shellcheck source=tests/t_lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/t_lib.sh"
SM_HERE=$T_HERE
# What LD_PRELOAD gets; for a sanitizer build, put its runtime first:
# SM_PRELOAD="$(gcc -print-file-name=libasan.so) $SM_LIB"
SM_PRELOAD=${SM_PRELOAD:-$SM_LIB}
SM_SENDER=$top_builddir/tests/stream/sm_sender
SM_DENY=$top_builddir/tests/stream/t_deny
SM_STATS_PY=$SM_HERE/sm_stats.py
# One run may take this long; sm_sender's own alarm is 60 s.
SM_RUN_TIMEOUT=${SM_RUN_TIMEOUT:-120}

t_clean_env

sm_cleanup() {
	[ -n "${SM_TMP:-}" ] && rm -rf "$SM_TMP"
}

sm_init() {
	SM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$T_NAME.XXXXXX") || exit 99
	trap sm_cleanup EXIT
	trap 'exit 99' INT TERM
	export TMPDIR=$SM_TMP
	if [ ! -x "$SM_SENDER" ]; then
		echo "ERROR: $SM_SENDER not built (make check builds it)"
		exit 99
	fi
	sm_dmesg_mark
}

# Exit with the summary, as automake's parallel harness expects.
sm_finish() {
	sm_dmesg_check
	t_finish
}

# ---- kernel log: a shim can also break the kernel ----------------------

sm_dmesg_mark() {
	SM_DMESG_LINES=
	if dmesg >/dev/null 2>&1; then
		SM_DMESG_LINES=$(dmesg | wc -l)
	fi
}

sm_dmesg_check() {
	local new
	[ -n "$SM_DMESG_LINES" ] || return 0
	new=$(dmesg | tail -n +"$((SM_DMESG_LINES + 1))" |
		grep -E 'BUG:|WARNING:|Oops:|general protection' |
		head -5)
	if [ -n "$new" ]; then
		t_fail "kernel log" "new warnings while the tests ran"
		echo "$new" | sed 's/^/    /'
	else
		t_pass "kernel log"
	fi
}

# ---- running sm_sender ---------------------------------------------------

# sm_scenarios [TAG-OR-NAME-TO-DROP...]: scenario names, minus those tagged
# or named so.
sm_scenarios() {
	local name tags t drop
	"$SM_SENDER" --list | while read -r name tags; do
		drop=
		for t in "$@"; do
			case ",$tags," in *",$t,"*) drop=1 ;; esac
			[ "$name" = "$t" ] && drop=1
		done
		[ -z "$drop" ] && echo "$name"
	done
}

# sm_run DIR SCENARIO [PREFIX-CMD... --] [VAR=VALUE...]
# Runs one scenario with the environment given; DIR gets out, err, rc
# and the meta.PID / stats.PID.json files.
sm_run() {
	local dir=$1 scen=$2 prefix=()
	shift 2
	if [ "${1:-}" = "--deny" ]; then
		prefix=("$SM_DENY" --errno "$2" --)
		shift 2
	fi
	mkdir -p "$dir"
	timeout -k 5 "$SM_RUN_TIMEOUT" "${prefix[@]}" env "$@" \
		"$SM_SENDER" --meta "$dir/meta.%p" "$scen" \
		>"$dir/out" 2>"$dir/err"
	echo $? >"$dir/rc"
}

# Native reference runs.  Sets SM_NATIVE_OK to the scenarios that ran.
sm_native_all() {
	local scen rc
	SM_NATIVE_OK=
	for scen in $(sm_scenarios "$@"); do
		sm_run "$SM_TMP/native/$scen" "$scen"
		rc=$(cat "$SM_TMP/native/$scen/rc")
		case $rc in
		0)
			t_pass "native/$scen"
			SM_NATIVE_OK="$SM_NATIVE_OK $scen"
			;;
		77)
			t_skip "native/$scen" \
				"$(head -1 "$SM_TMP/native/$scen/out")"
			;;
		*)
			t_error "native/$scen" "exit $rc without the shim"
			t_show "$SM_TMP/native/$scen/err" 15
			t_show "$SM_TMP/native/$scen/out" 5
			;;
		esac
	done
}

# The rest cannot run: say why and exit 77, unless something already
# failed.  Native runs passing are no reason to report a pass.
sm_skip_rest() {
	echo "SKIP: $1"
	t_summary
	[ "$T_ERROR" -gt 0 ] && exit 99
	[ "$T_FAIL" -gt 0 ] && exit 1
	exit 77
}

# Without the shim built there is nothing more to compare.
sm_require_lib() {
	[ -f "$SM_LIB" ] || sm_skip_rest "$SM_LIB not built"
	command -v python3 >/dev/null ||
		sm_skip_rest "python3 is needed to read the shim's stats"
}

# sm_kmod_reg: the loaded module registers buffers into rings (its "reg"
# feature, Linux 7.3), so zero-copy through it takes the kmod_zc path.
sm_kmod_reg() {
	"$top_builddir/tools/splicemsg" --version 2>/dev/null |
		grep -q '^module api .*( .* reg .*)'
}

# sm_uring_probe [--deny ERRNO]: what io_uring_setup gives this process.
sm_uring_probe() {
	local prefix=()
	[ "${1:-}" = "--deny" ] && prefix=("$SM_DENY" --errno "$2" --)
	"${prefix[@]}" "$SM_SENDER" probe-uring 2>&1
}

# sm_check MODE ENGINE SCENARIO [--deny ERRNO] VAR=VALUE...
# One shim run compared with the native run of the same scenario; its
# stats are checked by the next sm_stats_flush (python starts slowly).
sm_check() {
	local mode=$1 engine=$2 scen=$3 dir rc
	shift 3
	# GCC 12's libasan is not fork-safe: malloc in the forked child of a
	# threaded process can deadlock in its allocator (glibc's malloc is
	# fork-safe).  The scenarios tagged "fork" run in every mode of the
	# default build; under the ASan preload they would only test libasan.
	if [[ $SM_PRELOAD == *libasan* ]] &&
		"$SM_SENDER" --list | grep -qE "^$scen ([^ ]*,)?fork(,|$)"; then
		t_skip "$mode/$scen" "GCC 12's ASan runtime deadlocks in forked children of threaded processes"
		return 0
	fi
	dir=$SM_TMP/$mode/$scen
	case " $SM_NATIVE_OK " in
	*" $scen "*) ;;
	*) return 0 ;;
	esac
	sm_run "$dir" "$scen" "$@" LD_PRELOAD="$SM_PRELOAD" \
		SPLICEMSG_STATS="$dir/stats.%p.json"
	rc=$(cat "$dir/rc")
	if [ "$rc" != 0 ]; then
		t_fail "$mode/$scen" "exit $rc under the shim (native 0)"
		# (a file: the VM's /dev has no /dev/stdin)
		diff "$SM_TMP/native/$scen/out" "$dir/out" >"$dir/diff"
		t_show "$dir/diff" 15
		t_show "$dir/err" 10
		return
	fi
	if ! diff -u "$SM_TMP/native/$scen/out" "$dir/out" \
		>"$dir/diff"; then
		t_fail "$mode/$scen transcript" "differs from native"
		t_show "$dir/diff" 20
	else
		t_pass "$mode/$scen transcript"
	fi
	SM_PENDING="${SM_PENDING:-} $mode:$engine:$dir"
}

# sm_stat NAME EXPR: a Python expression over the stats files
# $SM_TMP/NAME.*.json, summed into s (nested keys flattened: s["a.b"]),
# with n the number of files.
sm_stat() {
	python3 - "$SM_TMP" "$1" "$2" <<'EOF'
import glob, json, sys
d, name, expr = sys.argv[1:]
files = glob.glob("%s/%s.*.json" % (d, name))
s = {}
for f in files:
    for k, v in json.load(open(f)).items():
        if isinstance(v, dict):
            for kk, vv in v.items():
                s[k + "." + kk] = s.get(k + "." + kk, 0) + vv
        elif isinstance(v, int):
            s[k] = s.get(k, 0) + v
print(eval(expr, {}, {"s": s, "n": len(files)}))
EOF
}

# Check the stats of every run since the last flush, one python run per
# mode.
sm_stats_flush() {
	local item mode engine dirs out
	local -A by_mode=()
	for item in ${SM_PENDING:-}; do
		mode=${item%%:*}
		item=${item#*:}
		by_mode["$mode:${item%%:*}"]+=" ${item#*:}"
	done
	SM_PENDING=
	for mode in "${!by_mode[@]}"; do
		engine=${mode#*:}
		# shellcheck disable=SC2086
		out=$(python3 "$SM_STATS_PY" "${mode%%:*}" "$engine" \
			${by_mode[$mode]} 2>&1)
		[ -n "$out" ] && echo "$out"
		T_PASS=$((T_PASS + $(echo "$out" | grep -c '^PASS')))
		T_FAIL=$((T_FAIL + $(echo "$out" | grep -c '^FAIL')))
		dirs=$(echo "$out" | grep -c '^ERROR')
		if [ "$dirs" -eq 0 ] && ! echo "$out" | grep -qE '^(PASS|FAIL)'
		then
			dirs=1
			echo "ERROR stats check produced nothing"
		fi
		T_ERROR=$((T_ERROR + dirs))
	done
}

# sm_check_all MODE ENGINE "TAGS TO DROP" [--deny ERRNO] VAR=VALUE...
sm_check_all() {
	local mode=$1 engine=$2 drop=$3 scen
	shift 3
	# shellcheck disable=SC2086
	for scen in $(sm_scenarios $drop); do
		sm_check "$mode" "$engine" "$scen" "$@"
	done
	sm_stats_flush
}
