"""The database: tables, the Store, locks, the run log, the last good profiles, migrations.

Imports only core and config.
"""
