"""The ground floor: the shapes every stage speaks (models), the error tree, log lines, the
address guard, local time and the default time zone, mail header checks.

Imports nothing else of Awareness, so anything may import it.
"""
