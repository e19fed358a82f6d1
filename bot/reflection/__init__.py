"""The reflection service and its parts: question set, rules, dates, summaries."""
