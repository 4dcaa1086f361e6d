SELECT * FROM feed.home((SELECT user_id FROM bench.viewers WHERE n = :n), 50);
