#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Fuzz splicemsg.ko for a bounded time, then unload it and read the kernel
# log.  Per seed: tests/kmod/t_kmod_fuzz runs SM_KFUZZ_SECONDS (60), then
# `rmmod splicemsg` must succeed (a leaked file or module reference keeps
# it in), MemAvailable must come back (a leaked page reference keeps
# pages), and the kernel log since the start must hold nothing that
# matches the suite's pattern; the module is inserted again for the next
# seed (and for whatever runs after us).  Prints "PASS name" / "FAIL name:
# why"; exits 0, 1 (a failure), 77 (no /dev/splicemsg) or 99.
#
# In the VM (SM_VM=1): an SM_VM_EXTRA line of scripts/vm-test, or
#   ./scripts/vm-run --kernel 7.3 -- bash tests/kmod/kmod-fuzz.sh
# with the fuzzer in $T_KMOD_FUZZ (the build's tests/kmod/t_kmod_fuzz).
# On the host, `tests/kmod/kmod-fuzz.sh [--kernel KERNEL]` builds the
# fuzzer in the build directory (scripts/lib.sh: SM_BUILD) and boots the VM
# to run itself.
#
# Environment: SM_KFUZZ_SECONDS (60), SM_KFUZZ_SEEDS ("1" unless set;
# several run in one boot), SM_KFUZZ_THREADS (4), SM_KFUZZ_LEAK_KB (196608:
# MemAvailable lost across a run that fails it), SM_KFUZZ_ARGS (more
# fuzzer options: --ops, --trace, --no-chaos), SM_VM_KMSG_BAD (default:
# scripts/vm-lib.sh's pattern), T_KMOD_FUZZ (the static binary).  On the
# host, SM_VM_APPEND defaults to the kernel's own checkers that need no
# rebuild: slab red zones and poison, page poisoning, KFENCE (set it empty
# to boot without them).
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${SM_KFUZZ_SECONDS:-60}
seeds=${SM_KFUZZ_SEEDS:-1}
threads=${SM_KFUZZ_THREADS:-4}
failed=0

pass() { echo "PASS $1${2:+: $2}"; }
fail() {
	echo "FAIL $1: $2"
	failed=1
}

# On the host: build, then boot the VM with this script as its command.
if [ "${SM_VM:-}" != 1 ]; then
	kernel=()
	[ "${1:-}" = --kernel ] && kernel=(--kernel "$2")
	# shellcheck source=scripts/lib.sh
	. "$top/scripts/lib.sh" || exit 99
	fz=$SM_BUILD/tests/kmod/t_kmod_fuzz
	make -C "$SM_BUILD" -s tests/kmod/t_kmod_fuzz >/dev/null ||
		{ echo "ERROR: building $fz failed (configure $SM_BUILD first)"; exit 99; }
	# the boot and module build, each seed's run, its teardown
	export SM_VM_APPEND=${SM_VM_APPEND-slub_debug=FZPU page_poison=1 \
kfence.sample_interval=10}
	export SM_VM_TIMEOUT=${SM_VM_TIMEOUT:-$((600 +
		$(wc -w <<<"$seeds") * (seconds + 120)))}
	exec "$top/scripts/vm-run" "${kernel[@]}" -- env \
		T_KMOD_FUZZ="$fz" SM_KFUZZ_SECONDS="$seconds" \
		SM_KFUZZ_SEEDS="$seeds" SM_KFUZZ_THREADS="$threads" \
		SM_KFUZZ_ARGS="${SM_KFUZZ_ARGS:-}" \
		${SM_KFUZZ_LEAK_KB:+SM_KFUZZ_LEAK_KB="$SM_KFUZZ_LEAK_KB"} \
		${SM_VM_KMSG_BAD:+SM_VM_KMSG_BAD="$SM_VM_KMSG_BAD"} \
		bash "$top/tests/kmod/kmod-fuzz.sh"
fi

if [ ! -e /dev/splicemsg ]; then
	echo "SKIP kfuzz: no /dev/splicemsg (module not loaded)"
	exit 77
fi

# The suite's pattern, from its one definition; and what this kernel
# (no KASAN) says about pages and lists when something goes wrong.
if [ -z "${SM_VM_KMSG_BAD:-}" ]; then
	# shellcheck source=scripts/vm-lib.sh
	. "$top/scripts/vm-lib.sh" || exit 99
