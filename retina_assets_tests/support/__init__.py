"""Shared helpers of the test suite (no tests here): the temporary lake environment, job runs, servers for
the object stores and Spark, and small data builders. Test modules import from here, never from each other."""
