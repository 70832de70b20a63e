// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The real libc functions behind the ones we interpose, resolved once.
 *
 * Another library's constructor may call close() or sendfile() before our
 * constructor ran, so every wrapper resolves on demand; resolution is
 * idempotent, and racing threads store identical pointers.
 */
#include <dlfcn.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "sm.h"

struct sm_real sm_real;

void sm_real_resolve(void)
{
#define SM_SYM(name, ret, params, args)					\
	if (!sm_real.name)						\
		sm_real.name = (ret(*) params)dlsym(RTLD_NEXT, #name);
#include "intercept.def"
#undef SM_SYM
}