fi
# slub_debug reports read "BUG kmalloc-64 (Tainted: ...): Poison overwritten".
bad="$SM_VM_KMSG_BAD|Bad page|pagealloc: |kernel BUG|KFENCE|corruption"
bad+="|hung_task|stack-protector|UBSAN|BUG [[:alnum:]_:-]+ \\("
bad+="|Redzone|Poison overwritten|Freepointer"

fuzz=${T_KMOD_FUZZ:-}
if [ ! -x "$fuzz" ]; then
	echo "ERROR kfuzz: no t_kmod_fuzz (T_KMOD_FUZZ=$fuzz; make check builds it)"
	exit 99
fi

# A task stuck in the kernel should be reported within the run.
hung=/proc/sys/kernel/hung_task_timeout_secs
hung_was=$(cat "$hung" 2>/dev/null)
[ -n "$hung_was" ] && echo 20 >"$hung"
echo 1 >/proc/sys/kernel/softlockup_all_cpu_backtrace 2>/dev/null

# rmmod: io_uring's ring teardown and deferred fput may hold the last
# file reference for a moment after the process is gone.
unload() {
	local i
	for i in $(seq 60); do
		rmmod splicemsg 2>/dev/null && { echo "$i"; return 0; }
		sleep 0.25
	done
	rmmod splicemsg 2>&1 | sed 's/^/# /'
	return 1
}

# MemAvailable in kB once the page cache and slab caches are dropped.
mem_avail() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	awk '/^MemAvailable:/ { print $2 }' /proc/meminfo
}

# Without kmemleak, a lost page reference is silent; but a 120 s run
# attaches some 180000 page-cache pages and fragments, so one leaked
# reference per page would keep ~700 MiB.  Drift seen across such runs:
# -70 MiB to +26 MiB (sockets, slabs), back by the next seed.
leak_kb=${SM_KFUZZ_LEAK_KB:-196608}

one_seed() {
	local seed=$1 name="kfuzz/seed$1" marker out rc tries log mem0 mem1
	mem0=$(mem_avail)
	marker="splicemsg-kfuzz: seed $seed start $(date +%s%N)"
	echo "$marker" >/dev/kmsg
	out=$(mktemp)
	# shellcheck disable=SC2086 # SM_KFUZZ_ARGS is a list of options
	timeout -k 10 $((seconds + 90)) "$fuzz" --seed "$seed" \
		--seconds "$seconds" --threads "$threads" --lo-mtu \
		${SM_KFUZZ_ARGS:-} >"$out" 2>&1
	rc=$?
	sed 's/^/  /' "$out"
	case $rc in
	0) pass "$name/run" ;;
	124|137) fail "$name/run" "did not end within $((seconds + 90)) s" ;;
	*) fail "$name/run" "exit status $rc" ;;
	esac
	rm -f "$out"

	if tries=$(unload); then
		pass "$name/rmmod" "after $tries attempt(s)"
	else
		fail "$name/rmmod" "module still in use: $(cat \
			/sys/module/splicemsg/refcnt 2>/dev/null) references"
	fi

	sleep 1
	mem1=$(mem_avail)
	if [ $((mem0 - mem1)) -gt "$leak_kb" ]; then
		fail "$name/memory" "MemAvailable $mem0 kB -> $mem1 kB"
	else
		pass "$name/memory" "MemAvailable $mem0 kB -> $mem1 kB"
	fi

	# since our marker; all of it if the ring buffer lost the marker
	log=$(dmesg | awk -v m="$marker" 'index($0, m) { n = NR } \
		{ l[NR] = $0 } END { for (i = n + 1; i <= NR; i++) \
		print l[i] }')
	if printf '%s\n' "$log" | grep -qE "$bad"; then
		fail "$name/kernel-log" "$(printf '%s\n' "$log" |
			grep -cE "$bad") suspicious lines"
		# the whole report: what matched and the traces around it
		printf '%s\n' "$log" | LC_ALL=C tr -c '[:print:]\t\n' '?' |
			sed 's/^/  | /'
	else
		pass "$name/kernel-log"
	fi

	if [ -e /sys/module/splicemsg ]; then
		:
	elif [ -n "${SM_VM_KO:-}" ] && insmod "$SM_VM_KO"; then
		pass "$name/insmod"
	else
		fail "$name/insmod" "cannot insert the module again"
		return 1
	fi
}

for seed in $seeds; do
	one_seed "$seed" || break
done
[ -n "$hung_was" ] && echo "$hung_was" >"$hung"
exit $failed
