// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Reading the application's memory without trusting it, and the signals
 * that takes.
 *
 * The kernel answers a bad pointer with EFAULT; a copy of ours would die
 * of SIGSEGV.  sm_copy_in() and sm_copy_out() copy under a SIGSEGV/SIGBUS
 * handler that turns a fault inside them into -EFAULT, with no system call
 * on the way: held headers exist to save system calls, and checking each
 * write with process_vm_readv() would add one back per response.
 *
 * Every other fault belongs to the application.  Once the handler is in
 * (lazily, at the first copy), the shim keeps the application's own action
 * for SIGSEGV and SIGBUS: the sigaction family reads and writes that one,
 * and a fault outside our copies goes to it exactly as the kernel would
 * have delivered it -- its handler with its mask and flags, or the default
 * action (a core dump), or, for a fault, the kernel's refusal to ignore it.
 * Actions set through raw syscalls are not seen (docs/semantics.md, Known
 * differences).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "sm.h"

static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t act_lock = PTHREAD_MUTEX_INITIALIZER;
bool sm_fault_ready;
/* The application's view of SIGSEGV's and SIGBUS's actions. */
static struct sigaction app_act[2];

#if defined(__x86_64__) && !defined(SM_COPY_GENERIC)
/*
 * x86-64: the copy is a few instructions of assembly, and the handler
 * knows a fault in them by its address and resumes at a fixup that returns
 * -EFAULT: the kernel's own exception-table way.  No sigsetjmp() per copy
 * (with its bookkeeping it cost more than copying a 250-byte header, four
 * times per corked response: callgrind, docs/bench.md) and no jump out of
 * the handler, which returns as any other and the kernel restores the
 * mask.  32 bytes at a time, then words, then 4, 2, 1; no access is merged
 * into a library call a sanitizer would check first.  Elsewhere (or built
 * with -DSM_COPY_GENERIC, to test that here) a sigsetjmp() guards a copy
 * in C.
 */
_Static_assert(EFAULT == 14, "the fixup returns -14");
__attribute__((visibility("hidden"))) extern const char sm_fault_fixup[];
__attribute__((visibility("hidden"))) extern const char sm_fault_copy_end[];
__asm__(
"	.text\n"
"	.p2align 4\n"
"	.globl	sm_fault_copy\n"
"	.hidden	sm_fault_copy\n"
"	.type	sm_fault_copy, @function\n"
"sm_fault_copy:\n"		/* %rdi dst, %rsi src, %rdx n */
"	mov	%rdx, %rcx\n"
"	shr	$5, %rcx\n"
"	jz	2f\n"
"1:	mov	(%rsi), %rax\n"
"	mov	8(%rsi), %r8\n"
"	mov	16(%rsi), %r9\n"
"	mov	24(%rsi), %r10\n"
"	mov	%rax, (%rdi)\n"
"	mov	%r8, 8(%rdi)\n"
"	mov	%r9, 16(%rdi)\n"
"	mov	%r10, 24(%rdi)\n"
"	add	$32, %rsi\n"
"	add	$32, %rdi\n"
"	dec	%rcx\n"
"	jnz	1b\n"
"2:	and	$31, %edx\n"
"	mov	%edx, %ecx\n"
"	shr	$3, %ecx\n"
"	jz	4f\n"
"3:	mov	(%rsi), %rax\n"
"	mov	%rax, (%rdi)\n"
"	add	$8, %rsi\n"
"	add	$8, %rdi\n"
"	dec	%ecx\n"
"	jnz	3b\n"
"4:	test	$4, %dl\n"
"	jz	5f\n"
"	mov	(%rsi), %eax\n"
"	mov	%eax, (%rdi)\n"
"	add	$4, %rsi\n"
"	add	$4, %rdi\n"
"5:	test	$2, %dl\n"
"	jz	6f\n"
"	movzwl	(%rsi), %eax\n"
"	mov	%ax, (%rdi)\n"
"	add	$2, %rsi\n"
"	add	$2, %rdi\n"
"6:	test	$1, %dl\n"
"	jz	7f\n"
"	movzbl	(%rsi), %eax\n"
"	mov	%al, (%rdi)\n"
"7:	xor	%eax, %eax\n"
"	ret\n"
"	.globl	sm_fault_fixup\n"
"	.hidden	sm_fault_fixup\n"
"sm_fault_fixup:\n"
"	mov	$-14, %eax\n"
"	ret\n"
"	.globl	sm_fault_copy_end\n"
"	.hidden	sm_fault_copy_end\n"
"sm_fault_copy_end:\n"
"	.size	sm_fault_copy, sm_fault_copy_end - sm_fault_copy\n");

