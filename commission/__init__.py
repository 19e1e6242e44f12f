"""For the municipal security commission: hotspots, trends, interventions, the PDF report, open data."""
