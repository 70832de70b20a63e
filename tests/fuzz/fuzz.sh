#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The differential fuzzer's driver.  For each seed, sm_fuzz runs natively
# twice (two transcripts that differ mean the harness is not deterministic
# for that seed: a harness error, not a shim bug), then under the shim with
# each engine; a transcript that differs from the native one is a FAIL,
# minimised by delta debugging over the operation indices (sm_fuzz --keep)
# to the smallest list that still differs, and printed with the command
# that reproduces it.  sm_fuzz's exit status (or the signal that ended it)
# is part of its transcript, so a crash is a difference like any other.
#
# Environment:
#   SM_FUZZ_SEEDS        seeds to run (default: the fixed set below)
#   SM_FUZZ_ENGINES      engines to compare (default: "auto uring")
#   SM_FUZZ_OPS          operations per run (default: sm_fuzz's own)
#   SM_FUZZ_PROFILE      mixed, idiom or core (default: the seed chooses
#                        mixed or idiom; core only the idiom's own calls)
#   SM_FUZZ_MIN_BUDGET   seconds all minimisations may take together
#                        (default 30); beyond it a failure is reported with
#                        its full reproduction command
#   SM_FUZZ_MIN_EACH     seconds one minimisation may take (default 8): a
#                        list cut short still differs, only less small
#   SM_FUZZ_MIN_ALL      1: minimise every failure, not only the first with
#                        each signature (what its first difference is about)
#   SM_FUZZ_REPEAT       shim runs per candidate while minimising a failure
#                        that does not reproduce every time (default 4)
#   SM_FUZZ_SHIM_RUNS    runs per seed and engine (default 1): more finds
#                        differences that do not come every time
#   SM_FUZZ_SAVE         directory: each minimised reproduction is kept
#                        there (repro.sh, native.txt, shim.txt, diff)
#   SM_FUZZ_SEEN         file of signatures already minimised (one a line;
#                        new ones are added): scripts/fuzz's memory
#   SM_FUZZ_CHECK_STATS  0: skip the check that the shim took its hold paths
set -u
# shellcheck source=tests/t_lib.sh
. "$(cd "$(dirname "$0")/.." && pwd)/t_lib.sh"
t_clean_env

FZ=$top_builddir/tests/fuzz/sm_fuzz
FZ_PRELOAD=${SM_PRELOAD:-$SM_LIB}
# GCC 12's libasan is not fork-safe (tests/stream/lib.sh): under its
# preload every run, native ones too, skips the forks.
if [[ $FZ_PRELOAD == *libasan* ]]; then
	export SM_FUZZ_NOFORK=1