/* A fault of ours: resume at the fixup; false if it is not ours. */
static bool fixed_up(const siginfo_t *si, void *uc)
{
	greg_t *regs = ((ucontext_t *)uc)->uc_mcontext.gregs;
	uintptr_t ip = (uintptr_t)regs[REG_RIP];

	if (si->si_code <= 0 || ip < (uintptr_t)sm_fault_copy ||
	    ip >= (uintptr_t)sm_fault_copy_end)
		return false;
	regs[REG_RIP] = (greg_t)(uintptr_t)sm_fault_fixup;
	return true;
}
#else
/* The copy in progress on this thread, if any. */
static SM_TLS sigjmp_buf *copy_env;
#endif

static int slot(int sig)
{
	return sig == SIGSEGV ? 0 : sig == SIGBUS ? 1 : -1;
}

void sm_raise(int sig)
{
	sm_real.syscall(SYS_tgkill, getpid(), gettid(), sig);
}

/* The kernel's delivery, for a fault that is not ours. */
static void deliver(int sig, siginfo_t *si, void *uc)
{
	struct sigaction a = app_act[slot(sig)], dfl = { 0 };
	bool fault = si->si_code > 0;	/* sent by the kernel, not kill() */

	if (a.sa_handler == SIG_IGN && !fault)
		return;
	if (a.sa_handler == SIG_DFL || a.sa_handler == SIG_IGN) {
		/*
		 * The default action: the instruction faults again once we
		 * return and kills the process as it would have; a kill()
		 * is sent again, pending until our handler returns.  A fault
		 * cannot be ignored: the kernel forces the default there too.
		 */
		dfl.sa_handler = SIG_DFL;
		sm_real.sigaction(sig, &dfl, NULL);
		if (!fault)
			sm_raise(sig);
		return;
	}
	if (a.sa_flags & SA_RESETHAND)
		app_act[slot(sig)].sa_handler = SIG_DFL;
	if (a.sa_flags & SA_SIGINFO)
		a.sa_sigaction(sig, si, uc);
	else
		a.sa_handler(sig);
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
#ifdef SM_FAULT_FIXUP
	if (fixed_up(si, uc))
		return;
#else
	sigjmp_buf *env = copy_env;

	if (env && si->si_code > 0) {
		/* Ours: back out of the copy with the mask of its caller. */
		copy_env = NULL;
		pthread_sigmask(SIG_SETMASK,
				&((ucontext_t *)uc)->uc_sigmask, NULL);
		siglongjmp(*env, 1);
	}
#endif
	deliver(sig, si, uc);
}

/* Our handler, with the application's mask and flags for its own. */
static void set_ours(int sig, const struct sigaction *app)
{
	struct sigaction sa = { 0 };

	sa.sa_sigaction = on_fault;
	sa.sa_mask = app->sa_mask;
	sa.sa_flags = SA_SIGINFO |
		      (app->sa_flags & (SA_ONSTACK | SA_NODEFER | SA_RESTART));
	sm_real.sigaction(sig, &sa, NULL);
}

static void install(void)
{
	int i;

	pthread_mutex_lock(&act_lock);
	for (i = 0; i < 2; i++) {	/* slot(): 0 SIGSEGV, 1 SIGBUS */
		int sig = i ? SIGBUS : SIGSEGV;

		sm_real.sigaction(sig, NULL, &app_act[i]);
		set_ours(sig, &app_act[i]);
	}
	__atomic_store_n(&sm_fault_ready, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&act_lock);
}

