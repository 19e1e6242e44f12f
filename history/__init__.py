"""The alert history in PostgreSQL: schema and migrations, the writer, import, and the report queries."""
