"""core.cache.BoundedCache: the in-process cache of content-addressed S3 objects."""

from chalicelib.core.cache import BoundedCache


def test_least_recently_used_go_first_within_the_byte_and_count_bounds():
    cache = BoundedCache(max_bytes=10, max_items=3)
    cache.put("a", 4, "A")
    cache.put("b", 4, "B")
    assert cache.get("a") == "A"  # a is now the most recent
    cache.put("c", 4, "C")  # 12 bytes: b, the least recent, goes
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("A", None, "C")
    for key in "def":
        cache.put(key, 1, key.upper())  # four items over the count bound: the oldest go
    assert [cache.get(k) for k in "acdef"] == [None, None, "D", "E", "F"]


def test_a_value_larger_than_the_cache_is_not_kept_and_evicts_nothing():
    cache = BoundedCache(max_bytes=10)
    cache.put("small", 5, "S")
    cache.put("huge", 11, "H")
    assert (cache.get("small"), cache.get("huge")) == ("S", None)
