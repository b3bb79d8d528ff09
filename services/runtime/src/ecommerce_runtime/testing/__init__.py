"""Test support shared by the test suites of every service (real brokers and databases, never mocks)."""
