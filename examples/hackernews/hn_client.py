"""A stand-in for the Hacker News API: generated, seeded items (stories and comments), no network.

Like the resource Dagster's project_fully_featured uses for tests, it returns
what the real API would for a range of item ids: dicts with ``id``, ``type``,
``by``, ``time``, ``title`` (stories), ``parent`` and ``text`` (comments).
"""
import datetime as dt
import random

USERS = [f"user{i}" for i in range(12)]
TOPICS = ["rust", "python", "databases", "startups", "llms", "compilers", "security", "sqlite"]


class GeneratedHNClient:
    """Hacker-News-style items, the same for the same hour on every machine."""

    def __init__(self, items_per_hour: int = 30):
        self.items_per_hour = items_per_hour

    def fetch_hour(self, start: dt.datetime):
        """Every item posted in the hour that begins at ``start`` (an aware datetime)."""
        rng = random.Random(start.isoformat())
        base = int(start.timestamp())
        first_id = base // 60  # ids grow with time, as on Hacker News
        items, stories = [], []
        for n in range(self.items_per_hour):
            item_id = first_id + n
            when = base + n * 3600 // self.items_per_hour
            if not stories or rng.random() < 0.3:
                topic = rng.choice(TOPICS)
                stories.append(item_id)
                items.append({"id": item_id, "type": "story", "by": rng.choice(USERS), "time": when,
                              "title": f"Show HN: {topic} {rng.randint(1, 99)}", "parent": None, "text": None})
            else:
                items.append({"id": item_id, "type": "comment", "by": rng.choice(USERS), "time": when,
                              "title": None, "parent": rng.choice(stories), "text": f"comment {item_id}"})
        return items
