"""Stage 1: fetch feeds and crawl sites, parse and normalise, enrich thin items, into the store.

Imports core, config and store; never match or deliver (they meet in pipeline.py).
"""
