"""The edge where real devices come in: SIA DC-09 panels and HTTP ingestion (contract section 7)."""
