"""Support code shared by the test suites and the benchmark: real local HTTP servers."""
