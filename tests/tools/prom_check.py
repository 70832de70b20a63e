#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A strict reader of the Prometheus text format (version 0.0.4) as
splicemsg-stat --prometheus writes it, and a comparison with --json.

    prom_check.py FILE [--families A,B,...] [--json FILE] [--pids P,Q]

Checks every line of FILE: "# HELP name text" and "# TYPE name counter"
before a family's samples, each family once and its samples together,
names and label names of the format's alphabet, label values with only
the escapes the format has (\\\\, \\", \\n) and valid UTF-8, integer
values, no series twice, pid and program on every sample, a newline at
the end.  --families: the families, in order.  --json: splicemsg-stat
--json lines whose values each sample must equal, for the processes of
--pids (all of the JSON's if not given), every one of which must be there
with its program.  Prints "ok ..." and exits 0, or the problems and 1.
"""
import argparse
import json
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
VALUE = re.compile(r"(0|[1-9][0-9]*)")
# A family's labels beyond pid and program, and the JSON key it mirrors.
GROUPS = {"path": None, "reason": "fallbacks", "socket": "calls_by_socket"}


def parse_labels(text, where):
    """'{a="b",...} rest' -> ({a: b}, rest); raises ValueError."""
    if not text.startswith("{"):
        raise ValueError(f"{where}: no labels")
    i, labels = 1, {}
    while True:
        m = LABEL.match(text, i)
        if not m:
            raise ValueError(f"{where}: bad label name at {text[i:i+20]!r}")
        name = m.group(0)
        i = m.end()
        if text[i:i + 2] != '="':
            raise ValueError(f"{where}: label {name} without =\"")
        i += 2
        val = []
        while True:
            if i >= len(text):
                raise ValueError(f"{where}: unterminated value of {name}")
            c = text[i]
            if c == "\\":
                esc = text[i + 1:i + 2]
                if esc not in ("\\", '"', "n"):
                    raise ValueError(f"{where}: bad escape \\{esc} in {name}")
                val.append("\n" if esc == "n" else esc)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise ValueError(f"{where}: raw newline in {name}")
            else:
                val.append(c)
                i += 1
        if name in labels:
            raise ValueError(f"{where}: label {name} twice")
        labels[name] = "".join(val)
        if text[i:i + 1] == ",":
            i += 1
            continue
        if text[i:i + 1] == "}":
            return labels, text[i + 1:]
        raise ValueError(f"{where}: expected , or }} after {name}")


def parse(data):
    """bytes -> ([family names], {family: {frozen labels: value}}, help)."""
    text = data.decode("utf-8")  # UnicodeDecodeError: not UTF-8
    if text and not text.endswith("\n"):
        raise ValueError("no newline at the end")
    order, samples, helps, types = [], {}, {}, {}
    current = None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = f"line {n}"
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            kind, rest = line[2:6], line[7:]
            m = NAME.match(rest)
            if not m or (len(rest) > m.end() and rest[m.end()] != " "):
                raise ValueError(f"{where}: bad name in {kind}")
            name, arg = m.group(0), rest[m.end() + 1:]
            if kind == "HELP":
                if name in helps or name in samples:
                    raise ValueError(f"{where}: HELP of {name} again or late")
                if not arg or re.search(r"\\[^\\n]", arg):
                    raise ValueError(f"{where}: empty HELP or bad escape")
                helps[name] = arg
                order.append(name)
                current = name
            else:
                if name in types or name != current:
                    raise ValueError(f"{where}: TYPE of {name} not after its HELP")
                if arg != "counter":
                    raise ValueError(f"{where}: {name} is {arg!r}, not counter")
                types[name] = arg
                samples[name] = {}
            continue
        if line.startswith("#") or not line:
            raise ValueError(f"{where}: unexpected {line!r}")
        m = NAME.match(line)
        if not m:
            raise ValueError(f"{where}: bad metric name")
        name = m.group(0)
        if name != current or name not in types:
            raise ValueError(f"{where}: sample of {name} outside its family")
        labels, rest = parse_labels(line[m.end():], where)
        if not rest.startswith(" ") or not VALUE.fullmatch(rest[1:]):
            raise ValueError(f"{where}: bad value {rest!r}")
        for need in ("pid", "program"):
            if need not in labels:
                raise ValueError(f"{where}: no {need} label")
        key = frozenset(labels.items())
        if key in samples[name]:
            raise ValueError(f"{where}: series again: {labels}")
        samples[name][key] = int(rest[1:])
    for name in order:
        if name not in types:
            raise ValueError(f"{name}: HELP without TYPE")
    return order, samples, helps


def compare(samples, procs, pids, problems):
    """Each JSON process's values against the samples of its pid."""
    seen = {}
    for fam, series in samples.items():
        for key, value in series.items():
            labels = dict(key)
            seen.setdefault(labels["pid"], set()).add(labels["program"])
    for pid in pids:
        j = procs.get(pid)
        if j is None:
            problems.append(f"pid {pid}: not in the --json lines")
            continue
        if seen.get(pid) != {j["program"]}:
            problems.append(f"pid {pid}: program {seen.get(pid)}, JSON says "
                            f"{j['program']!r}")
            continue
        want = {}
        base = "splicemsg_%s_total"
        for path, v in j["calls_by_path"].items():
            want[(base % "calls", ("path", path))] = v
        for path, v in j["bytes_by_path"].items():
            want[(base % "bytes", ("path", path))] = v
        for reason, v in j["fallbacks"].items():
            want[(base % "fallbacks", ("reason", reason))] = v
        for sock, v in j["calls_by_socket"].items():
            want[(base % "calls_by_socket", ("socket", sock))] = v
        for k, v in j.items():
            if isinstance(v, int) and k not in ("version", "pid"):
                want[(base % k, None)] = v
        got = {}
        for fam, series in samples.items():
            for key, value in series.items():
                labels = dict(key)
                if labels["pid"] != pid:
                    continue
                extra = [(k, v) for k, v in labels.items()
                         if k not in ("pid", "program")]
                if len(extra) > 1 or (extra and extra[0][0] not in GROUPS):
                    problems.append(f"{fam}: labels {labels}")
                got[(fam, extra[0] if extra else None)] = value
        if got != want:
            diff = sorted(set(got.items()) ^ set(want.items()), key=str)
            problems.append(f"pid {pid}: differs from --json: {diff[:6]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--families")
    ap.add_argument("--json")
    ap.add_argument("--pids")
    a = ap.parse_args()
    problems = []
    try:
        with open(a.file, "rb") as f:
            order, samples, helps = parse(f.read())
    except (ValueError, UnicodeDecodeError) as e:
        print(f"{a.file}: {e}")
        return 1
    if a.families and order != a.families.split(","):
        problems.append(f"families {order}, expected {a.families.split(',')}")
    if a.json:
        procs = {}
        with open(a.json) as f:
            for line in f:
                j = json.loads(line)
                procs[str(j["pid"])] = j
        pids = a.pids.split(",") if a.pids else sorted(procs)
        compare(samples, procs, pids, problems)
    if problems:
        print("\n".join(problems))
        return 1
    print(f"ok: {len(order)} families, "
          f"{sum(len(s) for s in samples.values())} samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
