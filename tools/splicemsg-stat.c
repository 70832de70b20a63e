// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * splicemsg-stat: the live counters of processes running under libsplicemsg.
 *
 * A process with SPLICEMSG_STATS set counts into a shared mapping of
 * /dev/shm/splicemsg-PID (shim/stats.c).  This tool maps those files
 * read-only and prints one line per process, once or every interval.  Only
 * the layout (counters.h) and its JSON (counters.c) come from the
 * library's sources: nothing else of it is linked in, so the tool works
 * where the library is not installed, and reading never disturbs the
 * process being watched.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "counters.h"
#include "replace.h"

#define SHM_DIR "/dev/shm"
#define SHM_PREFIX "splicemsg-"
/* /proc/PID/comm holds at most TASK_COMM_LEN - 1 bytes. */
#define COMM_MAX 15

typedef unsigned long long ull;

static struct {
	pid_t pid;		/* -p, or 0 */
	const char *name;	/* -n, or NULL */
	double interval;	/* -i in seconds, or 0 to print once */
	unsigned long count;	/* -c, or 0 for no limit */
	bool json;
	bool prometheus;
	bool gc;
	const char *output;	/* -o, or NULL for stdout */
} opt;

/* One counters file, kept mapped from one interval to the next. */
struct proc {
	pid_t pid;
	dev_t dev;
	ino_t ino;
	struct timespec ctime;	/* tells a file truncated and rewritten */
	const struct sm_counters *map;
	/* -EINVAL malformed (said so once), -ESRCH not this process's. */
	int rejected;
	bool seen;		/* found by the current scan */
	bool shown;		/* ... and sampled: prev is this sample */
	char name[SM_PROGRAM_MAX];	/* as shown: the recorded program */
	bool have_prev;
	struct sm_counters prev;
	struct timespec prev_at;	/* CLOCK_MONOTONIC */
};

static struct proc *procs;
static size_t nprocs, procs_cap;

static const char usage_text[] =
	"usage: splicemsg-stat [-p PID|-n NAME] [-i SECS [-c COUNT]]\n"
	"                      [--json | --prometheus [-o FILE]]\n"
	"       splicemsg-stat --gc\n"
	"\n"
	"The live counters of processes running under libsplicemsg with\n"
	"SPLICEMSG_STATS set, one line per process.\n"
	"\n"
	"  -p, --pid PID        only this process\n"
	"  -n, --name NAME      only processes of the program NAME (the name\n"
	"                       the library recorded at its start, or\n"
	"                       /proc/PID/comm)\n"
	"  -i, --interval SECS  again every SECS (fractions allowed), with\n"
	"                       rates per second from the second sample\n"
	"  -c, --count COUNT    stop after COUNT samples\n"
	"      --json           one JSON object per line, with the keys\n"
	"                       of the library's exit stats\n"
	"      --prometheus     the Prometheus text format: one metric\n"
	"                       family per counter, labelled by pid and\n"
	"                       program (and path, reason or socket)\n"
	"  -o, --output FILE    with --prometheus: replace FILE atomically\n"
	"                       at each sample (node_exporter's textfile\n"
	"                       collector), not stdout\n"
	"      --gc             remove the files of processes that are gone\n"
	"                       (killed by SIGKILL) or whose pid another\n"
	"                       process has now, one line each, and exit\n"
	"  -h, --help           this text\n"
	"\n"
	"Exit status: 0 a process was shown, 1 none was, 2 usage error;\n"
	"with --prometheus 0 once written, even of no process, 1 for -p\n"
	"of a process not there (written all the same) or an error;\n"
	"with --gc 0, or 1 when a file could not be removed.\n";

static void usage(FILE *f)
{
	fputs(usage_text, f);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("splicemsg-stat: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	usage(stderr);
	exit(2);
}

/* A decimal in [1, max], or a usage error naming @what. */
static unsigned long long positive(const char *s, unsigned long long max,
				   const char *what)
{
	unsigned long long n;
	char *end;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || n < 1 || n > max)
		bad_usage("bad %s '%s'", what, s);
	return n;
}

