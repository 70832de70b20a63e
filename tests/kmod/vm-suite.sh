#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The module suite, run inside the VM by scripts/vm-test (one boot): t_kmod,
# rmmod/insmod cycles each followed by `t_kmod smoke`, each line of
# $SM_VM_EXTRA as one test, a final rmmod, then the kernel log.  Prints "PASS name",
# "FAIL name: why", "SKIP name: why"; exits 1 if anything failed.
#
# Environment: T_KMOD (the static t_kmod), SM_VM_KO and SM_VM_INSMOD (set by
# vm-init.sh), SM_VM_KMSG_BAD (kernel log pattern), SM_VM_CYCLES (3),
# SM_VM_EXTRA (shell commands, one per line, optional).
set -u

T_KMOD=${T_KMOD:?T_KMOD: path of t_kmod}
# shellcheck source=tests/t_lib.sh
. "$(cd "$(dirname "$0")/.." && pwd)/t_lib.sh"

# run_t_kmod NAME SECONDS [ARG...]: t_kmod's result lines, renamed NAME/...;
# an exit that its own lines do not explain is one more failure.
run_t_kmod() {
	local name=$1 limit=$2 out rc
	shift 2
	out=$(mktemp)
	timeout -k 5 "$limit" "$T_KMOD" "$@" 2>&1 |
		sed -u -E "s#^(PASS|FAIL|SKIP) #\1 $name/#" | tee "$out"
	rc=${PIPESTATUS[0]}
	T_FAIL=$((T_FAIL + $(grep -c '^FAIL ' "$out")))
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		t_fail "$name" "timed out after ${limit}s"
	elif [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' "$out"; then
		t_fail "$name" "exit status $rc without a FAIL line"
	elif ! grep -qE '^(PASS|FAIL|SKIP) ' "$out"; then
		t_fail "$name" "no results"
	fi
	rm -f "$out"
}

# The module must be loaded; its status comes from vm-init.sh.
if [ "${SM_VM_INSMOD:-}" = 0 ] && [ -e /dev/splicemsg ]; then
	t_pass insmod
	run_t_kmod t_kmod 900

	for i in $(seq "${SM_VM_CYCLES:-3}"); do
		if ! rmmod splicemsg; then
			t_fail "cycle$i/reload" "rmmod failed"
			break
		fi
		if [ -e /sys/module/splicemsg ] || ! insmod "$SM_VM_KO"; then
			t_fail "cycle$i/reload" "module did not unload or reload"
			break
		fi
		t_pass "cycle$i/reload"
		run_t_kmod "cycle$i" 120 smoke
	done
else
	t_fail insmod "status ${SM_VM_INSMOD:-none}; $(ls /dev/splicemsg 2>&1)"
fi

# An extra command's own PASS/FAIL lines are shown indented: only its exit
# status counts here.
n=0
while IFS= read -r cmd; do
	[ -n "$cmd" ] || continue
	n=$((n + 1))
	echo "extra$n: $cmd"
	bash -c "$cmd" 2>&1 </dev/null | sed -u 's/^/  | /'
	rc=${PIPESTATUS[0]}
	case $rc in
	0) t_pass "extra$n" ;;
	77) t_skip "extra$n" "exit status 77" ;;
	*) t_fail "extra$n" "exit status $rc" ;;
	esac
done <<<"${SM_VM_EXTRA:-}"

if [ -e /sys/module/splicemsg ]; then
	if rmmod splicemsg; then
		t_pass rmmod
	else
		t_fail rmmod "rmmod failed"
	fi
fi

bad=$(dmesg | grep -E "${SM_VM_KMSG_BAD:?}")
if [ -n "$bad" ]; then
	t_fail kernel-log "$(printf '%s\n' "$bad" | wc -l) suspicious lines"
	printf '%s\n' "$bad" | sed 's/^/  | /'
else
	t_pass kernel-log
fi
t_finish
