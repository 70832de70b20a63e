// SPDX-License-Identifier: LGPL-2.1-or-later
/* The public splicemsg_* API (include/splicemsg/splicemsg.h). */
#include "splicemsg/splicemsg.h"
#include "sm.h"

SM_EXPORT const char *splicemsg_version(void)
{
	return SPLICEMSG_VERSION_STRING;
}

SM_EXPORT int splicemsg_active(void)
{
	return sm_active();
}

SM_EXPORT int splicemsg_stats_json(char *buf, size_t len)
{
	return sm_stats_json(buf, len);
}
