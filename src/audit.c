/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  Security audit trail: shared-memory ring, flushed into feed.audit_log.
 *
 * The events worth keeping (failed logins, use of revoked tokens, refused
 * calls, rate-limit trips) are raised by calls that then fail, so a table
 * insert in the caller's transaction would roll back with it.  Events go to
 * a ring in shared memory instead, under a spinlock held for one memcpy; a
 * full ring drops the new event and counts it (the count is flushed as an
 * "audit_overflow" row), so recording never blocks a caller.
 *
 * Flushing: a flusher locks feed.audit_log in SHARE ROW EXCLUSIVE mode
 * (self-conflicting, so flushers take turns until commit; readers are not
 * blocked), copies its database's unconsumed events, inserts them, and marks
 * them consumed in a commit callback.  An aborted flush leaves them in the
 * ring for the next round: events are neither lost nor written twice.  The
 * tail moves past consumed events, and past events of databases no flusher
 * serves once they are a minute old (counted as dropped).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type_d.h"
#include "miscadmin.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "audit.h"
#include "feed.h"
#include "spi_plans.h"

PG_FUNCTION_INFO_V1(feed_audit_flush);

#define AUDIT_DETAIL_LEN	192
#define AUDIT_STALE_USECS	(60 * USECS_PER_SEC)

int			feed_audit_ring_size = 8192;
bool		feed_audit_logins = false;

typedef struct AuditEntry
{
	uint64		seq;			/* position in the stream of events */
	TimestampTz at;
	Oid			dboid;
	int32		pid;
	int16		event;
	bool		consumed;
	int64		user_id;
	int64		session_user_id;
	NameData	role;
	char		detail[AUDIT_DETAIL_LEN];
} AuditEntry;

typedef struct AuditRing
{
	slock_t		mutex;
	uint64		head;			/* next seq to write */
	uint64		tail;			/* oldest seq still in the ring */
	uint64		overflowed;		/* events dropped because the ring was full */
	uint64		overflow_unlogged;	/* of those, not yet in feed.audit_log */
	uint64		dropped;		/* events of databases nobody flushed */
	uint64		flushed;
	AuditEntry	entries[FLEXIBLE_ARRAY_MEMBER];
} AuditRing;

static AuditRing *ring = NULL;

static const char *const event_names[] = {
	[FEED_AUDIT_LOGIN] = "login",
	[FEED_AUDIT_LOGIN_FAILED] = "login_failed",
	[FEED_AUDIT_REVOKED_TOKEN_USE] = "revoked_token_use",
	[FEED_AUDIT_EXPIRED_TOKEN_USE] = "expired_token_use",
	[FEED_AUDIT_DENIED] = "denied",
	[FEED_AUDIT_RATE_LIMITED] = "rate_limited",
	[FEED_AUDIT_TOKEN_ISSUED] = "token_issued",
	[FEED_AUDIT_REVOKE] = "revoke",
	[FEED_AUDIT_REVOKE_ALL] = "revoke_all",
	[FEED_AUDIT_OVERFLOW] = "audit_overflow",
};

/* What this backend's flush will have consumed if its transaction commits. */
static uint64 *pending_seqs = NULL;
static int	npending = 0;
static int	pending_cap = 0;
static uint64 pending_upto = 0;	/* ring head when this transaction last copied */
static uint64 pending_overflow = 0;
static bool flushed_in_xact = false;
static bool callback_registered = false;

static Size
ring_size(void)
{
	return add_size(offsetof(AuditRing, entries),
					mul_size(feed_audit_ring_size, sizeof(AuditEntry)));
}

void
feed_audit_define_gucs(void)
{
	DefineCustomIntVariable("feed.audit_ring_size",
							"Security events buffered in shared memory between two flushes into feed.audit_log.",
							"When the ring is full, new events are dropped and counted.",
							&feed_audit_ring_size,
							8192, 64, 1048576,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("feed.audit_logins",
							 "Also record successful logins in feed.audit_log.",
							 "Failed logins are always recorded.",
							 &feed_audit_logins,
							 false,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
}

void
feed_audit_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(ring_size()));
}

void
feed_audit_shmem_startup(void)
{
	bool		found;

	ring = ShmemInitStruct("feed audit ring", ring_size(), &found);
	if (!found)
	{
		memset(ring, 0, ring_size());
		SpinLockInit(&ring->mutex);
	}
}

