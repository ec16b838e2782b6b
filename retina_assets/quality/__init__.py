"""Quality: canonical contracts, row rules, quarantine of rejected rows, and Dagster asset checks."""
