"""`python -m serve.predict`: the batch door (identify many photos from a terminal).

The command lives in `serve/identify/batch.py`; see its docstring for arguments,
output columns and exit codes.
"""
from serve.identify.batch import main

if __name__ == "__main__":
    raise SystemExit(main())