#ifndef SM_FAULT_FIXUP
/* A word at any alignment (held headers start anywhere). */
typedef uint64_t sm_word __attribute__((may_alias, aligned(1)));

/*
 * The copy itself: never the libc memcpy, which a sanitizer intercepts and
 * checks before touching the memory (it would report where the kernel
 * answers EFAULT), and which the compiler must not turn this loop into.
 * A word at a time: byte by byte, a 250-byte header cost more instructions
 * than all the rest of a coalesced response (callgrind, docs/bench.md).
 * The accesses stay volatile, so that every one of them happens between
 * guarded_copy()'s fences and none is merged into a library call.
 */
__attribute__((no_sanitize("address", "undefined"),
	       optimize("no-tree-loop-distribute-patterns")))
static void copy_bytes(volatile char *d, const volatile char *s, size_t n)
{
	for (; n >= sizeof(sm_word); n -= sizeof(sm_word)) {
		*(volatile sm_word *)d = *(const volatile sm_word *)s;
		d += sizeof(sm_word);
		s += sizeof(sm_word);
	}
	while (n--)
		*d++ = *s++;
}

#endif

void sm_fault_install(void)
{
	pthread_once(&install_once, install);
}

#ifndef SM_FAULT_FIXUP
static int guarded_copy(void *dst, const void *src, size_t n)
{
	sigjmp_buf env;

	if (!n)
		return 0;
	/* once installed, no call into libc to learn it */
	if (sm_unlikely(!__atomic_load_n(&sm_fault_ready, __ATOMIC_ACQUIRE)))
		sm_fault_install();
	if (sigsetjmp(env, 0))
		return -EFAULT;
	copy_env = &env;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	copy_bytes(dst, src, n);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	copy_env = NULL;
	return 0;
}

int sm_copy_in(void *dst, const void *app_src, size_t n)
{
	return guarded_copy(dst, app_src, n);
}

int sm_copy_out(void *app_dst, const void *src, size_t n)
{
	return guarded_copy(app_dst, src, n);
}
#endif

/* ---- the application's view of the sigaction family ------------------ */

int sm_sig_action(int sig, struct sigaction *old)
{
	if (slot(sig) < 0 || !__atomic_load_n(&sm_fault_ready, __ATOMIC_ACQUIRE))
		return sm_real.sigaction(sig, NULL, old) < 0 ? -errno : 0;
	pthread_mutex_lock(&act_lock);
	*old = app_act[slot(sig)];
	pthread_mutex_unlock(&act_lock);
	return 0;
}

bool sm_sigaction(int sig, const struct sigaction *act,
		  struct sigaction *old, int *res)
{
	struct sigaction a, prev;

	if (slot(sig) < 0 || !__atomic_load_n(&sm_fault_ready, __ATOMIC_ACQUIRE))
		return false;
	/* the kernel reads and writes these: EFAULT, not SIGSEGV */
	if (act && sm_copy_in(&a, act, sizeof(a))) {
		*res = -EFAULT;
		return true;
	}
	pthread_mutex_lock(&act_lock);
	prev = app_act[slot(sig)];
	if (act) {
		app_act[slot(sig)] = a;
		set_ours(sig, &a);
	}
	pthread_mutex_unlock(&act_lock);
	*res = old && sm_copy_out(old, &prev, sizeof(prev)) ? -EFAULT : 0;
	return true;
}

bool sm_signal(int sig, sighandler_t handler, int flags, sighandler_t *old)
{
	struct sigaction a = { .sa_handler = handler, .sa_flags = flags }, o;
	int res;

	sigemptyset(&a.sa_mask);
	if (!(flags & SA_NODEFER))
		sigaddset(&a.sa_mask, sig);
	if (!sm_sigaction(sig, &a, &o, &res))
		return false;
	*old = o.sa_handler;
	return true;
}
