"""Operator surfaces; may import writer, intake, web, backends, store and contract."""