static void
record(const char *role, FeedAuditEvent event, int64 user_id, int64 session_user_id,
	   const char *detail)
{
	AuditEntry	e;

	if (ring == NULL)
		return;

	memset(&e, 0, sizeof(e));
	e.at = GetCurrentTimestamp();
	e.dboid = MyDatabaseId;
	e.pid = MyProcPid;
	e.event = (int16) event;
	e.user_id = user_id;
	e.session_user_id = session_user_id;
	namestrcpy(&e.role, role ? role : "?");
	strlcpy(e.detail, detail, sizeof(e.detail));

	SpinLockAcquire(&ring->mutex);
	if (ring->head - ring->tail >= (uint64) feed_audit_ring_size)
	{
		ring->overflowed++;
		ring->overflow_unlogged++;
	}
	else
	{
		e.seq = ring->head;
		ring->entries[ring->head % feed_audit_ring_size] = e;
		ring->head++;
	}
	SpinLockRelease(&ring->mutex);
}

void
feed_audit(FeedAuditEvent event, int64 user_id, int64 session_user_id,
		   const char *fmt,...)
{
	char		detail[AUDIT_DETAIL_LEN];
	va_list		args;

	if (ring == NULL)
		return;
	va_start(args, fmt);
	vsnprintf(detail, sizeof(detail), fmt, args);
	va_end(args);
	record(GetUserNameFromId(GetOuterUserId(), true), event, user_id, session_user_id, detail);
}

void
feed_audit_as(const char *role, FeedAuditEvent event, int64 user_id,
			  int64 session_user_id, const char *detail)
{
	record(role, event, user_id, session_user_id, detail);
}

void
feed_audit_stats(uint64 *pending, uint64 *flushed, uint64 *overflowed, uint64 *dropped)
{
	*pending = *flushed = *overflowed = *dropped = 0;
	if (ring == NULL)
		return;
	SpinLockAcquire(&ring->mutex);
	*pending = ring->head - ring->tail;
	*flushed = ring->flushed;
	*overflowed = ring->overflowed;
	*dropped = ring->dropped;
	SpinLockRelease(&ring->mutex);
}

bool
feed_audit_pending(void)
{
	return ring != NULL &&
		(ring->head != ring->tail || ring->overflow_unlogged > 0);
}

/* Moves the tail past consumed events and past stale foreign ones. */
static void
advance_tail(TimestampTz now)
{
	while (ring->tail < ring->head)
	{
		AuditEntry *e = &ring->entries[ring->tail % feed_audit_ring_size];

		if (!e->consumed)
		{
			if (e->dboid == MyDatabaseId || now - e->at < AUDIT_STALE_USECS)
				break;
			ring->dropped++;
		}
		ring->tail++;
	}
}

static void
audit_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			if (flushed_in_xact)
			{
				TimestampTz now = GetCurrentTimestamp();

				SpinLockAcquire(&ring->mutex);
				for (int i = 0; i < npending; i++)
				{
					uint64		seq = pending_seqs[i];
					AuditEntry *e = &ring->entries[seq % feed_audit_ring_size];

					if (seq >= ring->tail && e->seq == seq)
						e->consumed = true;
				}
				ring->flushed += npending;
				ring->overflow_unlogged -= Min(pending_overflow, ring->overflow_unlogged);
				advance_tail(now);
				SpinLockRelease(&ring->mutex);
			}
			npending = 0;
			pending_upto = 0;
			pending_overflow = 0;
			flushed_in_xact = false;
			break;
		case XACT_EVENT_ABORT:
			npending = 0;
			pending_upto = 0;
			pending_overflow = 0;
			flushed_in_xact = false;
			break;
		default:
			break;
	}
}

static Datum
make_array(Datum *elems, int n, Oid elemtype)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_array(elems, n, elemtype, typlen, typbyval, typalign));
}

/*
 * Flushes this database's events; returns how many rows it wrote (the
 * overflow row included).  Needs SPI connected, in a transaction.
 */
