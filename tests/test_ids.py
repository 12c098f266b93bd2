"""Record ids: cell ids sort by the second they were made in, and their random part is uniform."""

from __future__ import annotations

import string
import time
from collections import Counter

from lineage_magic.ids import _base62, new_cell_id, new_id

_BASE62 = set(string.ascii_letters + string.digits)


def test_cell_ids_start_with_the_second_they_were_made_in() -> None:
    before = _base62(int(time.time()), 6)
    made = [new_cell_id() for _ in range(1000)]
    after = _base62(int(time.time()), 6)
    assert all(len(i) == 16 and set(i) <= _BASE62 for i in made)
    assert {i[:6] for i in made} <= {before, after}
    assert _base62(int(time.time()) - 1, 6) + "z" * 10 < made[0]  # a later second sorts later


def test_the_random_part_of_cell_ids_is_unique_and_uses_every_character() -> None:
    made = [new_cell_id()[6:] for _ in range(20_000)]
    assert len(set(made)) == len(made)
    per_place = [Counter(i[k] for i in made) for k in range(10)]
    # 20,000 draws over 62 characters in each place: about 323 each (seven standard deviations: 125).
    assert all(set(c) == _BASE62 and 198 < min(c.values()) and max(c.values()) < 448 for c in per_place)
    assert len(new_id(20)) == 20 and set(new_id(20)) <= _BASE62
