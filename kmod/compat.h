/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel APIs splicemsg.ko uses that changed between the kernels it
 * builds on (6.5 and later; tested on Debian's 6.12 and 7.3, built on 7.2):
 * one definition per change, so that the code itself names one API.
 */
#ifndef SPLICEMSG_COMPAT_H
#define SPLICEMSG_COMPAT_H

#include <linux/io_uring/cmd.h>
#include <linux/version.h>

/* sendmsg(MSG_SPLICE_PAGES) replaced ->sendpage in 6.5: nothing before. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 5, 0)
#error "splicemsg.ko needs Linux 6.5 or later (MSG_SPLICE_PAGES)"
#endif

/*
 * io_uring_sqe_cmd(sqe) became io_uring_sqe_cmd(sqe, type), a macro that
 * checks the payload's size, in the change that added
 * io_uring_sqe128_cmd(); keyed on that macro rather than on a version, so
 * a stable kernel that takes the change builds too.
 */
#ifdef io_uring_sqe128_cmd
#define sm_sqe_cmd(sqe, type) io_uring_sqe_cmd(sqe, type)
#else
#define sm_sqe_cmd(sqe, type) ((const type *)io_uring_sqe_cmd(sqe))
#endif

/*
 * io_buffer_register_bvec(cmd, bvs, nr, release, priv, dir, index, flags)
 * and io_buffer_unregister() (kmod/reg.c) arrived in 7.3; 7.2 has a
 * function of the same name that takes a block request, so neither the
 * name nor a macro tells them apart: the version does.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(7, 3, 0) && defined(CONFIG_IO_URING)
#define SM_HAVE_REG 1
#endif

/*
 * page_frag_free() left <linux/gfp.h> for <linux/page_frag_cache.h> in 6.13;
 * <linux/skbuff.h> includes whichever declares it, in every version (and
 * sparse has no __has_include).
 */
#include <linux/skbuff.h>

#endif
