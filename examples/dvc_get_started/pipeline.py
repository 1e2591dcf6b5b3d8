"""DVC's example-get-started, stage by stage (compare its dvc.yaml): prepare -> featurize -> train -> evaluate.

Each stage is a command asset: the command and its script are its code version,
the fields it names in params.yaml are its config, its outputs are kept at their
paths and stored like any artifact.
"""
from datamake import command_asset

prepare = command_asset(
    "python src/prepare.py data/data.xml",
    inputs=["data/data.xml"],
    outputs=["data/prepared/"],
    params=["prepare.seed", "prepare.split"],
)
featurize = command_asset(
    "python src/featurization.py data/prepared data/features",
    name="featurize",
    inputs=["data/prepared/"],
    outputs=["data/features/"],
    params=["featurize.max_features", "featurize.ngrams"],
)
train = command_asset(
    "python src/train.py data/features model.pkl",
    inputs=["data/features/"],
    outputs=["model.pkl"],
    params=["train.seed", "train.epochs", "train.learning_rate"],
)
evaluate = command_asset(
    "python src/evaluate.py model.pkl data/features",
    inputs=["model.pkl", "data/features/"],
    outputs={"metrics": "eval/metrics.json", "prc": "eval/prc.json"},
    metrics=["metrics"],
)
