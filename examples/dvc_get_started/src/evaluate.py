"""Average precision and ROC AUC on the test set: eval/metrics.json, and the precision-recall curve eval/prc.json."""
import json
import os
import pickle
import sys

import numpy as np

model = pickle.load(open(sys.argv[1], "rb"))
data = {part: np.load(os.path.join(sys.argv[2], f"test_{part}.npy")) for part in "xy"}
scores = data["x"] @ np.array(model["w"]) + model["b"]
y = data["y"][np.argsort(-scores, kind="stable")]
tp = np.cumsum(y)
precision, recall = tp / np.arange(1, len(y) + 1), tp / max(y.sum(), 1)
avg_prec = float(np.sum(precision * y) / max(y.sum(), 1))
ranks = np.argsort(np.argsort(scores, kind="stable"), kind="stable") + 1
positives, negatives = data["y"].sum(), len(y) - data["y"].sum()
roc_auc = float((ranks[data["y"] == 1].sum() - positives * (positives + 1) / 2) / max(positives * negatives, 1))
os.makedirs("eval", exist_ok=True)
with open("eval/metrics.json", "w") as f:
    json.dump({"avg_prec": round(avg_prec, 6), "roc_auc": round(roc_auc, 6)}, f, indent=2)
with open("eval/prc.json", "w") as f:
    json.dump({"prc": [{"precision": round(float(p), 6), "recall": round(float(r), 6)}
                       for p, r in zip(precision, recall)]}, f)
