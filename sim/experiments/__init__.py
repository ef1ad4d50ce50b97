"""relsim experiments layer."""
