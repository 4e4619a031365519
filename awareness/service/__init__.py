"""Running as a service: recorded runs, the scheduler, the metrics.

Above the pipeline, below the shells (cli, web); never imports web.
"""
