"""Usage and cost: the meter that samples what services use, and the usageCost report."""
