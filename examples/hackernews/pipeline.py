"""A port of Dagster's project_fully_featured: hourly Hacker News items -> stories and comments
-> a small recommender. The data is generated (see hn_client.py): no network.

    cd examples/hackernews
    datamake make -p 2024-06-01-00:00...2024-06-01-05:00 items stories comments   # backfill six hours
    datamake run recommender                      # reads the hours that exist, not every hour since 2024
    datamake graph --format mermaid
    datamake daemon                               # the schedules: each hour, that hour, then the recommender

`items` is partitioned by hour with no end, as in Dagster; the recommender reads
the partitions that exist (ExistingPartitionsMapping), concatenated into one table.
"""
from collections import Counter, defaultdict
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from datamake import (Definitions, ExistingPartitionsMapping, HourlyPartitions, asset, asset_check, job,
                      resource, schedule)
from hn_client import GeneratedHNClient

hourly = HourlyPartitions(start="2024-06-01-00:00")  # unbounded: one more partition every hour

hn_client = resource("hn_client", GeneratedHNClient, version="generated-1")



def item_schema() -> pa.Schema:
    """The columns of an item (a function, so that its code is part of the code version of its users)."""
    return pa.schema([("id", pa.int64()), ("type", pa.string()), ("by", pa.string()), ("time", pa.int64()),
                      ("title", pa.string()), ("parent", pa.int64()), ("text", pa.string())])

EVERY_HOUR_THAT_EXISTS = ExistingPartitionsMapping(concat=True)


@asset(partitions=hourly, group="core", io_manager="arrow")
def items(context, hn_client) -> pa.Table:
    """Every item posted in this hour, as the API returns them."""
    start, _end = context.partition_time_window
    return pa.Table.from_pylist(hn_client.fetch_hour(start), schema=item_schema())


@asset_check(asset=items, blocking=True)
def ids_are_unique(items):
    """Item ids are unique within an hour."""
    return pc.count_distinct(items["id"]).as_py() == items.num_rows


@asset(partitions=hourly, group="core", io_manager="arrow")
def comments(items: pa.Table) -> pa.Table:
    """The comments of this hour."""
    return items.filter(pc.equal(items["type"], "comment")).select(["id", "by", "time", "parent", "text"])


@asset(partitions=hourly, group="core", io_manager="arrow")
def stories(items: pa.Table) -> pa.Table:
    """The stories of this hour."""
    return items.filter(pc.equal(items["type"], "story")).select(["id", "by", "time", "title"])


@asset(group="recommender", io_manager="arrow",
       partition_mapping={"comments": EVERY_HOUR_THAT_EXISTS, "stories": EVERY_HOUR_THAT_EXISTS})
def comment_stories(comments: pa.Table, stories: pa.Table) -> pa.Table:
    """Who commented on which story: (commenter, story id), over every hour built so far."""
    story_ids = set(stories.column("id").to_pylist()) if stories.num_columns else set()
    if not comments.num_columns:  # no hour built yet
        return pa.table({"commenter_id": pa.array([], pa.string()), "story_id": pa.array([], pa.int64())})
    by, parent = comments.column("by").to_pylist(), comments.column("parent").to_pylist()
    pairs = [(user, story) for user, story in zip(by, parent) if story in story_ids]
    return pa.table({"commenter_id": [p[0] for p in pairs], "story_id": [p[1] for p in pairs]})


@asset(group="recommender", io_manager="arrow", partition_mapping={"stories": EVERY_HOUR_THAT_EXISTS})
def story_titles(stories: pa.Table) -> pa.Table:
    """Story id -> title, over every hour built so far."""
    return stories.select(["id", "title"]) if stories.num_columns else pa.table({"id": [], "title": []})


@dataclass
class RecommenderConfig:
    min_shared_commenters: int = 1


@asset(group="recommender", io_manager="json", config=RecommenderConfig)
def recommender_model(comment_stories: pa.Table, config) -> dict:
    """Stories are similar when the same people comment on both (a co-occurrence model, no numpy needed)."""
    readers = defaultdict(set)
    for user, story in zip(comment_stories.column("commenter_id").to_pylist(),
                           comment_stories.column("story_id").to_pylist()):
        readers[story].add(user)
    similar = {}
    for story, users in readers.items():
        scores = Counter({other: len(users & others) for other, others in readers.items() if other != story})
        similar[str(story)] = [[s, n] for s, n in scores.most_common(5) if n >= config.min_shared_commenters]
    return {"similar": similar, "readers": {str(s): sorted(u) for s, u in readers.items()}}


@asset(group="recommender", io_manager="json")
def user_top_recommended_stories(recommender_model: dict, story_titles: pa.Table) -> dict:
    """For each user, the titles of up to three stories they have not commented on, best first."""
    titles = dict(zip(story_titles.column("id").to_pylist(), story_titles.column("title").to_pylist()))
    seen = defaultdict(set)
    for story, users in recommender_model["readers"].items():
        for user in users:
            seen[user].add(int(story))
    out = {}
    for user in sorted(seen):
        score = Counter()
        for story in seen[user]:
            for other, n in recommender_model["similar"].get(str(story), []):
                if other not in seen[user]:
                    score[other] += n
        out[user] = [titles[s] for s, _n in score.most_common(3) if s in titles]
    return out


core = job("core", selection="group:core", description="items, stories and comments of one hour")
recommender = job("recommender", selection="group:recommender",
                  description="the recommender, from the hours built so far")

defs = Definitions(
    assets=[items, comments, stories, comment_stories, story_titles, recommender_model, user_top_recommended_stories],
    resources=[hn_client],
    checks=[ids_are_unique],
    jobs=[core, recommender],
    # as Dagster's hourly schedule: at ten past each hour, the hour that just ended; then the recommender
    schedules=[schedule(core, cron="10 * * * *"), schedule(recommender, cron="20 * * * *")],
)
