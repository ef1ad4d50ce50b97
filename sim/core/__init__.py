"""relsim core layer."""
