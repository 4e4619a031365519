"""Awareness: current awareness for NHS library and knowledge services.

The data flows top to bottom through the modules:
sources -> fetch -> parse/normalise -> store -> classify -> bulletin -> deliver,
with ``pipeline`` tying the stages together and ``cli`` as a thin shell.
"""

__version__ = "0.1.0"
