"""Partner agencies: CAP 1.2 documents (pure) and their delivery."""
