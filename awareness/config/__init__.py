"""What the people running Awareness write: settings (awareness.toml), sources.yaml, the
librarians' profiles; read and checked with file:line errors.

Imports only core.
"""
