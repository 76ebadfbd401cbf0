"""Reports: where the journey hurts (DESIGN §8). Each report is a function of the store and
`Filters` returning a `Report` (`report.py`); pages, CSV and `journeydesk report` render it."""
