"""Awareness's Scrapy project: spiders for sources that publish pages, not feeds.

``awareness crawl`` runs them in a child process (``awareness.gather.crawl``);
items leave through ``pipelines.StorePipeline`` into the same store, with the
same normalisation and deduplication, as feed items.
"""