static int64
flush(void)
{
	static FeedPlan lock_plan = {
		"audit_lock",
		"LOCK TABLE feed.audit_log IN SHARE ROW EXCLUSIVE MODE",
		0, {InvalidOid}
	};
	static FeedPlan insert_plan = {
		"audit_insert",
		"INSERT INTO feed.audit_log (at, event, user_id, session_user_id, role, pid, detail) "
		"SELECT at, event, nullif(u, 0), nullif(s, 0), r, p, nullif(d, '') "
		"FROM unnest($1::timestamptz[], $2::text[], $3::bigint[], $4::bigint[], "
		"            $5::text[], $6::int[], $7::text[]) AS x(at, event, u, s, r, p, d)",
		7, {TIMESTAMPTZARRAYOID, TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID,
		TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID}
	};
	AuditEntry *copy;
	int			n = 0;
	uint64		overflow;
	Datum		cols[7];
	Datum	   *at, *ev, *uid, *sid, *role, *pid, *detail;

	if (ring == NULL)
		return 0;
	if (!callback_registered)
	{
		RegisterXactCallback(audit_xact_callback, NULL);
		callback_registered = true;
	}

	/* whoever holds this lock commits before we copy: no event twice */
	feed_spi_exec(&lock_plan, NULL, NULL, false, 0);

	copy = palloc(sizeof(AuditEntry) * (feed_audit_ring_size + 1));
	if (pending_seqs == NULL)
	{
		pending_cap = feed_audit_ring_size;
		pending_seqs = MemoryContextAlloc(TopMemoryContext, sizeof(uint64) * pending_cap);
	}

	/*
	 * A second flush in one transaction starts where the first stopped: the
	 * first one's events are not marked consumed until commit.
	 */
	SpinLockAcquire(&ring->mutex);
	for (uint64 seq = Max(ring->tail, pending_upto); seq < ring->head; seq++)
	{
		AuditEntry *e = &ring->entries[seq % feed_audit_ring_size];

		if (!e->consumed && e->dboid == MyDatabaseId)
			copy[n++] = *e;
	}
	pending_upto = ring->head;
	overflow = ring->overflow_unlogged - Min(pending_overflow, ring->overflow_unlogged);
	SpinLockRelease(&ring->mutex);

	if (npending + n > pending_cap)
	{
		pending_cap = npending + n;
		pending_seqs = repalloc(pending_seqs, sizeof(uint64) * pending_cap);
	}
	for (int i = 0; i < n; i++)
		pending_seqs[npending + i] = copy[i].seq;

	if (overflow > 0)
	{
		/* the drop count is cluster-wide; it is logged where it is flushed */
		memset(&copy[n], 0, sizeof(AuditEntry));
		copy[n].at = GetCurrentTimestamp();
		copy[n].pid = MyProcPid;
		copy[n].event = FEED_AUDIT_OVERFLOW;
		namestrcpy(&copy[n].role, "-");
		snprintf(copy[n].detail, AUDIT_DETAIL_LEN,
				 "%llu events dropped: the audit ring (feed.audit_ring_size = %d) was full",
				 (unsigned long long) overflow, feed_audit_ring_size);
	}

	if (n > 0 || overflow > 0)
	{
		int			rows = n + (overflow > 0 ? 1 : 0);

		at = palloc(sizeof(Datum) * rows);
		ev = palloc(sizeof(Datum) * rows);
		uid = palloc(sizeof(Datum) * rows);
		sid = palloc(sizeof(Datum) * rows);
		role = palloc(sizeof(Datum) * rows);
		pid = palloc(sizeof(Datum) * rows);
		detail = palloc(sizeof(Datum) * rows);
		for (int i = 0; i < rows; i++)
		{
			at[i] = TimestampTzGetDatum(copy[i].at);
			ev[i] = CStringGetTextDatum(event_names[copy[i].event]);
			uid[i] = Int64GetDatum(copy[i].user_id);
			sid[i] = Int64GetDatum(copy[i].session_user_id);
			role[i] = CStringGetTextDatum(NameStr(copy[i].role));
			pid[i] = Int32GetDatum(copy[i].pid);
			detail[i] = CStringGetTextDatum(copy[i].detail);
		}
		cols[0] = make_array(at, rows, TIMESTAMPTZOID);
		cols[1] = make_array(ev, rows, TEXTOID);
		cols[2] = make_array(uid, rows, INT8OID);
		cols[3] = make_array(sid, rows, INT8OID);
		cols[4] = make_array(role, rows, TEXTOID);
		cols[5] = make_array(pid, rows, INT4OID);
		cols[6] = make_array(detail, rows, TEXTOID);
		feed_spi_exec(&insert_plan, cols, NULL, false, 0);
	}

	/* the commit callback marks them consumed */
	flushed_in_xact = true;
	npending += n;
	pending_overflow += overflow;
	pfree(copy);
	return n + (overflow > 0 ? 1 : 0);
}

void
feed_audit_flush_chore(void *arg)
{
	(void) flush();
}

/*
 * feed.audit_flush() -> bigint
 *
 * Moves this database's buffered events into feed.audit_log now (at commit)
 * and returns how many rows it wrote.  The launcher does this every second
 * in feed.database; other databases need it called (e.g. from pg_cron).
 */
Datum
feed_audit_flush(PG_FUNCTION_ARGS)
{
	int64		rows;

	feed_check_preloaded();
	feed_spi_connect();
	rows = flush();
	feed_spi_finish();
	PG_RETURN_INT64(rows);
}