fi
# Seeds whose first difference on the shim of 2026-12 was each a different
# bug: crashes on bad pointers (10 104 109), held bytes overtaken through a
# dup (51), by sendto with an address (42), sendmsg with a name (7),
# sendmmsg (245) or pwritev2 (12), TCP_CORK read through a dup (101), bytes
# late after an uncork through a dup (613), held bytes lost when the next
# write faults (631), EPIPE lost after shutdown (111), held bytes sent
# twice by a child made with clone(2) (8), TCP_CORK set on an AF_UNIX
# socket holding MSG_MORE bytes (441, uring), an uncork that did not reach
# the kernel after a child corked the shared socket (3160041179), TCP_CORK
# read through a descriptor that never met the hold its dup made
# (1926712324), EAGAIN from a blocking send with a bad buffer, whose
# faulting piece the kernel put back with the last of the held bytes
# (2780921168), TCP_CORK read through the first descriptor after its dup
# corked (730573128: 1926712324 again, the lookup's argument read before
# the lookup set it), a child's uncork of a shared socket that the
# parent's lazy cork hid (2224097071).  Under half a minute when nothing
# differs.
FZ_SEEDS=${SM_FUZZ_SEEDS:-"10 104 109 51 42 7 245 12 101 613 631 111 8 441
	3160041179 1926712324 2780921168 730573128 2224097071"}
FZ_ENGINES=${SM_FUZZ_ENGINES:-"auto uring"}
FZ_OPS=${SM_FUZZ_OPS:-}
FZ_PROFILE=${SM_FUZZ_PROFILE:-}
FZ_BUDGET=${SM_FUZZ_MIN_BUDGET:-30}
FZ_MIN_EACH=${SM_FUZZ_MIN_EACH:-8}
FZ_MIN_ALL=${SM_FUZZ_MIN_ALL:-0}
FZ_REPEAT=${SM_FUZZ_REPEAT:-4}
FZ_SAVE=${SM_FUZZ_SAVE:-}
FZ_SHIM_RUNS=${SM_FUZZ_SHIM_RUNS:-1}
FZ_SEEN_FILE=${SM_FUZZ_SEEN:-}
FZ_TIMEOUT=90

# shellcheck disable=SC2317 # run by the EXIT trap
fz_cleanup() {
	[ -n "${FZ_TMP:-}" ] && rm -rf "$FZ_TMP"
}

if [ ! -x "$FZ" ]; then
	echo "ERROR: $FZ not built (make check builds it)"
	exit 99
fi
FZ_TMP=$(mktemp -d "${TMPDIR:-/tmp}/fuzz.XXXXXX") || exit 99
trap fz_cleanup EXIT
trap 'exit 99' INT TERM
export TMPDIR=$FZ_TMP

# fz_args SEED KEEP: sm_fuzz's arguments.
fz_args() {
	local a="--seed $1"
	[ -n "$FZ_OPS" ] && a="$a --ops $FZ_OPS"
	[ -n "$FZ_PROFILE" ] && a="$a --profile $FZ_PROFILE"
	[ -n "$2" ] && a="$a --keep $2"
	echo "$a"
}

# fz_run OUT SEED KEEP ENGINE: one run ("native": no LD_PRELOAD); OUT gets
# the transcript and a last line saying how the process ended.
fz_run() {
	local out=$1 seed=$2 keep=$3 engine=$4 rc env=()
	if [ "$engine" != native ]; then
		env=(LD_PRELOAD="$FZ_PRELOAD" SPLICEMSG_ENGINE="$engine")
		[ -n "${FZ_STATS:-}" ] &&
			env+=(SPLICEMSG_STATS="$FZ_STATS/s.%p.json")
	fi
	# shellcheck disable=SC2046 # fz_args is a word list
	env "${env[@]}" timeout -k 5 "$FZ_TIMEOUT" \
		"$FZ" $(fz_args "$seed" "$keep") >"$out" 2>"$out.err"
	rc=$?
	if [ $rc -eq 124 ]; then
		echo "status: timed out after ${FZ_TIMEOUT}s" >>"$out"
	elif [ $rc -gt 128 ]; then
		echo "status: killed by $(kill -l $((rc - 128)) 2>/dev/null ||
			echo $((rc - 128)))" >>"$out"
	else
		echo "status: exit $rc" >>"$out"
	fi
}

# The first line where two transcripts part, as "< native | > shim".
fz_first_diff() {
	diff "$1" "$2" | grep -m2 '^[<>]' | tr '\n' ' ' | cut -c1-300
}

# fz_op_name TRANSCRIPT LABEL: the call on that line, and through what:
# "send/0", "child's send/0", "send/0 via a dup".
fz_op_name() {
	[ -n "$2" ] || return 0
	grep -m1 "^$2 " "$1" | awk '{
		n = $2
		if ($3 ~ /^d[0-9]/)
			n = n " via a dup"
		if ($1 ~ /\./)
			n = "child'"'"'s " n
		print n
	}'
}

# What a difference is about, so that minimising keeps to one bug and each
# kind is minimised once: the operation a crash stopped in, the operation
# on the first op line that differs, or which call's bytes the invariant
# missed and whose came instead.
fz_signature() {
	local line op kind got
	local end child
	end=$(tail -1 "$2")
	# a child that died of a signal, or of a sanitizer's exit code
	child=$(grep -o 'child exit [1-9][0-9]*' "$2" | head -1)
	grep -q "$child" "$1" && child=
	if { grep -q 'killed by' "$2" && ! grep -q 'killed by' "$1"; } ||
		[ -n "$child" ] ||
		{ [ "$end" != "$(tail -1 "$1")" ] &&
			[ "$end" != "status: exit 1" ]; }; then
		# the first operation (a child's too) the shim did not finish
		op=$(awk 'NR == FNR { if ($1 ~ /^[0-9]/) seen[$1] = 1; next }
			$1 ~ /^[0-9]/ && !($1 in seen) { print $2; exit }' \
			"$2" "$1")
		case $end in
		"status: killed"* | "status: exit 0") end=crash ;;
		*) end=${end#status: } ;;
		esac
		[ -n "$child" ] && end=${child#child }
		grep -q 'child killed' "$2" && end=crash
		echo "$end in ${op:-setup}"
		return
	fi
	line=$(diff "$1" "$2" | grep -E -m1 '^> ([0-9]|INVARIANT)' | cut -c3-)
	case $line in
	INVARIANT-FAIL*)
		op=$(echo "$line" | sed -n 's/.*expected byte from op \([0-9.]*\).*/\1/p')
		kind=$(fz_op_name "$2" "$op")
		op=$(echo "$line" | sed -n 's/.*, got op \([0-9.]*\).*/\1/p')
		got=$(fz_op_name "$2" "$op")
		[ -z "$got" ] && got=$(echo "$line" | sed -n 's/.*, got \([^;]*\);.*/\1/p')
		# a loss is about what was lost; a reordering, about both
		case $line in
		*"expected byte from nothing"*)
			echo "invariant: extra bytes, ${got:-?}'s" ;;
		*"it never comes)") echo "invariant: ${kind:-nothing} lost" ;;
		*) echo "invariant: ${kind:-nothing} expected, ${got:-?} came" ;;
		esac
		;;
	"") diff "$1" "$2" | grep -m1 '^[<>]' | awk '{ print $2 }' ;;
	*) echo "$line" | awk '{ print $2 }' ;;
	esac
}

