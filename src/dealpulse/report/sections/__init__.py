"""The report's sections, one module each: header, kpis (what changed), funnel, dwell, heatmap, stale,
managers, and the early-warning ones: alerts, risk (deals at risk), optimism (forecast calls), review
(the review queue), leading (which metrics matter). Each turns the numbers of the module that owns them
into plain Python values for the page."""
