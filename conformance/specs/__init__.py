"""Registry records, one module per loss family (each exports ``SPECS``)."""
