# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# What the web server suites (nginx.sh, lighttpd.sh, apache2.sh) check the
# same way: a tree of files, the requests whose bodies must be the files'
# bytes, the shim's statistics, and what the server does per response on
# the wire, read from strace.  Source it after tests/t_lib.sh.
#
#   http_free_port		a TCP port on 127.0.0.1 nobody listens on
#   http_tree DIR		DIR/www: 0 B, 1 B, 200 B, 4 KiB, 16 KiB,
#				1 MiB + 1 and 64 MiB of random bytes;
#				sets HTTP_WWW, HTTP_SIZE, HTTP_FILES and
#				HTTP_WANT (their sha256sum)
#   http_check_sequential NAME PORT OUT
#				every file over one keep-alive connection,
#				Range requests, HEAD: one result line each
#   http_check_concurrent NAME PORT OUT
#				200 requests from 50 concurrent clients
#   http_check_slow NAME PORT OUT
#				1 MiB at 512 KiB/s: partial sends
#   http_stats FILE...		the JSON counters in FILEs, summed over
#				processes: "key=value ..." of those not 0
#   http_live_stats PID...	the same from the live counters
#   http_settled_stats "PID..."	the same once they stopped moving
#   http_get KEY STATS		one value of such a line, 0 if absent
#   http_running PID...		is any of them running (a zombie is not)?
#   http_stop SIGNAL PID...	stop a server that is this shell's child
#   http_stop_each STOP DIR...	STOP DIR for each (SERVER_stop_all)
#   http_suite_init SERVER	skip or fail early, HTTP_TMP with the tree
#   http_trace_start OUT PID...	strace every thread of PIDs into OUT
#   http_trace_stop [OUT]	and stop it
#   http_idioms TRACE		what the server did per response (below)
#   http_check_idioms NAME MODE IDIOMS STATS
#				the shim did with those responses what
#				docs/cork.md says it does
#   http_check_disconnects NAME PORT PID OUT
#				clients gone mid-body leave no descriptor
#   http_run SERVER DIR MODE...	all of it, natively and under the shim
#   http_check_stats NAME DIR MODE IDIOMS
#				the paths a whole run's bodies took
#
# Environment: SM_STAT (splicemsg-stat, for http_live_stats); top_srcdir
# (tests/t_lib.sh's, for shim/sm.h's constants).

http_running() {
	local p st

	for p in "$@"; do
		st=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
		[ "${st%% *}" != Z ] && return 0
	done
	return 1
}

# http_stop SIGNAL PID...: SIGNAL to the first PID (a server's master, a
# child of this shell), then up to 5 s for every PID to end before
# SIGKILL; 1 if it came to that.
http_stop() {
	local sig=$1 master=$2

	shift
	kill -"$sig" "$master" 2>/dev/null || return 0
	for _ in $(seq 100); do
		http_running "$@" || break
		sleep 0.05
	done
	if http_running "$@"; then
		kill -KILL "$@" 2>/dev/null
		wait "$master" 2>/dev/null
		return 1
	fi
	wait "$master" 2>/dev/null
	return 0
}

# http_stop_each STOP DIR...: STOP DIR for each, quietly (exit traps).
http_stop_each() {
	local stop=$1 d

	shift
	for d in "$@"; do
		"$stop" "$d" >/dev/null 2>&1
	done
}

# http_suite_init SERVER: what a web server suite starts with.  SKIP
# without SERVER, curl or python3, ERROR without the wrapper or
# splicemsg-stat; HTTP_TMP, a private directory with the tree (http_tree),
# removed at exit after every SERVER started is stopped (SERVER_stop_all).
http_suite_init() {
	local c

	SM_WRAPPER=${SM_WRAPPER:-$top_builddir/tools/splicemsg}
	SM_STAT=${SM_STAT:-$top_builddir/tools/splicemsg-stat}
	for c in "$1" curl python3; do
		command -v "$c" >/dev/null ||
			{ echo "SKIP $T_NAME: no $c"; exit 77; }
	done
	for c in "$SM_WRAPPER" "$SM_STAT"; do
		[ -x "$c" ] || { echo "ERROR $T_NAME: no $c"; exit 99; }
	done
	HTTP_TMP=$(mktemp -d "/tmp/sm-$1.XXXXXX") || exit 99
	chmod 755 "$HTTP_TMP"
	# shellcheck disable=SC2064 # expanded now, on purpose
	trap "http_trace_stop; $1_stop_all; rm -rf '$HTTP_TMP'" EXIT
	http_tree "$HTTP_TMP"
}