# ---- delta debugging over --keep lists --------------------------------

declare -A FZ_CACHE
FZ_RUNS=0

# fz_interesting SEED ENGINE REPEAT INDEX...: does the shim still differ
# from native on this list, in the way FZ_TARGET names?
fz_interesting() {
	local seed=$1 engine=$2 repeat=$3 keep i
	shift 3
	keep=$(
		IFS=,
		echo "$*"
	)
	[ -z "$keep" ] && keep=none
	if [ -n "${FZ_CACHE[$keep]:-}" ]; then
		[ "${FZ_CACHE[$keep]}" = 1 ]
		return
	fi
	local k=$keep
	[ "$k" = none ] && k=-1
	fz_run "$FZ_TMP/dd.n" "$seed" "$k" native
	FZ_RUNS=$((FZ_RUNS + 1))
	for ((i = 0; i < repeat; i++)); do
		fz_run "$FZ_TMP/dd.s" "$seed" "$k" "$engine"
		FZ_RUNS=$((FZ_RUNS + 1))
		if ! cmp -s "$FZ_TMP/dd.n" "$FZ_TMP/dd.s" &&
			[ "$(fz_signature "$FZ_TMP/dd.n" "$FZ_TMP/dd.s")" = \
				"$FZ_TARGET" ]; then
			FZ_CACHE[$keep]=1
			return 0
		fi
	done
	FZ_CACHE[$keep]=0
	return 1
}

fz_over_budget() {
	local spent=$((SECONDS - FZ_MIN_START))
	if [ "$spent" -ge "$FZ_MIN_LEFT" ] || [ "$spent" -ge "$FZ_MIN_EACH" ]
	then
		FZ_CUT=1
		return 0
	fi
	return 1
}

