"""Split the posts into data/prepared/train.tsv and test.tsv (label: tagged python)."""
import os
import random
import sys
import xml.etree.ElementTree as ET

import yaml

params = yaml.safe_load(open("params.yaml"))["prepare"]
random.seed(params["seed"])
os.makedirs(os.path.join("data", "prepared"), exist_ok=True)
with open("data/prepared/train.tsv", "w") as train, open("data/prepared/test.tsv", "w") as test:
    for row in ET.parse(sys.argv[1]).getroot():
        label = int("<python>" in row.get("Tags", ""))
        text = f"{row.get('Title', '')} {row.get('Body', '')}".replace("\t", " ")
        out = test if random.random() < params["split"] else train
        out.write(f"{row.get('Id')}\t{label}\t{text}\n")
