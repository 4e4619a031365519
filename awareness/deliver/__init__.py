"""Stage 3: compose bulletins, build and send the messages, and what stands around the ledger
(archive, refusals, subscriptions, tokens, the owners' health summary).

Imports core, config and store; never gather or match (they meet in pipeline.py).
"""
