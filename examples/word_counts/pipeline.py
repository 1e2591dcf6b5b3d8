"""Ops and graphs: word counts over a text, one chunk per line, behind an asset and as a graph.

    datamake make word_counts      # builds the graph asset: each line counted by its own op invocation
    datamake status                # fresh; edit one line of data/books.txt and only that line is recounted
    datamake run sample            # a job over a graph: sample_report's ops, content-addressed
"""
from collections import Counter
from dataclasses import dataclass

from datamake import DynamicOut, DynamicOutput, Out, asset, graph, graph_asset, job, op, source

books = source("data/books.txt", load="text")


@op(out=DynamicOut())
def lines(text):
    """One chunk per non-empty line, keyed by its line number."""
    for number, line in enumerate(text.splitlines()):
        if line.strip():
            yield DynamicOutput(line, mapping_key=str(number))


@op
def count_words(line):
    return dict(Counter(line.lower().split()))


@op
def merge(counts):
    total = Counter()
    for c in counts:
        total.update(c)
    return dict(sorted(total.items()))


@dataclass
class TopConfig:
    n: int = 3


@op(config=TopConfig, out={"top": Out(), "rest": Out()})
def top_words(counts, config):
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return dict(ranked[:config.n]), dict(ranked[config.n:])


@graph_asset
def word_counts(books):
    """Word counts of the whole text: lines fanned out, counted, merged."""
    return merge(lines(books).map(count_words).collect())


@asset
def top_three(word_counts):
    return sorted(word_counts, key=lambda w: (-word_counts[w], w))[:3]


@op
def sample_text():
    return "to be or not to be\nthat is the question"


@graph
def sample_report():
    """A graph run on its own (a job over a graph): counts of a built-in text."""
    top, _rest = top_words(merge(lines(sample_text()).map(count_words).collect()))
    return top


sample = job("sample", graph=sample_report, config={"top_words": {"n": 5}})
