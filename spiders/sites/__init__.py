"""The spiders (named sites/ so that running `scrapy` inside spiders/ does not shadow the package): ``listing`` (configured by selectors in sources.yaml), ``govuk`` and ``nice``."""