static void parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "name", required_argument, NULL, 'n' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "prometheus", no_argument, NULL, 'P' },
		{ "output", required_argument, NULL, 'o' },
		{ "gc", no_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "p:n:i:c:o:h", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'p':
			opt.pid = (pid_t)positive(optarg, INT_MAX, "pid");
			break;
		case 'n':
			if (!*optarg)
				bad_usage("empty process name");
			opt.name = optarg;
			break;
		case 'i':
			errno = 0;
			opt.interval = strtod(optarg, &end);
			/* The upper bound only keeps the timespec sane. */
			if (errno || end == optarg || *end ||
			    !isfinite(opt.interval) || opt.interval <= 0 ||
			    opt.interval > 1e9)
				bad_usage("bad interval '%s'", optarg);
			break;
		case 'c':
			opt.count = positive(optarg, ULONG_MAX, "count");
			break;
		case 'j':
			opt.json = true;
			break;
		case 'P':
			opt.prometheus = true;
			break;
		case 'g':
			opt.gc = true;
			break;
		case 'o':
			if (!*optarg)
				bad_usage("empty output file name");
			opt.output = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument '%s'", argv[optind]);
	if (opt.pid && opt.name)
		bad_usage("-p and -n exclude each other");
	if (opt.count && !opt.interval)
		bad_usage("-c needs -i");
	if (opt.json && opt.prometheus)
		bad_usage("--json and --prometheus exclude each other");
	if (opt.output && !opt.prometheus)
		bad_usage("-o goes with --prometheus");
	if (opt.gc && (opt.pid || opt.name || opt.interval || opt.json ||
		       opt.prometheus))
		bad_usage("--gc goes alone");
}

/* ---- the process behind a file ---------------------------------------- */

static bool proc_alive(pid_t pid)
{
	return !kill(pid, 0) || errno == EPERM;
}

static int read_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return n ? -errno : -ESRCH;
	if (buf[n - 1] == '\n')
		n--;
	buf[n] = 0;
	return 0;
}

/*
 * When @pid started, as CLOCK_BOOTTIME ns rounded down to a clock tick
 * (/proc/PID/stat's starttime, which anyone may read).  0 or -errno.
 */
static int proc_start_ns(pid_t pid, ull *ns)
{
	char path[64], buf[1024], *p;
	long hz = sysconf(_SC_CLK_TCK);
	ull ticks;
	ssize_t n;
	int fd, i;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = 0;
	/* comm may hold anything: the fields count from its last ')'. */
	p = strrchr(buf, ')');
	for (i = 2; i < 22 && p; i++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p, " %llu", &ticks) != 1 || hz <= 0)
		return -EINVAL;
	*ns = ticks * (1000000000ULL / hz);
	return 0;
}

/*
 * Was the file whose header says @created_ns made before @pid started?
 * Then it is a dead process's that had the pid.  The creator's start is at
 * or before the file's creation, so its own file never is.
 */
static bool made_before(pid_t pid, ull created_ns)
{
	ull start;

	return created_ns && !proc_start_ns(pid, &start) &&
	       created_ns < start;
}

/*
 * Does the comm @comm answer to -n @name?  The kernel keeps only the first
 * COMM_MAX bytes of a program's name, so a longer NAME matches on those.
 */
static bool name_matches(const char *comm, const char *name)
{
	if (strlen(name) <= COMM_MAX)
		return !strcmp(comm, name);
	return strlen(comm) == COMM_MAX && !strncmp(comm, name, COMM_MAX);
}

/*
 * Is the file @st mapped by @pid?  A live pid alone does not prove the file
 * is its own: the process may have exec'd a program that never sends, or
 * the pid may belong to another process now, or to another pid namespace.
 * 1 yes, 0 no, -1 cannot tell (another user's process).
 */
