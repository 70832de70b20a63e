# SPDX-License-Identifier: LGPL-2.1-or-later
"""Check libsplicemsg's exit stats against what sm_sender's calls returned.

usage: sm_stats.py MODE ENGINE DIR...

Each DIR is one run of one scenario (named after it) and holds
stats.PID.json (SPLICEMSG_STATS=DIR/stats.%p.json) and meta.PID
(sm_sender --meta DIR/meta.%p), one of each per process.
MODE is the policy under test:

  uring-zc      ENGINE=uring ZC=always ZC_MIN=0: eligible bytes on uring_zc
                (or uring_copy, if fallbacks.zc_budget says why)
  uring-copy    ENGINE=uring ZC=never: eligible bytes on uring_copy
  auto          ENGINE=auto ZC=auto on loopback: everything native, except
                held TCP headers with a small body: one sendmsg(2)
  report        ENGINE=auto ZC=report: zero-copy probes, then native
  kmod          ENGINE=kmod with /dev/splicemsg: eligible bytes on kmod
  kmod-zc       ENGINE=kmod ZC=always ZC_MIN=0, a module with registered
                buffers: eligible bytes on kmod_zc (on kmod, its single
                send, under SO_SNDTIMEO or the zero-copy budget)
  noring-eperm  io_uring_setup denied with EPERM: everything native
  noring-enosys io_uring_setup denied with ENOSYS: everything native

Prints "PASS MODE/SCENARIO stats (summary)" or "FAIL ...: why" with the
details indented, per DIR.  Exit 0 all passed, 1 a failure, 99 an error.
"""

import glob
import json
import os
import re
import sys

def path_names():
    """The paths, from the library's own list (shim/paths.def)."""
    top = os.environ.get("top_srcdir",
                         os.path.join(os.path.dirname(__file__), "..", ".."))
    with open(os.path.join(top, "shim", "paths.def")) as f:
        return tuple(re.findall(r"^SM_PATH\((\w+),", f.read(), re.M))


PATHS = path_names()


def stats_version():
    """The counters' layout version (shim/counters.h)."""
    top = os.environ.get("top_srcdir",
                         os.path.join(os.path.dirname(__file__), "..", ".."))
    with open(os.path.join(top, "shim", "counters.h")) as f:
        return int(re.search(r"#define SM_STATS_VERSION (\d+)",
                             f.read()).group(1))


VERSION = stats_version()


def load_meta(d):
    metas = []
    for name in sorted(glob.glob(os.path.join(d, "meta.*"))):
        m = {}
        with open(name) as f:
            for line in f:
                k, _, v = line.strip().partition(" ")
                m[k] = int(v) if v.lstrip("-").isdigit() else v
        metas.append(m)
    return metas


def load_stats(d):
    return [json.load(open(n))
            for n in sorted(glob.glob(os.path.join(d, "stats.*.json")))]


def total(objs, *keys):
    s = 0
    for o in objs:
        for k in keys[:-1]:
            o = o.get(k, {})
        s += int(o.get(keys[-1], 0))
    return s


