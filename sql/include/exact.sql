-- Does v's feed, walked in pages of n, equal the oracle exactly (same
-- entries and originals in the same order, no original twice)?
CREATE FUNCTION pg_temp.exact(v bigint, n integer)
RETURNS boolean
LANGUAGE sql AS $$
  WITH w AS (SELECT * FROM pg_temp.walk_home(v, n))
  SELECT count(DISTINCT post) = count(*)
         AND coalesce(array_agg(entry ORDER BY pos), '{}') =
             (SELECT coalesce(array_agg(o.entry ORDER BY o.entry DESC), '{}')
              FROM pg_temp.oracle(v) o)
         AND coalesce(array_agg(post ORDER BY pos), '{}') =
             (SELECT coalesce(array_agg(o.post ORDER BY o.entry DESC), '{}')
              FROM pg_temp.oracle(v) o)
  FROM w
$$;
