"""Tools for working on the site, shared by the tests, the benchmarks and the docs'
screenshot scripts: the site as a real server process, model servers that speak the
providers' protocols, and the local model's small test configuration. Not installed
with the site (pyproject.toml packages only reportsite, reports and starmap)."""
