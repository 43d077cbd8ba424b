"""``python -m pyssl bench``: the stdlib ``ssl`` and pyssl measured side by
side, in one run.

``workloads.py`` holds what is measured, written once against "an ssl
module"; ``child.py`` runs one workload on one module in a fresh process;
``runner.py`` alternates the two modules over several runs and prints the
table.
"""
