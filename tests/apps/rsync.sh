#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# rsync under libsplicemsg.  rsync never calls sendfile, so the shim must be
# perfectly transparent: its socket writes, select loop, fcntl/ioctl, dup2,
# close and exec all go through our wrappers and must behave as libc's.
# Each transfer copies one tree (small files, a 64 MiB file, a sparse file,
# symlinks, odd names) and is checked against the source: exit status,
# diff -r, symlink targets, the sparse file, checksums and metadata.
#
#   rsh-native	remote-shell mode, no library: the control
#   rsh-ENGINE	remote-shell mode, client and server under the wrapper
#   daemon-ENGINE	pull from and push to an rsync daemon on loopback,
#			daemon and client under the wrapper (a push keeps
#			everything but an absolute symlink's leading slash,
#			which rsyncd strips without chroot, natively too)
#
# for ENGINE auto and uring.  Forcing uring changes nothing here, since no
# call is eligible, and that is what is checked.  The shim's own account
# must be honest too: debug logs show it active in every rsync, and no
# stats file exists, because stats are written only after a sendfile.
#
# One line per check, a summary line, and the usual exit codes: 0 pass,
# 1 fail, 77 skip, 99 harness error.
#
# Environment: top_builddir, top_srcdir, SM_LIB (the library), SM_WRAPPER
# (default $top_builddir/tools/splicemsg).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u

