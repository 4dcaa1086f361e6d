/*-------------------------------------------------------------------------
 *
 * probe.c
 *	  Primary-key probes of feed's tables without the executor.
 *
 * See probe.h for why.  Relations are resolved by name in schema feed when
 * a group of probes first needs them (two syscache hits) and closed when
 * the group ends, so nothing kept here can outlive a DROP EXTENSION;
 * columns are found by name in the tuple descriptor.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "probe.h"

typedef struct Probe
{
	const char *relname;
	int			nkeys;
	Relation	rel;
	Relation	idx;
	IndexScanDesc scan;
	TupleTableSlot *slot;
} Probe;

/*
 * The tables probed since feed_probe_begin, each opened once with one
 * index scan that later probes of it rescan: a like probes five rows of
 * three tables, and opening a table, its index and a scan (whose btree
 * state alone is a 13 kB allocation) per row was most of a probe's cost.
 */
#define MAX_OPEN_PROBES 4
static Probe open_probes[MAX_OPEN_PROBES];
static int	n_open_probes = 0;
static Snapshot probe_snapshot = NULL;	/* the open group's; NULL: none */
static bool probe_callbacks = false;

/*
 * An error inside a group skips feed_probe_end; the abort closes the
 * tables, and this forgets them.  A group holds no subtransaction, so any
 * abort while one is open is the abort of the group's own.
 */
static void
probe_forget(void)
{
	n_open_probes = 0;
	probe_snapshot = NULL;
}

static void
probe_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		probe_forget();
}

static void
probe_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		probe_forget();
}

Snapshot
feed_probe_begin(void)
{
	if (!probe_callbacks)
	{
		RegisterXactCallback(probe_xact_callback, NULL);
		RegisterSubXactCallback(probe_subxact_callback, NULL);
		probe_callbacks = true;
	}
	/* groups do not nest: this one would forget the other's tables */
	if (probe_snapshot != NULL)
		elog(ERROR, "feed: a probe group began inside another");
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	probe_snapshot = GetActiveSnapshot();
	return probe_snapshot;
}

void
feed_probe_end(void)
{
	for (int i = 0; i < n_open_probes; i++)
	{
		Probe	   *p = &open_probes[i];

		index_endscan(p->scan);
		ExecDropSingleTupleTableSlot(p->slot);
		index_close(p->idx, NoLock);
		table_close(p->rel, NoLock);
	}
	probe_forget();
	PopActiveSnapshot();
}

/* The open probe of feed.<relname> (a string constant), opened if need be. */
static Probe *
probe_open(const char *relname, int nkeys)
{
	Probe	   *p;
	Oid			relid;
	Oid			pkey;

	for (int i = 0; i < n_open_probes; i++)
		if (open_probes[i].nkeys == nkeys && strcmp(open_probes[i].relname, relname) == 0)
			return &open_probes[i];
	if (n_open_probes == MAX_OPEN_PROBES)
		elog(ERROR, "feed: more than %d tables probed at once", MAX_OPEN_PROBES);

	relid = get_relname_relid(relname, get_namespace_oid("feed", false));
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table feed.%s does not exist", relname),
				 errhint("Reinstall the extension: DROP EXTENSION feed; CREATE EXTENSION feed;")));
	p = &open_probes[n_open_probes];
	p->relname = relname;
	p->nkeys = nkeys;
	p->rel = table_open(relid, AccessShareLock);
	pkey = RelationGetPrimaryKeyIndex(p->rel);
	if (!OidIsValid(pkey))
		elog(ERROR, "feed: table feed.%s has no primary key", relname);
	p->idx = index_open(pkey, AccessShareLock);
	if (IndexRelationGetNumberOfKeyAttributes(p->idx) < nkeys)
		elog(ERROR, "feed: primary key of feed.%s has fewer than %d columns", relname, nkeys);
	p->slot = table_slot_create(p->rel, NULL);
	p->scan = index_beginscan(p->rel, p->idx, probe_snapshot, nkeys, 0);
	n_open_probes++;
	return p;
}

/*
 * Looks up the row of feed.<relname> whose primary key starts with k1 (and
 * k2 when nkeys is 2); true if one is visible under the group's snapshot,
 * which snap must be.  The row stays in the probe's slot until its next use.
 */
static Probe *
probe_fetch(const char *relname, Snapshot snap, int nkeys, int64 k1, int64 k2, bool *found)
{
	Probe	   *p;
	ScanKeyData keys[2];

	if (snap == NULL || snap != probe_snapshot)
		elog(ERROR, "feed: probe outside feed_probe_begin .. feed_probe_end");
	p = probe_open(relname, nkeys);
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(k1));
	if (nkeys > 1)
		ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(k2));
	index_rescan(p->scan, keys, nkeys, NULL, 0);
	*found = index_getnext_slot(p->scan, ForwardScanDirection, p->slot);
	return p;
}

/* Column `name` of the fetched row. */
static Datum
probe_col(Probe *p, const char *name, bool *isnull)
{
	TupleDesc	desc = RelationGetDescr(p->rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return slot_getattr(p->slot, i + 1, isnull);
	}
	elog(ERROR, "feed: table feed.%s has no column \"%s\"",
		 RelationGetRelationName(p->rel), name);
	return (Datum) 0;			/* keep the compiler quiet */
}

bool
feed_probe_user(Snapshot snap, int64 user_id, bool *is_private)
{
	bool		found;
	Probe	   *p = probe_fetch("users", snap, 1, user_id, 0, &found);
	bool		isnull;

	if (found && is_private != NULL)
		*is_private = DatumGetBool(probe_col(p, "is_private", &isnull));
	return found;
}

bool
feed_probe_post(Snapshot snap, int64 post_id, FeedProbePost *post)
{
	bool		found;
	Probe	   *p = probe_fetch("posts", snap, 1, post_id, 0, &found);
	bool		isnull;

	if (found)
	{
		post->author_id = DatumGetInt64(probe_col(p, "author_id", &isnull));
		post->repost_of = DatumGetInt64(probe_col(p, "repost_of", &isnull));
		if (isnull)
			post->repost_of = 0;
		(void) probe_col(p, "deleted_at", &isnull);
		post->deleted = !isnull;
	}
	return found;
}

bool
feed_probe_block(Snapshot snap, int64 blocker, int64 blocked)
{
	bool		found;

	(void) probe_fetch("blocks", snap, 2, blocker, blocked, &found);
	return found;
}

bool
feed_probe_follows_active(Snapshot snap, int64 follower, int64 followee)
{
	bool		found;
	Probe	   *p = probe_fetch("follows", snap, 2, follower, followee, &found);
	bool		active = false;

	if (found)
	{
		bool		isnull;
		text	   *state = DatumGetTextPP(probe_col(p, "state", &isnull));

		active = !isnull && VARSIZE_ANY_EXHDR(state) == 6 &&
			memcmp(VARDATA_ANY(state), "active", 6) == 0;
	}
	return active;
}
