/*-------------------------------------------------------------------------
 *
 * ids.c
 *	  Time-ordered, region-aware 64-bit ids generated from shared memory.
 *
 * An id is (ms since FEED_ID_EPOCH) << 22 | region << 12 | sequence.  The
 * generator keeps the last millisecond it used in shared memory, so:
 *
 * - concurrent backends never collide (one spinlock, a few instructions);
 * - a clock that steps backwards does not move ids back: the generator
 *	 stays on its last millisecond and counts the sequence on, borrowing the
 *	 next millisecond when 4096 ids were used;
 * - a restart (clean or kill -9) does not move ids back either: before an id
 *	 beyond the persisted high-water mark is handed out, the mark is moved
 *	 FEED_ID_RESERVE_MS ahead in a small file in the data directory, written
 *	 durably.  After a restart the generator starts at that mark.  The first
 *	 id of each postmaster lifetime also takes the largest id stored in the
 *	 tables as a floor, which covers a data directory restored without the
 *	 file (pg_dump into a new cluster).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "feed.h"
#include "ids.h"
#include "spi_plans.h"

/* 2025-01-01 00:00:00 UTC in Unix milliseconds. */
#define FEED_ID_EPOCH_UNIX_MS	INT64CONST(1735689600000)
#define FEED_ID_SEQUENCE_MAX	((1 << FEED_ID_SEQUENCE_BITS) - 1)
#define FEED_ID_MS_SHIFT		(FEED_ID_REGION_BITS + FEED_ID_SEQUENCE_BITS)
#define FEED_ID_RESERVE_MS		2000
#define FEED_ID_STATE_FILE		"feed_ids.state"

typedef struct FeedIdState
{
	slock_t		mutex;			/* protects last_ms, sequence, floor_done */
	int64		last_ms;		/* millisecond of the last id handed out */
	int32		sequence;		/* sequence of the last id within last_ms */
	bool		floor_done;		/* tables' max id consulted since startup */
	LWLock	   *persist_lock;	/* serialises writes of the state file */
	pg_atomic_uint64 reserved_ms;	/* ids below this ms are covered by the file */
} FeedIdState;

static FeedIdState *id_state = NULL;

PG_FUNCTION_INFO_V1(feed_id_parts);

static int64 read_reserved_ms(void);
static void persist_reserved_ms(int64 upto_ms);
static void apply_table_floor(void);

void
feed_ids_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(FeedIdState)));
	RequestNamedLWLockTranche("feed_ids", 1);
}

void
feed_ids_shmem_startup(void)
{
	bool		found;

	id_state = ShmemInitStruct("feed id generator", sizeof(FeedIdState), &found);
	if (!found)
	{
		int64		reserved = read_reserved_ms();

		SpinLockInit(&id_state->mutex);
		id_state->last_ms = reserved;
		id_state->sequence = FEED_ID_SEQUENCE_MAX;	/* next id moves on */
		id_state->floor_done = false;
		id_state->persist_lock = &(GetNamedLWLockTranche("feed_ids"))->lock;
		pg_atomic_init_u64(&id_state->reserved_ms, (uint64) reserved);
	}
}

bool
feed_ids_attached(void)
{
	return id_state != NULL;
}

static int64
clock_ms(void)
{
	TimestampTz now = GetCurrentTimestamp();	/* microseconds since 2000 */
	int64		unix_ms;

	unix_ms = now / 1000 +
		(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000;
	return unix_ms + feed_debug_clock_offset_ms - FEED_ID_EPOCH_UNIX_MS;
}

int64
feed_ids_next(void)
{
	int64		now_ms;
	int64		ms;
	int32		seq;
	bool		need_floor;

	Assert(id_state != NULL);

	SpinLockAcquire(&id_state->mutex);
	need_floor = !id_state->floor_done;
	SpinLockRelease(&id_state->mutex);
	if (need_floor)
		apply_table_floor();

	now_ms = clock_ms();
	SpinLockAcquire(&id_state->mutex);
	if (now_ms > id_state->last_ms)
	{
		id_state->last_ms = now_ms;
		id_state->sequence = 0;
	}
	else if (id_state->sequence < FEED_ID_SEQUENCE_MAX)
		id_state->sequence++;
	else
	{
		/* clock stalled or stepped back and this ms is used up: borrow */
		id_state->last_ms++;
		id_state->sequence = 0;
	}
	ms = id_state->last_ms;
	seq = id_state->sequence;
	SpinLockRelease(&id_state->mutex);

	if (ms < 0 || ms >= (INT64CONST(1) << (63 - FEED_ID_MS_SHIFT)))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("clock is outside the range of feed ids"),
				 errdetail("Ids cover 2025-01-01 to about 2094; the clock reads %lld ms after 2025-01-01.",
						   (long long) ms)));

	/* The id may only be used once the file says no restart can reuse it. */
	if ((uint64) ms >= pg_atomic_read_u64(&id_state->reserved_ms))
		persist_reserved_ms(ms + FEED_ID_RESERVE_MS);

	return (ms << FEED_ID_MS_SHIFT) |
		((int64) feed_region_id << FEED_ID_SEQUENCE_BITS) |
		(int64) seq;
}