# fz_ddmin SEED ENGINE REPEAT INDEX...: Zeller's ddmin; sets FZ_MIN to
# the smallest list found that still differs (time permitting, 1-minimal).
fz_ddmin() {
	local seed=$1 engine=$2 repeat=$3 n=2 len chunk i reduced
	shift 3
	local -a cur=("$@") sub comp
	FZ_CACHE=()
	if fz_interesting "$seed" "$engine" "$repeat"; then
		FZ_MIN=()
		return
	fi
	while [ ${#cur[@]} -ge 2 ] && ! fz_over_budget; do
		len=${#cur[@]}
		chunk=$(((len + n - 1) / n))
		reduced=
		for ((i = 0; i * chunk < len; i++)); do
			sub=("${cur[@]:i*chunk:chunk}")
			if fz_interesting "$seed" "$engine" "$repeat" \
				"${sub[@]}"; then
				cur=("${sub[@]}")
				n=2
				reduced=1
				break
			fi
			fz_over_budget && break
		done
		[ -n "$reduced" ] && continue
		for ((i = 0; i * chunk < len && n > 2; i++)); do
			comp=("${cur[@]:0:i*chunk}" "${cur[@]:(i+1)*chunk}")
			if fz_interesting "$seed" "$engine" "$repeat" \
				"${comp[@]}"; then
				cur=("${comp[@]}")
				n=$((n - 1))
				reduced=1
				break
			fi
			fz_over_budget && break
		done
		[ -n "$reduced" ] && continue
		[ "$n" -ge "$len" ] && break
		n=$((2 * n < len ? 2 * n : len))
	done
	FZ_MIN=("${cur[@]}")
}

# fz_minimise SEED ENGINE NATIVE-OUT SHIM-OUT: reduce, check, report.
fz_minimise() {
	local seed=$1 engine=$2 nout=$3 sout=$4 repeat=1 nops keep dir cmd
	local -a all
	FZ_MIN_START=$SECONDS
	FZ_RUNS=0
	FZ_CUT=
	# a difference that does not come every time gets several tries
	fz_run "$FZ_TMP/again" "$seed" "" "$engine"
	if cmp -s "$nout" "$FZ_TMP/again" ||
		[ "$(fz_signature "$nout" "$FZ_TMP/again")" != \
			"$(fz_signature "$nout" "$sout")" ]; then
		repeat=$FZ_REPEAT
		echo "    (intermittent: the same run matched native once;" \
			"$repeat shim runs per candidate)"
	fi
	FZ_TARGET=$(fz_signature "$nout" "$sout")
	echo "    minimising: $FZ_TARGET"
	nops=$(sed -n 's/^sm_fuzz .* ops=\([0-9]*\) .*/\1/p' "$nout")
	mapfile -t all < <(seq 0 $((nops - 1)))
	fz_ddmin "$seed" "$engine" "$repeat" "${all[@]}"
	keep=$(
		IFS=,
		echo "${FZ_MIN[*]}"
	)
	[ -z "$keep" ] && keep=-1
	fz_run "$FZ_TMP/min.n" "$seed" "$keep" native
	fz_run "$FZ_TMP/min.n2" "$seed" "$keep" native
	local i same=
	for ((i = 0; i < repeat * 2; i++)); do
		fz_run "$FZ_TMP/min.s" "$seed" "$keep" "$engine"
		if ! cmp -s "$FZ_TMP/min.n" "$FZ_TMP/min.s" &&
			[ "$(fz_signature "$FZ_TMP/min.n" "$FZ_TMP/min.s")" = \
				"$FZ_TARGET" ]; then
			same=differs
			break
		fi
	done
	# shellcheck disable=SC2046
	cmd="LD_PRELOAD=$FZ_PRELOAD SPLICEMSG_ENGINE=$engine"
	cmd="$cmd $FZ $(fz_args "$seed" "$keep")"
	echo "    minimised to ${#FZ_MIN[@]} of $nops operations" \
		"in $((SECONDS - FZ_MIN_START)) s ($FZ_RUNS runs)" \
		"${FZ_CUT:+(stopped by the time limit)}"
	if ! cmp -s "$FZ_TMP/min.n" "$FZ_TMP/min.n2"; then
		echo "    the minimised list is not deterministic natively:"
		diff "$FZ_TMP/min.n" "$FZ_TMP/min.n2" | t_show /dev/stdin 6
	elif [ -z "$same" ]; then
		echo "    the minimised list matched native on re-runs" \
			"(intermittent)"
	fi
	FZ_MIN_LEFT=$((FZ_MIN_LEFT - (SECONDS - FZ_MIN_START)))
	echo "    reproduce: $cmd"
	echo "    native (minimised):"
	t_show "$FZ_TMP/min.n" 60
	echo "    $engine (minimised):"
	t_show "$FZ_TMP/min.s" 60
	if [ -n "$FZ_SAVE" ]; then
		dir=$FZ_SAVE/seed-$seed-$engine
		mkdir -p "$dir"
		cp "$FZ_TMP/min.n" "$dir/native.txt"
		cp "$FZ_TMP/min.s" "$dir/shim.txt"
		diff "$dir/native.txt" "$dir/shim.txt" >"$dir/diff"
		printf '#!/bin/sh\n# %s\n%s\n' "$(fz_signature \
			"$FZ_TMP/min.n" "$FZ_TMP/min.s")" "$cmd" \
			>"$dir/repro.sh"
		chmod +x "$dir/repro.sh"
		echo "    saved in $dir"
	fi
}

# ---- one seed ----------------------------------------------------------

declare -A FZ_SEEN

fz_seed() {
	local seed=$1 d=$FZ_TMP/$1 engine sig first i
	mkdir -p "$d"
	fz_run "$d/native" "$seed" "" native
	fz_run "$d/native2" "$seed" "" native
	if ! cmp -s "$d/native" "$d/native2"; then
		t_error "seed $seed" "two native runs differ (the harness is" \
			"not deterministic for this seed)"
		diff "$d/native" "$d/native2" | t_show /dev/stdin 8
		return
	fi
	if grep -q '^INVARIANT-FAIL\|^HARNESS-ERROR\|^TIMEOUT' "$d/native" ||
		[ "$(tail -1 "$d/native")" != "status: exit 0" ]; then
		t_error "seed $seed" "the native run fails its own checks"
		grep '^INVARIANT-FAIL\|^HARNESS-ERROR\|^TIMEOUT\|^status' \
			"$d/native" | t_show /dev/stdin 5
		t_show "$d/native.err" 5
		return
	fi
	for engine in $FZ_ENGINES; do
		for ((i = 0; i < FZ_SHIM_RUNS; i++)); do
			fz_run "$d/$engine" "$seed" "" "$engine"
			cmp -s "$d/native" "$d/$engine" || break
		done
		if [ "$i" -eq "$FZ_SHIM_RUNS" ]; then
			t_pass "seed $seed $engine"
			continue
		fi
		[ "$i" -gt 0 ] && echo "    (run $((i + 1)) of this seed differed)"
		# a third native run: is it the shim, or the harness?
		[ -f "$d/native3" ] || fz_run "$d/native3" "$seed" "" native
		if ! cmp -s "$d/native" "$d/native3"; then
			t_error "seed $seed" "a third native run differs" \
				"(not deterministic; $engine not judged)"
			diff "$d/native" "$d/native3" | t_show /dev/stdin 6
			continue
		fi
		first=$(fz_first_diff "$d/native" "$d/$engine")
		sig=$(fz_signature "$d/native" "$d/$engine")
		t_fail "seed $seed $engine" "differs from native [$sig]: $first"
		echo "    full run: LD_PRELOAD=$FZ_PRELOAD" \
			"SPLICEMSG_ENGINE=$engine $FZ $(fz_args "$seed" "")"
		if [ "$FZ_MIN_LEFT" -le 2 ]; then
			echo "    (not minimised: the minimisation budget is spent)"
		elif [ "$FZ_MIN_ALL" != 1 ] && [ -n "${FZ_SEEN[$sig]:-}" ]; then
			echo "    (not minimised: seed ${FZ_SEEN[$sig]} already" \
				"showed a difference at '$sig')"
		else
			FZ_SEEN[$sig]="$seed $engine"
			[ -n "$FZ_SEEN_FILE" ] &&
				printf '%s\t%s\n' "$sig" "$seed $engine" \
					>>"$FZ_SEEN_FILE"
			fz_minimise "$seed" "$engine" "$d/native" "$d/$engine"
		fi
	done
}

# The fuzzer is only worth its time if the shim takes its own paths.
fz_check_stats() {
	local h c
	[ "${SM_FUZZ_CHECK_STATS:-1}" = 0 ] && return
	# shellcheck disable=SC2002
	h=$(cat "$FZ_STATS"/s.*.json 2>/dev/null |
		grep -o '"hold_writes":[0-9]*' | cut -d: -f2 |
		awk '{ s += $1 } END { print s + 0 }')
	# shellcheck disable=SC2002
	c=$(cat "$FZ_STATS"/s.*.json 2>/dev/null |
		grep -o '"coalesced":[0-9]*' | cut -d: -f2 |
		awk '{ s += $1 } END { print s + 0 }')
	if [ "$h" -gt 0 ] && [ "$c" -gt 0 ]; then
		t_pass "coverage: the shim held $h writes and coalesced $c sends"
	else
		t_fail "coverage" "the shim held $h writes and coalesced $c" \
			"sends: the seeds do not reach its hold paths"
	fi
}

if [ ! -f "$SM_LIB" ]; then
	echo "SKIP: $SM_LIB not built"
	exit 77
fi
FZ_STATS=$FZ_TMP/stats
mkdir -p "$FZ_STATS"
FZ_MIN_LEFT=$FZ_BUDGET
if [ -n "$FZ_SEEN_FILE" ] && [ -f "$FZ_SEEN_FILE" ]; then
	while IFS=$'\t' read -r sig where; do
		[ -n "$sig" ] && FZ_SEEN[$sig]=$where
	done <"$FZ_SEEN_FILE"
fi
start=$SECONDS
for seed in $FZ_SEEDS; do
	fz_seed "$seed"
done
fz_check_stats
echo "$(echo "$FZ_SEEDS" | wc -w) seeds in $((SECONDS - start)) s"
t_finish