class Checker:
    def __init__(self, mode, engine, metas, stats):
        self.mode = mode
        self.engine = engine
        self.stats = stats
        self.why = []
        m = metas[0]
        self.scenario = m.get("scenario", "?")
        self.accounting = m.get("accounting", "exact")
        self.reason = m.get("native_reason")
        self.coalesce_min = int(m.get("coalesce_min", 0))
        sm = lambda k: sum(x.get(k, 0) for x in metas)
        self.E = sm("eligible_bytes")
        self.EC = sm("eligible_calls")
        self.I = sm("ineligible_bytes")
        self.IC = sm("ineligible_calls")
        self.O = sm("other_bytes")
        self.b = {p: total(stats, "bytes_by_path", p) for p in PATHS}
        self.c = {p: total(stats, "calls_by_path", p) for p in PATHS}
        self.notif = total(stats, "zc_notifications")
        self.copied = total(stats, "zc_copied")
        self.uring_bytes = self.b["uring_zc"] + self.b["uring_copy"]
        self.sent = sum(self.b.values())

    def fb(self, key):
        return total(self.stats, "fallbacks", key)

    def want(self, ok, text):
        if not ok:
            self.why.append(text)

    def eq(self, what, got, want):
        self.want(got == want, "%s = %d, expected %d" % (what, got, want))

    def summary(self):
        return ("eligible %d B in %d calls, ineligible %d B; stats: "
                "zc %d B, copy %d B, sendmsg %d B, batch %d B, kmod %d B, "
                "kmod_zc %d B, native %d B, notif %d copied %d"
                % (self.E, self.EC, self.I, self.b["uring_zc"],
                   self.b["uring_copy"], self.b["sendmsg"],
                   self.b["batch"], self.b["kmod"], self.b["kmod_zc"],
                   self.b["native"], self.notif,
                   self.copied))

    def common(self):
        for s in self.stats:
            self.want(s.get("version") == VERSION,
                      "version %r" % s.get("version"))
            self.want(s.get("program") == "sm_sender",
                      "program %r" % s.get("program"))
            self.want(s.get("engine") == self.engine,
                      "engine %r, expected %r" % (s.get("engine"),
                                                  self.engine))
        if self.mode not in ("kmod", "kmod-zc"):
            self.eq("bytes_by_path.kmod", self.b["kmod"], 0)
            self.eq("bytes_by_path.kmod_zc", self.b["kmod_zc"], 0)
        # only auto's coalesced responses take sendmsg(2), and its copies
        # to a local peer under a pacing congestion control
        if (self.mode != "auto-paced" and
                (self.accounting not in ("coalesce", "held", "batch") or
                 self.mode not in ("auto", "report"))):
            self.eq("bytes_by_path.sendmsg", self.b["sendmsg"], 0)
            self.eq("calls_by_path.sendmsg", self.c["sendmsg"], 0)
        if self.accounting not in ("none", "held"):
            self.eq("sum of bytes_by_path", self.sent, self.E + self.I +
                    self.O)
        # (held AF_UNIX responses are carried with their headers, so the
        # idioms scenarios' "ineligible" calls need not go native)
        if self.IC and self.accounting != "coalesce":
            self.want(self.c["native"] > 0,
                      "ineligible calls made, calls_by_path.native = 0")
            # The shim names the first reason it finds: under ENGINE=uring
            # the descriptors; under auto or without a ring the policy or
            # the ring setup may come first (docs/semantics.md: Statistics).
            if self.engine == "uring" and not self.mode.startswith("noring"):
                self.want(self.fb("ineligible") > 0,
                          "ineligible calls made, fallbacks.ineligible = 0")
            else:
                self.want(sum(s["fallbacks"][k] for s in self.stats
                              for k in s["fallbacks"]) >= self.IC,
                          "ineligible calls made, fewer fallbacks counted")

    def all_native(self):
        self.eq("uring_zc + uring_copy bytes", self.uring_bytes, 0)
        self.eq("calls_by_path.uring_zc", self.c["uring_zc"], 0)
        self.eq("calls_by_path.uring_copy", self.c["uring_copy"], 0)
        if self.accounting != "none":
            self.eq("bytes_by_path.native", self.b["native"],
                    self.E + self.I + self.O)

    def all_native_or_sendmsg(self):
        self.eq("uring_zc + uring_copy bytes", self.uring_bytes, 0)
        self.eq("calls_by_path.uring_zc", self.c["uring_zc"], 0)
        self.eq("calls_by_path.uring_copy", self.c["uring_copy"], 0)
        self.eq("zc_notifications", self.notif, 0)

    def uring(self, path, other):
        self.eq("bytes_by_path.%s" % other, self.b[other], 0)
        if self.reason:
            self.all_native()
            if self.E:
                self.want(self.fb(self.reason) > 0,
                          "fallbacks.%s = 0" % self.reason)
            return
        if self.accounting == "exact":
            self.eq("bytes_by_path.%s" % path, self.b[path], self.E)
            self.eq("bytes_by_path.native", self.b["native"],
                    self.I + self.O)
        elif self.accounting == "total" and self.E:
            self.want(self.b[path] > 0, "bytes_by_path.%s = 0" % path)
        if self.E:
            self.want(self.c[path] > 0, "calls_by_path.%s = 0" % path)

    def uring_zc(self):
        # ZC=always may still copy when too many zero-copy buffers are in
        # flight, but only with that reason counted.
        if self.fb("zc_budget"):
            self.b["uring_zc"] += self.b["uring_copy"]
            self.b["uring_copy"] = 0
        else:
            self.want(self.b["uring_copy"] == 0, "bytes_by_path.uring_copy "
                      "= %d with ZC=always and no fallbacks.zc_budget"
                      % self.b["uring_copy"])
        self.uring("uring_zc", "uring_copy")
        if self.b["uring_zc"]:
            self.want(self.notif > 0, "zc_notifications = 0")
        # Loopback always copies what zero-copy sends hand over.
        self.eq("zc_copied", self.copied, self.notif)

    def uring_copy(self):
        self.uring("uring_copy", "uring_zc")
        self.eq("zc_notifications", self.notif, 0)

    def kmod(self):
        # The module sends through the socket, which honours SO_SNDTIMEO
        # itself: that scenario is carried by the module too.
        if self.reason == "sndtimeo":
            self.reason = None
        self.eq("bytes_by_path.uring_copy", self.b["uring_copy"], 0)
        self.uring("kmod", "uring_zc")
        self.eq("zc_notifications", self.notif, 0)

    def kmod_zc(self):
        zc = self.b["kmod_zc"]
        if self.reason == "sndtimeo":
            # the module's send honours SO_SNDTIMEO, io_uring would not
            self.reason = None
            self.eq("bytes_by_path.kmod_zc", zc, 0)
        elif self.E and self.accounting != "none":
            self.want(zc > 0, "bytes_by_path.kmod_zc = 0")
        self.eq("bytes_by_path.uring_copy", self.b["uring_copy"], 0)
        for k in ("kmod_reg", "kmod_no_reg", "send_error"):
            self.eq("fallbacks." + k, self.fb(k), 0)
        # what the budget kept from zero-copy went by the module's send
        self.b["kmod_zc"] += self.b["kmod"]
        self.c["kmod_zc"] += self.c["kmod"]
        self.b["kmod"] = self.c["kmod"] = 0
        self.uring("kmod_zc", "uring_zc")
        if zc:
            self.want(self.notif > 0, "zc_notifications = 0")
        # Loopback always copies what zero-copy sends hand over.
        self.eq("zc_copied", self.copied, self.notif)

    def auto(self):
        self.all_native()
        if self.E:
            n = self.fb("local_peer") + self.fb("small")
            if self.reason:
                n += self.fb(self.reason)
            self.want(n > 0, "eligible bytes went native but "
                      "fallbacks.local_peer + small = 0")

    # Under bbr, scenarios whose large sends are not corked: they must stay
    # sendfile(2) (the corked ones, idioms4/6, are checked in coalesce()).
    UNCORKED_LARGE = ("sizes4", "sizes6", "threads4", "fork4")

    def auto_paced(self):
        # auto with the sender's socket under bbr (SM_TEST_CC): the large
        # corked bodies to this local peer are one copy each in sendmsg(2)
        self.all_native_or_sendmsg()
        if self.accounting != "none":
            self.eq("bytes_by_path native + sendmsg",
                    self.b["native"] + self.b["sendmsg"],
                    self.E + self.I + self.O)
        if self.scenario in self.UNCORKED_LARGE:
            self.eq("bytes_by_path.sendmsg (uncorked, under bbr)",
                    self.b["sendmsg"], 0)

    def report(self):
        self.eq("bytes_by_path.uring_copy", self.b["uring_copy"], 0)
        if self.scenario != "report":
            return
        self.want(self.b["uring_zc"] > 0, "no zero-copy probe was sent")
        self.want(self.copied > 0, "zc_copied = 0")
        self.want(self.fb("zc_copied") > 0, "fallbacks.zc_copied = 0")
        self.want(self.b["native"] > 0, "the verdict never sent native")
        self.want(self.c["uring_zc"] < self.EC,
                  "every call used zero-copy despite copied reports")

    def noring(self, errname):
        self.all_native()
        self.eq("zc_notifications", self.notif, 0)
        if self.E:
            n = self.fb("uring_" + errname)
            if self.reason:
                n += self.fb(self.reason)
            self.want(n > 0, "fallbacks.uring_%s = 0" % errname)

    def coalesce(self):
        # The idioms scenarios: responses whose headers may be held while
        # corked (or sent with MSG_MORE) and then leave with their body in
        # one submission wherever the shim has a ring or the module.  A
        # header is held only if the socket takes it at once (poll), which
        # a lagging receiver can deny: the scenario says how many at least.
        co = total(self.stats, "coalesced")
        held = total(self.stats, "hold_writes")
        if self.mode in ("auto", "report", "auto-paced"):
            # auto holds TCP headers only, and sends them with a small
            # body in one sendmsg(2), never through io_uring (it loses)
            self.all_native_or_sendmsg()
            self.want(co >= self.coalesce_min and self.b["sendmsg"] > 0,
                      "coalesced = %d, sendmsg %d B, expected >= %d "
                      "coalesced" % (co, self.b["sendmsg"],
                                     self.coalesce_min))
            if (self.mode == "auto-paced" and
                    self.scenario in ("idioms4", "idioms6")):
                # under bbr the corked 3 MiB body is copied too; the
                # small bodies alone are ~200 KB of sendmsg(2)
                self.want(self.b["sendmsg"] >= 1 << 20,
                          "no copy of the corked 3 MiB body to the local "
                          "peer under bbr: sendmsg %d B in %d calls" %
                          (self.b["sendmsg"], self.c["sendmsg"]))
            if (self.mode == "auto" and
                    self.scenario in ("idioms4", "idioms6")):
                # the 3 MiB body's sendfile(2) after held headers took a
                # page of it along with them (SM_LEAD_LEN)
                lead = total(self.stats, "lead_copied")
                self.want(lead >= 4096,
                          "lead_copied = %d: the corked 3 MiB body's "
                          "first page did not go with its headers" % lead)
        elif self.mode.startswith("noring-"):
            # held, but no ring: the headers go ahead of sendfile(2)
            self.eq("coalesced", co, 0)
            self.want(self.fb("uring_" + self.mode[len("noring-"):]) > 0,
                      "no ring, and no ring-setup fallback counted")
        else:
            n = self.coalesce_min
            self.want(co >= n, "coalesced = %d, expected >= %d" % (co, n))
            if self.mode == "kmod-zc":
                # TCP headers in the module's page fragments, one SEND_ZC
                self.want(self.b["kmod_zc"] > 0, "bytes_by_path.kmod_zc = 0")
        if self.scenario in ("idioms4", "idioms6"):
            # its TCP calls are the eligible ones, its AF_UNIX calls the
            # ineligible ones
            u = total(self.stats, "calls_by_socket", "unix")
            t = total(self.stats, "calls_by_socket", "tcp")
            self.want(u == self.IC and t == self.EC,
                      "calls_by_socket unix %d tcp %d, expected %d, %d"
                      % (u, t, self.IC, self.EC))
        self.want(held >= self.coalesce_min,
                  "hold_writes = %d, expected >= %d"
                  % (held, self.coalesce_min))

    def batch(self):
        # The loop scenario: an event loop's responses.  Where the engine
        # batches (auto and uring, with a ring), the small bodies with held
        # headers wait for the next epoll_wait and leave in one submission
        # of the turn's: the batch path, batches counted.  Which of them
        # the socket's free buffer lets wait is timing: at least
        # coalesce_min.  The path's bytes are sendfile's, all counted.
        co = total(self.stats, "coalesced")
        b = total(self.stats, "batches")
        n = total(self.stats, "batch_sends")
        if self.mode in ("kmod", "kmod-zc") or self.mode.startswith("noring-"):
            # the module's engine does not batch; without a ring nothing
            # waits (and without one, nothing coalesces)
            self.eq("calls_by_path.batch", self.c["batch"], 0)
            self.eq("batches", b, 0)
            return
        self.want(co >= self.coalesce_min, "coalesced = %d, expected >= %d"
                  % (co, self.coalesce_min))
        self.want(self.c["batch"] >= self.coalesce_min and b > 0 and
                  n >= b and n >= self.c["batch"] // 4,
                  "batch path: %d calls, %d B, %d sends in %d "
                  "io_uring_enter calls, expected >= %d calls"
                  % (self.c["batch"], self.b["batch"], n, b,
                     self.coalesce_min))
        # several sockets' responses in one submission, on average
        self.want(b and n > b, "%d sends in %d batches: none shared one"
                  % (n, b))

    def held(self):
        # The robustness scenarios: what they check is the transcript and
        # the stream; here, that bytes really were held on the way.
        held = total(self.stats, "hold_writes")
        self.want(held > 0, "hold_writes = 0: nothing was held")

    def run(self):
        self.common()
        if self.accounting == "held":
            self.held()
        elif self.accounting == "batch":
            self.batch()
        elif self.accounting == "coalesce":
            self.coalesce()
        elif self.mode == "uring-zc":
            self.uring_zc()
        elif self.mode == "uring-copy":
            self.uring_copy()
        elif self.mode == "kmod":
            self.kmod()
        elif self.mode == "kmod-zc":
            self.kmod_zc()
        elif self.mode == "auto":
            self.auto()
        elif self.mode == "auto-paced":
            self.auto_paced()
        elif self.mode == "report":
            self.report()
        elif self.mode.startswith("noring-"):
            self.noring(self.mode[len("noring-"):])
        else:
            raise ValueError("unknown mode " + self.mode)
        return not self.why


