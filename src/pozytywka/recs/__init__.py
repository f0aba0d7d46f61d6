"""Personal recommendations (issue 15, DESIGN §11): next week's tracks for each listener.

``interactions`` (implicit feedback and the time split), ``models/`` (one interface:
fit before a week, recommend k tracks), ``rerank`` (candidates re-ranked by CatBoost),
``metrics`` and ``evaluate`` (rolling weeks, tuning before them), ``publish`` (next
week's lists) and ``online`` (what the service loads to answer a listener).
"""
