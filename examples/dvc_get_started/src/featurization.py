"""Bag of n-grams with tf-idf weights: data/features/{train,test}_{x,y}.npy (.npy: equal arrays, equal bytes)."""
import os
import sys
from collections import Counter

import numpy as np
import yaml

params = yaml.safe_load(open("params.yaml"))["featurize"]
prepared, features = sys.argv[1], sys.argv[2]


def read(name):
    rows = [line.rstrip("\n").split("\t") for line in open(os.path.join(prepared, name))]
    return [r[2].split() for r in rows], np.array([int(r[1]) for r in rows])


def grams(words):
    return [" ".join(words[i:i + n]) for n in range(1, params["ngrams"] + 1) for i in range(len(words) - n + 1)]


train_docs, train_y = read("train.tsv")
test_docs, test_y = read("test.tsv")
counts = Counter(g for doc in train_docs for g in set(grams(doc)))
vocab = sorted(counts, key=lambda g: (-counts[g], g))[:params["max_features"]]
index = {g: i for i, g in enumerate(vocab)}
idf = np.log((1 + len(train_docs)) / (1 + np.array([counts[g] for g in vocab]))) + 1


def matrix(docs):
    m = np.zeros((len(docs), len(vocab)))
    for r, doc in enumerate(docs):
        for g in grams(doc):
            if g in index:
                m[r, index[g]] += 1
    m *= idf
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


os.makedirs(features, exist_ok=True)
for name, x, y in (("train", matrix(train_docs), train_y), ("test", matrix(test_docs), test_y)):
    np.save(os.path.join(features, f"{name}_x.npy"), x)
    np.save(os.path.join(features, f"{name}_y.npy"), y)