static int mapped_by(pid_t pid, const struct stat *st)
{
	unsigned int maj, min;
	char path[64], *line = NULL;
	size_t cap = 0;
	int ret = 0;
	FILE *f;
	ull ino;

	snprintf(path, sizeof(path), "/proc/%ld/maps", (long)pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -1;
	while (getline(&line, &cap, f) > 0) {
		if (sscanf(line, "%*x-%*x %*s %*x %x:%x %llu", &maj, &min,
			   &ino) != 3)
			continue;
		if (maj == major(st->st_dev) && min == minor(st->st_dev) &&
		    ino == st->st_ino) {
			ret = 1;
			break;
		}
	}
	if (!ret && ferror(f))
		ret = -1;
	free(line);
	fclose(f);
	return ret;
}

/* ---- reading the counters --------------------------------------------- */

/*
 * A file shrunk under our mapping (an exec'd program re-creating it, or
 * anyone with write access to /dev/shm) raises SIGBUS on the next load:
 * that sample is lost, the tool lives on.
 */
static sigjmp_buf bus_jmp;
static volatile sig_atomic_t bus_armed;

static void on_sigbus(int sig)
{
	if (bus_armed)
		siglongjmp(bus_jmp, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void load_counters(struct sm_counters *s, const struct sm_counters *c)
{
	int i;

#define LOAD(field) (s->field = __atomic_load_n(&c->field, __ATOMIC_RELAXED))
	LOAD(magic);
	LOAD(version);
	LOAD(pid);
	LOAD(created_ns);
	/* Written once, before the mapping was shared. */
	memcpy(s->program, c->program, sizeof(s->program));
	s->program[sizeof(s->program) - 1] = 0;
	for (i = 0; i < SM_PATH_MAX; i++) {
		LOAD(calls[i]);
		LOAD(bytes[i]);
	}
	for (i = 0; i < SM_FB_MAX; i++)
		LOAD(fallbacks[i]);
	for (i = 0; i < SM_SOCK_MAX; i++)
		LOAD(calls_by_socket[i]);
#define SM_COUNTER(key, doc) LOAD(key);
#include "counters.def"
#undef SM_COUNTER
#undef LOAD
}

/* Returns 0, or -EFAULT if the file shrank under the mapping. */
static int snapshot(struct sm_counters *s, const struct sm_counters *c)
{
	if (sigsetjmp(bus_jmp, 1)) {
		bus_armed = 0;
		return -EFAULT;
	}
	bus_armed = 1;
	load_counters(s, c);
	bus_armed = 0;
	return 0;
}

static struct proc *proc_find(pid_t pid)
{
	size_t i;

	for (i = 0; i < nprocs; i++)
		if (procs[i].pid == pid)
			return &procs[i];
	return NULL;
}

static struct proc *proc_add(pid_t pid)
{
	struct proc *p;

	if (nprocs == procs_cap) {
		size_t cap = procs_cap ? 2 * procs_cap : 16;

		p = realloc(procs, cap * sizeof(*p));
		if (!p)
			return NULL;
		procs = p;
		procs_cap = cap;
	}
	p = &procs[nprocs++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	return p;
}

static void proc_unmap(struct proc *p)
{
	if (p->map)
		munmap((void *)p->map, sizeof(*p->map));
	p->map = NULL;
	p->have_prev = false;
}

/* Forget the processes the last scan did not find. */
static void procs_prune(void)
{
	size_t i, j;

	for (i = j = 0; i < nprocs; i++) {
		if (procs[i].seen)
			procs[j++] = procs[i];
		else
			proc_unmap(&procs[i]);
	}
	nprocs = j;
}

static bool same_file(const struct proc *p, const struct stat *st)
{
	return p->dev == st->st_dev && p->ino == st->st_ino;
}

/*
 * Map @path for @p and check that it holds counters this tool can read, of
 * the process they are named after.  Returns 0, -EAGAIN when the file is
 * still being created (try again next time), or -EINVAL / -ESRCH when it is
 * rejected: malformed (warned about, once) or not that process's.
 */
static int proc_attach(struct proc *p, const char *path)
{
	struct sm_counters head;
	struct stat st;
	void *map;
	int fd, err;

	/* Not a FIFO nor a link someone planted in the sticky directory. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	p->dev = st.st_dev;
	p->ino = st.st_ino;
	p->ctime = st.st_ctim;
	/* The library creates the file empty, then sizes and fills it. */
	if (S_ISREG(st.st_mode) && !st.st_size) {
		close(fd);
		return -EAGAIN;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(head)) {
		fprintf(stderr,
			"splicemsg-stat: warning: %s: %lld bytes, not the %zu of version %d counters: skipped\n",
			path, (long long)st.st_size, sizeof(head),
			SM_STATS_VERSION);
		close(fd);
		return -EINVAL;
	}
	map = mmap(NULL, sizeof(head), PROT_READ, MAP_SHARED, fd, 0);
	err = map == MAP_FAILED ? -errno : 0;
	close(fd);
	if (err)
		return err;
	err = snapshot(&head, map);
	if (!err && !head.magic)
		err = -EAGAIN;
	if (!err && (head.magic != SM_STATS_MAGIC ||
		     head.version != SM_STATS_VERSION)) {
		fprintf(stderr,
			"splicemsg-stat: warning: %s: magic %#llx version %llu, not version %d libsplicemsg counters: skipped\n",
			path, (ull)head.magic, (ull)head.version,
			SM_STATS_VERSION);
		err = -EINVAL;
	}
	if (!err && (head.pid != (uint64_t)p->pid ||
		     made_before(p->pid, head.created_ns) ||
		     mapped_by(p->pid, &st) == 0))
		err = -ESRCH;
	if (err) {
		munmap(map, sizeof(head));
		return err;
	}
	p->map = map;
	p->have_prev = false;
	return 0;
}

/* ---- output ----------------------------------------------------------- */

static void human(char *buf, size_t len, double v, double base)
{
	static const char units[] = "KMGTPE";
	int u = -1;

	while (v >= base && u < (int)sizeof(units) - 2) {
		v /= base;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, v && v < 10 && v != (ull)v ? "%.1f" : "%.0f",
			 v);
	else
		snprintf(buf, len, "%.1f%c", v, units[u]);
}

static void print_text(pid_t pid, const char *comm,
		       const struct sm_counters *s,
		       const struct sm_counters *prev, double secs)
{
	char b[16], rc[16], rb[16];
	const char *c;
	bool any = false;
	int i;

	printf("%ld ", (long)pid);
	/* One field per name, whatever the program calls itself. */
	for (c = comm; *c; c++)
		putchar((unsigned char)*c <= ' ' || *c == 0x7f ? '?' : *c);
	for (i = 0; i < SM_PATH_MAX; i++) {
		human(b, sizeof(b), s->bytes[i], 1024);
		printf(" %s=%llu/%s", sm_path_names[i], (ull)s->calls[i], b);
		if (!prev)
			continue;
		human(rc, sizeof(rc), (s->calls[i] - prev->calls[i]) / secs,
		      1000);
		human(rb, sizeof(rb), (s->bytes[i] - prev->bytes[i]) / secs,
		      1024);
		printf("(%s/s,%s/s)", rc, rb);
	}
	/* Notifications and copied reports are two loads: never underflow. */
	printf(" zc_ok=%llu zc_copied=%llu coalesced=%llu",
	       (ull)(s->zc_notifications > s->zc_copied ?
		     s->zc_notifications - s->zc_copied : 0),
	       (ull)s->zc_copied, (ull)s->coalesced);
	/* A label, for "zc_copied" is also the name of a fallback. */
	for (i = 0; i < SM_FB_MAX; i++) {
		if (!s->fallbacks[i])
			continue;
		printf("%s %s=%llu", any ? "" : " fallbacks:",
		       sm_fallback_names[i], (ull)s->fallbacks[i]);
		any = true;
	}
	putchar('\n');
}

/* The exit file's keys (shim/counters.c), with the sample's time. */
static void print_json(pid_t pid, const char *comm,
		       const struct sm_counters *s, const struct timespec *now)
{
	char buf[8192], extra[64];

	snprintf(extra, sizeof(extra), ",\"time\":%lld.%06ld",
		 (long long)now->tv_sec, now->tv_nsec / 1000);
	if (sm_counters_json(buf, sizeof(buf), s, pid, comm, NULL, extra) <
	    (int)sizeof(buf))
		fputs(buf, stdout);
}

/* A process may start again from zero (exec, then a new first call). */
static bool went_back(const struct sm_counters *s,
		      const struct sm_counters *prev)
{
	int i;

	for (i = 0; i < SM_PATH_MAX; i++)
		if (s->calls[i] < prev->calls[i] ||
		    s->bytes[i] < prev->bytes[i])
			return true;
	return false;
}

static double seconds_between(const struct timespec *a,
			      const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) + (b->tv_nsec - a->tv_nsec) / 1e9;
}

/* ---- one process, one interval ---------------------------------------- */

/*
 * Show @pid's counters.  Returns 1 when shown, 0 when -n filtered it out,
 * or why not: -ENOENT no file, -ESRCH no such process (or the file is not
 * its own), -EINVAL malformed, -EAGAIN not ready yet, or another -errno.
 */
static int show(pid_t pid, const struct timespec *now_real)
{
	char path[64], comm[COMM_MAX + 16];
	struct sm_counters s;
	struct timespec now;
	const char *name;
	struct proc *p;
	struct stat st;
	double secs;
	int err;

	snprintf(path, sizeof(path), SHM_DIR "/" SHM_PREFIX "%ld", (long)pid);
	if (lstat(path, &st) < 0)
		return -errno;
	if (!proc_alive(pid))
		return -ESRCH;
	err = read_comm(pid, comm, sizeof(comm));
	if (err)
		return err == -ENOENT ? -ESRCH : err;

	p = proc_find(pid);
	if (!p) {
		p = proc_add(pid);
		if (!p)
			return -ENOMEM;
	} else if (p->rejected && same_file(p, &st) &&
		   p->ctime.tv_sec == st.st_ctim.tv_sec &&
		   p->ctime.tv_nsec == st.st_ctim.tv_nsec) {
		/* Rejected before and unchanged since: no second warning. */
		p->seen = true;
		return p->rejected;
	} else if (p->map && !same_file(p, &st)) {
		proc_unmap(p);
	}
	p->seen = true;
	if (!p->map) {
		err = proc_attach(p, path);
		p->rejected = err == -EINVAL || err == -ESRCH ? err : 0;
		if (err)
			return err;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (snapshot(&s, p->map)) {
		proc_unmap(p);
		return -EAGAIN;
	}
	/* The name the library recorded at start: a process title may
	 * have changed since (nginx), comm is cut at 15 bytes. */
	name = *s.program ? s.program : comm;
	if (opt.name && strcmp(name, opt.name) &&
	    !name_matches(comm, opt.name))
		return 0;
	if (p->have_prev && went_back(&s, &p->prev))
		p->have_prev = false;
	secs = p->have_prev ? seconds_between(&p->prev_at, &now) : 0;
	if (opt.prometheus) {
		/* Printed with the others, a family at a time. */
		snprintf(p->name, sizeof(p->name), "%s", name);
		p->shown = true;
	} else if (opt.json) {
		print_json(pid, name, &s, now_real);
	} else {
		print_text(pid, name, &s, secs > 0 ? &p->prev : NULL, secs);
	}
	p->prev = s;
	p->prev_at = now;
	p->have_prev = true;
	return 1;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

/* The pids named by /dev/shm/splicemsg-PID files, sorted; -errno. */
static int scan_pids(pid_t **out, size_t *n)
{
	static pid_t *pids;
	static size_t cap;
	struct dirent *d;
	unsigned long v;
	char *end;
	DIR *dir;

	*n = 0;
	dir = opendir(SHM_DIR);
	if (!dir)
		return -errno;
	while ((d = readdir(dir))) {
		const char *num = d->d_name + strlen(SHM_PREFIX);

		if (strncmp(d->d_name, SHM_PREFIX, strlen(SHM_PREFIX)) ||
		    *num < '1' || *num > '9')
			continue;
		errno = 0;
		v = strtoul(num, &end, 10);
		/* The library's temporary names have a suffix: not ours. */
		if (errno || *end || v > INT_MAX)
			continue;
		if (*n == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			pid_t *np = realloc(pids, ncap * sizeof(*np));

			if (!np) {
				closedir(dir);
				return -ENOMEM;
			}
			pids = np;
			cap = ncap;
		}
		pids[(*n)++] = (pid_t)v;
	}
	closedir(dir);
	qsort(pids, *n, sizeof(*pids), cmp_pid);
	*out = pids;
	return 0;
}

static const char *why_not(int err)
{
	switch (err) {
	case -ENOENT:
		return "no live counters (no SPLICEMSG_STATS, or no sendfile call yet)";
	case -ESRCH:
		return "not running, or not the process that wrote its counters file";
	case -EINVAL:
		return "its counters file is not one this tool can read";
	case -EAGAIN:
		return "its counters file is still being created";
	default:
		return strerror(-err);
	}
}

/*
 * One sample of every matching process, one line each.  Returns how many
 * were shown, or -1 when -p's process cannot be (or can no longer be).
 */
static int sample_all(unsigned long round)
{
	struct timespec now;
	pid_t *pids;
	size_t i, n;
	int err, shown = 0;

	clock_gettime(CLOCK_REALTIME, &now);
	for (i = 0; i < nprocs; i++)
		procs[i].seen = procs[i].shown = false;
	if (opt.pid) {
		err = show(opt.pid, &now);
		procs_prune();
		if (err == 1)
			return 1;
		/* A sample lost to a file being rewritten ends nothing. */
		if (round && err == -EAGAIN)
			return 0;
		if (!round)
			fprintf(stderr, "splicemsg-stat: pid %ld: %s\n",
				(long)opt.pid, why_not(err));
		return -1;
	}
	err = scan_pids(&pids, &n);
	if (err) {
		fprintf(stderr, "splicemsg-stat: %s: %s\n", SHM_DIR,
			strerror(-err));
		return -1;
	}
	for (i = 0; i < n; i++)
		if (show(pids[i], &now) == 1)
			shown++;
	procs_prune();
	return shown;
}

static void timespec_add(struct timespec *t, double secs)
{
	time_t whole = (time_t)secs;

	t->tv_sec += whole;
	t->tv_nsec += (long)((secs - whole) * 1e9);
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

/* ---- the Prometheus text format --------------------------------------- */

/*
 * One metric family per counter, named and documented by the library's
 * tables: the per-path, per-reason and per-socket arrays are one family
 * each with a label saying which (the keys of paths.def, stats.def and
 * sm_sock_names), and each counters.def counter is a family of its own
 * whose HELP is its doc.  Every sample has the labels pid and program.
 */
struct prom_family {
	const char *name, *help;
	const char *label;		/* NULL: one value per process */
	const char *const *keys;	/* the label's values */
	int n;
	size_t offset;			/* of the uint64_t (array) */
};

static const struct prom_family prom_families[] = {
	{ "splicemsg_calls_total",
	  "sendfile calls, by the path that carried their bytes "
	  "(splicemsg doc stats)",
	  "path", sm_path_names, SM_PATH_MAX,
	  offsetof(struct sm_counters, calls) },
	{ "splicemsg_bytes_total",
	  "bytes sent by sendfile calls, by path (splicemsg doc stats)",
	  "path", sm_path_names, SM_PATH_MAX,
	  offsetof(struct sm_counters, bytes) },
	{ "splicemsg_fallbacks_total",
	  "sendfile calls, or their rest, that went to the real sendfile(2), "
	  "by reason (splicemsg doc stats)",
	  "reason", sm_fallback_names, SM_FB_MAX,
	  offsetof(struct sm_counters, fallbacks) },
	{ "splicemsg_calls_by_socket_total",
	  "sendfile calls, by what out_fd was",
	  "socket", sm_sock_names, SM_SOCK_MAX,
	  offsetof(struct sm_counters, calls_by_socket) },
#define SM_COUNTER(key, doc) \
	{ "splicemsg_" #key "_total", doc, NULL, NULL, 1, \
	  offsetof(struct sm_counters, key) },
#include "counters.def"
#undef SM_COUNTER
};

/*
 * A label value: '\', '"' and newline escaped, and UTF-8 only (comm is
 * cut at 15 bytes, maybe inside a character, and may be anything): a
 * broken sequence becomes U+FFFD.
 */
static void prom_label(FILE *f, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	int n, k;

	while (*u) {
		if (*u == '\\' || *u == '"') {
			fprintf(f, "\\%c", *u++);
			continue;
		}
		if (*u == '\n') {
			fputs("\\n", f);
			u++;
			continue;
		}
		if (*u < 0x80) {
			fputc(*u++, f);
			continue;
		}
		n = *u >= 0xf0 && *u < 0xf5 ? 4 :
		    *u >= 0xe0 && *u < 0xf0 ? 3 :
		    *u >= 0xc2 && *u < 0xe0 ? 2 : 0;
		for (k = 1; k < n && (u[k] & 0xc0) == 0x80; k++)
			;
		if (!n || k < n) {
			fputs("\xef\xbf\xbd", f);
			u += n ? k : 1;
			continue;
		}
		fwrite(u, 1, n, f);
		u += n;
	}
}

/* HELP text: '\' and newline escaped. */
static void prom_help(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static int cmp_proc(const void *a, const void *b)
{
	pid_t x = (*(struct proc *const *)a)->pid;
	pid_t y = (*(struct proc *const *)b)->pid;

	return (x > y) - (x < y);
}

/* The processes sampled this round, by pid. */
static void prom_print(FILE *f, struct proc **shown, size_t nshown)
{
	const struct prom_family *fam;
	size_t i;
	int k;

	for (fam = prom_families;
	     fam < prom_families + sizeof(prom_families) / sizeof(*fam);
	     fam++) {
		fprintf(f, "# HELP %s ", fam->name);
		prom_help(f, fam->help);
		fprintf(f, "\n# TYPE %s counter\n", fam->name);
		for (i = 0; i < nshown; i++) {
			const uint64_t *v = (const uint64_t *)
				((const char *)&shown[i]->prev + fam->offset);

			for (k = 0; k < fam->n; k++) {
				fprintf(f, "%s{pid=\"%ld\",program=\"",
					fam->name, (long)shown[i]->pid);
				prom_label(f, shown[i]->name);
				if (fam->label)
					fprintf(f, "\",%s=\"%s", fam->label,
						fam->keys[k]);
				fprintf(f, "\"} %llu\n", (ull)v[k]);
			}
		}
	}
}

/* This round's exposition, to stdout or replacing -o's file.  -errno. */
static int prom_write(void)
{
	struct proc **shown;
	size_t i, n = 0, len;
	char *buf = NULL;
	FILE *f;
	int err;

	shown = calloc(nprocs ? nprocs : 1, sizeof(*shown));
	if (!shown)
		return -ENOMEM;
	for (i = 0; i < nprocs; i++)
		if (procs[i].shown)
			shown[n++] = &procs[i];
	qsort(shown, n, sizeof(*shown), cmp_proc);
	if (!opt.output) {
		prom_print(stdout, shown, n);
		free(shown);
		return 0;
	}
	f = open_memstream(&buf, &len);
	if (!f) {
		free(shown);
		return -errno;
	}
	prom_print(f, shown, n);
	free(shown);
	err = fclose(f) ? -errno : 0;
	if (!err)
		err = sm_replace_file(opt.output, buf, len, 0644);
	free(buf);
	return err;
}

/* ---- --gc ------------------------------------------------------------- */

/*
 * Why @pid's file @path (@st) is garbage, or NULL to keep it.  Only a
 * file that says it is the library's counters of @pid is ever judged, or an
 * empty one (a process killed while it made it).
 */
static const char *stale_why(pid_t pid, const char *path,
			     const struct stat *st)
{
	struct sm_counters head;
	ssize_t n = 0;
	int fd;

	if (!S_ISREG(st->st_mode))
		return NULL;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	memset(&head, 0, sizeof(head));
	if (st->st_size)
		n = pread(fd, &head, sizeof(head), 0);
	close(fd);
	if (n < 0 || (st->st_size && (n < (ssize_t)offsetof(struct sm_counters,
							     created_ns) ||
				      head.magic != SM_STATS_MAGIC ||
				      head.pid != (uint64_t)pid)))
		return NULL;
	if (!proc_alive(pid))
		return "process gone";
	/* Still being made by its process: sized and filled after mmap. */
	if (n < (ssize_t)sizeof(head) || !head.magic)
		return NULL;
	/* Another version's file of a live process: not ours to judge. */
	if (head.version != SM_STATS_VERSION)
		return NULL;
	if (made_before(pid, head.created_ns))
		return "its pid is another process's now";
	if (mapped_by(pid, st) == 0)
		return "not mapped by its process (pid reused, or exec)";
	return NULL;
}

/* Returns the exit status: 0, or 1 when a file could not be removed. */
static int gc(void)
{
	char path[64];
	struct stat st, again;
	const char *why;
	int err, ret = 0;
	pid_t *pids;
	size_t i, n;

	err = scan_pids(&pids, &n);
	if (err) {
		fprintf(stderr, "splicemsg-stat: %s: %s\n", SHM_DIR,
			strerror(-err));
		return 1;
	}
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), SHM_DIR "/" SHM_PREFIX "%ld",
			 (long)pids[i]);
		if (lstat(path, &st) < 0)
			continue;
		why = stale_why(pids[i], path, &st);
		if (!why)
			continue;
		/* A new process with the pid may have replaced it since. */
		if (lstat(path, &again) < 0 || again.st_ino != st.st_ino ||
		    again.st_dev != st.st_dev)
			continue;
		if (unlink(path) < 0 && errno != ENOENT) {
			fprintf(stderr, "splicemsg-stat: cannot remove %s: %s\n",
				path, strerror(errno));
			ret = 1;
			continue;
		}
		printf("removed %s: %s\n", path, why);
	}
	if (fflush(stdout)) {
		perror("splicemsg-stat: stdout");
		ret = 1;
	}
	return ret;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_sigbus };
	unsigned long round;
	struct timespec next;
	bool shown = false;
	int n;

	parse_args(argc, argv);
	if (opt.gc)
		return gc();
	sigaction(SIGBUS, &sa, NULL);
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (round = 0; !round || (opt.interval &&
				   (!opt.count || round < opt.count));
	     round++) {
		if (round) {
			/* Absolute deadlines: slow samples do not drift. */
			timespec_add(&next, opt.interval);
			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME,
					       &next, NULL) == EINTR)
				;
		}
		n = sample_all(round);
		if (opt.prometheus) {
			int err = prom_write();

			if (err) {
				fprintf(stderr, "splicemsg-stat: %s: %s\n",
					opt.output ? opt.output : "stdout",
					strerror(-err));
				return 1;
			}
		}
		if (fflush(stdout)) {
			perror("splicemsg-stat: stdout");
			return 1;
		}
		if (n < 0)
			break;
		if (n)
			shown = true;
	}
	/* An exposition of no process is an answer: they are gone. */
	if (opt.prometheus)
		return n < 0 ? 1 : 0;
	if (!shown && !opt.pid)
		fprintf(stderr,
			"splicemsg-stat: no %s%sprocess with live counters\n",
			opt.name ? opt.name : "", opt.name ? " " : "");
	return shown ? 0 : 1;
}
