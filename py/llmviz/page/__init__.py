"""The page: the PyScript entry (app), the rules of the live view (live) and the views (ui)."""