http_free_port() {
	python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Range requests and the bytes they must return: "FILE FIRST LAST".
HTTP_RANGES=("m1p1 0 0" "m1p1 1 1048576" "m1p1 4095 4096" "m1p1 1000 2000000"
	"m64 65536 131071" "m64 67108860 67108863" "k16 16383 16383"
	"b200 100 199")

http_tree() {
	local f

	HTTP_WWW=$1/www
	mkdir -p "$HTTP_WWW"
	declare -gA HTTP_SIZE=([empty]=0 [one]=1 [b200]=200 [k4]=4096
		[k16]=16384 [m1p1]=$((1048576 + 1)) [m64]=$((64 << 20)))
	for f in "${!HTTP_SIZE[@]}"; do
		head -c "${HTTP_SIZE[$f]}" /dev/urandom >"$HTTP_WWW/$f"
	done
	# Apache's ETag is weak (W/) for a file changed in the last second:
	# headers must not depend on when a run starts.
	touch -d '2001-02-03 04:05:06' "$HTTP_WWW"/*
	chmod -R a+rX "$HTTP_WWW"
	(cd "$HTTP_WWW" && sha256sum -- * | sort -k2) >"$1/want.sha"
	HTTP_WANT=$1/want.sha
	HTTP_FILES=("${!HTTP_SIZE[@]}")
}

http_check_sequential() {
	local name=$1 port=$2 out=$3 f r first last n urls=()

	mkdir -p "$out"
	# keep-alive: one curl, one connection, every file
	for f in "${HTTP_FILES[@]}"; do
		urls+=(-o "$out/$f" "http://127.0.0.1:$port/$f")
	done
	if curl -sf --no-progress-meter "${urls[@]}" &&
	   (cd "$out" && sha256sum -- "${HTTP_FILES[@]}" | sort -k2) |
	   cmp -s - "$HTTP_WANT"; then
		t_pass "$name/bodies"
	else
		t_fail "$name/bodies" "a body differs from its file"
	fi
	n=0
	for r in "${HTTP_RANGES[@]}"; do
		read -r f first last <<<"$r"
		curl -sf -r "$first-$last" -o "$out/range" \
			"http://127.0.0.1:$port/$f" &&
			tail -c +$((first + 1)) "$HTTP_WWW/$f" |
			head -c $((last - first + 1)) | cmp -s - "$out/range" ||
			n=$((n + 1))
	done
	[ $n = 0 ]
	t_verdict $? "$name/ranges" "$n of ${#HTTP_RANGES[@]} differ"
	# HEAD: the length, and no body: the next response on the same
	# connection is whole.  Apache leaves out a length of 0.
	n=0
	for f in m1p1 k4 empty; do
		curl -sfI -o "$out/head" "http://127.0.0.1:$port/$f" --next \
			-sf -o "$out/next" "http://127.0.0.1:$port/k4" &&
			cmp -s "$HTTP_WWW/k4" "$out/next" &&
			{ grep -qi "^content-length: ${HTTP_SIZE[$f]}"$'\r'"\$" \
				"$out/head" ||
			  { [ "$f" = empty ] &&
			    ! grep -qi "^content-length:" "$out/head"; }; } ||
			n=$((n + 1))
	done
	[ $n = 0 ]
	t_verdict $? "$name/head" "$n wrong"
}

# The file of the Nth concurrent request: every file but m64 in turn.
http_nth_file() {
	local f=${HTTP_FILES[$1 % ${#HTTP_FILES[@]}]}

	[ "$f" = m64 ] && f=k16
	echo "$f"
}

http_check_concurrent() {
	local name=$1 port=$2 out=$3 i n=0 urls=()

	mkdir -p "$out"
	for i in $(seq 200); do
		urls+=(-o "$out/c$i" "http://127.0.0.1:$port/$(http_nth_file "$i")")
	done
	if curl -sf --no-progress-meter --parallel --parallel-max 50 \
		"${urls[@]}"; then
		for i in $(seq 200); do
			cmp -s "$HTTP_WWW/$(http_nth_file "$i")" "$out/c$i" ||
				n=$((n + 1))
		done
	else
		n=-1
	fi
	[ $n = 0 ]
	t_verdict $? "$name/50-clients" "$n bodies differ (-1: curl failed)"
	rm -f "$out"/c*
}

# Under bbr, enough corked bodies of SM_PACED_COPY_MIN and more on one
# keep-alive connection (so one worker, one thread) for a trial of the
# paced copy to end (sm_policy_trial(): 2 * SM_TRIAL_EPOCHS epochs of
# SM_TRIAL_LEN, and the run's first body); http_check_stats looks for its
# verdict.
http_check_trial() {
	local name=$1 port=$2 out=$3 n i urls=()

	http_paced || return 0
	n=$(awk '/^#define SM_TRIAL_(LEN|EPOCHS) / { p = p ? p * $3 : $3 }
		 END { print 2 * p + 1 }' "${top_srcdir:?}/shim/sm.h")
	mkdir -p "$out"
	for i in $(seq "$n"); do
		urls+=(-o "$out/trial" "http://127.0.0.1:$port/m1p1")
	done
	curl -sf --no-progress-meter "${urls[@]}" &&
		cmp -s "$HTTP_WWW/m1p1" "$out/trial"
	t_verdict $? "$name/trial-bodies" "$n requests of m1p1"
	rm -f "$out/trial"
}

# The kernel's buffer fills and the sends are partial.
http_check_slow() {
	local name=$1 port=$2 out=$3

	mkdir -p "$out"
	curl -sf --limit-rate 512k -o "$out/slow" \
		"http://127.0.0.1:$port/m1p1" &&
		cmp -s "$HTTP_WWW/m1p1" "$out/slow"
	t_verdict $? "$name/slow-client" "body differs"
}

# Sum JSON objects, one a line on stdin, over processes.
http_sum_stats() {
	python3 -c '
import json, sys
t = {}
for line in sys.stdin:
    if not line.strip():
        continue
    d = json.loads(line)
    for k in ("bytes_by_path", "calls_by_path", "fallbacks",
              "calls_by_socket"):
        for p, v in d.get(k, {}).items():
            t[k + "." + p] = t.get(k + "." + p, 0) + v
    for k, v in d.items():      # the counters (shim/counters.def)
        if isinstance(v, int) and k not in ("version", "pid"):
            t[k] = t.get(k, 0) + v
print(" ".join("%s=%d" % kv for kv in sorted(t.items()) if kv[1]))'
}

http_stats() {
	local f

	for f in "$@"; do
		[ -e "$f" ] && cat "$f"
	done | http_sum_stats
}

http_live_stats() {
	local p

	for p in "$@"; do
		"$SM_STAT" -p "$p" --json 2>/dev/null
	done | http_sum_stats
}

# http_settled_stats "PID...": live stats once two reads agree.  A server
# counts a response just after it is sent, maybe after the client has it.
http_settled_stats() {
	local s t

	# shellcheck disable=SC2086 # pids
	s=$(http_live_stats $1)
	for _ in $(seq 20); do
		sleep 0.1
		# shellcheck disable=SC2086
		t=$(http_live_stats $1)
		[ "$t" = "$s" ] && break
		s=$t
	done
	echo "$s"
}

http_get() {
	local v

	v=$(sed -n "s/.*\\b$1=\\([0-9]*\\).*/\\1/p" <<<"$2")
	echo "${v:-0}"
}

# ---- what the server does per response, from strace ----------------------

HTTP_TRACE_PID=

http_trace_start() {
	local out=$1 p t n args=()

	shift
	for p in "$@"; do
		args+=(-p "$p")
	done
	strace -f -qq -y -e trace=setsockopt,write,writev,send,sendto,sendmsg,sendfile \
		-e signal=none -o "$out" "${args[@]}" 2>/dev/null &
	HTTP_TRACE_PID=$!
	# every thread traced before the first request
	for _ in $(seq 100); do
		n=0
		for p in "$@"; do
			for t in /proc/"$p"/task/*; do
				grep -q "^TracerPid:[[:space:]]*$HTTP_TRACE_PID\$" \
					"$t/status" 2>/dev/null || n=$((n + 1))
			done
		done
		[ $n = 0 ] && return 0
		sleep 0.05
	done
	return 1
}

# A call the client has seen the result of may not be in the trace yet:
# strace writes it when the call returns.  Given the trace OUT, stop when
# it is still; without, at once.
http_trace_stop() {
	local size=-1

	[ -n "$HTTP_TRACE_PID" ] || return 0
	for _ in $( [ -n "${1:-}" ] && seq 20); do
		sleep 0.1
		[ "$(stat -c %s "$1")" = "$size" ] && break
		size=$(stat -c %s "$1")
	done
	kill -INT "$HTTP_TRACE_PID" 2>/dev/null
	wait "$HTTP_TRACE_PID" 2>/dev/null
	HTTP_TRACE_PID=
}

# http_idioms TRACE: one line of counts, then the shapes of the responses
# on sockets, most frequent first ("N x cork writev sendfile uncork").
#   corked_small	TCP_CORK on, writes, then a sendfile() of at most
#			16 KiB: what auto sends as one sendmsg(2)
#   corked_large	the same with a larger sendfile(): held headers
#			go with its first page (lead_copied), this
#			peer being local
#   corked_paced	those of corked_large whose sendfile() asks for
#			128 KiB or more, which auto copies with their
#			headers where the congestion control paces (bbr);
#			paced_held_bytes their held bytes
#   corked_bare		corked writes that no sendfile() followed
#   held_writes		writes while corked, before the body
#   held_bytes, small_held_bytes, bare_held_bytes	their bytes
#   sendfile_calls, sendfile_bytes, small_body_bytes	the bodies
#   plain_writes	writes to a socket that was not corked
http_idioms() {
	python3 - "$1" "${top_srcdir:?}/shim/sm.h" <<'PY'
import re, sys

# SM_DIRECT_MAX and SM_PACED_COPY_MIN, read from shim/sm.h (argv[2])
def kib(name):
    m = re.search(r"#define %s \(\(size_t\)(\d+) << 10\)" % name,
                  open(sys.argv[2]).read())
    return int(m.group(1)) << 10


SMALL = kib("SM_DIRECT_MAX")
PACED = kib("SM_PACED_COPY_MIN")
call = re.compile(r"^(\w+)\((\d+)(?:<([^\[>]*\[[^\]]*\]|[^>]*)>)?(.*)"
                  r"\s+=\s+(-?\d+)")
c = dict.fromkeys(("corked_small", "corked_large", "corked_paced",
                   "paced_held_bytes", "corked_bare",
                   "held_writes", "held_bytes", "small_held_bytes",
                   "bare_held_bytes", "sendfile_calls", "sendfile_bytes",
                   "small_body_bytes", "plain_writes"), 0)
shapes = {}
socks = {}
pending = {}


def close_response(s):
    if s["toks"]:
        out = []
        for t in s["toks"]:
            if out and out[-1][0] == t:
                out[-1][1] += 1
            else:
                out.append([t, 1])
        k = " ".join(t if n == 1 else "%sx%d" % (t, n) for t, n in out)
        shapes[k] = shapes.get(k, 0) + 1
    s["toks"] = []


def end_cork(s):
    # corked writes that went without a body
    if s["held"] and not s["body"]:
        c["corked_bare"] += 1
        c["bare_held_bytes"] += s["held"]
    s.update(corked=False, held=0, body=False)


for line in open(sys.argv[1]):
    pid, _, rest = line.rstrip("\n").partition(" ")
    rest = rest.lstrip()
    if rest.endswith("<unfinished ...>"):
        pending[pid] = rest[:-len("<unfinished ...>")].rstrip()
        continue
    m = re.match(r"<\.\.\. \w+ resumed>(.*)", rest)
    if m:
        rest = pending.pop(pid, "") + m.group(1)
    m = call.match(rest)
    if not m:
        continue
    name, fd, tag, args, ret = m.groups()
    ret = int(ret)
    if not tag or not (tag.startswith("socket:") or tag.startswith("TCP")):
        continue
    s = socks.setdefault(fd, dict(corked=False, held=0, body=False,
                                  toks=[]))
    if name == "setsockopt" and "TCP_CORK" in args:
        m = re.search(r"TCP_CORK, \[(\d+)\]", args)
        if m and int(m.group(1)):
            close_response(s)
            s.update(corked=True, held=0, body=False)
            s["toks"].append("cork")
        else:
            end_cork(s)
            s["toks"].append("uncork")
    elif name == "sendfile":
        m = re.search(r",\s*(\d+)\)$", args)
        count = int(m.group(1)) if m else 0
        c["sendfile_calls"] += 1
        c["sendfile_bytes"] += max(ret, 0)
        s["toks"].append("sendfile" if ret >= 0 else "sendfile-EAGAIN")
        if s["corked"] and s["held"] and not s["body"]:
            if count <= SMALL:
                c["corked_small"] += 1
                c["small_held_bytes"] += s["held"]
                c["small_body_bytes"] += max(ret, 0)
            else:
                c["corked_large"] += 1
                if count >= PACED:
                    c["corked_paced"] += 1
                    c["paced_held_bytes"] += s["held"]
            s["body"] = True
    elif name in ("write", "writev", "send", "sendto", "sendmsg"):
        if s["corked"] and not s["body"]:
            if ret > 0:
                c["held_writes"] += 1
                c["held_bytes"] += ret
                s["held"] += ret
        elif not s["corked"]:
            c["plain_writes"] += 1
            close_response(s)
        s["toks"].append(name if ret >= 0 else name + "-EAGAIN")
for s in socks.values():
    close_response(s)
print(" ".join("%s=%d" % kv for kv in c.items()))
for k, n in sorted(shapes.items(), key=lambda kv: -kv[1]):
    print("%d x %s" % (n, k))
PY
}

# Do the servers' sockets pace (bbr, this network namespace's default)?
# Then auto may copy their large bodies to this local peer (policy.c).
http_paced() {
	[[ $(sysctl -n net.ipv4.tcp_congestion_control 2>/dev/null) == bbr* ]]
}

# http_check_idioms NAME MODE IDIOMS STATS: what the shim must have done
# with the responses IDIOMS (http_idioms' first line, from the native
# server) counts, given the same requests under MODE (docs/cork.md).
# STATS: http_stats of those requests alone.  With HTTP_RACY set the
# server sends a body from another thread than its headers (nginx's aio
# threads), while the first goes on to a blocking wait, which flushes held
# headers: which responses coalesce is then timing, and only the totals are
# checked.  These requests come one at a time on one connection, so each
# loop turn serves one event and no body waits for the loop's next wait
# (sm_policy_turn_batches(); the concurrent clients' do, http_check_stats).
http_check_idioms() {
	local name=$1 mode=$2 i=$3 s=$4 want got
	[ "$mode" = auto ] && http_paced && mode=auto-paced
	local small large hw bb sfb smb paced
	small=$(http_get corked_small "$i")
	paced=$(http_get corked_paced "$i")
	large=$(http_get corked_large "$i")
	hw=$(http_get held_writes "$i")
	bb=$(http_get bare_held_bytes "$i")
	sfb=$(http_get sendfile_bytes "$i")
	smb=$(http_get small_body_bytes "$i")

	# the batch path counts as the path the body takes without it:
	# sendmsg(2) under auto, io_uring under uring
	local bc bb_ sc sy ur note=''
	bc=$(http_get calls_by_path.batch "$s")
	bb_=$(http_get bytes_by_path.batch "$s")
	sc=$(http_get calls_by_path.sendmsg "$s")
	sy=$(http_get bytes_by_path.sendmsg "$s")
	ur=$(($(http_get bytes_by_path.uring_copy "$s") +
		$(http_get bytes_by_path.uring_zc "$s")))
	if [ "$mode" = uring ]; then
		ur=$((ur + bb_))
	else
		sc=$((sc + bc)) sy=$((sy + bb_))
	fi
	got="coalesced=$(http_get coalesced "$s")"
	got+=" hold_writes=$(http_get hold_writes "$s")"
	got+=" hold_flushed=$(http_get hold_flushed "$s")"
	got+=" lead=$(http_get lead_copied "$s")"
	got+=" sendmsg=$sc/$sy"
	got+=" native=$(http_get bytes_by_path.native "$s")"
	got+=" uring=$ur"
	# a turn of one event: nothing to wait for
	[ "$bc" = 0 ] ||
		note=" ($bc bodies waited for a loop's wait: none may)"
	case $mode in
	auto)
		# the small bodies leave with their headers in one sendmsg,
		# or one submission of the loop turn's; the others' headers
		# with their first page (SM_LEAD_LEN) ahead of sendfile(2):
		# only headers no body followed go alone
		want="coalesced=$small hold_writes=$hw"
		want+=" hold_flushed=$bb lead=$((large * 4096))"
		want+=" sendmsg=$small/$smb"
		want+=" native=$((sfb - smb)) uring=0"
		;;
	auto-paced)
		# the same, but 128 KiB and more is copied in sendmsg(2),
		# with its headers when it is a response's first body call,
		# where the process's trial measured the copy cheaper (a
		# thread's first SM_TRIAL_LEN such bodies copy, ...):
		# each such response either coalesced or led with a page;
		# which later calls ask for that much is timing: totals
		# racy (http_racy_idioms: bounds): a body may also miss its
		# headers, so any large one may have led, any paced one
		# coalesced
		local k=0
		if [ -z "${HTTP_RACY:-}" ]; then
			k=$(($(http_get coalesced "$s") - small))
			# (a thread's first such body copies: one at least)
			((k >= (paced > 0) && k <= paced)) || k=$paced
		fi
		want="coalesced=$((small + ${HTTP_RACY:+paced +} k))"
		want+=" hold_writes=$hw"
		want+=" hold_flushed=$bb lead=$(((large - k) * 4096))"
		want+=" uring=0"
		got="coalesced=$(http_get coalesced "$s")"
		got+=" hold_writes=$(http_get hold_writes "$s")"
		got+=" hold_flushed=$(http_get hold_flushed "$s")"
		got+=" lead=$(http_get lead_copied "$s") uring=$ur"
		[ $(($(http_get bytes_by_path.native "$s") + sy)) = "$sfb" ] &&
		[ "$sc" -ge $((small + k)) ] ||
			got+=" (bytes or sendmsg calls off: $(http_get \
				bytes_by_path.native "$s") native +" \
				"$(http_get calls_by_path.sendmsg \
				"$s")/$(http_get bytes_by_path.sendmsg "$s")" \
				"sendmsg, want $sfb bytes)"
		;;
	uring)
		# every corked response in one io_uring submission, its own
		# or the loop turn's
		want="coalesced=$((small + large)) hold_writes=$hw"
		want+=" hold_flushed=$bb lead=0 sendmsg=0/0 native=0"
		want+=" uring=$sfb"
		;;
	*)
		return 0
		;;
	esac
	if [ -n "$note" ]; then
		got+=$note
		false
	elif [ -n "${HTTP_RACY:-}" ]; then
		http_racy_idioms "$mode" "$want" "$got"
	else
		[ "$got" = "$want" ]
	fi
	t_verdict $? "$name/per-response-counters" \
		"want $want${HTTP_RACY:+ (or fewer coalesced)}, got $got (native: $i)"
}

# http_racy_idioms MODE WANT GOT: every held write counted, every body
# byte on its path; at most the responses WANT coalesces did (or led with
# a page of their body), and held header bytes that did not leave with a
# body were flushed.
http_racy_idioms() {
	local w g kv

	declare -A w g
	for kv in $2; do w[${kv%%=*}]=${kv#*=}; done
	for kv in $3; do g[${kv%%=*}]=${kv#*=}; done
	[ "${g[hold_writes]}" = "${w[hold_writes]}" ] &&
		[ "${g[coalesced]}" -le "${w[coalesced]}" ] &&
		[ "${g[hold_flushed]}" -ge "${w[hold_flushed]}" ] &&
		[ "${g[lead]}" -le "${w[lead]}" ] &&
		[ "${g[uring]}" = "${w[uring]}" ] || return 1
	if [ "$1" = auto ]; then
		# sendmsg: as many calls as coalesced responses; the bodies
		# that did not coalesce went by sendfile(2)
		[ "${g[sendmsg]%/*}" = "${g[coalesced]}" ] &&
		[ $((${g[native]} + ${g[sendmsg]#*/})) = \
		  $((${w[native]} + ${w[sendmsg]#*/})) ]
	elif [ "$1" = auto-paced ]; then
		# the bytes' total and the sendmsg calls, checked already
		[[ $3 != *" off: "* ]]
	else
		[ "${g[native]}" = 0 ] && [ "${g[sendmsg]}" = 0/0 ]
	fi
}

# The descriptors of PID but the shim's io_uring rings: one per thread
# that sent through io_uring, and apache's event MPM continues a response
# on whichever thread is free.
http_fds() {
	local f n=0

	for f in /proc/"$1"/fd/*; do
		[ "$(readlink "$f")" = "anon_inode:[io_uring]" ] || n=$((n + 1))
	done
	echo $n
}

# Clients that go away mid-body (curl gives up after 1 s): PID, the
# process that serves, keeps no descriptor of theirs and serves on.
http_check_disconnects() {
	local name=$1 port=$2 pid=$3 out=$4 fds now i cl=()

	mkdir -p "$out"
	# one request first: whatever the shim sets up once is there
	curl -sf -o /dev/null "http://127.0.0.1:$port/m1p1"
	fds=$(http_fds "$pid")
	for i in 1 2 3 4; do
		curl -s --limit-rate 1m --max-time 1 -o /dev/null \
			"http://127.0.0.1:$port/m64" &
		cl+=($!)
	done
	wait "${cl[@]}"
	for i in $(seq 20); do
		now=$(http_fds "$pid")
		[ "$now" -le "$fds" ] && break
		sleep 0.1
	done
	[ "$now" -le "$fds" ]
	t_verdict $? "$name/disconnects-leave-no-fd" "fds $fds -> $now"
	curl -sf -o "$out/after" "http://127.0.0.1:$port/k16" &&
		cmp -s "$HTTP_WWW/k16" "$out/after"
	t_verdict $? "$name/serves-after-disconnects" "no or wrong body"
}

# ---- the matrix: one server natively, then under the shim ------------------

# http_run SERVER DIR MODE...: for each MODE (native first), start
# SERVER (SERVER_start, _workers and _stop from SERVER-lib.sh) on a free
# port and run every check; the caller defines check_uid NAME DIR (one
# result line) and log_errors DIR (prints what in the server's logs says
# something went wrong).  The native server is traced while it serves the
# sequential requests: what it does per response is printed, and is what
# the shim's statistics for the same requests must follow
# (http_check_idioms).  HTTP_PREFIX goes before every check's name;
# HTTP_CHECKS (default "slow disconnects") says which of those run (and
# "trial": http_check_trial).
http_run() {
	local srv=$1 top=$2 mode name dir port workers idioms='' s bad trace=yes
	local checks=${HTTP_CHECKS-slow disconnects}

	shift 2
	command -v strace >/dev/null || trace=
	for mode in "$@"; do
		name=${HTTP_PREFIX:-}$mode
		dir=$top/$mode
		port=$(http_free_port)
		if ! "${srv}_start" "$dir" "$port" "$HTTP_WWW" "$mode"; then
			t_fail "$name/start" \
				"$(tail -n 3 "$dir"/logs/* 2>&1)"
			continue
		fi
		check_uid "$name" "$dir"
		workers=$("${srv}_workers" "$dir")
		if [ "$mode" = native ] && [ -n "$trace" ]; then
			# shellcheck disable=SC2086 # pids
			http_trace_start "$dir/trace" $workers ||
				t_error "$name/trace" "strace did not attach"
		fi
		http_check_sequential "$name" "$port" "$dir/out"
		if [ "$mode" = native ] && [ -n "$trace" ]; then
			http_trace_stop "$dir/trace"
			http_idioms "$dir/trace" >"$dir/idioms"
			idioms=$(head -1 "$dir/idioms")
			echo "# ${HTTP_PREFIX:-}$srv per response, natively (strace):"
			sed '1s/ /\n/g' "$dir/idioms" | sed 's/^/#   /'
		elif [ "$mode" != native ]; then
			s=$(http_settled_stats "$workers")
			echo "    $name sequential: $s"
			if [ -n "$idioms" ]; then
				http_check_idioms "$name" "$mode" "$idioms" "$s"
			else
				t_skip "$name/per-response-counters" \
					"no native trace (strace)"
			fi
		fi
		http_check_concurrent "$name" "$port" "$dir/out"
		[[ " $checks " == *" slow "* ]] &&
			http_check_slow "$name" "$port" "$dir/out"
		[[ " $checks " == *" trial "* ]] &&
			http_check_trial "$name" "$port" "$dir/out"
		# the server's first process: apache's child, nginx's worker
		[[ " $checks " == *" disconnects "* ]] &&
			http_check_disconnects "$name" "$port" \
				"${workers%%[[:space:]]*}" "$dir/out"
		"${srv}_stop" "$dir" || t_fail "$name/stop" "needed SIGKILL"
		bad=$(log_errors "$dir")
		[ -z "$bad" ]
		t_verdict $? "$name/error-log-clean" "$(head -3 <<<"$bad")"
		http_check_stats "$name" "$dir" "$mode" "$idioms" "$srv"
	done
}

# What the stats of a whole run say carried the bodies, summed over every
# process: with the concurrent clients the exact counts depend on timing,
# the paths do not.  Every file names PROGRAM, the name the server started
# as: nginx's workers exit with "nginx: worker process is shutting down"
# written over their argv.
http_check_stats() {
	local name=$1 dir=$2 mode=$3 idioms=$4 prog=$5 s ur na small got
	s=$(http_stats "$dir"/stats/*.json)
	if [ -n "$s" ]; then
		got=$(python3 -c '
import json, sys
print(" ".join(sorted({json.load(open(f))["program"] for f in sys.argv[1:]})))' \
			"$dir"/stats/*.json 2>&1)
		[ "$got" = "$prog" ]
		t_verdict $? "$name/stats-program" "programs: $got"
	fi
	ur=$(($(http_get bytes_by_path.uring_copy "$s") +
		$(http_get bytes_by_path.uring_zc "$s")))
	na=$(http_get bytes_by_path.native "$s")
	small=$(http_get corked_small "$idioms")
	# HTTP_LOOP: the server sends its bodies from the thread that waits
	# in epoll_wait, and the 50 concurrent clients' turns serve several
	# events: small corked bodies wait for the turn's end (path batch)
	if [ -n "${HTTP_LOOP:-}" ] && [ "$mode" != native ] &&
	   [ "${small:-0}" -gt 0 ]; then
		[ "$(http_get calls_by_path.batch "$s")" -gt 0 ] &&
			[ "$(http_get batches "$s")" -gt 0 ]
		t_verdict $? "$name/stats-batched" "$s"
	fi
	case $mode in
	uring)
		# forced: io_uring carries the bodies, the corked responses
		# are coalesced
		[ "$ur" -gt $((64 << 20)) ] && [ "$na" -lt $((ur / 10)) ] &&
			[ "$(http_get coalesced "$s")" -gt 0 ]
		t_verdict $? "$name/stats-io_uring" "$s"
		;;
	auto)
		if http_paced; then
			# bbr: what the server asks for in 128 KiB and more is
			# copied in sendmsg(2) (per-response-counters: how much)
			[ "$ur" = 0 ] && [ $(($(http_get bytes_by_path.sendmsg \
				"$s") + $(http_get bytes_by_path.batch "$s"))) \
				-gt 0 ]
			t_verdict $? "$name/stats-sendmsg-under-bbr" "$s"
			# a worker's trial of the paced copy ended, either way
			if [[ " ${HTTP_CHECKS-} " == *" trial "* ]]; then
				[ $(($(http_get trial_copy "$s") +
				     $(http_get trial_sendfile "$s"))) -gt 0 ]
				t_verdict $? "$name/stats-trial" "$s"
			fi
			return
		fi
		# loopback: sendfile(2), and the stats say why; small corked
		# bodies leave with their headers in one sendmsg(2) if the
		# server corks any
		[ "$ur" = 0 ] && [ "$na" -gt $((64 << 20)) ] &&
			[ $(($(http_get fallbacks.local_peer "$s") +
			     $(http_get fallbacks.small "$s"))) -gt 0 ] &&
			{ [ "$small" = 0 ] ||
			  [ $(($(http_get bytes_by_path.sendmsg "$s") +
			       $(http_get bytes_by_path.batch "$s"))) -gt 0 ]; }
		t_verdict $? "$name/stats-native-and-sendmsg" "$s"
		;;
	*)
		[ -z "$s" ]
		t_verdict $? "$name/no-stats" "natively, yet stats: $s"
		;;
	esac
	[ -z "$s" ] || echo "    $name: $s"
}
