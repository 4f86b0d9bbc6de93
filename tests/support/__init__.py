"""Test-support builders: small real components made offline for the tests."""
