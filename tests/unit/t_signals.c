// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Application memory read and written without trusting it (signals.c): a
 * bad pointer is -EFAULT, never a SIGSEGV, and the application's own action
 * for SIGSEGV is what it reads back and what its own faults reach.
 */
#include <check.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sm.h"
#include "t_check.h"

/* Below vm.mmap_min_addr: never mapped. */
static void *const volatile bad = (void *)16;

START_TEST(good_memory_is_copied)
{
	char src[100], dst[100];

	memset(src, 'x', sizeof(src));
	ck_assert_int_eq(sm_copy_in(dst, src, sizeof(src)), 0);
	ck_assert_int_eq(memcmp(dst, src, sizeof(src)), 0);
	ck_assert_int_eq(sm_copy_out(dst, "abc", 3), 0);
	ck_assert_int_eq(memcmp(dst, "abc", 3), 0);
	ck_assert_int_eq(sm_copy_in(dst, bad, 0), 0);	/* nothing to read */
}
END_TEST

/* Words, then a tail of bytes: every length at every alignment. */
START_TEST(every_length_and_alignment)
{
	char src[64], dst[80];
	size_t n, a, b, i;

	for (i = 0; i < sizeof(src); i++)
		src[i] = (char)(i * 7 + 1);
	for (n = 0; n <= 40; n++) {
		for (a = 0; a < 8; a++) {
			for (b = 0; b < 8; b++) {
				memset(dst, 0, sizeof(dst));
				ck_assert_int_eq(sm_copy_in(dst + b, src + a,
							    n), 0);
				ck_assert_int_eq(memcmp(dst + b, src + a, n),
						 0);
				/* nothing around it is touched */
				for (i = 0; i < sizeof(dst); i++)
					if (i < b || i >= b + n)
						ck_assert_int_eq(dst[i], 0);
			}
		}
	}
}
END_TEST

START_TEST(bad_memory_is_efault)
{
	char dst[16], big[64];
	char *ro = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	int i;

	ck_assert_ptr_ne(ro, MAP_FAILED);
	ck_assert_int_eq(munmap(ro + 4096, 4096), 0);	/* a hole after it */
	for (i = 0; i < 1000; i++)	/* and again: nothing leaks */
		ck_assert_int_eq(sm_copy_in(dst, bad, sizeof(dst)), -EFAULT);
	ck_assert_int_eq(sm_copy_out(bad, dst, sizeof(dst)), -EFAULT);
	ck_assert_int_eq(sm_copy_out(ro, dst, sizeof(dst)), -EFAULT);
	/* a range that starts good and ends in a hole */
	ck_assert_int_eq(sm_copy_in(dst, ro + 4096 - 8, sizeof(dst)),
			 -EFAULT);
	/* ... at an odd address, and one whose tail alone is in it */
	ck_assert_int_eq(sm_copy_in(dst, ro + 4096 - 5, sizeof(dst)),
			 -EFAULT);
	ck_assert_int_eq(sm_copy_in(dst, ro + 4096 - 8, 9), -EFAULT);
	ck_assert_int_eq(sm_copy_in(dst, ro + 4096 - 9, 9), 0);
	/* a fault in the second 32-byte block, reading and writing */
	ck_assert_int_eq(sm_copy_in(big, ro + 4096 - 40, sizeof(big)),
			 -EFAULT);
	ck_assert_int_eq(sm_copy_in(big, ro + 4096 - 64, sizeof(big)), 0);
	ck_assert_int_eq(sm_copy_out(ro + 4096 - 64, big, sizeof(big)),
			 -EFAULT);
	munmap(ro, 4096);
}
END_TEST

static sigjmp_buf env;
static volatile int seen;

static void on_segv(int sig)
{
	seen = sig;
	siglongjmp(env, 1);
}

START_TEST(the_applications_action_is_kept)
{
	struct sigaction sa = { .sa_handler = on_segv }, old;
	char dst[8];
	int res;

	/* the shim's handler is in (the copies above, or this one) */
	ck_assert_int_eq(sm_copy_in(dst, bad, sizeof(dst)), -EFAULT);
	sigemptyset(&sa.sa_mask);
	ck_assert(sm_sigaction(SIGSEGV, &sa, &old, &res));
	ck_assert_int_eq(res, 0);
	ck_assert_int_eq(sm_sig_action(SIGSEGV, &old), 0);
	ck_assert_ptr_eq(old.sa_handler, on_segv);
	/* our copies still answer EFAULT ... */
	ck_assert_int_eq(sm_copy_in(dst, bad, sizeof(dst)), -EFAULT);
	ck_assert_int_eq(seen, 0);
	/* ... and the application's own fault reaches its handler */
	if (!sigsetjmp(env, 1))
		seen = *(volatile char *)bad;
	ck_assert_int_eq(seen, SIGSEGV);
	/* bad pointers given to sigaction itself: EFAULT */
	ck_assert(sm_sigaction(SIGSEGV, bad, NULL, &res));
	ck_assert_int_eq(res, -EFAULT);
	ck_assert(sm_sigaction(SIGSEGV, NULL, bad, &res));
	ck_assert_int_eq(res, -EFAULT);
	/* not SIGSEGV or SIGBUS: not ours */
	ck_assert(!sm_sigaction(SIGUSR1, &sa, NULL, &res));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("signals");
	TCase *tc = tcase_create("core");

	sm_real_resolve();
	tcase_add_test(tc, good_memory_is_copied);
	tcase_add_test(tc, every_length_and_alignment);
	tcase_add_test(tc, bad_memory_is_efault);
	tcase_add_test(tc, the_applications_action_is_kept);
	suite_add_tcase(s, tc);
	return t_run(s, true);
}
