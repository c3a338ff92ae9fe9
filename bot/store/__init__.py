"""Storage: the SQLModel tables, the database engine and sessions. Everyone imports from here."""
