"""Logistic regression by gradient descent (numpy only): model.pkl."""
import os
import pickle
import sys

import numpy as np
import yaml

params = yaml.safe_load(open("params.yaml"))["train"]
x, y = (np.load(os.path.join(sys.argv[1], f"train_{part}.npy")) for part in "xy")
rng = np.random.default_rng(params["seed"])
w, b = rng.normal(0, 0.01, x.shape[1]), 0.0
for _ in range(params["epochs"]):
    p = 1 / (1 + np.exp(-(x @ w + b)))
    w -= params["learning_rate"] * x.T @ (p - y) / len(y)
    b -= params["learning_rate"] * float(np.mean(p - y))
with open(sys.argv[2], "wb") as f:
    pickle.dump({"w": w.tolist(), "b": b}, f, protocol=4)
