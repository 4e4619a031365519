"""Awareness: current awareness for NHS library and knowledge services.

A house by stage, the data flowing through it in the order of the folders:
config (sources, profiles) -> gather (fetch, parse, crawl, enrich) -> store -> match -> deliver
(compose, send, ledger), with ``pipeline`` running the stages top to bottom, ``service``
recording runs and scheduling them, and ``web`` and ``cli`` as thin shells.
"""

__version__ = "0.1.0"
