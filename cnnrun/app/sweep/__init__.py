"""`cnnrun sweep`: variants x seeds of one config (plan, run, results)."""
