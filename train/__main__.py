"""python -m train — the command line for model work."""
from .cli import main

raise SystemExit(main())
