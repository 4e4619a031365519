"""Polite by default: one request at a time per site, a delay, robots.txt obeyed.

Only http and https can be fetched (Scrapy also enables file, s3, ftp and
data handlers out of the box), the telnet console is off, proxies from the
environment are ignored (they would route around the address guard), and
every request passes ``middlewares.NetguardMiddleware`` first.
Tests may lower DOWNLOAD_DELAY and AutoThrottle; these defaults stay polite.
"""

BOT_NAME = "awareness"
SPIDER_MODULES = ["spiders.sites"]
NEWSPIDER_MODULE = "spiders.sites"

ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 1
DOWNLOAD_DELAY = 5.0
DOWNLOAD_DELAY_JITTER = 0.5
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 5.0
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10_000_000
DOWNLOAD_WARNSIZE = 5_000_000
RETRY_TIMES = 1
REDIRECT_MAX_TIMES = 5
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
HTTPPROXY_ENABLED = False
# The User-Agent names the contact_url from awareness.toml; awareness.crawl sets it.
USER_AGENT = "Awareness (+https://github.com/awareness-lks/awareness; current-awareness service for NHS libraries)"

DOWNLOAD_HANDLERS = {
    "http": "scrapy.core.downloader.handlers.http11.HTTP11DownloadHandler",
    "https": "scrapy.core.downloader.handlers.http11.HTTP11DownloadHandler",
    "file": None,
    "data": None,
    "s3": None,
    "ftp": None,
}
DOWNLOADER_MIDDLEWARES = {
    # Before the offsite check (50) and robots.txt (100), so a refused address is never contacted, not even for robots.txt.
    "spiders.middlewares.NetguardMiddleware": 40,
}
ITEM_PIPELINES = {"spiders.pipelines.StorePipeline": 300}
TWISTED_DNS_RESOLVER = "spiders.middlewares.GuardedResolver"

REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
FEED_EXPORT_ENCODING = "utf-8"
LOG_LEVEL = "INFO"
LOG_INSTALL_ROOT_HANDLER = False
