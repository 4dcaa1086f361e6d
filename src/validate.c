/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  Argument checks shared by every SQL-callable function.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "feed.h"
#include "validate.h"

#define FEED_HANDLE_MAX		32
#define FEED_IDEMPOTENCY_KEY_MAX 128

static void
require_not_null(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not be NULL", name)));
}

int64
feed_arg_int64(FunctionCallInfo fcinfo, int argno, const char *name)
{
	require_not_null(fcinfo, argno, name);
	return PG_GETARG_INT64(argno);
}

bool
feed_arg_bool(FunctionCallInfo fcinfo, int argno, const char *name)
{
	require_not_null(fcinfo, argno, name);
	return PG_GETARG_BOOL(argno);
}

text *
feed_arg_handle(FunctionCallInfo fcinfo, int argno)
{
	text	   *t;
	const char *s;
	int			len;

	require_not_null(fcinfo, argno, "handle");
	t = PG_GETARG_TEXT_PP(argno);
	s = VARDATA_ANY(t);
	len = VARSIZE_ANY_EXHDR(t);

	if (len < 1 || len > FEED_HANDLE_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("handle must be 1 to %d characters long, got %d bytes",
						FEED_HANDLE_MAX, len)));
	for (int i = 0; i < len; i++)
	{
		char		c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_'))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("handle \"%s\" contains a character outside [A-Za-z0-9_]",
							text_to_cstring(t)),
					 errhint("Handles match ^[A-Za-z0-9_]{1,32}$.")));
	}
	return t;
}

text *
feed_arg_body(FunctionCallInfo fcinfo, int argno)
{
	text	   *t;
	const char *s;
	int			len;
	bool		blank = true;

	require_not_null(fcinfo, argno, "body");
	t = PG_GETARG_TEXT_PP(argno);
	s = VARDATA_ANY(t);
	len = VARSIZE_ANY_EXHDR(t);

	if (len > feed_max_body_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("post body is %d bytes, more than feed.max_body_bytes (%d)",
						len, feed_max_body_bytes)));
	/* a text datum may still hold bytes invalid in the encoding (e.g. via COPY BINARY) */
	if (!pg_verifymbstr(s, len, true))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("post body is not valid %s text", GetDatabaseEncodingName())));
	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
					 errmsg("post body contains control character 0x%02x at byte %d", c, i + 1),
					 errhint("Only tab, line feed and carriage return are allowed.")));
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			blank = false;
	}
	if (blank)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("post body must not be empty or only whitespace")));
	return t;
}

text *
feed_arg_idempotency_key(FunctionCallInfo fcinfo, int argno)
{
	text	   *t;
	int			len;

	if (PG_ARGISNULL(argno))
		return NULL;
	t = PG_GETARG_TEXT_PP(argno);
	len = VARSIZE_ANY_EXHDR(t);
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("idempotency key must not be empty"),
				 errhint("Pass NULL for no key.")));
	if (len > FEED_IDEMPOTENCY_KEY_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("idempotency key is %d bytes, more than %d",
						len, FEED_IDEMPOTENCY_KEY_MAX)));
	return t;
}

int32
feed_arg_limit(FunctionCallInfo fcinfo, int argno)
{
	int32		lim;

	require_not_null(fcinfo, argno, "lim");
	lim = PG_GETARG_INT32(argno);
	if (lim < 1 || lim > feed_max_page)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_ROW_COUNT_IN_LIMIT_CLAUSE),
				 errmsg("lim must be between 1 and feed.max_page (%d), got %d",
						feed_max_page, lim)));
	return lim;
}

int64
feed_arg_cursor(FunctionCallInfo fcinfo, int argno)
{
	int64		before;

	if (PG_ARGISNULL(argno))
		return PG_INT64_MAX;
	before = PG_GETARG_INT64(argno);
	if (before <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("before must be a positive entry id, got %lld", (long long) before),
				 errhint("Pass the entry_id of the last row of the previous page, or NULL for the first page.")));
	return before;
}

void
feed_check_distinct_users(int64 a, int64 b, const char *what)
{
	if (a == b)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a user cannot %s themselves", what),
				 errdetail("Both arguments are user %lld.", (long long) a)));
}
