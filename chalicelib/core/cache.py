"""A small in-process LRU cache bounded by the bytes of what it holds (and optionally by
count), for values that never change under their key (content-addressed S3 objects), or
that its user drops when they go stale."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any


class BoundedCache:
    def __init__(self, max_bytes: int, max_items: int | None = None) -> None:
        self.max_bytes, self.max_items = max_bytes, max_items
        self._items: OrderedDict[Hashable, tuple[int, Any]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: Hashable, size: int, value: Any) -> None:
        """Keep ``value`` (``size`` bytes), dropping the least recently used beyond the bounds;
        a value larger than the whole cache is not kept."""
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = (size, value)
            self._bytes += size
            while self._bytes > self.max_bytes or (self.max_items is not None and len(self._items) > self.max_items):
                _, (old_size, _) = self._items.popitem(last=False)
                self._bytes -= old_size

    def drop(self, key: Hashable) -> None:
        """Forget ``key`` (a value that went stale), so a fresh one can be put."""
        with self._lock:
            item = self._items.pop(key, None)
            if item is not None:
                self._bytes -= item[0]