def check_dir(mode, engine, d):
    """Returns (verdict, lines) for one run directory."""
    metas = load_meta(d)
    try:
        stats = load_stats(d)
    except (OSError, ValueError) as e:
        return "FAIL", ["bad stats file: %s" % e]
    if not metas:
        return "ERROR", ["no meta file from sm_sender"]
    if len(stats) != len(metas):
        return "FAIL", ["%d processes ran but %d stats files were written"
                        % (len(metas), len(stats))]
    c = Checker(mode, engine, metas, stats)
    ok = c.run()
    return ("PASS" if ok else "FAIL"), [c.summary()] + c.why


def main(argv):
    if len(argv) < 4:
        print("ERROR usage: sm_stats.py MODE ENGINE DIR...")
        return 99
    mode, engine = argv[1:3]
    worst = 0
    for d in argv[3:]:
        name = "%s/%s stats" % (mode, os.path.basename(d.rstrip("/")))
        verdict, lines = check_dir(mode, engine, d)
        if verdict == "PASS":
            print("PASS %s (%s)" % (name, lines[0]))
            continue
        print("%s %s: %s" % (verdict, name, lines[-1]))
        for line in lines:
            print("    " + line)
        worst = max(worst, 1 if verdict == "FAIL" else 99)
    return worst


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception:  # a bug here is a harness error, not a shim failure
        import traceback
        print("ERROR sm_stats.py crashed")
        traceback.print_exc(file=sys.stdout)
        sys.exit(99)
