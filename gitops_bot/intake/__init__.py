"""The landing page boundary (signups in, notices out); may import web, store, contract."""
