/*-------------------------------------------------------------------------
 *
 * probe.c
 *	  Primary-key probes of feed's tables without the executor.
 *
 * See probe.h for why.  Relations are resolved by name in schema feed on
 * every call (two syscache hits), so nothing cached here can outlive a
 * DROP EXTENSION; columns are found by name in the tuple descriptor.
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
	Relation	rel;
	Relation	idx;
	IndexScanDesc scan;
	TupleTableSlot *slot;
} Probe;

Snapshot
feed_probe_begin(void)
{
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	return GetActiveSnapshot();
}

void
feed_probe_end(void)
{
	PopActiveSnapshot();
}

/*
 * Looks up the row of feed.<relname> whose primary key starts with k1 (and
 * k2 when nkeys is 2); true if one is visible under snap.  Close with
 * probe_done whatever the result.
 */
static bool
probe_fetch(Probe *p, const char *relname, Snapshot snap, int nkeys, int64 k1, int64 k2)
{
	Oid			nsp = get_namespace_oid("feed", false);
	Oid			relid = get_relname_relid(relname, nsp);
	Oid			pkey;
	ScanKeyData keys[2];

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table feed.%s does not exist", relname),
				 errhint("Reinstall the extension: DROP EXTENSION feed; CREATE EXTENSION feed;")));
	p->rel = table_open(relid, AccessShareLock);
	pkey = RelationGetPrimaryKeyIndex(p->rel);
	if (!OidIsValid(pkey))
		elog(ERROR, "feed: table feed.%s has no primary key", relname);
	p->idx = index_open(pkey, AccessShareLock);
	if (IndexRelationGetNumberOfKeyAttributes(p->idx) < nkeys)
		elog(ERROR, "feed: primary key of feed.%s has fewer than %d columns", relname, nkeys);

	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(k1));
	if (nkeys > 1)
		ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(k2));
	p->slot = table_slot_create(p->rel, NULL);
	p->scan = index_beginscan(p->rel, p->idx, snap, nkeys, 0);
	index_rescan(p->scan, keys, nkeys, NULL, 0);
	return index_getnext_slot(p->scan, ForwardScanDirection, p->slot);
}

static void
probe_done(Probe *p)
{
	index_endscan(p->scan);
	ExecDropSingleTupleTableSlot(p->slot);
	index_close(p->idx, NoLock);
	table_close(p->rel, NoLock);
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
	Probe		p;
	bool		found = probe_fetch(&p, "users", snap, 1, user_id, 0);
	bool		isnull;

	if (found && is_private != NULL)
		*is_private = DatumGetBool(probe_col(&p, "is_private", &isnull));
	probe_done(&p);
	return found;
}

bool
feed_probe_post(Snapshot snap, int64 post_id, FeedProbePost *post)
{
	Probe		p;
	bool		found = probe_fetch(&p, "posts", snap, 1, post_id, 0);
	bool		isnull;

	if (found)
	{
		post->author_id = DatumGetInt64(probe_col(&p, "author_id", &isnull));
		post->repost_of = DatumGetInt64(probe_col(&p, "repost_of", &isnull));
		if (isnull)
			post->repost_of = 0;
		(void) probe_col(&p, "deleted_at", &isnull);
		post->deleted = !isnull;
	}
	probe_done(&p);
	return found;
}

bool
feed_probe_block(Snapshot snap, int64 blocker, int64 blocked)
{
	Probe		p;
	bool		found = probe_fetch(&p, "blocks", snap, 2, blocker, blocked);

	probe_done(&p);
	return found;
}

bool
feed_probe_follows_active(Snapshot snap, int64 follower, int64 followee)
{
	Probe		p;
	bool		found = probe_fetch(&p, "follows", snap, 2, follower, followee);
	bool		active = false;

	if (found)
	{
		bool		isnull;
		text	   *state = DatumGetTextPP(probe_col(&p, "state", &isnull));

		active = !isnull && VARSIZE_ANY_EXHDR(state) == 6 &&
			memcmp(VARDATA_ANY(state), "active", 6) == 0;
	}
	probe_done(&p);
	return active;
}
