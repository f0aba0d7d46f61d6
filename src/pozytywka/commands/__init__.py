"""Console-script commands that are not DVC stages (summary, report, bench)."""
