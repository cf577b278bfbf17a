"""The activity log: every change, recorded in the transaction that makes it."""
