"""Puts a benchmark's results into its own section of BENCHMARKS.md, between the markers
named for its script (replaced when there, added at the end when not).

    python3 bench/section.py nodes.sh bench/nodes-results.md BENCHMARKS.md
"""
import re
import sys

script, body_file, benchmarks = sys.argv[1:4]
body = open(body_file).read()
text = open(benchmarks).read()
start, end = f"<!-- {script} -->", f"<!-- /{script} -->"
section = f"{start}\n{body}{end}"
if start in text:
    text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: section, text, flags=re.S)
else:
    text = text.rstrip() + "\n\n" + section + "\n"
open(benchmarks, "w").write(text)
