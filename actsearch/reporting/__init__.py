"""Reporting: plots, and one report model rendered to summary.md and report.html."""
