"""The staff and publicity console: accounts and roles, sessions, CSRF, the audit log, and pages."""
