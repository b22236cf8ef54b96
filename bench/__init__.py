"""The benchmark of the package-releases job (bench/run.py) and its scale set (bench/scale.py)."""