# shellcheck source=tests/t_lib.sh
. "$(cd "$(dirname "$0")/.." && pwd)/t_lib.sh"
SM_WRAPPER=${SM_WRAPPER:-$top_builddir/tools/splicemsg}
[[ $SM_WRAPPER == /* ]] || SM_WRAPPER=$PWD/$SM_WRAPPER
# One transfer may take this long before it counts as hung.
T_TIMEOUT=${T_TIMEOUT:-90}
t_clean_env
# The copy under test, whatever is installed in the wrapper's libdir.
export SPLICEMSG_LIB=$SM_LIB

if ! command -v rsync >/dev/null; then
	echo "SKIP $T_NAME: rsync is not installed (scripts/setup installs it)"
	exit 77
fi
for f in "$SM_WRAPPER" "$SM_LIB"; do
	if [ ! -e "$f" ]; then
		echo "ERROR: $f not found (make check builds it)"
		exit 99
	fi
done

T_TMP=
DAEMON_PID=

# shellcheck disable=SC2317 # called by the EXIT trap
t_cleanup() {
	if [ -n "$DAEMON_PID" ]; then
		kill "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
		# a daemon that did not exit cleanly keeps its live counters
		rm -f "/dev/shm/splicemsg-$DAEMON_PID"
	fi
	[ -n "$T_TMP" ] && rm -rf "$T_TMP"
}

T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$T_NAME.XXXXXX") || exit 99
trap t_cleanup EXIT
trap 'exit 99' INT TERM
SRC=$T_TMP/src

# ---- the source tree ---------------------------------------------------

# 2000 files of 0..4 KiB in 100 directories.  awk writes them all, since a
# process per file would cost more than the transfers; the data is random
# but printable, which is all a checksum comparison needs.
make_small_files() {
	local d

	mkdir -p "$SRC"/small/d{0..9}/s{0..9} || return
	head -c 6M /dev/urandom | base64 -w 4096 |
	awk -v root="$SRC/small" 'BEGIN { srand(42) }
		NR > 2000 { exit }
		{
			i = NR - 1
			f = sprintf("%s/d%d/s%d/f%04d", root, i % 10,
				    int(i / 10) % 10, i)
			n = i % 97 == 0 ? 0 : i % 89 == 0 ? 4096 : \
				int(rand() * 4097)
			printf "%s", substr($0, 1, n) > f
			close(f)
		}' || return
	for d in "$SRC"/small/d*/s*; do
		[ -n "$(ls -A "$d")" ] || return
	done
}

make_tree() {
	mkdir -p "$SRC" || return
	make_small_files || return
	head -c 64M /dev/urandom >"$SRC/big.bin" || return
	# Holes with a few written blocks: rsync --sparse must seek over them.
	truncate -s 256M "$SRC/sparse.img" || return
	local off
	for off in 0 1000 40000 65535; do
		printf 'block at %d\n' "$off" |
		dd of="$SRC/sparse.img" bs=4096 seek="$off" conv=notrunc \
			status=none || return
	done
	ln -s small/d1/s2/f0211 "$SRC/link-relative" || return
	ln -s "$SRC/big.bin" "$SRC/link-absolute" || return
	ln -s does/not/exist "$SRC/link-dangling" || return
	ln -s small/d3 "$SRC/link-to-dir" || return
	mkdir "$SRC/empty-dir" || return
	mkdir "$SRC/dir with spaces" || return
	echo spaces >"$SRC/dir with spaces/file with  two spaces" || return
	echo unicode >"$SRC/ünïcödé-日本語-🙂.txt" || return
	echo dash >"$SRC/-leading-dash" || return
	printf 'tab\n' >"$SRC/tab	inside" || return
	ln -s "ünïcödé-日本語-🙂.txt" "$SRC/link unicode" || return
	chmod 0600 "$SRC/small/d0/s0/f0000" || return
	chmod 0755 "$SRC/small/d0/s0/f0100" || return
	# Times in the past: rsync leaves alone a time that matches to the
	# second, so an entry made in the second of the transfer would keep
	# the copy's own nanoseconds and differ (seen in a clean-clone run).
	find "$SRC" -depth -exec touch -h -d '2011-12-13 14:15:16.5' {} + ||
		return
	touch -d '2001-02-03 04:05:06.123456789' "$SRC/big.bin" || return
}

# Everything a transfer must reproduce, one line per entry: the checksum of
# every regular file, and type, mode, owner, size and mtime of every entry.
# The sparse file is left to cmp, which compares it byte for byte: hashing
# its 256 MiB of zeros after every transfer was most of this test's CPU.
sums() {
	(cd "$1" && find . -type f ! -path ./sparse.img -print0 |
		LC_ALL=C sort -z | xargs -0 sha256sum)
}

meta() {
	(cd "$1" && find . -printf '%p\t%y %m %U:%G %s %T@\n' | LC_ALL=C sort)
}

links() {
	(cd "$1" && find . -type l -printf '%p -> %l\n' | LC_ALL=C sort)
}

# Allocated bytes are below the size: the holes are still holes.
is_sparse() {
	local blocks unit size

	read -r blocks unit size < <(stat -c '%b %B %s' "$1") || return
	[ $((blocks * unit)) -lt "$size" ]
}

if ! make_tree >"$T_TMP/make_tree.err" 2>&1; then
	t_error tree "cannot build the source tree"
	t_show "$T_TMP/make_tree.err"
	t_finish
fi
sums "$SRC" >"$T_TMP/src.sums"
meta "$SRC" >"$T_TMP/src.meta"
links "$SRC" >"$T_TMP/src.links"
SRC_SPARSE=yes
is_sparse "$SRC/sparse.img" || SRC_SPARSE=no

# A daemon without chroot sanitizes the paths it receives (rsyncd.conf(5),
# "use chroot"): a pushed absolute symlink loses its leading slash, with or
# without the shim.  What a push must produce, then:
ABS_TARGET=$(readlink "$SRC/link-absolute")
sed "s|^\(\./link-absolute -> \)/|\1|" "$T_TMP/src.links" \
	>"$T_TMP/src.links.push"
sed "s|^\(\./link-absolute	[^ ]* [^ ]* [^ ]*\) ${#ABS_TARGET} |\1 $((${#ABS_TARGET} - 1)) |" \
	"$T_TMP/src.meta" >"$T_TMP/src.meta.push"
if cmp -s "$T_TMP/src.links" "$T_TMP/src.links.push" ||
   cmp -s "$T_TMP/src.meta" "$T_TMP/src.meta.push"; then
	t_error tree "cannot derive what a daemon push makes of link-absolute"
	t_finish
fi

# ---- checks --------------------------------------------------------------

# check_copy TAG DST [push]: DST must be the source tree, exactly; with
# push, as an rsync daemon without chroot receives it.
check_copy() {
	local tag=$1 dst=$2 push=${3:-} l want got bad='' st sfx=''

	[ -n "$push" ] && sfx=.push
	diff -r --no-dereference "$SRC" "$dst" >"$T_TMP/diff" 2>&1
	st=$?
	if [ -n "$push" ] && [ "$st" -eq 1 ]; then
		grep -vxF "Symbolic links $SRC/link-absolute and $dst/link-absolute differ" \
			"$T_TMP/diff" >"$T_TMP/diff.push"
		[ -s "$T_TMP/diff.push" ] || st=0
		mv "$T_TMP/diff.push" "$T_TMP/diff"
	fi
	if [ "$st" -eq 0 ]; then
		t_pass "$tag diff"
	else
		t_fail "$tag diff" "trees differ"
		t_show "$T_TMP/diff"
	fi

	for l in link-relative link-absolute link-dangling link-to-dir \
		 "link unicode"; do
		want=$(readlink "$SRC/$l")
		[ -n "$push" ] && want=${want#/}
		got=$(readlink "$dst/$l") || got="(not a symlink)"
		[ "$want" = "$got" ] || bad="$bad '$l' -> '$got', not '$want';"
	done
	links "$dst" >"$T_TMP/links"
	cmp -s "$T_TMP/src.links$sfx" "$T_TMP/links" ||
		bad="$bad symlink listing differs;"
	if [ -z "$bad" ]; then
		t_pass "$tag symlinks"
	else
		t_fail "$tag symlinks" "$bad"
		diff "$T_TMP/src.links$sfx" "$T_TMP/links" | t_show /dev/stdin
	fi

	if cmp "$SRC/sparse.img" "$dst/sparse.img" >"$T_TMP/cmp" 2>&1; then
		t_pass "$tag sparse content"
	else
		t_fail "$tag sparse content" "$(head -1 "$T_TMP/cmp")"
	fi
	if [ "$SRC_SPARSE" = no ]; then
		t_skip "$tag sparse holes" "this file system made the source file dense"
	elif is_sparse "$dst/sparse.img"; then
		t_pass "$tag sparse holes"
	else
		t_fail "$tag sparse holes" \
			"$(du -h "$dst/sparse.img" | cut -f1) allocated for 256 MiB with --sparse"
	fi

	sums "$dst" >"$T_TMP/sums"
	if cmp -s "$T_TMP/src.sums" "$T_TMP/sums"; then
		t_pass "$tag checksums"
	else
		t_fail "$tag checksums" \
			"$(diff "$T_TMP/src.sums" "$T_TMP/sums" | grep -c '^[<>]') lines differ"
		diff "$T_TMP/src.sums" "$T_TMP/sums" | t_show /dev/stdin
	fi

	meta "$dst" >"$T_TMP/meta"
	if cmp -s "$T_TMP/src.meta$sfx" "$T_TMP/meta"; then
		t_pass "$tag metadata"
	else
		t_fail "$tag metadata" "type, mode, owner, size or mtime differs"
		diff "$T_TMP/src.meta$sfx" "$T_TMP/meta" | t_show /dev/stdin
	fi
}

# check_exit TAG STATUS ERRFILE
check_exit() {
	if [ "$2" -eq 0 ]; then
		t_pass "$1 exit"
	else
		t_fail "$1 exit" "rsync exited $2"
		t_show "$3"
	fi
}

# active_count DIR...: how many processes logged that the shim is active
# in rsync.  With %p in the log name that is one file per rsync process
# image; its forked children log nothing, being already initialised.
active_count() {
	local d n=0 f

	for d in "$@"; do
		for f in "$d"/*.log; do
			[ -e "$f" ] || continue
			grep -q 'splicemsg\[[0-9]*\]: active in rsync:' "$f" &&
				n=$((n + 1))
		done
	done
	echo "$n"
}

# check_shim TAG MIN LOGDIRS STATSDIRS: the library was active in at least
# MIN rsync processes, and none of them made a sendfile call, so none wrote
# stats.  Both directory lists are space-free temp paths.
check_shim() {
	local tag=$1 min=$2 logdirs=$3 statsdirs=$4 n files f

	# shellcheck disable=SC2086 # lists of paths without spaces
	n=$(active_count $logdirs)
	if [ "$n" -ge "$min" ]; then
		t_pass "$tag active ($n rsync processes)"
	else
		t_fail "$tag active" \
			"$n rsync processes logged 'active in rsync', expected $min or more"
	fi
	# shellcheck disable=SC2086
	files=$(find $statsdirs -type f 2>/dev/null)
	if [ -z "$files" ]; then
		t_pass "$tag stats (no sendfile calls, as expected)"
	else
		t_fail "$tag stats" "rsync makes no sendfile call, yet stats were written"
		for f in $files; do
			echo "    $f:"
			t_show "$f" 5
		done
	fi
}

# ---- mode 1: remote shell, without a network -----------------------------

# rsync's -e command gets the host, then the remote command: drop the one,
# run the other here.  rsh-wrap puts the server under the wrapper itself,
# so its engine is the one asked for even if LD_PRELOAD were lost.
cat >"$T_TMP/rsh-native" <<'EOF'
#!/bin/sh
shift
exec "$@"
EOF
cat >"$T_TMP/rsh-wrap" <<'EOF'
#!/bin/sh
shift
exec "$SM_WRAPPER" --engine "$T_ENGINE" -- "$@"
EOF
chmod +x "$T_TMP/rsh-native" "$T_TMP/rsh-wrap"
export SM_WRAPPER

# run_rsh ENGINE: ENGINE native runs without the wrapper anywhere.
run_rsh() {
	local engine=$1 tag=rsh-$1 dst=$T_TMP/dst-rsh-$1 st
	local log=$T_TMP/log/$tag stats=$T_TMP/stats/$tag

	mkdir -p "$log" "$stats"
	if [ "$engine" = native ]; then
		# The variables are set so that a library loaded by
		# mistake would show up in the logs.
		SPLICEMSG_LOG=debug SPLICEMSG_LOG_FILE="$log/%p.log" \
		SPLICEMSG_STATS="$stats/%p.json" \
		timeout -k 5 "$T_TIMEOUT" \
			rsync -a --sparse -e "$T_TMP/rsh-native" \
			"$SRC/" "localhost:$dst/" >"$T_TMP/out" 2>&1
		st=$?
	else
		T_ENGINE=$engine \
		timeout -k 5 "$T_TIMEOUT" \
			"$SM_WRAPPER" --engine "$engine" \
			--stats "$stats/%p.json" --log debug \
			--log-file "$log/%p.log" -- \
			rsync -a --sparse -e "$T_TMP/rsh-wrap" \
			"$SRC/" "localhost:$dst/" >"$T_TMP/out" 2>&1
		st=$?
	fi
	check_exit "$tag" "$st" "$T_TMP/out"
	check_copy "$tag" "$dst"
	if [ "$engine" = native ]; then
		if [ -z "$(find "$log" "$stats" -type f)" ]; then
			t_pass "$tag control (library not loaded)"
		else
			t_fail "$tag control" "the library was loaded"
		fi
	else
		# the client and the server
		check_shim "$tag" 2 "$log" "$stats"
	fi
	rm -rf "$dst"
}

# ---- mode 2: rsync daemon on loopback ------------------------------------

# daemon_start ENGINE: sets DAEMON_PID and PORT.  The port is free when
# chosen, not necessarily when bound: a daemon that dies is retried.
daemon_start() {
	local engine=$1 dir=$T_TMP/daemon-$1 user group

	mkdir -p "$dir/push" "$T_TMP/log/daemon-$engine" \
		"$T_TMP/stats/daemon-$engine"
	user=$(id -un)
	group=$(id -gn)
	for _ in 1 2 3; do
		PORT=$(t_free_port)
		# Symlinks are kept as they are (munging is on by default
		# without chroot), and no DNS lookup slows the connect.
		cat >"$dir/rsyncd.conf" <<CONF
pid file = $dir/rsyncd.pid
log file = $dir/rsyncd.log
use chroot = no
munge symlinks = no
reverse lookup = no
uid = $user
gid = $group
[src]
	path = $SRC
	read only = yes
[push]
	path = $dir/push
	read only = no
CONF
		rm -f "$dir/rsyncd.pid"
		"$SM_WRAPPER" --engine "$engine" \
			--stats "$T_TMP/stats/daemon-$engine/%p.json" \
			--log debug --log-file "$T_TMP/log/daemon-$engine/%p.log" -- \
			rsync --daemon --no-detach --config="$dir/rsyncd.conf" \
			--port="$PORT" --address=127.0.0.1 \
			>"$dir/daemon.out" 2>&1 &
		DAEMON_PID=$!
		t_wait_listen "$DAEMON_PID" "$PORT" && return 0
		daemon_stop
	done
	return 1
}

# A clean stop: rsync exits through its own SIGTERM handler, so the shim's
# exit path runs in the daemon as in every other process.
daemon_stop() {
	[ -n "$DAEMON_PID" ] || return 0
	t_stop_child "$DAEMON_PID"
	rm -f "/dev/shm/splicemsg-$DAEMON_PID"
	DAEMON_PID=
}

# daemon_client ENGINE TAG ARGS...: one rsync client under the wrapper.
daemon_client() {
	local engine=$1 tag=$2

	shift 2
	mkdir -p "$T_TMP/log/$tag" "$T_TMP/stats/$tag"
	timeout -k 5 "$T_TIMEOUT" \
		"$SM_WRAPPER" --engine "$engine" \
		--stats "$T_TMP/stats/$tag/%p.json" --log debug \
		--log-file "$T_TMP/log/$tag/%p.log" -- \
		rsync -a --sparse "$@" >"$T_TMP/out" 2>&1
}

run_daemon() {
	local engine=$1 tag=daemon-$1 dst=$T_TMP/dst-daemon-$1 st live
	local push=$T_TMP/daemon-$1/push dlog=$T_TMP/log/daemon-$1
	local dstats=$T_TMP/stats/daemon-$1

	if ! daemon_start "$engine"; then
		t_error "$tag start" "the rsync daemon did not listen"
		t_show "$T_TMP/daemon-$engine/daemon.out"
		t_show "$T_TMP/daemon-$engine/rsyncd.log"
		return
	fi

	daemon_client "$engine" "$tag-pull" \
		"rsync://127.0.0.1:$PORT/src/" "$dst/"
	st=$?
	check_exit "$tag-pull" "$st" "$T_TMP/out"
	check_copy "$tag-pull" "$dst"
	rm -rf "$dst"

	daemon_client "$engine" "$tag-push" \
		"$SRC/" "rsync://127.0.0.1:$PORT/push/"
	st=$?
	check_exit "$tag-push" "$st" "$T_TMP/out"
	check_copy "$tag-push" "$push" push
	rm -rf "$push"

	# Counters appear in /dev/shm with a process's first sendfile.  A
	# file older than the daemon is a killed process's that had its pid.
	live=/dev/shm/splicemsg-$DAEMON_PID
	if [ "$live" -nt "$T_TMP/daemon-$engine/rsyncd.conf" ]; then
		t_fail "$tag live" "the daemon has live counters: it called sendfile"
	else
		t_pass "$tag live (no live counters in the daemon)"
	fi
	daemon_stop

	# The server side of each transfer is a fork of the daemon, which
	# logged once: the client and the daemon make two per transfer.
	check_shim "$tag-pull" 2 "$T_TMP/log/$tag-pull $dlog" \
		"$T_TMP/stats/$tag-pull $dstats"
	check_shim "$tag-push" 2 "$T_TMP/log/$tag-push $dlog" \
		"$T_TMP/stats/$tag-push $dstats"
}

# ---- run -----------------------------------------------------------------

run_rsh native
for engine in auto uring; do
	run_rsh "$engine"
	run_daemon "$engine"
done

t_finish
