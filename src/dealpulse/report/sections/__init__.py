"""The report's sections, one module each: header, kpis (what changed), funnel, dwell, heatmap, stale,
managers. Each turns the numbers of the module that owns them into plain Python values for the page."""
