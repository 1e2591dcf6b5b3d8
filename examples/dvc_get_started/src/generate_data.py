"""Write data/data.xml: a small generated stand-in for DVC's StackOverflow posts sample.

Run once (the result is committed): python src/generate_data.py
"""
import random
from xml.sax.saxutils import quoteattr

random.seed(7)
COMMON = "how to get the value of a list when using my code error file data string function loop".split()
PYTHON = "python pandas numpy django pip venv dict import def lambda".split()
OTHER = "java javascript css html sql spring node react android swift".split()

rows = []
for i in range(400):
    is_python = random.random() < 0.35
    words = random.choices(COMMON, k=12) + random.choices(PYTHON if is_python else OTHER, k=1)
    words += random.choices(OTHER if is_python else PYTHON, k=int(random.random() < 0.4))
    if random.random() < 0.1:  # mislabelled posts, as real tags are
        is_python = not is_python
    random.shuffle(words)
    tags = "&lt;python&gt;" if is_python else "&lt;java&gt;"
    title, body = " ".join(words[:6]), " ".join(words[6:])
    rows.append(f'  <row Id="{i}" PostTypeId="1" Title={quoteattr(title)} Body={quoteattr(body)} Tags="{tags}" />')

with open("data/data.xml", "w") as f:
    f.write('<?xml version="1.0" encoding="utf-8"?>\n<posts>\n' + "\n".join(rows) + "\n</posts>\n")
