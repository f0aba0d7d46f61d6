"""The performance benchmark behind ``pozytywka bench`` / ``make bench`` (issue 6).

- :mod:`.scale`: a target event count -> synthetic params.
- :mod:`.measure`: run one stage as a subprocess; wall time, CPU time, peak RSS.
- :mod:`.reference`: the yardstick, one DuckDB query from the raw JSON lines.
- :mod:`.report`: the scaling fit, the table, the plot.
- :mod:`.runner`: generate a dump per scale and run the stages on it.
"""