/*
 * Once per postmaster lifetime: never hand out an id at or below one already
 * stored, whatever the file says.
 */
static void
apply_table_floor(void)
{
	static FeedPlan plan = {
		"ids_floor",
		"SELECT greatest((SELECT max(user_id) FROM feed.users),"
		"                (SELECT max(post_id) FROM feed.posts))",
		0, {InvalidOid}
	};
	int64		floor_id = 0;
	bool		isnull = true;

	if (feed_spi_exec(&plan, NULL, NULL, true, 1) == 1)
		floor_id = feed_spi_int64(0, 1, &isnull);

	SpinLockAcquire(&id_state->mutex);
	if (!isnull && (floor_id >> FEED_ID_MS_SHIFT) > id_state->last_ms)
	{
		id_state->last_ms = floor_id >> FEED_ID_MS_SHIFT;
		id_state->sequence = FEED_ID_SEQUENCE_MAX;
	}
	id_state->floor_done = true;
	SpinLockRelease(&id_state->mutex);
}

static int64
read_reserved_ms(void)
{
	FILE	   *f;
	long long	value = 0;

	f = AllocateFile(FEED_ID_STATE_FILE, PG_BINARY_R);
	if (f == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not open \"%s\": %m; feed ids start from the tables' maximum",
							FEED_ID_STATE_FILE)));
		return 0;
	}
	if (fscanf(f, "%lld", &value) != 1 || value < 0)
	{
		ereport(LOG,
				(errmsg("ignoring corrupt \"%s\"; feed ids start from the tables' maximum",
						FEED_ID_STATE_FILE)));
		value = 0;
	}
	FreeFile(f);
	return (int64) value;
}

static void
persist_reserved_ms(int64 upto_ms)
{
	char		tmp_path[MAXPGPATH];
	char		buf[32];
	int			fd;
	int			len;

	LWLockAcquire(id_state->persist_lock, LW_EXCLUSIVE);
	/* someone else may have moved the mark while we waited */
	if ((uint64) upto_ms - FEED_ID_RESERVE_MS < pg_atomic_read_u64(&id_state->reserved_ms))
	{
		LWLockRelease(id_state->persist_lock);
		return;
	}

	snprintf(tmp_path, sizeof(tmp_path), "%s.tmp", FEED_ID_STATE_FILE);
	len = snprintf(buf, sizeof(buf), "%lld\n", (long long) upto_ms);

	fd = OpenTransientFile(tmp_path, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create \"%s\": %m", tmp_path)));
	errno = 0;
	if (write(fd, buf, len) != len)
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write \"%s\": %m", tmp_path)));
	}
	if (pg_fsync(fd) != 0)
		ereport(data_sync_elevel(ERROR),
				(errcode_for_file_access(),
				 errmsg("could not fsync \"%s\": %m", tmp_path)));
	if (CloseTransientFile(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close \"%s\": %m", tmp_path)));
	durable_rename(tmp_path, FEED_ID_STATE_FILE, ERROR);

	pg_atomic_write_u64(&id_state->reserved_ms, (uint64) upto_ms);
	LWLockRelease(id_state->persist_lock);
}

/*
 * feed.id_parts(id) -> (created_at, region_id, sequence)
 */
Datum
feed_id_parts(PG_FUNCTION_ARGS)
{
	int64		id = PG_GETARG_INT64(0);
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	int64		unix_ms;

	if (id < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feed id must not be negative: %lld", (long long) id)));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	unix_ms = (id >> FEED_ID_MS_SHIFT) + FEED_ID_EPOCH_UNIX_MS;
	values[0] = TimestampTzGetDatum((unix_ms -
									 (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000) * 1000);
	values[1] = Int32GetDatum((int32) ((id >> FEED_ID_SEQUENCE_BITS) & FEED_ID_MAX_REGION));
	values[2] = Int32GetDatum((int32) (id & FEED_ID_SEQUENCE_MAX));

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
