"""Development tooling: never imported by `backend/`, never installed in production.

`memberdesk dev` (embedded PostgreSQL primary + replica and S3, migrated, seeded, served) and `memberdesk seed`
(demo and bench members through COPY) live here; the test session and `make bench` use the same services and
seed.
"""
