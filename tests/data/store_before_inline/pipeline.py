"""A project whose store was written by datamake before small values were kept in manifests."""
from datamake import asset


@asset(code_version="1")
def numbers():
    return list(range(10))


@asset(code_version="1")
def text():
    return "datamake " * 500


@asset(code_version="1")
def total(numbers, text):
    return {"total": sum(numbers), "words": len(text.split())}
