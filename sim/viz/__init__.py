"""relsim viz layer."""
