"""The drift demo: the whole loop on one machine (``make demo-drift``)."""
