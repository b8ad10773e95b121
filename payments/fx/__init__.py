"""Exchange rates: a dated table (`manage.py import_exchange_rates FILE`, editable in the admin) and
the one conversion rule the metrics use (the latest rate on or before a day)."""
