"""``python -m attn_grade``: the same command line as ``attn-grade``."""
import sys

from .pipeline import main

sys.exit(main())
