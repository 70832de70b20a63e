#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The built library's shape: it exports exactly the names of
# shim/intercept.def (SM_SYM and SM_ALSO) and the public splicemsg_* API,
# and it never calls one of its own exported names through the PLT, which
# would send the engine back through its own wrappers (a corked stderr
# would hold the stats JSON).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u

# shellcheck source=tests/t_lib.sh
. "$(cd "$(dirname "$0")/.." && pwd)/t_lib.sh"
for tool in nm objdump; do
	command -v $tool >/dev/null ||
		{ echo "SKIP: no $tool"; exit 77; }
done
[ -f "$SM_LIB" ] || { echo "ERROR: $SM_LIB not built"; exit 99; }

exported=$(nm -D --defined-only "$SM_LIB" | awk '{ print $3 }' | sort)
declared=$( { sed -n 's/^SM_\(SYM\|ALSO\)(\([A-Za-z_0-9]*\)[,)].*/\2/p' \
		"$top_srcdir/shim/intercept.def"
	grep -o '^SM_EXPORT [^(]*' "$top_srcdir/shim/api.c" |
		awk '{ print $NF }' | tr -d '*'; } | sort)
if [ "$exported" = "$declared" ]; then
	t_pass exports
else
	t_fail exports "$(diff <(echo "$declared") <(echo "$exported") |
		grep '^[<>]' | tr '\n' ' ')"
fi

calls=$(objdump -d "$SM_LIB" |
	sed -nE 's/.*(call|jmp)[^<]*<([A-Za-z_0-9]+)@plt>.*/\2/p' | sort -u)
own=$(comm -12 <(echo "$calls") <(echo "$exported"))
if [ -z "$own" ]; then
	t_pass no-self-calls
else
	t_fail no-self-calls "calls its own exports through the PLT:" "$own"
fi
t_finish
