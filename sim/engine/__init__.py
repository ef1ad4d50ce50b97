"""relsim engine layer."""
