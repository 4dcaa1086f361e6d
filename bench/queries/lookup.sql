SELECT user_id FROM bench.viewers WHERE n = :n;
