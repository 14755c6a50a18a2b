"""Test harness shared by the suites and the bench: the real stack launcher, the scale-out set-up, builders."""
