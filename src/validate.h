/*-------------------------------------------------------------------------
 *
 * validate.h
 *	  Argument checks shared by every SQL-callable function.
 *
 * The functions are not STRICT: an explicit NULL is an error (22004), not a
 * NULL result.  Each check raises a documented SQLSTATE (docs/api.md) before
 * anything is written, so a rejected call changes nothing.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FEED_VALIDATE_H
#define FEED_VALIDATE_H

#include "fmgr.h"

extern int64 feed_arg_int64(FunctionCallInfo fcinfo, int argno, const char *name);
extern bool feed_arg_bool(FunctionCallInfo fcinfo, int argno, const char *name);
extern text *feed_arg_handle(FunctionCallInfo fcinfo, int argno);
extern text *feed_arg_body(FunctionCallInfo fcinfo, int argno);
/* NULL means "no key"; otherwise a non-empty key of at most 128 bytes */
extern text *feed_arg_idempotency_key(FunctionCallInfo fcinfo, int argno);
extern int32 feed_arg_limit(FunctionCallInfo fcinfo, int argno);
/* NULL means "from the newest"; returned as PG_INT64_MAX */
extern int64 feed_arg_cursor(FunctionCallInfo fcinfo, int argno);
extern void feed_check_distinct_users(int64 a, int64 b, const char *what);

#endif							/* FEED_VALIDATE_H */
